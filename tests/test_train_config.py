"""atnet.config: defaults in one place, YAML file < --set < tool options, unknown keys and
wrong types refused by name, a frozen result, stable per-fold seeds; the tables, the
committed configs/ files and the prepare and baseline options derived from the declarations."""
import dataclasses
import importlib.util
import os

import pytest

from atnet import config as configuration
from atnet.common import InputError


def test_defaults_are_the_papers():
    config, sources = configuration.load_config()
    assert config == configuration.Config()
    assert (config.augment, config.rotation_degrees, config.shift_pixels, config.augment_probability) == \
        ("paper", 5.0, 10, 0.5)
    assert (config.schedule, config.epochs, config.step_epochs, config.batch_size) == ("paper", 50, 10, 16)
    assert config.flow_rows == "centred" and config.max_iter is None
    assert dict(sources) == {}


def test_file_then_set_then_options_and_sources(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("# quick run\nbatch_size: 4\nepochs: 3\nrotation_degrees: 2\naugment: none\n")
    config, sources = configuration.load_config(str(path), ["epochs=7", "flow_rows=release"],
                                                {"seed": 9, "max_iter": None})
    assert (config.batch_size, config.epochs, config.seed, config.flow_rows) == (4, 7, 9, "release")
    assert config.augment == "none"  # the augmentation name, not YAML's null
    assert config.rotation_degrees == 2.0 and isinstance(config.rotation_degrees, float)
    assert dict(sources) == {"batch_size": str(path), "epochs": "--set", "rotation_degrees": str(path),
                             "augment": str(path), "flow_rows": "--set", "seed": "command line"}


def test_config_is_frozen():
    config, _ = configuration.load_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3


@pytest.mark.parametrize("assignment, words", [
    ("batch_sise=4", ["batch_sise", "unknown"]),
    ("batch_size=four", ["batch_size", "integer"]),
    ("batch_size=true", ["batch_size", "integer"]),
    ("epochs=2.5", ["epochs", "integer"]),
    ("augment=mirror", ["augment", "paper, none"]),
    ("batch_size=0", ["batch_size", "at least 1"]),
    ("augment_probability=1.5", ["augment_probability", "at most 1"]),
    ("no_equals_sign", ["key=value"]),
])
def test_bad_set_names_the_key(assignment, words):
    with pytest.raises(InputError) as err:
        configuration.load_config(None, [assignment])
    for word in words:
        assert word in str(err.value)


def test_bad_file_names_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("seed: 1\nschedul: release\n")
    with pytest.raises(InputError, match=r"bad\.yaml.*schedul"):
        configuration.load_config(str(path))
    path.write_text("seed: [1\n")
    with pytest.raises(InputError, match=r"bad\.yaml line \d+: not valid YAML"):
        configuration.load_config(str(path))
    path.write_text("- seed\n")
    with pytest.raises(InputError, match="mapping"):
        configuration.load_config(str(path))


def test_max_iter_may_be_unset_again():
    config, _ = configuration.load_config(None, ["max_iter=20", "max_iter=null"])
    assert config.max_iter is None


def test_fold_seeds_are_stable_and_independent():
    # Pinned: a seed must give the same data and models on every machine and Python.
    assert configuration.fold_seed(0, "cde-casme2-sub01", "solver") == 1887805048
    seeds = {configuration.fold_seed(s, f, p) for s in (0, 1) for f in ("cde-casme2-sub01", "cde-samm-6")
             for p in ("oversample", "augment", "shuffle", "solver")}
    assert len(seeds) == 16 and all(0 <= s < 2 ** 31 for s in seeds)


def test_data_parameters_leave_out_unused_magnitudes():
    paper, _ = configuration.load_config()
    none, _ = configuration.load_config(None, ["augment=none", "rotation_degrees=3"])
    assert set(configuration.data_parameters(paper)) == {"seed", *configuration.DATA_KEYS}
    assert configuration.data_parameters(none) == {"seed": 0, "augment": "none", "flow_rows": "centred"}


# --- the declarations: tables, committed config files, derived options ---------------

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "configs")


def test_key_tables_come_from_the_declarations():
    declared = configuration.declarations(configuration.Config)
    assert tuple(declared) == configuration.keys()
    assert configuration.DATA_KEYS == ("augment", "rotation_degrees", "shift_pixels", "augment_probability",
                                       "flow_rows")
    assert {d.stage for d in declared.values()} == set(configuration.STAGES)
    assert configuration.CHOICES == {"augment": ("paper", "none"), "flow_rows": ("centred", "release"),
                                     "schedule": ("paper", "release")}
    assert configuration.OPTIONAL == ("max_iter",) and declared["max_iter"].type is int
    assert all(d.help for d in declared.values()), "every key documents itself"


def test_paper_yaml_spells_out_every_default():
    config, sources = configuration.load_config(os.path.join(CONFIGS, "paper.yaml"))
    assert config == configuration.Config()
    assert set(sources) == set(configuration.keys())


def test_release_yaml_gives_the_releases_behaviour():
    config, sources = configuration.load_config(os.path.join(CONFIGS, "release.yaml"))
    release = {"schedule": "release", "augment": "none", "flow_rows": "release"}
    assert {key: getattr(config, key) for key in release} == release
    assert config == dataclasses.replace(configuration.Config(), **release)
    assert configuration.data_parameters(config) == {"seed": 0, "augment": "none", "flow_rows": "release"}


@pytest.mark.parametrize("name", ["paper.yaml", "release.yaml"])
def test_config_files_comment_every_key(name):
    with open(os.path.join(CONFIGS, name), encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    for number, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#"):
            assert number and lines[number - 1].lstrip().startswith("#"), \
                "%s line %d: %r has no comment above it" % (name, number + 1, line)


def _load_tool(*parts):
    """A command-line script as a module (tools/ and data_prep/ are not packages)."""
    path = os.path.join(REPO, *parts)
    spec = importlib.util.spec_from_file_location(os.path.splitext(parts[-1])[0] + "_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prepare_options_default_to_the_settings_declaration(capsys):
    from atnet.data.prepare import Settings
    tool = _load_tool("data_prep", "prepare.py")
    args = tool.parse_args(["--casme2", "CASME2", "--out", "prepared"])
    assert Settings(**{name: getattr(args, name) for name in configuration.declarations(Settings)}) == Settings()
    args = tool.parse_args(["--casme2", "C", "--out", "p", "--cropped", "--margin", "0.25", "--workers", "3"])
    assert (args.cropped, args.lenient, args.margin, args.workers) == (True, False, 0.25, 3)
    with pytest.raises(SystemExit) as exit_info:
        tool.parse_args(["--casme2", "C", "--out", "p", "--workers", "0"])
    assert exit_info.value.code == 2 and "--workers: must be at least 1" in capsys.readouterr().err


def test_baseline_options_default_to_the_declarations():
    from atnet.baselines.classify import SvmConfig
    from atnet.baselines.features import FeatureConfig
    tool = _load_tool("tools", "baselines.py")
    args = tool.parse_args(["--method", "lbptop", "--protocol", "cde", "--prepared", "p", "--out", "o"])
    assert tool.svm_config(args) == SvmConfig()
    assert tool.feature_config(args, "lbptop", 10, 4) == FeatureConfig("lbptop", 10, neighbours=4)
    assert tool.feature_config(args, "hoof", 64, 4) == FeatureConfig("hoof", 64, bins=4)
    args = tool.parse_args(["--all", "--features", "f", "--labels", "l", "--out", "o", "--grid", "2x3",
                            "--C-grid", "1,2", "--gamma", "0.5", "--lbp-mapping", "u2"])
    assert tool.feature_config(args, "lbptop", 10, 8).grid == (2, 3)
    assert tool.feature_config(args, "lbptop", 10, 8).mapping == "u2"
    assert (tool.svm_config(args).C_grid, tool.svm_config(args).gamma) == ((1.0, 2.0), 0.5)
