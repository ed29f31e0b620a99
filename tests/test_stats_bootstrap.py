"""The subject-level bootstrap: its scores, its resampling unit, its intervals and its seeds."""
import numpy as np
import pytest
import scipy.stats

from atnet.common import InputError
from atnet.metrics import METRICS, scores, scores_from_confusion
from atnet.predictions import Prediction
from atnet.uncertainty import (Bootstrap, batch_scores, column_streams, point_standard_errors, resampled_scores,
                               run_intervals, seed_statistics, studentized_interval, subject_table, subject_weights,
                               table_intervals)
from stats_support import composite_predictions


def _prediction(dataset, subject, sample, label, pred):
    return Prediction(dataset, subject, sample, label, pred, tuple(0.8 if c == pred else 0.1 for c in range(3)))


def test_batch_scores_equal_the_metric_definitions_including_absent_classes():
    rng = np.random.default_rng(3)
    matrices = rng.integers(0, 4, size=(300, 3, 3))
    matrices[::7, 2, :] = 0  # class 2 absent from the labels
    matrices[::11, :, 1] = 0  # class 1 never predicted
    matrices[::13, 0, :] = 0
    matrices[::13, :, 0] = 0  # class 0 neither in labels nor predicted: no F1
    batch = batch_scores(matrices)
    for i, matrix in enumerate(matrices):
        if matrix.sum() == 0:
            continue
        expected = scores_from_confusion(matrix)
        for m in METRICS:
            assert batch[m][i] == pytest.approx(expected[m], abs=1e-12), (i, m)


def test_resamples_draw_whole_subjects_with_replacement():
    """Two one-clip subjects, one right and one wrong: a resample's Acc is 0, 1/2 or 1
    with probabilities 1/4, 1/2, 1/4."""
    table = subject_table([[_prediction("casme2", "sub01", "a", 0, 0), _prediction("casme2", "sub02", "b", 1, 0)]])
    weights = subject_weights(2, 20000, np.random.default_rng(0))
    assert (weights.sum(axis=1) == 2).all()
    acc = resampled_scores(table, weights, np.random.default_rng(1))["acc"]
    shares = [np.mean(acc == value) for value in (0.0, 0.5, 1.0)]
    assert shares == pytest.approx([0.25, 0.5, 0.25], abs=0.015)


def test_clips_of_one_subject_move_together():
    """A subject with 3 clips, all right, and one with 1 clip, wrong: Acc takes only
    the values of whole-subject pools (0, 3/4... never 1/2 or 2/3 of a split subject)."""
    rows = [_prediction("samm", "6", "c%d" % i, 0, 0) for i in range(3)] + [_prediction("samm", "7", "d", 2, 0)]
    table = subject_table([rows])
    acc = resampled_scores(table, subject_weights(2, 5000, np.random.default_rng(2)), None)["acc"]
    assert set(np.round(acc, 6)) == {0.0, 0.75, 1.0}


def test_resampled_scores_equal_pooling_the_drawn_subjects_clip_by_clip():
    """The vectorised pooling against atnet.metrics.scores on explicitly pooled rows."""
    predictions = composite_predictions(np.random.default_rng(5))
    table = subject_table([predictions])
    weights = subject_weights(len(table.subjects), 40, np.random.default_rng(6))
    fast = resampled_scores(table, weights, None)
    by_subject = {}
    for p in predictions:
        by_subject.setdefault((p.dataset, p.subject), []).append(p)
    for b in range(len(weights)):
        pooled = [p for s, w in zip(table.subjects, weights[b]) for _ in range(w) for p in by_subject[s]]
        expected = scores([p.label for p in pooled], [p.pred for p in pooled])
        for m in METRICS:
            assert fast[m][b] == pytest.approx(expected[m], abs=1e-12)


def test_standard_error_hand_worked():
    """Two subjects of two clips, all right and all wrong: Acc 1/2, contributions +-1/4,
    se^2 = 2/1 * (1/16 + 1/16) = 1/4."""
    rows = [_prediction("smic", "s01", "a%d" % i, 1, 1) for i in range(2)]
    rows += [_prediction("smic", "s02", "b%d" % i, 1, 0) for i in range(2)]
    assert point_standard_errors(subject_table([rows]))["acc"] == pytest.approx(0.5)


def test_standard_errors_agree_with_the_subject_jackknife():
    """An independent estimate: leave each subject out, rescore with atnet.metrics.scores."""
    predictions = composite_predictions(np.random.default_rng(8))
    table = subject_table([predictions])
    ours = point_standard_errors(table)
    left_out = {m: [] for m in METRICS}
    for subject in table.subjects:
        rest = [p for p in predictions if (p.dataset, p.subject) != subject]
        for m, value in scores([p.label for p in rest], [p.pred for p in rest]).items():
            if m in METRICS:
                left_out[m].append(value)
    n = len(table.subjects)
    for m in METRICS:
        values = np.array(left_out[m])
        jackknife = np.sqrt((n - 1) / n * np.sum((values - values.mean()) ** 2))
        assert ours[m] == pytest.approx(jackknife, rel=0.08), m


def test_interval_is_close_to_scipy_bca_bootstrap():
    """scipy.stats.bootstrap (its own resampling of subject indices, BCa) lands near ours."""
    predictions = composite_predictions(np.random.default_rng(8))
    table = subject_table([predictions])
    flat = table.confusions[0].reshape(len(table.subjects), 9)

    def acc_of(index, axis=-1):
        return batch_scores(flat[index].sum(axis=-2).reshape(index.shape[:-1] + (3, 3)))["acc"]

    theirs = scipy.stats.bootstrap((np.arange(len(table.subjects)),), acc_of, vectorized=True, n_resamples=5000,
                                   method="BCa", random_state=np.random.default_rng(9)).confidence_interval
    ours = table_intervals(table, Bootstrap(resamples=5000, seed=9), "Full")["acc_ci"]
    assert ours == pytest.approx([theirs.low, theirs.high], abs=0.015)


def test_studentized_interval_hand_worked():
    """t values spread evenly over -2..2 and errors all 1: the interval is point -+ 1.9 * error."""
    values = np.linspace(-2, 2, 4001) + 0.5
    low, high = studentized_interval(values, np.ones_like(values), 0.5, 0.1, 0.95, (0.0, 1.0))
    assert [low, high] == pytest.approx([0.5 - 0.19, 0.5 + 0.19])
    assert studentized_interval(values, np.ones_like(values), 0.5, 0.0, 0.95, (0.0, 1.0)) == [0.5, 0.5]


def test_intervals_are_seeded_and_a_column_does_not_depend_on_the_others():
    predictions = composite_predictions(np.random.default_rng(10))
    boot = Bootstrap(resamples=500, seed=4)
    first, again = run_intervals([predictions], "cde", boot), run_intervals([predictions], "cde", boot)
    assert first == again
    samm_only = [p for p in predictions if p.dataset == "samm"]
    assert run_intervals([samm_only], "cde", boot)["SAMM"] == first["SAMM"]
    other_seed = run_intervals([predictions], "cde", Bootstrap(resamples=500, seed=5))
    assert other_seed["Full"] != first["Full"]
    point = scores([p.label for p in predictions], [p.pred for p in predictions])
    for m in METRICS:
        low, high = first["Full"][m + "_ci"]
        assert low < point[m] < high and high - low < 0.3


def test_seeds_widen_the_interval_and_give_mean_and_sd():
    """Three seeds that disagree: the two-level interval is wider than any single seed's."""
    rng = np.random.default_rng(11)
    seeds = [composite_predictions(rng, accuracy=a) for a in (0.45, 0.6, 0.75)]
    boot = Bootstrap(resamples=1000, seed=0)
    together = run_intervals(seeds, "cde", boot)["Full"]["acc_ci"]
    alone = [run_intervals([s], "cde", boot)["Full"]["acc_ci"] for s in seeds]
    assert together[1] - together[0] > max(high - low for low, high in alone)
    stats = seed_statistics(seeds, "cde")["Full"]
    accs = [scores([p.label for p in s], [p.pred for p in s])["acc"] for s in seeds]
    assert stats["acc"] == pytest.approx(np.mean(accs))
    assert stats["acc_sd"] == pytest.approx(np.std(accs, ddof=1))
    assert stats["acc_seeds"] == pytest.approx(accs)
    assert seed_statistics(seeds[:1], "cde")["Full"]["acc_sd"] is None


def test_subject_draws_are_shared_by_every_seed_count():
    """The subjects' generator depends on (seed, column) only."""
    a = subject_weights(68, 50, column_streams(Bootstrap(seed=3), "Full")[0])
    b = subject_weights(68, 50, column_streams(Bootstrap(seed=3), "Full")[0])
    c = subject_weights(68, 50, column_streams(Bootstrap(seed=3), "SAMM")[0])
    assert (a == b).all() and not (a == c).all()


def test_seeds_of_other_clips_are_refused_by_name():
    predictions = composite_predictions(np.random.default_rng(12))
    with pytest.raises(InputError, match="seed-1.*casme2-sub01-c0_0|casme2-sub01-c0_0.*seed-1"):
        subject_table([predictions, predictions[1:]], ["seed-0", "seed-1"])


def test_bad_settings_are_refused():
    with pytest.raises(InputError, match="resamples"):
        Bootstrap(resamples=10)
    with pytest.raises(InputError, match="level"):
        Bootstrap(level=1.5)
