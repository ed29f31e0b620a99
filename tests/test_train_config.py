"""atnet.config: defaults in one place, YAML file < --set < tool options, unknown keys and
wrong types refused by name, a frozen result, stable per-fold seeds."""
import dataclasses

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
