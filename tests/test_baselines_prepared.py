"""Feature extraction from a prepared directory: real frame files, the real loader, the cache."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from atnet.baselines import classify, features, runner
from atnet.common import InputError
from atnet.data.prepared import IndexRow, write_index

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBJECTS = {"casme2": ["sub01", "sub02"], "samm": ["6", "7"], "smic": ["s01", "s02"]}
FRAMES, SIDE, APEX = 16, 40, 8
#: Whole-pixel motion (dx, dy) per frame of each class: down, up, sideways.
MOTION = {0: (0, 2), 1: (0, -2), 2: (2, 0)}


def write_clip(folder, label, rng):
    """PNG frames img1.png .. img16.png of a texture moving in the class's direction."""
    os.makedirs(folder)
    noise = rng.random((SIDE + 80, SIDE + 80)).astype(np.float32)
    texture = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 1.5), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    dx, dy = MOTION[label]
    for t in range(FRAMES):
        top, left = 40 - dy * t // 2, 40 - dx * t // 2
        frame = np.zeros((SIDE + 10, SIDE + 10), np.uint8)   # the face box sits at (5, 5)
        frame[5:5 + SIDE, 5:5 + SIDE] = texture[top:top + SIDE, left:left + SIDE]
        cv2.imwrite(os.path.join(folder, "img%d.png" % (t + 1)), frame)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A prepared directory of 18 clips (3 datasets x 2 subjects x 3 classes) with frames on disk."""
    root = tmp_path_factory.mktemp("prepared")
    rng = np.random.default_rng(0)
    rows = []
    for dataset, subjects in SUBJECTS.items():
        for subject in subjects:
            for label in range(3):
                sample = "%s_c%d" % (subject, label)
                folder = str(root / "frames" / dataset / subject / sample)
                write_clip(folder, label, rng)
                rows.append(IndexRow(dataset, subject, sample, label, apex_image="faces/%s.png" % sample, flow="flow/%s.npy" % sample, fps=100.0,
                                     onset=1, apex=APEX + 1, offset=FRAMES, n_frames=FRAMES, apex_index=APEX,
                                     frame_source=folder, box_x=5, box_y=5, box_w=SIDE, box_h=SIDE))
    write_index(str(root), rows)
    return str(root)


def test_extraction_is_cached_by_content_and_feeds_the_svm(prepared, tmp_path):
    config = features.FeatureConfig("hoof", tim=10, bins=4, face_size=SIDE)
    cache = str(tmp_path / "cache")
    samples, matrix, settings, stats = runner.prepared_source(prepared, config, cache)
    assert stats["extracted"] == 18 and matrix.shape == (18, 4 * 9)
    folder = settings["cache"]
    assert os.path.basename(folder).startswith("HOOF_N4_TIM10-")
    assert len(os.listdir(os.path.join(folder, "Features"))) == 18
    # The cache is itself a release-format feature folder.
    np.testing.assert_array_equal(features.read_features(folder, samples, "hoof").reshape(18, -1), matrix)
    # HOOF of the class motions: down -> bin 0, up -> bin 3, sideways -> bins 1/2 around horizontal.
    by_label = {s.label: matrix[i].reshape(4, 9) for i, s in enumerate(samples)}
    assert by_label[0][0].mean() > 0.8 and by_label[1][3].mean() > 0.8
    assert by_label[2][1:3].sum(axis=0).mean() > 0.8
    # A second call extracts nothing; another option gets its own folder.
    assert runner.prepared_source(prepared, config, cache)[3]["extracted"] == 0
    other = features.FeatureConfig("hoof", tim=10, bins=4, face_size=SIDE, interpolation="linear")
    assert runner.prepared_source(prepared, other, cache)[2]["cache"] != folder
    doc, _ = runner.run_configuration(samples, matrix, "HOOF", "N=4 TIM=10", "cde", str(tmp_path / "run"),
                                      classify.SvmConfig(), settings)
    assert doc["Full"]["n"] == 18 and doc["Full"]["uf1"] > 0.9


def test_lbptop_extraction_in_parallel_matches_one_process(prepared, tmp_path):
    config = features.FeatureConfig("lbptop", tim=10, neighbours=4, face_size=SIDE)
    _, serial, _, _ = runner.prepared_source(prepared, config, str(tmp_path / "one"), jobs=1)
    _, parallel, _, stats = runner.prepared_source(prepared, config, str(tmp_path / "two"), jobs=2)
    assert serial.shape == (18, 3 * 59) and stats["extracted"] == 18
    np.testing.assert_array_equal(serial, parallel)


def test_a_clip_too_short_for_lbptop_names_the_clip(prepared, tmp_path):
    config = features.FeatureConfig("lbptop", tim=6, neighbours=4, face_size=SIDE)
    with pytest.raises(InputError, match="clip casme2-sub01-sub01_c0 of .*more than 6 frames"):
        runner.prepared_source(prepared, config, str(tmp_path / "cache"))


def test_tool_on_a_prepared_directory(prepared, tmp_path):
    out = str(tmp_path / "run")
    result = subprocess.run([sys.executable, os.path.join(REPO, "tools", "baselines.py"), "--method", "hoof",
                             "--prepared", prepared, "--tim", "10", "--bins", "8", "--face-size", str(SIDE),
                             "--cache", str(tmp_path / "cache"), "--protocol", "hde", "--out", out, "--tune",
                             "--C-grid", "0.1,10", "--jobs", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    run = json.load(open(os.path.join(out, "run.json")))
    assert run["setting"] == "N=8 TIM=10" and run["folds"] == ["hde-casme2", "hde-samm", "hde-smic"]
    assert run["baseline"]["features"]["bins"] == 8 and run["baseline"]["svm"]["tune"] is True
    fold = json.load(open(os.path.join(out, "hde-samm", "fold.json")))
    assert fold["C"] in (0.1, 10.0) and not any(s.startswith("samm-") for s in fold["train_subjects"])
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert metrics["protocol"] == "hde" and metrics["Full"]["n"] == 18
    assert "extracted 18 clips" in result.stdout and "Table III" in result.stdout
