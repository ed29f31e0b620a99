"""Release-format feature files (written with scipy.io.savemat) and per-clip extraction."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.io

from atnet.baselines import features
from atnet.common import InputError
from atnet.data.flow import make_flow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBJECTS = {"casme2": ["sub01", "sub02", "sub03"], "samm": ["6", "7", "9"], "smic": ["s01", "s02", "s03"]}
SAMPLE_NAMES = {"casme2": "EP0%d_0%df", "samm": "0%02d_1_%d", "smic": "s0%d_ne_0%d"}


def release_samples(per_subject=6):
    """Samples in the ground-truth style, every subject with every class."""
    samples = []
    for dataset, subjects in SUBJECTS.items():
        for number, subject in enumerate(subjects, start=1):
            for i in range(per_subject):
                samples.append({"dataset": dataset, "subject": subject,
                                "sample": SAMPLE_NAMES[dataset] % (number, i), "label": i % 3})
    return samples


def key(sample):
    return "%s-%s-%s" % (sample["dataset"], sample["subject"], sample["sample"])


def write_release(root, method, samples, shape, seed=0, signal=0.0):
    """``root/Features/<key>.mat`` per sample plus an Apex_Cropped_images.txt-style labels list.

    Each feature is a stack of normalised histograms (rows for LBP-TOP,
    columns for HOOF) with an optional class-dependent bump.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "Features"), exist_ok=True)
    lines = []
    for s in samples:
        array = rng.random(shape) + signal * (np.indices(shape).sum(axis=0) % 3 == s["label"])
        array /= array.sum(axis=1 if method == "lbptop" else 0, keepdims=True)
        scipy.io.savemat(os.path.join(root, "Features", key(s) + ".mat"), {features.VARIABLE[method]: array})
        lines.append("%s-img%d.jpg %d" % (key(s), 40 + len(lines), s["label"]))
    labels = os.path.join(os.path.dirname(root), "Apex_Cropped_images.txt")
    with open(labels, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return labels


def test_reads_release_files_in_label_order(tmp_path):
    samples = release_samples(2)
    write_release(str(tmp_path / "LBPTOP_P4_TIM10"), "lbptop", samples, (3, 59))
    arrays = features.read_features(str(tmp_path / "LBPTOP_P4_TIM10"), samples[::-1], "lbptop")
    assert arrays.shape == (len(samples), 3, 59)
    first = scipy.io.loadmat(str(tmp_path / "LBPTOP_P4_TIM10" / "Features" / (key(samples[-1]) + ".mat")))
    np.testing.assert_array_equal(arrays[0], first["Histogram"])
    np.testing.assert_allclose(arrays.sum(axis=2), 1.0)
    # The Features folder itself is accepted too.
    assert features.read_features(str(tmp_path / "LBPTOP_P4_TIM10" / "Features"), samples, "lbptop").shape[0] == 18


def test_missing_file_names_the_clip(tmp_path):
    samples = release_samples(2)
    root = str(tmp_path / "HOOF_N4_TIM10")
    write_release(root, "hoof", samples, (4, 9))
    os.remove(os.path.join(root, "Features", key(samples[3]) + ".mat"))
    with pytest.raises(InputError, match="no feature file for clip %s" % key(samples[3])):
        features.read_features(root, samples, "hoof")


@pytest.mark.parametrize("method,shape,expected,message", [
    ("lbptop", (3, 15), None, r"'Histogram' of clip .* has shape 3x15, expected 3x59"),
    ("lbptop", (59, 3), None, r"has shape 59x3, expected 3x59"),
    ("hoof", (8, 9), (4, None), r"'HOOF' of clip .* has shape 8x9, expected 4x\?"),
])
def test_wrong_shape_names_the_clip_and_the_shapes(tmp_path, method, shape, expected, message):
    samples = release_samples(1)
    root = str(tmp_path / "feat")
    write_release(root, method, samples, shape)
    with pytest.raises(InputError, match=message):
        features.read_features(root, samples, method, expected)


def test_every_clip_must_match_the_first(tmp_path):
    samples = release_samples(1)
    root = str(tmp_path / "HOOF_N4_TIM64")
    write_release(root, "hoof", samples, (4, 64))
    odd = key(samples[4])
    scipy.io.savemat(os.path.join(root, "Features", odd + ".mat"), {"HOOF": np.full((4, 63), 0.25)})
    with pytest.raises(InputError, match=r"clip %s has shape 4x63, expected 4x64" % odd):
        features.read_features(root, samples, "hoof")


def test_wrong_variable_and_unreadable_file(tmp_path):
    samples = release_samples(1)
    root = str(tmp_path / "feat")
    write_release(root, "hoof", samples, (4, 9))
    with pytest.raises(InputError, match=r"no variable 'Histogram' \(found HOOF\)"):
        features.read_features(root, samples, "lbptop")
    with open(os.path.join(root, "Features", key(samples[0]) + ".mat"), "wb") as handle:
        handle.write(b"not a MATLAB file")
    with pytest.raises(InputError, match="clip %s.*not a readable MATLAB file" % key(samples[0])):
        features.read_features(root, samples, "hoof")


def test_saved_features_round_trip_through_the_reader(tmp_path):
    sample = release_samples(1)[0]
    feature = np.random.default_rng(3).random((8, 63))
    features.save_feature(features.feature_path(str(tmp_path), key(sample)), "hoof", feature)
    np.testing.assert_array_equal(features.read_features(str(tmp_path), [sample], "hoof")[0], feature)
    assert os.listdir(str(tmp_path / "Features")) == [key(sample) + ".mat"]   # no temporary left over


@pytest.mark.parametrize("method,tim,release_steps,shape", [
    ("lbptop", 10, False, (3, 59)), ("hoof", 10, False, (4, 9)), ("hoof", 64, False, (4, 63)),
    ("hoof", 64, True, (4, 64)), ("hoof", 10, True, (4, 9))])
def test_clip_feature_shapes_follow_the_release(method, tim, release_steps, shape):
    clip = np.random.default_rng(0).integers(0, 256, (40, 32, 32)).astype(np.uint8)
    config = features.FeatureConfig(method=method, tim=tim, neighbours=4, bins=4, release_hoof_steps=release_steps)
    feature = features.clip_feature(clip, 20, config, make_flow(config.flow))
    assert feature.shape == shape
    np.testing.assert_allclose(feature.sum(axis=1 if method == "lbptop" else 0), 1.0)


def test_folder_names_and_settings():
    assert features.folder_name("lbptop", 10, neighbours=4) == "LBPTOP_P4_TIM10"
    assert features.parse_folder_name("/x/HOOF_N8_TIM64/Features") == {"bins": 8, "tim": 64}
    assert features.parse_folder_name("/x/LBPTOP_P4_TIM10-0123abcdef") == {"P": 4, "tim": 10}
    assert features.parse_folder_name("/x/something") == {}
    assert features.setting_name("lbptop", 64, neighbours=8) == "{3,3,3,8} TIM=64"
    assert features.setting_name("hoof", 10, bins=4) == "N=4 TIM=10"


def run_tool(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "baselines.py"), *args],
                          capture_output=True, text=True, timeout=300)


def test_tool_on_release_features_writes_an_evaluated_run(tmp_path):
    """The command-line contract on release-format files; HOOF with a class signal scores well above chance."""
    samples = release_samples(6)
    root = str(tmp_path / "HOOF_N4_TIM10")
    labels = write_release(root, "hoof", samples, (4, 9), signal=0.5)
    out = str(tmp_path / "run")
    result = run_tool("--method", "hoof", "--features", root, "--labels", labels, "--protocol", "cde",
                      "--out", out, "--jobs", "1")
    assert result.returncode == 0, result.stderr
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert metrics["method"] == "HOOF" and metrics["setting"] == "N=4 TIM=10"
    assert metrics["Full"]["n"] == len(samples) and metrics["Full"]["uf1"] > 0.6
    assert "Table II" in result.stdout and "N=4 TIM=10" in result.stdout   # the paper's row beside ours


def test_tool_refuses_a_missing_clip_without_writing(tmp_path):
    samples = release_samples(1)
    root = str(tmp_path / "LBPTOP_P8_TIM64")
    labels = write_release(root, "lbptop", samples, (3, 59))
    os.remove(os.path.join(root, "Features", key(samples[5]) + ".mat"))
    out = str(tmp_path / "run")
    result = run_tool("--method", "lbptop", "--features", root, "--labels", labels, "--protocol", "hde",
                      "--out", out, "--tune")
    assert result.returncode == 2
    assert key(samples[5]) in result.stderr and "Traceback" not in result.stderr
    assert not os.path.exists(out)


def test_tool_runs_all_eight_release_configurations(tmp_path):
    """--all --features ROOT: one method folder per paper row, each evaluated, then the comparison."""
    samples = release_samples(3)
    root = tmp_path / "release"
    shapes = {"LBPTOP": (3, 59), "HOOF_N4_TIM10": (4, 9), "HOOF_N8_TIM10": (8, 9),
              "HOOF_N4_TIM64": (4, 64), "HOOF_N8_TIM64": (8, 64)}
    for method, frames, size in [(m, t, s) for m in ("lbptop", "hoof") for t in (10, 64) for s in (4, 8)]:
        name = features.folder_name(method, frames, size, size)
        labels = write_release(str(root / name), method, samples, shapes.get(name, shapes["LBPTOP"]), signal=0.5)
    out = str(tmp_path / "runs")
    result = run_tool("--all", "--features", str(root), "--labels", labels, "--protocol", "hde",
                      "--out", out, "--jobs", "1")
    assert result.returncode == 0, result.stderr
    runs = sorted(os.listdir(out))
    assert runs == sorted(["comparison.md"] + ["%s-hde" % features.folder_name(m, t, s, s)
                                               for m in ("lbptop", "hoof") for t in (10, 64) for s in (4, 8)])
    settings = {json.load(open(os.path.join(out, r, "metrics.json")))["setting"] for r in runs if r.endswith("-hde")}
    assert settings == {"{3,3,3,4} TIM=10", "{3,3,3,8} TIM=10", "{3,3,3,4} TIM=64", "{3,3,3,8} TIM=64",
                        "N=4 TIM=10", "N=8 TIM=10", "N=4 TIM=64", "N=8 TIM=64"}
    comparison = open(os.path.join(out, "comparison.md")).read()
    assert comparison.count("| HOOF |") == 12 and comparison.count("| LBP-TOP |") == 12   # 4 rows x 3 columns
