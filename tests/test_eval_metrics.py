"""Acc, UF1, UAR against hand-computed confusion matrices and scikit-learn."""
import warnings

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from atnet.metrics import TABLE_COLUMNS, confusion, scores, table_columns


def test_hand_computed_confusion_matrix():
    labels = [0, 0, 0, 0, 1, 1, 2]
    preds = [0, 0, 1, 1, 1, 2, 2]
    assert confusion(labels, preds).tolist() == [[2, 2, 0], [0, 1, 1], [0, 0, 1]]
    # TP (2, 1, 1), FP (0, 2, 1), FN (2, 1, 0): F1 = 4/6, 2/5, 2/3; recall = 2/4, 1/2, 1/1.
    result = scores(labels, preds)
    assert result["n"] == 7
    assert result["acc"] == pytest.approx(4 / 7)
    assert result["uf1"] == pytest.approx((4 / 6 + 2 / 5 + 2 / 3) / 3)
    assert result["uar"] == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)


def test_a_class_never_predicted_counts_with_f1_and_recall_zero():
    labels, preds = [0, 1, 2, 2], [0, 1, 1, 1]
    assert confusion(labels, preds).tolist() == [[1, 0, 0], [0, 1, 0], [0, 2, 0]]
    result = scores(labels, preds)
    assert result["uf1"] == pytest.approx((1 + 2 / 4 + 0) / 3)
    assert result["uar"] == pytest.approx((1 + 1 + 0) / 3)
    assert result["acc"] == pytest.approx(0.5)


def test_a_class_absent_and_never_predicted_is_left_out_of_both_means():
    result = scores([0, 0, 1], [0, 1, 1])
    assert result["uf1"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert result["uar"] == pytest.approx((1 / 2 + 1) / 2)


def test_a_class_absent_but_predicted_has_f1_zero_and_no_recall():
    result = scores([0, 0, 1], [0, 2, 1])
    assert result["uf1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert result["uar"] == pytest.approx((1 / 2 + 1) / 2)


def test_no_samples_gives_no_scores():
    assert scores([], []) == {"acc": None, "uf1": None, "uar": None, "n": 0}


def test_labels_outside_the_classes_are_refused():
    with pytest.raises(ValueError, match="label"):
        confusion([3], [0])
    with pytest.raises(ValueError, match="2 labels but 1"):
        confusion([0, 1], [0])


def _row(dataset, label, pred):
    return {"dataset": dataset, "label": label, "pred": pred}


def test_table_columns_restrict_the_pool_and_survive_an_absent_class():
    rows = ([_row("casme2", 0, 0), _row("casme2", 1, 1), _row("casme2", 2, 0)]
            + [_row("samm", 0, 0), _row("samm", 0, 1), _row("samm", 1, 1)])  # SAMM has no surprise
    columns = table_columns(rows, "cde")
    assert tuple(columns) == TABLE_COLUMNS
    assert columns["Full"] == scores([0, 1, 2, 0, 0, 1], [0, 1, 0, 0, 1, 1])
    assert columns["CASME II"]["uf1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert columns["SAMM"]["uf1"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert columns["SAMM"]["uar"] == pytest.approx((1 / 2 + 1) / 2)
    assert columns["SMIC"] == {"acc": None, "uf1": None, "uar": None, "n": 0}
    assert table_columns(rows, "hde")["SAMM"] == columns["SAMM"]


def _random_pool(seed, n, classes=(0, 1, 2)):
    rng = np.random.default_rng(seed)
    labels = rng.choice(classes, size=n)
    # Mostly right, sometimes any class (so classes absent from the labels still get predicted).
    preds = np.where(rng.random(n) < 0.5, labels, rng.integers(0, 3, size=n))
    return labels, preds


@pytest.mark.parametrize("seed, n, classes", [
    (0, 442, (0, 1, 2)), (1, 37, (0, 1, 2)), (2, 9, (0, 1)), (3, 6, (2,)), (4, 120, (0, 2)),
])
def test_agrees_with_scikit_learn_on_pooled_predictions(seed, n, classes):
    labels, preds = _random_pool(seed, n, classes)
    result = scores(labels, preds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about the classes it leaves out
        assert result["uf1"] == pytest.approx(f1_score(labels, preds, average="macro"))
        assert result["uar"] == pytest.approx(balanced_accuracy_score(labels, preds))
    assert result["acc"] == pytest.approx(accuracy_score(labels, preds))
