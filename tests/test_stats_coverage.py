"""Do the 95 % subject-level bootstrap intervals cover the true Acc, UF1 and UAR 95 % of the time?

600 simulated experiments, each 68 subjects drawn from the composite's real
per-subject class counts, with a random per-subject ability (so clips of a
subject are correlated). The truth is the score of the expected confusion
matrix, which the pooled scores estimate. Coverage must lie in [0.92, 0.98]
for every metric; the test prints it. As a check that the test can fail, a
clip-level bootstrap (ignoring subjects) must cover clearly less often.
"""
import time

import numpy as np

from atnet.metrics import METRICS
from atnet.uncertainty import Bootstrap, SubjectTable, batch_scores, table_intervals
from stats_support import simulate_confusions, true_confusion

EXPERIMENTS = 600
ABILITY_SD = 0.8


def _table(matrices):
    return SubjectTable(tuple(range(len(matrices))), (), matrices[None], np.zeros((1, 0), dtype=bool))


def _coverage(experiments, truth, clip_level=False, resamples=2000):
    hits = {m: 0 for m in METRICS}
    for e, matrices in enumerate(experiments):
        if clip_level:  # every clip its own "subject": the naive bootstrap
            matrices = _clips_as_subjects(matrices)
        intervals = table_intervals(_table(matrices), Bootstrap(resamples=resamples, seed=e), "Full")
        for m in METRICS:
            low, high = intervals[m + "_ci"]
            hits[m] += low <= truth[m] <= high
    return {m: hits[m] / len(experiments) for m in METRICS}


def _clips_as_subjects(matrices):
    pooled = matrices.sum(axis=0)
    cells = np.repeat(np.arange(9), pooled.ravel())
    single = np.zeros((cells.size, 9), dtype=np.int64)
    single[np.arange(cells.size), cells] = 1
    return single.reshape(-1, 3, 3)


def test_subject_level_intervals_cover_the_truth_95_percent_of_the_time():
    truth = {m: float(v) for m, v in batch_scores(true_confusion(ABILITY_SD)).items()}
    experiments = simulate_confusions(np.random.default_rng(20191203), EXPERIMENTS, ABILITY_SD)
    started = time.process_time()
    coverage = _coverage(experiments, truth)
    print("\ncoverage of 95 %% subject-level studentized intervals over %d experiments (%.1f s CPU): %s"
          % (EXPERIMENTS, time.process_time() - started, ", ".join("%s %.3f" % (m, coverage[m]) for m in METRICS)))
    for m in METRICS:
        assert 0.92 <= coverage[m] <= 0.98, (m, coverage[m])
    naive = _coverage(experiments[:100], truth, clip_level=True, resamples=500)
    print("clip-level bootstrap (ignores subjects), 100 experiments, 500 resamples: %s"
          % ", ".join("%s %.3f" % (m, naive[m]) for m in METRICS))
    assert naive["acc"] < 0.90, naive
