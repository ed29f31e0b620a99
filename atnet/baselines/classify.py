"""The degree-2 polynomial SVM of the baselines under CDE and HDE folds.

Per fold, a scikit-learn pipeline (feature scaling, then ``SVC(kernel='poly',
degree=2)``) is fitted on the fold's training samples only and scores the
held-out samples. With ``tune``, C is chosen by an inner leave-one-subject-out
search over the TRAINING subjects of the fold (subjects keyed by dataset and
subject, as the outer CDE folds are); the inner predictions are pooled and
scored by UF1, the paper's metric, never averaged per inner fold. The
held-out subject or dataset never reaches the scaler, the tuner or the SVM's
fit; the test set only ever goes through ``decision_function``.

Scores written for a sample are the SVM's one-vs-rest decision values; with
``break_ties=True`` the SVM's prediction is their arg-max, so the predictions
CSV's ``pred`` equals ``SVC.predict``.
"""
import dataclasses
import time

import numpy as np
from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC

from atnet.common import CLASS_NAMES, InputError
from atnet.config import setting
from atnet.folds import field, sample_key, sample_label
from atnet.metrics import scores
from atnet.predictions import make_prediction

SCALINGS = ("standard", "minmax", "none")
CLASS_WEIGHTS = ("balanced", "none")
DEFAULT_C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)


@dataclasses.dataclass(frozen=True)
class SvmConfig:
    """The classifier's settings; the defaults are documented in docs/baselines.md.

    Declared with atnet.config.setting: tools/baselines.py's options take
    their defaults, choices and help from here.
    """
    C: float = setting(1.0, "fixed SVM C (unless --tune)")
    gamma: object = setting("scale", "kernel gamma: 'scale', 'auto' or a number")
    coef0: float = setting(1.0, "kernel constant: (gamma x.y + coef0)^2")
    scaling: str = setting("standard", "feature scaling, fitted on each fold's training samples", choices=SCALINGS)
    class_weight: str = setting("balanced", "SVM class weights", choices=CLASS_WEIGHTS)
    tune: bool = setting(False, "choose C per fold by inner leave-one-subject-out on the training subjects only")
    C_grid: tuple = setting(DEFAULT_C_GRID, "candidate C values for --tune")


def make_model(config, C):
    """A fresh, unfitted scaling + polynomial-SVM pipeline."""
    steps = []
    if config.scaling == "standard":
        steps.append(("scale", StandardScaler()))
    elif config.scaling == "minmax":
        steps.append(("scale", MinMaxScaler()))
    elif config.scaling != "none":
        raise InputError("unknown scaling %r (expected one of %s)" % (config.scaling, ", ".join(SCALINGS)))
    weights = None if config.class_weight == "none" else config.class_weight
    steps.append(("svm", SVC(kernel="poly", degree=2, C=C, gamma=config.gamma, coef0=config.coef0,
                             class_weight=weights, break_ties=True)))
    return Pipeline(steps)


def subject_groups(samples):
    """One group id per sample: its (dataset, subject), the unit of leave-one-subject-out."""
    return np.array(["%s-%s" % (field(s, "dataset"), field(s, "subject")) for s in samples])


def tune_C(features, labels, groups, config, model_factory=make_model, jobs=1):
    """The C of ``config.C_grid`` with the best pooled inner-LOSO UF1, and every C's UF1.

    Only the training samples of one outer fold may be passed here. Ties go
    to the smaller C (the more regularised model). With fewer than two
    training subjects there is nothing to cross-validate and the fixed C is kept.
    """
    if len(set(groups)) < 2:
        return config.C, {}
    uf1 = {}
    for C in config.C_grid:
        inner = cross_val_predict(model_factory(config, C), features, labels, groups=groups,
                                  cv=LeaveOneGroupOut(), n_jobs=jobs)
        uf1[C] = scores(labels, inner)["uf1"]
    best = max(sorted(uf1), key=lambda C: uf1[C])  # max keeps the first (smallest) on ties
    return best, uf1


def class_scores(model, features):
    """(n, 3) decision values, one column per class index, whatever classes were trained.

    A class absent from a fold's training set gets a score below every other
    score of its row, so it is never predicted and the row stays finite.
    """
    raw = np.asarray(model.decision_function(features), dtype=np.float64)
    trained = list(model.classes_)
    if raw.ndim == 1:  # two classes: one signed value, positive for classes_[1]
        raw = np.stack([-raw, raw], axis=1)
    full = np.empty((len(features), len(CLASS_NAMES)))
    full[:] = (raw.min(axis=1) - 1.0)[:, None]
    for column, label in enumerate(trained):
        full[:, label] = raw[:, column]
    return full


def classify_fold(fold, features_of, config, model_factory=make_model, jobs=1):
    """Fit on ``fold.train``, predict ``fold.test``; returns (predictions, info).

    ``features_of(samples)`` returns the feature rows of the given samples;
    it is called once for the training samples and once for the test samples,
    which keeps the two apart by construction.
    """
    started = time.perf_counter()
    train_x, train_y = features_of(fold.train), np.array([sample_label(s) for s in fold.train])
    if len(set(train_y)) < 2:
        raise InputError("fold %s: the training samples hold only class %s; an SVM needs two classes"
                         % (fold.name, CLASS_NAMES[train_y[0]] if len(train_y) else "none"))
    C, inner_uf1 = config.C, {}
    if config.tune:
        C, inner_uf1 = tune_C(train_x, train_y, subject_groups(fold.train), config, model_factory, jobs)
    model = model_factory(config, C).fit(train_x, train_y)
    test_scores = class_scores(model, features_of(fold.test))
    predictions = [make_prediction(s, row) for s, row in zip(fold.test, test_scores)]
    info = {"fold": fold.name, "C": C, "inner_uf1": {repr(c): v for c, v in inner_uf1.items()},
            "train": len(fold.train), "test": len(fold.test),
            "train_subjects": sorted(set(subject_groups(fold.train))),
            "seconds": round(time.perf_counter() - started, 3)}
    return predictions, info


def feature_lookup(samples, matrix):
    """``features_of(samples)``: rows of ``matrix`` (aligned with ``samples``) by clip key."""
    row_of = {sample_key(s): i for i, s in enumerate(samples)}
    if len(row_of) != len(samples):
        raise InputError("a clip occurs twice in the feature list")

    def features_of(subset):
        return matrix[[row_of[sample_key(s)] for s in subset]]
    return features_of
