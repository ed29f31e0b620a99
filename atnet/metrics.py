"""The paper's metrics: Acc, UF1 and UAR on predictions pooled over all folds.

atnet.md section 5 (the MEGC2019 definitions): pool the predictions of every
fold first, then per class c count TP_c, FP_c, FN_c and N_c (samples whose
true class is c) over the pool, and

    Acc = correct / total
    UF1 = mean over classes of F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)
    UAR = mean over classes of recall_c = TP_c / N_c

Never average per-fold scores: a fold holds a single subject, often with one
class only, and per-fold means weight tiny folds like large ones.

Undefined terms (small or synthetic sets can lack a class in a column):
- A class with 2 TP_c + FP_c + FN_c = 0 (absent from the labels AND never
  predicted) has no F1 and is left out of the UF1 mean. This is what the
  MEGC2019 reference evaluation does (its per-class computation fails for
  such a class and the class is skipped) and what scikit-learn's
  ``f1_score(average='macro')`` does (it only averages labels that occur).
- A class with N_c = 0 has no recall and is left out of the UAR mean, as in
  scikit-learn's ``balanced_accuracy_score``. (The MEGC2019 reference code
  divides 0/0 here and returns NaN; when such a class was predicted, its F1
  is 0 and it does count in UF1.)
- With no sample at all, acc, uf1 and uar are None (JSON null).
So on any pooled predictions UF1 equals scikit-learn's macro F1 and UAR its
balanced accuracy.
"""
import numpy as np

from atnet.common import CLASS_NAMES, DATASET_TITLES, DATASETS
from atnet.folds import PROTOCOLS, field

#: The columns of Tables II and III, in the paper's order.
TABLE_COLUMNS = ("Full",) + tuple(DATASET_TITLES[d] for d in DATASETS)
#: The metric keys of a column, in the order the tables print them.
METRICS = ("acc", "uf1", "uar")
#: How the paper writes each metric.
METRIC_TITLES = {"acc": "Acc", "uf1": "UF1", "uar": "UAR"}


def confusion(labels, preds, num_classes=len(CLASS_NAMES)):
    """Counts ``matrix[true, predicted]`` as an int array (num_classes x num_classes)."""
    labels = np.asarray(labels, dtype=np.int64).ravel()
    preds = np.asarray(preds, dtype=np.int64).ravel()
    if labels.shape != preds.shape:
        raise ValueError("%d labels but %d predictions" % (labels.size, preds.size))
    for name, values in (("label", labels), ("prediction", preds)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError("a %s is outside 0..%d" % (name, num_classes - 1))
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, preds), 1)
    return matrix


def scores(labels, preds, num_classes=len(CLASS_NAMES)):
    """``{'acc', 'uf1', 'uar', 'n'}`` of pooled predictions (see the module docstring)."""
    return scores_from_confusion(confusion(labels, preds, num_classes))


def scores_from_confusion(matrix):
    """Acc, UF1, UAR and n from a confusion matrix ``[true, predicted]``."""
    matrix = np.asarray(matrix, dtype=np.int64)
    total = int(matrix.sum())
    if total == 0:
        return {"acc": None, "uf1": None, "uar": None, "n": 0}
    tp = np.diag(matrix)
    fp = matrix.sum(axis=0) - tp
    fn = matrix.sum(axis=1) - tp
    support = matrix.sum(axis=1)
    f1_denominator = 2 * tp + fp + fn
    has_f1 = f1_denominator > 0
    has_recall = support > 0
    return {
        "acc": float(tp.sum() / total),
        "uf1": float(np.mean(2 * tp[has_f1] / f1_denominator[has_f1])),
        "uar": float(np.mean(tp[has_recall] / support[has_recall])),
        "n": total,
    }


def column_rows(rows, protocol):
    """The predictions behind each table column: ``{'Full': rows, 'CASME II': ...}``.

    CDE (Table II): Full is the whole pool, a dataset's column the pool
    restricted to that dataset's samples. HDE (Table III): a dataset's column
    is the predictions of the fold holding that dataset out, which are exactly
    the pool's samples of that dataset since each sample is tested once; Full
    (all three held-out sets pooled) has no counterpart in Table III and is
    reported for information only.
    """
    if protocol not in PROTOCOLS:
        raise ValueError("unknown protocol %r" % (protocol,))
    rows = list(rows)
    columns = {"Full": rows}
    for dataset in DATASETS:
        columns[DATASET_TITLES[dataset]] = [r for r in rows if field(r, "dataset") == dataset]
    return columns


def table_columns(rows, protocol):
    """Scores per table column; a column without predictions has n = 0 and None scores."""
    return {title: scores([int(field(r, "label")) for r in subset],
                          [int(field(r, "pred")) for r in subset])
            for title, subset in column_rows(rows, protocol).items()}
