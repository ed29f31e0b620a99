"""tools/predict.py: a trained fold's scores on a prepared directory are the fold's own predictions;
a single clip is prepared as prepare does it."""
import csv
import os

import numpy as np
import pytest

import data_support
import train_support
from atnet import runs
from atnet.data.prepare import Settings, prepare
from atnet.data.prepared import load_feature, load_index
from atnet.predict import prepare_clip
from atnet.predictions import read_predictions

FOLD = "cde-casme2-sub01"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    prepared, lmdb, run_dir = str(root / "prepared"), str(root / "lmdb"), str(root / "run")
    train_support.make_prepared(prepared, train_support.small_counts(), seed=5, separable=True)
    train_support.run_tool("make_lmdb", "--prepared", prepared, "--protocol", "cde", "--out", lmdb,
                           "--folds", FOLD, "--flow-rows", "release")
    train_support.run_tool("train", "--model", "temporal", "--protocol", "cde", "--set", "batch_size=2",
                           "--lmdb", lmdb, "--out", run_dir, "--iters", "3", "--folds", FOLD,
                           env=train_support.single_threaded_env())
    return prepared, os.path.join(run_dir, FOLD)


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_fold_scores_are_the_folds_predictions(trained, tmp_path):
    prepared, fold = trained
    own = {(p.dataset, p.subject, p.sample): p for p in read_predictions(os.path.join(fold, runs.FOLD_PREDICTIONS))}
    keys = ",".join("%s-%s-%s" % key for key in sorted(own))
    out = str(tmp_path / "scores.csv")
    result = train_support.run_tool("predict", "--fold", fold, "--prepared", prepared, "--samples", keys,
                                    "--out", out)
    assert "accuracy on the %d labelled samples" % len(own) in result.stdout
    rows = _rows(out)
    assert len(rows) == len(own)
    for row in rows:
        prediction = own[tuple(row["key"].split("-", 2))]
        scores = [float(row["score_" + name]) for name in ("negative", "positive", "surprise")]
        # the flow rows were fed in the release order the fold was trained with (from its manifest)
        np.testing.assert_allclose(scores, prediction.scores, atol=2e-6)
        assert int(row["predicted"]) == prediction.pred and int(row["label"]) == prediction.label


def test_deploy_and_weights_need_the_flow_row_order(trained, tmp_path):
    prepared, fold = trained
    args = ("--deploy", os.path.join(fold, runs.DEPLOY_FILE), "--weights", os.path.join(fold, runs.FINAL_MODEL),
            "--prepared", prepared, "--out", str(tmp_path / "s.csv"))
    result = train_support.run_tool("predict", *args, check=False)
    assert result.returncode == 2 and "give --flow-rows" in result.stderr
    train_support.run_tool("predict", *args, "--flow-rows", "centred")
    assert len(_rows(str(tmp_path / "s.csv"))) == len(load_index(prepared))
    result = train_support.run_tool("predict", "--fold", fold, "--out", "x.csv", check=False)
    assert result.returncode == 2 and "--prepared DIR or --clip FOLDER" in result.stderr


def test_one_clip_is_prepared_as_prepare_does(trained, tmp_path_factory, tmp_path):
    release = data_support.release(tmp_path_factory, data_support.MICRO)
    prepared = str(tmp_path / "prepared")
    prepare(data_support.roots(release, ("smic",)), prepared, Settings(workers=1), log=lambda *a: None)
    row = load_index(prepared)[0]          # SMIC: the apex is the middle frame, as predict assumes
    apex, feature, index = prepare_clip(row.frame_source)
    assert index == row.apex_index
    np.testing.assert_array_equal(feature, load_feature(prepared, row))
    out = str(tmp_path / "clip.csv")
    result = train_support.run_tool("predict", "--fold", trained[1], "--clip", row.frame_source, "--out", out)
    (scored,) = _rows(out)
    assert scored["label"] == "" and scored["key"] == row.frame_source.rstrip("/")
    assert sum(float(scored["score_" + n]) for n in ("negative", "positive", "surprise")) == pytest.approx(1, abs=1e-5)
    assert "wrote %s" % out in result.stdout
