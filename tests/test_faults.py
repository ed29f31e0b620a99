"""Fault injection, stage by stage (issue 12): for each command, at least one
operating-system fault and one corrupt input.

Every case asserts what a researcher must be able to rely on: exit status 2,
an ``error:`` line naming the file (and the cause), no traceback, no file
written outside the output folder, and a successful re-run once the fault is
removed. The faults are real: a read-only bind mount, a full tmpfs, a file
where a folder should be, bytes cut off or replaced (tests/fault_support.py).
"""
import json
import os
import shutil

import numpy as np
import pytest

import data_support
import train_support
from fault_support import (assert_clean_failure, full_disk, read_only, run_script, snapshot_tree,
                           written_outside)

pytestmark = pytest.mark.slow
ENV = train_support.single_threaded_env()


def _check_rerun(result):
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def _guarded(tmp_path, out, run):
    """Run ``run()``; assert it wrote nothing outside ``out`` under tmp_path; return its result."""
    before = snapshot_tree(tmp_path)
    result = run()
    assert written_outside(before, snapshot_tree(tmp_path), [out]) == []
    return result


# --- fixtures: one small input per stage -------------------------------------------

@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    return data_support.release(tmp_path_factory, data_support.MICRO)


def _prepare_args(roots, out):
    return ["data_prep/prepare.py"] + data_support.root_args(roots) + ["--out", out, "--workers", 1]


@pytest.fixture(scope="module")
def prepared(micro, tmp_path_factory):
    """The micro release prepared through the command line (7 samples, 3 datasets)."""
    out = str(tmp_path_factory.mktemp("faults_prepared"))
    _check_rerun(run_script(*_prepare_args(data_support.roots(micro), out)))
    return out


@pytest.fixture(scope="module")
def small_prepared(tmp_path_factory):
    """A prepared directory with 9 subjects (3 HDE folds), written directly."""
    out = str(tmp_path_factory.mktemp("faults_small"))
    train_support.make_prepared(out, train_support.small_counts(), separable=True)
    return out


@pytest.fixture(scope="module")
def lmdb(small_prepared, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("faults_lmdb"))
    _check_rerun(run_script("tools/make_lmdb.py", "--prepared", small_prepared, "--protocol", "hde", "--out", out))
    return out


TRAIN = ["--model", "temporal", "--protocol", "hde", "--iters", "2", "--folds", "hde-casme2", "--no-progress",
         "--set", "batch_size=4"]


@pytest.fixture(scope="module")
def trained(lmdb, tmp_path_factory):
    """A run folder with one trained fold (hde-casme2), evaluated with --partial."""
    out = str(tmp_path_factory.mktemp("faults_run") / "run")
    _check_rerun(run_script("tools/train.py", "--lmdb", lmdb, "--out", out, *TRAIN, env=ENV))
    _check_rerun(run_script("tools/evaluate.py", out, "--partial"))
    return out


# --- synth ---------------------------------------------------------------------------

def test_synth_output_is_a_file(tmp_path):
    out = tmp_path / "raw"
    out.write_text("not a folder")
    result = _guarded(tmp_path, out, lambda: run_script("data_prep/synth.py", "--preset", "tiny", "--out", out))
    assert_clean_failure(result, out)
    out.unlink()
    # the re-run of the same command (a smaller preset is not selectable from the command line)
    _check_rerun(run_script("data_prep/synth.py", "--preset", "tiny", "--out", out, timeout=900))


# --- prepare ---------------------------------------------------------------------------

def test_prepare_into_a_read_only_folder(micro, tmp_path):
    out = tmp_path / "prepared"
    out.mkdir()
    with read_only(out):
        result = _guarded(tmp_path, out, lambda: run_script(*_prepare_args(data_support.roots(micro), out)))
    assert_clean_failure(result, out, "Read-only file system")
    _check_rerun(run_script(*_prepare_args(data_support.roots(micro), out)))


def test_prepare_on_a_full_disk(micro, tmp_path):
    out = tmp_path / "disk" / "prepared"
    with full_disk(tmp_path / "disk", "48k"):
        result = _guarded(tmp_path, tmp_path / "disk", lambda: run_script(*_prepare_args(data_support.roots(micro),
                                                                                        out)))
        assert_clean_failure(result, out, "No space left on device")
        assert not (out / "index.csv").exists() and not (out / "manifest.json").exists()
    _check_rerun(run_script(*_prepare_args(data_support.roots(micro), out)))


def test_prepare_with_a_corrupt_sheet(micro, tmp_path):
    roots = data_support.copy_release(micro, tmp_path / "raw", ("casme2",))
    sheet = os.path.join(roots["casme2"], "CASME2-coding-20140508.xlsx")
    original = open(sheet, "rb").read()
    with open(sheet, "wb") as handle:
        handle.write(original[:len(original) // 2])
    out = tmp_path / "prepared"
    result = _guarded(tmp_path, out, lambda: run_script(*_prepare_args(roots, out)))
    assert_clean_failure(result, sheet)
    with open(sheet, "wb") as handle:
        handle.write(original)
    _check_rerun(run_script(*_prepare_args(roots, out)))


# --- import_release ------------------------------------------------------------------

def _release(tmp_path):
    from atnet.data.release import ApexRecord, write_apex_list, write_optical_text
    import cv2
    images = tmp_path / "apex"
    images.mkdir(exist_ok=True)
    keys = ["casme2-sub01-EP02_01f", "samm-6-006_1_2", "smic-s01-s01_ne_01"]
    records, features = [], {}
    for label, key in enumerate(keys):
        record = ApexRecord(*key.split("-"), "img%d.jpg" % (50 + label), label, "%s-img%d.jpg" % (key, 50 + label), 0)
        cv2.imwrite(str(images / record.file_name), np.full((224, 224), 100 + label, np.uint8))
        feature = np.zeros((64, 128), np.float32)
        feature[10:50] = label + 1
        records.append(record)
        features[key] = feature
    write_apex_list(str(tmp_path / "Apex_Cropped_images.txt"), records)
    write_optical_text(str(tmp_path / "optical.txt"), features)
    return ["--apex-list", tmp_path / "Apex_Cropped_images.txt", "--apex-dir", images,
            "--optical", tmp_path / "optical.txt"]


def test_import_release_with_a_missing_apex_folder(tmp_path):
    args = _release(tmp_path)
    shutil.move(str(tmp_path / "apex"), str(tmp_path / "apex.moved"))
    out = tmp_path / "out"
    result = _guarded(tmp_path, out, lambda: run_script("data_prep/import_release.py", *args, "--out", out))
    assert_clean_failure(result, tmp_path / "apex")
    shutil.move(str(tmp_path / "apex.moved"), str(tmp_path / "apex"))
    _check_rerun(run_script("data_prep/import_release.py", *args, "--out", out))


def test_import_release_with_a_corrupt_optical_file(tmp_path):
    args = _release(tmp_path)
    optical = tmp_path / "optical.txt"
    good = optical.read_text()
    lines = good.splitlines()
    lines[70] = lines[70].replace(lines[70].split()[5], "nan?", 1)
    optical.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    result = _guarded(tmp_path, out, lambda: run_script("data_prep/import_release.py", *args, "--out", out))
    assert_clean_failure(result, optical, "line 71")
    optical.write_text(good)
    _check_rerun(run_script("data_prep/import_release.py", *args, "--out", out))


# --- make_lmdb ---------------------------------------------------------------------------

def _make_lmdb(prepared_dir, out):
    return run_script("tools/make_lmdb.py", "--prepared", prepared_dir, "--protocol", "hde", "--out", out)


def test_make_lmdb_output_is_a_file(small_prepared, tmp_path):
    out = tmp_path / "lmdb"
    out.write_text("x")
    result = _guarded(tmp_path, out, lambda: _make_lmdb(small_prepared, out))
    assert_clean_failure(result, out)
    out.unlink()
    _check_rerun(_make_lmdb(small_prepared, out))


def test_make_lmdb_on_a_full_disk(small_prepared, tmp_path):
    out = tmp_path / "disk" / "lmdb"
    with full_disk(tmp_path / "disk", "2m"):
        result = _guarded(tmp_path, tmp_path / "disk", lambda: _make_lmdb(small_prepared, out))
        assert_clean_failure(result, out, "No space left on device")
    _check_rerun(_make_lmdb(small_prepared, out))


def test_make_lmdb_with_a_corrupt_feature_file(small_prepared, tmp_path):
    prepared_dir = tmp_path / "prepared"
    shutil.copytree(small_prepared, prepared_dir)
    feature = next((prepared_dir / "flow" / "samm").iterdir())
    good = feature.read_bytes()
    feature.write_bytes(b"\x93NUMPY garbage")
    out = tmp_path / "lmdb"
    result = _guarded(tmp_path, out, lambda: _make_lmdb(prepared_dir, out))
    assert_clean_failure(result, feature)
    feature.write_bytes(good)
    _check_rerun(_make_lmdb(prepared_dir, out))


# --- train ---------------------------------------------------------------------------------

def test_train_output_is_a_file(lmdb, tmp_path):
    out = tmp_path / "run"
    out.write_text("x")
    result = _guarded(tmp_path, out, lambda: run_script("tools/train.py", "--lmdb", lmdb, "--out", out, *TRAIN,
                                                        env=ENV))
    assert_clean_failure(result, out)
    out.unlink()
    _check_rerun(run_script("tools/train.py", "--lmdb", lmdb, "--out", out, *TRAIN, env=ENV))


def test_train_with_a_corrupt_fold_manifest(lmdb, tmp_path):
    copy = tmp_path / "lmdb"
    shutil.copytree(lmdb, copy)
    manifest = copy / "hde-casme2" / "manifest.json"
    good = manifest.read_text()
    manifest.write_text(good[:len(good) // 2])
    out = tmp_path / "run"
    result = _guarded(tmp_path, out, lambda: run_script("tools/train.py", "--lmdb", copy, "--out", out, *TRAIN,
                                                        env=ENV))
    assert_clean_failure(result, manifest)
    manifest.write_text(good)
    _check_rerun(run_script("tools/train.py", "--lmdb", copy, "--out", out, *TRAIN, env=ENV))


# --- evaluate --------------------------------------------------------------------------------

def test_evaluate_into_a_read_only_report_folder(trained, tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    with read_only(report):
        result = _guarded(tmp_path, report, lambda: run_script("tools/evaluate.py", trained, "--partial",
                                                               "--out", report))
    assert_clean_failure(result, report, "Read-only file system")
    _check_rerun(run_script("tools/evaluate.py", trained, "--partial", "--out", report))


def test_evaluate_with_a_corrupt_predictions_file(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    predictions = run / "hde-casme2" / "predictions.csv"
    good = predictions.read_text()
    lines = good.splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0] + ",x"
    predictions.write_text("\n".join(lines) + "\n")
    result = _guarded(tmp_path, run, lambda: run_script("tools/evaluate.py", run, "--partial"))
    assert_clean_failure(result, predictions, "line 3")
    predictions.write_text(good)
    _check_rerun(run_script("tools/evaluate.py", run, "--partial"))


# --- compare_paper ----------------------------------------------------------------------------

def test_compare_into_a_read_only_folder(trained, tmp_path):
    out = tmp_path / "cmp"
    out.mkdir()
    with read_only(out):
        result = _guarded(tmp_path, out, lambda: run_script("tools/compare_paper.py", trained, "--out", out))
    assert_clean_failure(result, out, "Read-only file system")
    _check_rerun(run_script("tools/compare_paper.py", trained, "--out", out))


def test_compare_with_a_corrupt_metrics_file(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    metrics = run / "metrics.json"
    good = metrics.read_text()
    metrics.write_text(good[:40])
    out = tmp_path / "cmp"
    result = _guarded(tmp_path, out, lambda: run_script("tools/compare_paper.py", run, "--out", out))
    assert_clean_failure(result, metrics)
    metrics.write_text(good)
    _check_rerun(run_script("tools/compare_paper.py", run, "--out", out))


# --- baselines ----------------------------------------------------------------------------------

BASELINE = ["--method", "lbptop", "--tim", "10", "--P", "4", "--protocol", "hde", "--jobs", "1"]


def test_baselines_output_is_a_file(prepared, tmp_path):
    out, cache = tmp_path / "run", tmp_path / "cache"
    out.write_text("x")
    args = ["tools/baselines.py", "--prepared", prepared, "--cache", cache, "--out", out] + BASELINE
    before = snapshot_tree(tmp_path)
    result = run_script(*args)
    assert_clean_failure(result, out)
    assert written_outside(before, snapshot_tree(tmp_path), [out, cache]) == []
    out.unlink()
    _check_rerun(run_script(*args))


def test_baselines_with_a_corrupt_cached_feature(prepared, tmp_path):
    out, cache = tmp_path / "run", tmp_path / "cache"
    args = ["tools/baselines.py", "--prepared", prepared, "--cache", cache, "--out", out] + BASELINE
    _check_rerun(run_script(*args))
    shutil.rmtree(out)
    mat = next(path for folder, _, files in os.walk(cache) for path in
               (os.path.join(folder, name) for name in files) if path.endswith(".mat"))
    good = open(mat, "rb").read()
    with open(mat, "wb") as handle:
        handle.write(good[:30])
    result = run_script(*args)
    assert_clean_failure(result, mat)
    with open(mat, "wb") as handle:
        handle.write(good)
    _check_rerun(run_script(*args))
