"""Faults 1 and 6 of issue 12, reproduced through the command lines.

1. The LMDB checksums written into each fold's manifest were never checked:
   a deleted, truncated or swapped ``data.mdb`` counted as complete; a fold
   whose training LMDB was replaced by another fold's trained (exit 0) with
   the held-out subject inside its training set; a truncated one died of
   SIGBUS inside Caffe.
6. After a failed ``make_lmdb.py`` (a NaN feature) ``folds.json`` was already
   written, so the corrected re-run was refused as "built with other parameters".
"""
import json
import os
import shutil

import numpy as np
import pytest

from atnet.common import sha256_file

import train_support
from fault_support import assert_clean_failure, run_script

ENV = train_support.single_threaded_env()
TRAIN = ["--model", "temporal", "--protocol", "hde", "--iters", "2", "--folds", "hde-casme2", "--no-progress",
         "--set", "batch_size=4"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("integrity_prepared"))
    train_support.make_prepared(out, train_support.small_counts(), separable=True)
    return out


@pytest.fixture(scope="module")
def built(prepared, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("integrity_lmdb") / "lmdb")
    result = _make_lmdb(prepared, out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def lmdb(built, tmp_path):
    """A private copy of the built LMDB folder, to damage."""
    copy = tmp_path / "lmdb"
    shutil.copytree(built, copy)
    return copy


def _make_lmdb(prepared, out, *extra):
    return run_script("tools/make_lmdb.py", "--prepared", prepared, "--protocol", "hde", "--out", out, *extra)


def _train(lmdb, out):
    return run_script("tools/train.py", "--lmdb", lmdb, "--out", out, *TRAIN, env=ENV)


def test_a_deleted_data_mdb_is_rebuilt_by_make_lmdb_and_refused_by_train(prepared, lmdb, tmp_path):
    data = lmdb / "hde-casme2" / "train_apex" / "data.mdb"
    data.unlink()
    result = _train(lmdb, tmp_path / "run")
    assert_clean_failure(result, data)
    assert not (tmp_path / "run" / "hde-casme2" / "final.caffemodel").exists()
    rebuilt = _make_lmdb(prepared, lmdb)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "1 fold(s) built" in rebuilt.stdout and "hde-casme2" in rebuilt.stdout + rebuilt.stderr
    manifest = json.loads((lmdb / "hde-casme2" / "manifest.json").read_text())
    assert sha256_file(data) == manifest["checksums"]["train_apex"]
    result = _train(lmdb, tmp_path / "run")
    assert result.returncode == 0, result.stderr


def test_a_truncated_data_mdb_is_refused_before_caffe_sees_it(lmdb, tmp_path):
    data = lmdb / "hde-casme2" / "train_flow" / "data.mdb"
    content = data.read_bytes()
    data.write_bytes(content[:len(content) // 3])
    result = _train(lmdb, tmp_path / "run")
    assert_clean_failure(result, data, "checksum")
    assert "SIGBUS" not in result.stderr and "Check failed" not in result.stderr
    log = tmp_path / "run" / "hde-casme2" / "train.log"
    assert not log.exists() or "Creating layer" not in log.read_text()     # Caffe never started


def test_another_folds_training_lmdb_is_refused(lmdb, tmp_path):
    for stream in ("train_apex", "train_flow"):
        shutil.rmtree(lmdb / "hde-casme2" / stream)
        shutil.copytree(lmdb / "hde-samm" / stream, lmdb / "hde-casme2" / stream)
    result = _train(lmdb, tmp_path / "run")
    assert_clean_failure(result, lmdb / "hde-casme2" / "train_apex" / "data.mdb")


def test_a_swap_with_matching_checksums_is_caught_by_the_keys_held_out_samples_included(lmdb, tmp_path):
    """Even a manifest edited to the swapped files' checksums does not let a held-out sample train."""
    manifest_path = lmdb / "hde-casme2" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for stream in ("train_apex", "train_flow"):
        shutil.rmtree(lmdb / "hde-casme2" / stream)
        shutil.copytree(lmdb / "hde-samm" / stream, lmdb / "hde-casme2" / stream)
        manifest["checksums"][stream] = sha256_file(lmdb / "hde-casme2" / stream / "data.mdb")
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    result = _train(lmdb, tmp_path / "run")
    assert_clean_failure(result, lmdb / "hde-casme2" / "train_apex", "held-out", "casme2-")


def test_a_failed_build_records_no_parameters_so_the_corrected_rerun_works(prepared, tmp_path):
    """Fault 6: a NaN feature stops make_lmdb; the re-run after the fix is not refused."""
    copy = tmp_path / "prepared"
    shutil.copytree(prepared, copy)
    feature_path = sorted((copy / "flow" / "smic").iterdir())[0]
    feature = np.load(feature_path)
    good = feature.copy()
    feature[30, 5] = np.nan
    np.save(feature_path, feature)
    out = tmp_path / "lmdb"
    result = _make_lmdb(copy, out)
    assert_clean_failure(result, feature_path, "non-finite", "time step (row) 30")
    assert not (out / "folds.json").exists()
    np.save(feature_path, good)
    result = _make_lmdb(copy, out)
    assert result.returncode == 0, result.stderr
    assert (out / "folds.json").is_file()


def test_the_same_holds_when_a_sample_file_is_unreadable(prepared, tmp_path):
    copy = tmp_path / "prepared"
    shutil.copytree(prepared, copy)
    image = sorted((copy / "faces" / "samm").iterdir())[0]
    good = image.read_bytes()
    image.write_bytes(good[:100])
    out = tmp_path / "lmdb"
    assert_clean_failure(_make_lmdb(copy, out), image)
    assert not (out / "folds.json").exists()
    image.write_bytes(good)
    assert _make_lmdb(copy, out).returncode == 0
