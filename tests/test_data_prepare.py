"""data_prep/prepare.py end to end: outputs, index, manifest, caching,
interruption, manual boxes, cropped releases, processing-time problems, and
the separability of the ADM features on the tiny synthetic set."""
import ast
import csv
import dataclasses
import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from atnet.common import InputError, sha256_file
from atnet.data import adm, sample_outputs
from atnet.data import prepare as prepare_stage
from atnet.data.prepare import Settings, prepare, scan
from atnet.data.prepared import (INDEX_COLUMNS, load_apex_image, load_face_clip, load_feature, load_index)

import data_support as common

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return common.release(tmp_path_factory, "tiny")


@pytest.fixture(scope="module")
def tiny_prepared(tiny, tmp_path_factory):
    """The tiny set prepared through the command line, 2 workers, with the GT check."""
    out = str(tmp_path_factory.mktemp("tiny_prepared"))
    result = common.run_tool("prepare.py", *common.root_args(common.roots(tiny)), "--out", out,
                             "--workers", 2, "--gt", os.path.join(tiny, "combined_3class_gt.csv"))
    assert result.returncode == 0, result.stderr
    return out, result


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    return common.release(tmp_path_factory, common.MICRO)


def test_prepared_directory_contents(tiny_prepared):
    out, result = tiny_prepared
    with open(os.path.join(out, "index.csv")) as handle:
        header = next(csv.reader(handle))
    assert header[:6] == ["dataset", "subject", "sample", "label", "apex_image", "flow"]
    assert set(INDEX_COLUMNS) <= set(header)
    rows = load_index(out)
    assert len(rows) == 39
    assert [r.dataset for r in rows] == ["casme2"] * 15 + ["samm"] * 12 + ["smic"] * 12
    for row in rows:
        image = cv2.imread(os.path.join(out, row.apex_image), cv2.IMREAD_UNCHANGED)
        assert image.shape == (224, 224) and image.dtype == np.uint8
        feature = np.load(os.path.join(out, row.flow))
        assert feature.shape == (64, 128) and feature.dtype == np.float32
        expected = adm.window_steps(row.n_frames, row.apex_index)
        assert row.valid_rows == len(expected) == int(adm.valid_rows(feature).sum())
        assert [s for s, _ in expected] == np.flatnonzero(adm.valid_rows(feature)).tolist()
        assert np.all(np.abs(feature[:, 0::2]) <= np.pi) and np.all(feature[:, 1::2] >= 0)
        assert row.onset <= row.apex <= row.offset and row.n_frames == row.offset - row.onset + 1
        assert row.apex_source == ("middle" if row.dataset == "smic" else "annotated")
    smic = next(r for r in rows if r.sample == "s01_ne_01")
    assert smic.subject == "s01" and smic.frame_source.endswith(os.path.join("s1", "micro", "negative", "s1_ne_01"))
    assert "all               15        12        12      39        10" in result.stdout
    assert "ground-truth check: no differences" in result.stdout


def test_manifest_records_parameters_counts_and_checksums(tiny_prepared):
    out, _ = tiny_prepared
    with open(os.path.join(out, "manifest.json")) as handle:
        manifest = json.load(handle)
    assert manifest["parameters"]["flow"]["name"] == "dis"
    assert manifest["parameters"]["flow"]["preset"] == "MEDIUM"
    assert manifest["parameters"]["face"]["cascade"] == "haarcascade_frontalface_default.xml"
    assert manifest["settings"]["workers"] == 2
    assert len(manifest["code"]["atnet_data_sha256"]) == 64
    assert manifest["counts"]["all"] == {"negative": 15, "positive": 12, "surprise": 12, "total": 39, "subjects": 10}
    assert manifest["excluded"]["casme2"]["emotion 'others' is not in the composite"] == 4
    assert manifest["outputs"]["index.csv"] == sha256_file(os.path.join(out, "index.csv"))
    assert len(manifest["outputs"]["files"]) == 78
    for path, digest in manifest["outputs"]["files"].items():
        assert sha256_file(os.path.join(out, path)) == digest
    with open(os.path.join(out, "selection.csv")) as handle:
        statuses = [row["status"] for row in csv.DictReader(handle)]
    assert statuses.count("prepared") == 39 and statuses.count("excluded") == 11 and len(statuses) == 50


def test_face_clip_can_be_cut_again_from_the_index(tiny_prepared):
    out, _ = tiny_prepared
    for row in load_index(out)[::7]:
        clip, apex = load_face_clip(out, row, size=224)
        assert clip.dtype == np.uint8 and clip.shape == (row.n_frames, 224, 224) and apex == row.apex_index
        np.testing.assert_array_equal(clip[apex], load_apex_image(out, row))
        native, _ = load_face_clip(out, row)
        assert native.shape == (row.n_frames, row.box_h, row.box_w)


def _rise_fall_summary(feature):
    """Mean of the valid rows before the apex and after it: 256 numbers."""
    valid = adm.valid_rows(feature)
    parts = []
    for half in (slice(0, 32), slice(32, 64)):
        rows = feature[half][valid[half]]
        parts.append(rows.mean(axis=0) if len(rows) else np.zeros(feature.shape[1]))
    return np.concatenate(parts)


def separability(directory):
    """Accuracy of a logistic regression on ADM summaries, leave-one-subject-out."""
    rows = load_index(directory)
    features = np.stack([_rise_fall_summary(load_feature(directory, row)) for row in rows])
    labels = np.array([row.label for row in rows])
    groups = ["%s-%s" % (row.dataset, row.subject) for row in rows]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    predicted = cross_val_predict(model, features, labels, groups=groups, cv=LeaveOneGroupOut())
    recall = [np.mean(predicted[labels == c] == c) for c in range(3)]
    return float(np.mean(predicted == labels)), float(np.mean(recall))


def test_adm_features_of_the_three_classes_are_separable(tiny_prepared):
    accuracy, uar = separability(tiny_prepared[0])
    print("tiny separability (LOSO, logistic regression): accuracy %.3f, UAR %.3f" % (accuracy, uar))
    assert accuracy >= 0.7 and uar >= 0.7            # chance is about 0.33


def _run(release_roots, out, boxes_path=None, **settings):
    """prepare() in this process (1 worker unless told); returns (Outcome, log text)."""
    settings.setdefault("workers", 1)
    lines = []
    outcome = prepare(release_roots, str(out), Settings(**settings), boxes_path=boxes_path, log=lines.append)
    return outcome, "\n".join(lines)


def _outputs(out):
    return {os.path.relpath(p, out): sha256_file(p)
            for p in glob.glob(os.path.join(out, "faces", "*", "*")) + glob.glob(os.path.join(out, "flow", "*", "*"))}


def test_rerun_skips_finished_samples_and_redoes_changed_ones(micro, tmp_path):
    release_roots = common.copy_release(micro, tmp_path / "release")
    out = tmp_path / "out"
    outcome, log = _run(release_roots, out)
    assert "7 samples: 0 finished earlier (skipped), 7 to prepare" in log
    first = _outputs(out)
    _, log = _run(release_roots, out)
    assert "7 finished earlier (skipped), 0 to prepare" in log
    # a touched frame (new modification time) and a damaged output are redone, nothing else
    sample = outcome.rows[0]
    frame = os.path.join(sample.frame_source, sample.apex_frame)
    os.utime(frame, ns=(time.time_ns(), time.time_ns() + 10 ** 9))
    with open(os.path.join(out, outcome.rows[-1].flow), "r+b") as handle:
        handle.truncate(100)
    _, log = _run(release_roots, out)
    assert "5 finished earlier (skipped), 2 to prepare" in log
    assert _outputs(out) == first                      # same inputs, same bytes
    # another flow algorithm changes every feature
    _, log = _run(release_roots, out, flow="farneback")
    assert "0 finished earlier (skipped), 7 to prepare" in log
    changed = _outputs(out)
    assert all(changed[p] != first[p] for p in first if p.startswith("flow"))


def test_cache_key_follows_the_output_code_not_the_prepare_stage(micro, tmp_path, monkeypatch):
    """An edit of the prepare stage (reports, manifest) redoes no sample; an
    edit of a module that shapes the outputs (here adm.py) redoes every one."""
    out = tmp_path / "out"
    _run(common.roots(micro), out)
    for module, expected in ((prepare_stage, "7 finished earlier (skipped), 0 to prepare"),
                             (adm, "0 finished earlier (skipped), 7 to prepare")):
        edited = tmp_path / os.path.basename(module.__file__)
        with open(module.__file__) as handle:
            edited.write_text(handle.read() + "\n# an edit\n")
        with monkeypatch.context() as patch:
            patch.setattr(module, "__file__", str(edited))
            _, log = _run(common.roots(micro), out)
        assert expected in log


def _atnet_imports(module):
    """The atnet modules a module's source imports (``from atnet.data import adm`` -> atnet.data.adm)."""
    with open(module.__file__) as handle:
        tree = ast.parse(handle.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                name = "%s.%s" % (node.module, alias.name)
                found.add(name if importlib.util.find_spec(node.module).submodule_search_locations
                          and importlib.util.find_spec(name) else node.module)
    return {name for name in found if name.split(".")[0] == "atnet"}


def test_cache_key_modules_cover_what_they_import():
    """Every atnet module the output modules import is itself hashed or listed as
    not shaping the bytes, and the per-sample work is one of the hashed modules."""
    hashed = set(sample_outputs.OUTPUT_MODULE_NAMES)
    for module in sample_outputs.output_modules():
        for name in _atnet_imports(module):
            assert name in hashed or name in sample_outputs.NOT_OUTPUT_MODULES, (module.__name__, name)
    assert prepare_stage.process.__module__ in hashed and prepare_stage.__name__ not in hashed


def test_parallel_and_serial_runs_give_identical_outputs(micro, tmp_path):
    _run(common.roots(micro), tmp_path / "serial", workers=1)
    _run(common.roots(micro), tmp_path / "parallel", workers=2)
    assert _outputs(tmp_path / "serial") == _outputs(tmp_path / "parallel")


def test_interrupted_prepare_leaves_no_corrupt_output_and_resumes(tiny, tmp_path):
    out = tmp_path / "out"
    records = out / "samples" / "casme2"
    command = [sys.executable, os.path.join(common.REPO, "data_prep", "prepare.py"),
               "--casme2", os.path.join(tiny, "CASME2"), "--out", str(out), "--workers", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if records.is_dir() and len(list(records.glob("*.json"))) >= 3:
            break
        time.sleep(0.01)
    process.kill()
    process.wait()
    finished = {p.name: p.stat().st_mtime_ns for p in records.glob("*.json")}
    assert 3 <= len(finished) < 15, "the run was not interrupted midway"
    assert not (out / "index.csv").exists() and not (out / "manifest.json").exists()
    for path in out.glob("flow/casme2/*.npy"):               # whatever has a final name is whole
        assert np.load(path).shape == (64, 128)
    for path in out.glob("faces/casme2/*.png"):
        assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape == (224, 224)
    result = common.run_tool("prepare.py", "--casme2", os.path.join(tiny, "CASME2"), "--out", out, "--workers", 1)
    assert result.returncode == 0, result.stderr
    assert "15 samples: %d finished earlier (skipped), %d to prepare" % (len(finished), 15 - len(finished)) \
        in result.stdout
    assert {p.name: p.stat().st_mtime_ns for p in records.glob("*.json") if p.name in finished} == finished
    assert len(load_index(str(out))) == 15 and (out / "manifest.json").exists()
    assert not list(out.rglob("*.tmp"))


def test_manual_box_overrides_detection(micro, tmp_path):
    detected, _ = _run(common.roots(micro), tmp_path / "detected")
    target = next(r for r in detected.rows if r.dataset == "samm")
    box = (target.box_x + 6, target.box_y + 3, target.box_w - 10, target.box_h - 10)
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("dataset,subject,sample,x,y,w,h\n%s,%s,%s,%d,%d,%d,%d\n"
                     % ((target.dataset, target.subject, target.sample) + box))
    outcome, _ = _run(common.roots(micro), tmp_path / "manual", boxes_path=str(boxes))
    manual = {r.key: r for r in outcome.rows}
    assert manual[target.key].box == box
    clip, apex = load_face_clip(str(tmp_path / "manual"), manual[target.key], size=224)
    np.testing.assert_array_equal(clip[apex], load_apex_image(str(tmp_path / "manual"), manual[target.key]))
    others = [r for r in detected.rows if r.key != target.key]
    assert all(manual[r.key].box == r.box for r in others)
    # a box outside the frame is bad input, named by its line
    boxes.write_text("dataset,subject,sample,x,y,w,h\n%s,%s,%s,200,0,100,100\n"
                     % (target.dataset, target.subject, target.sample))
    with pytest.raises(InputError, match=r"boxes\.csv, line 2 \(%s\): box x=200" % target.key):
        _run(common.roots(micro), tmp_path / "bad", boxes_path=str(boxes))
    boxes.write_text("dataset,subject,sample,x,y,w,h\nsamm,6,006_9_9,1,1,10,10\n")
    with pytest.raises(InputError, match=r"line 2: samm/6/006_9_9 is not a selected sample"):
        _run(common.roots(micro), tmp_path / "bad", boxes_path=str(boxes))


def test_unreadable_frame_and_missing_face(micro, tmp_path):
    release_roots = common.copy_release(micro, tmp_path / "release")
    broken, faceless = [s for s in scan(release_roots).selected if s.dataset == "smic"]
    with open(broken.frames[2], "wb") as handle:
        handle.write(b"BM not really a bitmap")
    noise = np.random.default_rng(1)
    for path in faceless.frames:
        cv2.imwrite(path, noise.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    with pytest.raises(InputError, match=r"%s: frame is unreadable" % os.path.basename(broken.frames[2])):
        _run(release_roots, tmp_path / "strict")
    outcome, log = _run(release_roots, tmp_path / "lenient", lenient=True)
    assert len(outcome.rows) == 5 and {r.dataset for r in outcome.rows} == {"casme2", "samm"}
    with open(tmp_path / "lenient" / "skipped.csv") as handle:
        reasons = {row["sample"]: row["reason"] for row in csv.DictReader(handle)}
    assert "frame is unreadable" in reasons[broken.sample]
    assert "no face found on the apex frame" in reasons[faceless.sample] and "--boxes" in reasons[faceless.sample]
    assert "SMIC: 2 clip folders = 0 prepared + 0 excluded + 2 skipped" in log
    assert "CASME II: 6 sheet rows = 3 prepared + 3 excluded" in log


def test_cropped_release(tmp_path_factory, tmp_path):
    cropped = common.release(tmp_path_factory, common.MICRO, cropped=True)
    assert glob.glob(os.path.join(cropped, "CASME2", "Cropped", "sub01", "*", "reg_img*.jpg"))
    assert glob.glob(os.path.join(cropped, "SAMM", "SAMM_CROP", "006", "*", "006_*.jpg"))
    assert glob.glob(os.path.join(cropped, "SMIC", "SMIC_all_cropped", "HS", "s1", "micro", "*", "*",
                                  "reg_image*.bmp"))
    outcome, _ = _run(common.roots(cropped), tmp_path / "out", cropped=True)
    assert len(outcome.rows) == 7
    for row in outcome.rows:
        height, width = cv2.imread(os.path.join(row.frame_source, row.apex_frame)).shape[:2]
        assert row.box == (0, 0, width, height) and "crop" in row.frame_source.lower()
    with pytest.raises(InputError, match="no cropped frame folder"):
        _run({"casme2": common.roots(common.release(tmp_path_factory, common.MICRO))["casme2"]},
             tmp_path / "no", cropped=True)


def test_load_index_rejects_bad_rows(tiny_prepared, tmp_path):
    rows = load_index(tiny_prepared[0])
    assert dataclasses.asdict(rows[0])["label"] in (0, 1, 2) and rows[0].key == "casme2-sub01-EP01_01f"
    text = open(os.path.join(tiny_prepared[0], "index.csv")).read().splitlines()
    for change, message in [(lambda t: t[:2] + [t[2].replace(",0,faces", ",7,faces", 1)] + t[3:], "line 3: label 7"),
                            (lambda t: t[:3] + [t[2]], "line 4: casme2-sub01-EP02_02 already on line 3"),
                            (lambda t: [t[0].replace("flow,", "flows,")] + t[1:], "line 1: missing columns flow")]:
        shutil.rmtree(tmp_path, ignore_errors=True)
        os.makedirs(tmp_path)
        (tmp_path / "index.csv").write_text("\n".join(change(list(text))) + "\n")
        with pytest.raises(InputError, match=message):
            load_index(str(tmp_path))
    with pytest.raises(InputError, match="no index"):
        load_index(str(tmp_path / "nothing"))
