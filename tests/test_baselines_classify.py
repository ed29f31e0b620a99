"""The baselines' SVM under CDE and HDE folds: no leakage, tuning, the run directory."""
import json
import os

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from atnet.baselines import classify, runner
from atnet.common import InputError
from atnet.folds import make_folds, sample_key
from atnet.predictions import read_predictions

SUBJECTS = {"casme2": ["sub01", "sub02", "sub03"], "samm": ["6", "7", "9"], "smic": ["s01", "s02", "s03"]}


def synthetic_set(per_subject=6, dims=12, signal=1.5, seed=0):
    """Samples of 9 subjects in 3 datasets, each subject with every class, and class-shifted features."""
    rng = np.random.default_rng(seed)
    samples = [{"dataset": d, "subject": s, "sample": "%s_%02d" % (s, i), "label": i % 3}
               for d, subjects in SUBJECTS.items() for s in subjects for i in range(per_subject)]
    centres = rng.normal(size=(3, dims)) * signal
    matrix = np.stack([centres[s["label"]] + rng.normal(size=dims) for s in samples])
    return samples, matrix


class Recorder(BaseEstimator, TransformerMixin):
    """First pipeline step: logs which samples each fit and each transform sees, passes rows on."""
    fitted = []       # one set of clip keys per fit (every clone shares these class lists)
    transformed = []
    key_of_row = {}

    def fit(self, X, y=None):
        Recorder.fitted.append({Recorder.key_of_row[row.tobytes()] for row in np.asarray(X)})
        return self

    def transform(self, X):
        Recorder.transformed.append({Recorder.key_of_row[row.tobytes()] for row in np.asarray(X)})
        return X


def recording_model(config, C):
    """The real scaler + SVM pipeline behind a Recorder: what the recorder saw at fit is all they fit on."""
    return Pipeline([("record", Recorder())] + classify.make_model(config, C).steps)


@pytest.mark.parametrize("protocol", ["cde", "hde"])
def test_no_test_sample_reaches_the_scaler_the_tuner_or_the_svm_fit(protocol):
    samples, matrix = synthetic_set()
    Recorder.key_of_row = {row.tobytes(): sample_key(s) for s, row in zip(samples, matrix)}
    features_of = classify.feature_lookup(samples, matrix)
    config = classify.SvmConfig(tune=True, C_grid=(0.1, 10.0), scaling="standard")
    folds = make_folds(samples, protocol)
    assert len(folds) == (9 if protocol == "cde" else 3)
    for fold in folds:
        Recorder.fitted, Recorder.transformed = [], []
        predictions, info = classify.classify_fold(fold, features_of, config, recording_model)
        train = {sample_key(s) for s in fold.train}
        test = {sample_key(s) for s in fold.test}
        # The tuner's inner LOSO fits (subjects - 1 per C) and the final fit, all on training samples only.
        assert len(Recorder.fitted) == 2 * len({(s["dataset"], s["subject"]) for s in fold.train}) + 1
        assert all(seen <= train for seen in Recorder.fitted)
        assert Recorder.fitted[-1] == train
        # Test samples are only ever transformed, once, for the final decision values.
        assert Recorder.transformed[-1] == test
        assert all(seen <= train for seen in Recorder.transformed[:-1])
        assert [p.key for p in predictions] == [sample_key(s) for s in fold.test]
        assert info["C"] in (0.1, 10.0) and set(info["inner_uf1"]) == {"0.1", "10.0"}


def test_tuner_scores_pooled_inner_predictions_and_prefers_the_smaller_c_on_ties():
    samples, matrix = synthetic_set(signal=3.0)
    labels = np.array([s["label"] for s in samples])
    best, uf1 = classify.tune_C(matrix, labels, classify.subject_groups(samples),
                                classify.SvmConfig(C_grid=(1.0, 1.0 + 1e-9)))
    assert best == 1.0 and uf1[1.0] == uf1[1.0 + 1e-9] > 0.9


def test_class_scores_cover_every_class_and_predictions_follow_them():
    samples, matrix = synthetic_set(signal=3.0)
    labels = np.array([s["label"] for s in samples])
    two = labels != 2
    model = classify.make_model(classify.SvmConfig(), 1.0).fit(matrix[two], labels[two])
    scores = classify.class_scores(model, matrix)
    assert scores.shape == (len(samples), 3) and np.all(np.isfinite(scores))
    np.testing.assert_array_equal(scores.argmax(axis=1), model.predict(matrix))
    assert not np.any(scores.argmax(axis=1) == 2)


def test_fold_with_one_training_class_is_refused():
    samples, matrix = synthetic_set()
    for s in samples:
        s["label"] = 0 if s["subject"] != "sub01" else 1
    fold = make_folds(samples, "cde")[0]
    with pytest.raises(InputError, match="only class negative"):
        classify.classify_fold(fold, classify.feature_lookup(samples, matrix), classify.SvmConfig())


def test_run_directory_metrics_rerun_and_refusal(tmp_path):
    samples, matrix = synthetic_set(signal=3.0)
    out = str(tmp_path / "run")
    svm = classify.SvmConfig()
    doc, _ = runner.run_configuration(samples, matrix, "HOOF", "N=4 TIM=10", "cde", out, svm, {"source": "test"})
    assert doc["Full"]["n"] == len(samples) and doc["Full"]["uf1"] > 0.9   # well separated classes
    info = json.load(open(os.path.join(out, "run.json")))
    assert info["method"] == "HOOF" and info["setting"] == "N=4 TIM=10" and len(info["folds"]) == 9
    fold_dir = os.path.join(out, "cde-casme2-sub01")
    assert [p.key for p in read_predictions(os.path.join(fold_dir, "predictions.csv"))] == \
        ["casme2-sub01-sub01_%02d" % i for i in range(6)]
    assert json.load(open(os.path.join(fold_dir, "fold.json")))["train"] == len(samples) - 6
    assert os.path.isfile(os.path.join(out, "metrics.json"))
    # A re-run skips finished folds (their files stay as they were) ...
    stamp = os.stat(os.path.join(fold_dir, "predictions.csv")).st_mtime_ns
    runner.run_configuration(samples, matrix, "HOOF", "N=4 TIM=10", "cde", out, svm, {"source": "test"})
    assert os.stat(os.path.join(fold_dir, "predictions.csv")).st_mtime_ns == stamp
    # ... and other settings in the same directory are refused.
    with pytest.raises(InputError, match="different run"):
        runner.run_configuration(samples, matrix, "HOOF", "N=4 TIM=10", "cde", out,
                                 classify.SvmConfig(C=10.0), {"source": "test"})
