"""The predictions CSV: what every fold of every method hands to evaluation.

One row per held-out sample, header
``dataset,subject,sample,label,pred,score_0,score_1,score_2``: the sample's
identity in the MEGC2019 ground-truth style, its true class, the predicted
class and one score per class (class probabilities for the networks,
decision values for the SVM baselines). Extra columns are allowed and
ignored, so any CSV of this form can be evaluated.
"""
import csv
import dataclasses
import io
import math
import os

import numpy as np

from atnet.common import CLASS_NAMES, DATASETS, InputError, atomic_path, clip_key
from atnet.folds import field

SCORE_COLUMNS = tuple("score_%d" % c for c in range(len(CLASS_NAMES)))
COLUMNS = ("dataset", "subject", "sample", "label", "pred") + SCORE_COLUMNS


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One held-out sample's prediction; ``origin`` ("file line N") is for messages."""
    dataset: str
    subject: str
    sample: str
    label: int
    pred: int
    scores: tuple
    origin: str = dataclasses.field(default="", compare=False)

    @property
    def key(self):
        return clip_key(self.dataset, self.subject, self.sample)


def make_prediction(sample, scores):
    """The prediction for ``sample`` (mapping or object) from its per-class scores.

    The predicted class is the arg-max of the scores (the first one on a tie,
    as numpy's argmax and Caffe's ArgMax layer choose).
    """
    scores = tuple(float(s) for s in np.asarray(scores, dtype=np.float64).ravel())
    return Prediction(str(field(sample, "dataset")), str(field(sample, "subject")),
                      str(field(sample, "sample")), int(field(sample, "label")),
                      int(np.argmax(scores)), scores)


def write_predictions(path, predictions):
    """Write ``predictions`` to ``path`` atomically, after checking every row."""
    predictions = list(predictions)
    _check_unique(predictions, [_check(p, "%s row %d" % (path, i + 1)) for i, p in enumerate(predictions)])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for p in predictions:
        writer.writerow([p.dataset, p.subject, p.sample, p.label, p.pred]
                        + ["%.9g" % s for s in p.scores])
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(buffer.getvalue())


def read_predictions(path):
    """The rows of a predictions CSV as Prediction objects, in file order.

    Every problem is an InputError naming the file and line: a missing
    column, a wrong field count, an unknown dataset, a label or prediction
    outside 0..2, a score that is not a finite number, a repeated sample.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("predictions file %s does not exist" % path)
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError("%s line 1: header lacks column(s) %s (expected %s)"
                             % (path, ", ".join(missing), ",".join(COLUMNS)))
        predictions = [_parse(row, "%s line %d" % (path, reader.line_num)) for row in reader]
    _check_unique(predictions, [p.origin for p in predictions])
    return predictions


def _parse(row, where):
    """One CSV row as a checked Prediction."""
    if None in row or None in row.values():  # DictReader's marks for extra / missing fields
        header_size = sum(1 for name in row if name is not None)
        raise InputError("%s: wrong number of fields (the header has %d)" % (where, header_size))
    try:
        label, pred = int(row["label"]), int(row["pred"])
    except ValueError:
        raise InputError("%s: label %r and pred %r must be class indices 0..%d"
                         % (where, row["label"], row["pred"], len(CLASS_NAMES) - 1)) from None
    try:
        scores = tuple(float(row[c]) for c in SCORE_COLUMNS)
    except ValueError:
        raise InputError("%s: scores %s are not all numbers"
                         % (where, ", ".join(repr(row[c]) for c in SCORE_COLUMNS))) from None
    prediction = Prediction(row["dataset"].strip(), row["subject"].strip(), row["sample"].strip(),
                            label, pred, scores, origin=where)
    _check(prediction, where)
    return prediction


def _check(p, where):
    """Refuse a prediction that evaluation would miscount; returns ``where``."""
    if p.dataset not in DATASETS:
        raise InputError("%s: unknown dataset %r (expected one of %s)" % (where, p.dataset, ", ".join(DATASETS)))
    if not p.subject or not p.sample:
        raise InputError("%s: empty subject or sample" % where)
    for name, value in (("label", p.label), ("pred", p.pred)):
        if value not in range(len(CLASS_NAMES)):
            raise InputError("%s: %s %r is outside 0..%d" % (where, name, value, len(CLASS_NAMES) - 1))
    if len(p.scores) != len(CLASS_NAMES) or not all(math.isfinite(s) for s in p.scores):
        raise InputError("%s: expected %d finite scores, got %r" % (where, len(CLASS_NAMES), p.scores))
    return where


def _check_unique(predictions, origins):
    """A sample predicted twice would be counted twice: name both places."""
    first = {}
    for p, where in zip(predictions, origins):
        if p.key in first:
            raise InputError("%s: sample %s repeats %s" % (where, p.key, first[p.key]))
        first[p.key] = where


def check_pooled_unique(predictions):
    """Refuse a sample predicted by more than one fold (origins name the files)."""
    _check_unique(predictions, [p.origin or "row %d" % (i + 1) for i, p in enumerate(predictions)])
