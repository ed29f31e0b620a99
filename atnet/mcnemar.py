"""McNemar's exact test on two methods' per-clip correctness (same clips, same order).

The paired comparisons of atnet.uncertainty report it beside the bootstrap
differences; scipy.stats.binomtest does the exact computation.
"""
import numpy as np
import scipy.stats


def mcnemar_exact(correct_a, correct_b):
    """Two-sided exact McNemar p-value of two classifiers' per-clip correctness.

    Only the discordant clips count: b (A right, B wrong) is Binomial(b + c,
    1/2) under "equally accurate"; scipy's binomtest gives the exact p. No
    discordant clip at all is no evidence of a difference: p = 1.
    """
    correct_a, correct_b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if correct_a.shape != correct_b.shape:
        raise ValueError("McNemar needs the same clips on both sides (%s vs %s)" % (correct_a.shape, correct_b.shape))
    only_a = int(np.sum(correct_a & ~correct_b))
    only_b = int(np.sum(~correct_a & correct_b))
    if only_a + only_b == 0:
        return 1.0
    return float(scipy.stats.binomtest(only_a, only_a + only_b, 0.5, alternative="two-sided").pvalue)


def mcnemar_tables(table_a, table_b):
    """McNemar p of seed i of A against seed i of B, for each i both have.

    Seeds of two methods are not paired by nature; pairing them by index and
    reporting the largest p (``mcnemar_p``) is the conservative summary.
    """
    pairs = min(table_a.runs, table_b.runs)
    return [mcnemar_exact(table_a.correct[i], table_b.correct[i]) for i in range(pairs)]
