"""Paired comparisons: McNemar's exact test, the paired bootstrap of differences and
tools/compare_runs.py's comparison.json."""
import json
import math

import numpy as np
import pytest
import scipy.stats

from atnet.evaluate import evaluate_file
from atnet.metrics import METRICS, scores
from atnet.predictions import Prediction, write_predictions
from atnet.mcnemar import mcnemar_exact
from atnet.uncertainty import (Bootstrap, batch_scores, column_streams, compare_predictions,
                               paired_tables, resampled_scores, subject_weights, table_difference)
from stats_support import composite_predictions, tool


def _mcnemar_by_hand(b, c):
    """Two-sided exact McNemar: twice the smaller binomial tail of b in b + c at p = 1/2 (at most 1)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


@pytest.mark.parametrize("only_a, only_b, both, neither, expected", [
    (3, 0, 5, 2, 0.25),  # 2 * (1/2)^3
    (1, 1, 0, 0, 1.0),
    (5, 1, 10, 10, 0.21875),  # 2 * (1 + 6) / 64
    (0, 0, 7, 3, 1.0),  # no discordant clip: no evidence
    (12, 2, 0, 0, None),
    (40, 25, 100, 30, None),
])
def test_mcnemar_exact_hand_worked(only_a, only_b, both, neither, expected):
    a = [True] * only_a + [False] * only_b + [True] * both + [False] * neither
    b = [False] * only_a + [True] * only_b + [True] * both + [False] * neither
    p = mcnemar_exact(a, b)
    assert p == pytest.approx(_mcnemar_by_hand(only_a, only_b), rel=1e-12)
    if expected is not None:
        assert p == pytest.approx(expected, rel=1e-12)
    if only_a + only_b:
        assert p == pytest.approx(min(1.0, 2 * scipy.stats.binom.cdf(min(only_a, only_b), only_a + only_b, 0.5)))
    assert mcnemar_exact(b, a) == pytest.approx(p)


def _pair():
    rng = np.random.default_rng(21)
    a = composite_predictions(rng, accuracy=0.7)
    b = composite_predictions(rng, accuracy=0.55)
    return a, b


def test_paired_differences_equal_scoring_both_pools_clip_by_clip():
    a, b = _pair()
    table_a, table_b = paired_tables([a], [b])
    weights = subject_weights(len(table_a.subjects), 30, np.random.default_rng(0))
    d = {m: resampled_scores(table_a, weights, None)[m] - resampled_scores(table_b, weights, None)[m]
         for m in METRICS}
    rows = {}
    for side, predictions in (("a", a), ("b", b)):
        for p in predictions:
            rows.setdefault((side, p.dataset, p.subject), []).append(p)
    for r in range(len(weights)):
        pooled = {side: [p for s, w in zip(table_a.subjects, weights[r]) for _ in range(w)
                         for p in rows[(side,) + s]] for side in "ab"}
        expected = {side: scores([p.label for p in pooled[side]], [p.pred for p in pooled[side]]) for side in "ab"}
        for m in METRICS:
            assert d[m][r] == pytest.approx(expected["a"][m] - expected["b"][m], abs=1e-12)


def test_paired_difference_point_and_interval():
    a, b = _pair()
    result = compare_predictions([a], [b], "cde", Bootstrap(resamples=2000, seed=1))
    full = result["Full"]
    point_a = scores([p.label for p in a], [p.pred for p in a])
    point_b = scores([p.label for p in b], [p.pred for p in b])
    for m in METRICS:
        assert full["d_" + m] == pytest.approx(point_a[m] - point_b[m])
        low, high = full["d_%s_ci" % m]
        assert low < full["d_" + m] < high
    assert full["d_acc_ci"][0] > 0  # 0.70 vs 0.55 on 442 clips: clear
    correct_a = np.array([p.label == p.pred for p in sorted(a, key=lambda p: p.key)])
    correct_b = np.array([p.label == p.pred for p in sorted(b, key=lambda p: p.key)])
    assert full["mcnemar_p"] == pytest.approx(mcnemar_exact(correct_a, correct_b))
    assert full["n"] == 442 and full["subjects"] == 68


def test_paired_interval_agrees_with_scipy_paired_bootstrap():
    """scipy.stats.bootstrap resampling subject indices, the statistic UF1(A) - UF1(B)."""
    a, b = _pair()
    table_a, table_b = paired_tables([a], [b])
    flat_a = table_a.confusions[0].reshape(-1, 9)
    flat_b = table_b.confusions[0].reshape(-1, 9)

    def d_uf1(index, axis=-1):
        shape = index.shape[:-1] + (3, 3)
        return (batch_scores(flat_a[index].sum(axis=-2).reshape(shape))["uf1"]
                - batch_scores(flat_b[index].sum(axis=-2).reshape(shape))["uf1"])

    theirs = scipy.stats.bootstrap((np.arange(len(table_a.subjects)),), d_uf1, vectorized=True,
                                   n_resamples=20000, method="BCa",
                                   random_state=np.random.default_rng(2)).confidence_interval
    ours = table_difference(table_a, table_b, Bootstrap(resamples=20000, seed=2), "Full")["d_uf1_ci"]
    assert ours == pytest.approx([theirs.low, theirs.high], abs=0.006)


def test_identical_runs_differ_by_exactly_zero():
    a, _ = _pair()
    full = compare_predictions([a], [a], "cde", Bootstrap(resamples=500))["Full"]
    for m in METRICS:
        assert full["d_" + m] == 0 and full["d_%s_ci" % m] == [0.0, 0.0]
    assert full["mcnemar_p"] == 1.0


def test_one_flipped_clip_hand_worked():
    """B is A with one right clip made wrong: d_acc = 1/442 exactly, McNemar p = 1 (b=1, c=0)."""
    a, _ = _pair()
    i = next(i for i, p in enumerate(a) if p.label == p.pred)
    flipped = a[i]
    b = list(a)
    b[i] = Prediction(flipped.dataset, flipped.subject, flipped.sample, flipped.label, (flipped.label + 1) % 3,
                      flipped.scores)
    full = compare_predictions([a], [b], "cde", Bootstrap(resamples=500))["Full"]
    assert full["d_acc"] == pytest.approx(1 / 442)
    assert full["d_acc_ci"][0] >= 0
    assert full["mcnemar_p"] == 1.0


def test_same_subject_draws_for_both_sides():
    """The pairing: both sides see one weight matrix per column."""
    first = subject_weights(68, 10, column_streams(Bootstrap(seed=7), "Full")[0])
    again = subject_weights(68, 10, column_streams(Bootstrap(seed=7), "Full")[0])
    assert (first == again).all()


def _evaluated(tmp_path, name, predictions, setting="Fusion"):
    csv_path = tmp_path / (name + ".csv")
    write_predictions(csv_path, predictions)
    evaluate_file(str(csv_path), "cde", str(tmp_path / name), "ATNet", setting)
    return tmp_path / name


def test_compare_runs_writes_comparison_json(tmp_path):
    a, b = _pair()
    run_a, run_b = _evaluated(tmp_path, "a", a), _evaluated(tmp_path, "b", b, "Temporal Stream")
    done = tool("compare_runs.py", run_a, run_b, "--out", tmp_path / "cmp", "--resamples", 500)
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert doc["bootstrap"]["resamples"] == 500 and doc["bootstrap"]["seed"] == 0
    for column in ("Full", "CASME II", "SAMM", "SMIC"):
        for m in METRICS:
            low, high = doc[column]["d_%s_ci" % m]
            assert low <= doc[column]["d_" + m] <= high
        assert 0 <= doc[column]["mcnemar_p"] <= 1
    assert doc["Full"]["d_acc"] == pytest.approx(doc["Full"]["a_acc"] - doc["Full"]["b_acc"])
    assert "McNemar" in done.stdout
    # a predictions CSV is a run too, and gives the same numbers
    again = tool("compare_runs.py", tmp_path / "a.csv", tmp_path / "b.csv", "--out", tmp_path / "cmp2",
                 "--resamples", 500)
    assert again.returncode == 0, again.stderr
    doc2 = json.loads((tmp_path / "cmp2" / "comparison.json").read_text())
    assert doc2["Full"] == doc["Full"]


def test_compare_runs_refuses_other_clips(tmp_path):
    a, b = _pair()
    write_predictions(tmp_path / "a.csv", a)
    write_predictions(tmp_path / "b.csv", b[:-1])
    done = tool("compare_runs.py", tmp_path / "a.csv", tmp_path / "b.csv", "--out", tmp_path / "cmp")
    assert done.returncode == 2
    assert "smic-s20" in done.stderr and "same folds and samples" in done.stderr
    assert not (tmp_path / "cmp").exists()
