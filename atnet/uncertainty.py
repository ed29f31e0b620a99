"""How sure a pooled score is: subject-level bootstrap intervals, seeds, paired tests.

The paper reports Acc, UF1 and UAR of ONE training run on the pooled
predictions of 442 clips from 68 subjects. Clips of one subject are not
independent (same face, same recording session, one fold's model), so the
unit of resampling is the subject, keyed by (dataset, subject): a cluster
bootstrap. Everything here works on per-subject confusion matrices, so one
resample costs a weighted sum of 68 small matrices, not a pass over 442 rows.

- One run: draw the column's subjects with replacement (``resamples`` times,
  2,000 by default), pool their clips, score; the 95 % interval is read off
  those scores with Efron's bias-corrected and accelerated (BCa) percentiles
  (the acceleration from a leave-one-subject-out jackknife).
- Several seeds of one variant (the same clips, retrained): a two-level
  bootstrap. Each resample draws the subjects (shared by every seed: they are
  the same people) AND, independently, R of the R seeds with replacement; its
  value is the mean over the drawn seeds of each seed's score on the drawn
  subjects. The interval therefore holds both the subject sampling and the
  run-to-run (seed) variation, around the mean over seeds.
- Two methods on the same clips: a paired bootstrap; each resample applies
  the same subject draw to both sides (and draws each side's seeds on its
  own), and scores A minus B. McNemar's exact test (scipy.stats.binomtest on
  the discordant clips) compares per-clip correctness.

Random numbers come from numpy's Generator seeded by (seed, column title),
so a column's subject draws do not depend on which other columns exist or
how many seeds a run has, and the same input gives the same numbers.
"""
import dataclasses
import zlib

import numpy as np
import scipy.stats

from atnet.common import CLASS_NAMES, DATASETS, InputError
from atnet.folds import natural_key
from atnet.metrics import METRICS, TABLE_COLUMNS, column_rows

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95
METHOD = "subject-level cluster bootstrap, BCa interval"


@dataclasses.dataclass(frozen=True)
class Bootstrap:
    """The bootstrap's settings, recorded once at the top of metrics.json."""
    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    level: float = DEFAULT_LEVEL

    def __post_init__(self):
        if int(self.resamples) != self.resamples or self.resamples < 100:
            raise InputError("bootstrap resamples must be an integer of at least 100, not %r" % (self.resamples,))
        if not 0.5 <= self.level < 1:
            raise InputError("confidence level must be in [0.5, 1), not %r" % (self.level,))

    def document(self):
        """The settings as metrics.json records them."""
        return {"method": METHOD, "unit": "subject (dataset, subject)", "resamples": int(self.resamples),
                "seed": int(self.seed), "level": float(self.level)}


def add_bootstrap_arguments(parser):
    """--resamples, --bootstrap-seed and --level of the tools that report intervals."""
    parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES,
                        help="subject-level bootstrap resamples per column")
    parser.add_argument("--bootstrap-seed", type=int, default=DEFAULT_SEED, help="seed of the bootstrap's draws")
    parser.add_argument("--level", type=float, default=DEFAULT_LEVEL, help="confidence level of the intervals")


def bootstrap_from_args(args):
    """The Bootstrap settings parsed by add_bootstrap_arguments."""
    return Bootstrap(args.resamples, args.bootstrap_seed, args.level)


# --- scores of many confusion matrices at once --------------------------------

def batch_scores(confusions):
    """Acc, UF1 and UAR of every ``[..., K, K]`` confusion matrix, as float arrays ``[...]``.

    The same definitions as atnet.metrics.scores_from_confusion (a class
    without F1 or recall is left out of that mean), vectorised for the
    bootstrap; an empty matrix scores NaN.
    """
    counts = np.asarray(confusions, dtype=np.float64)
    tp = np.diagonal(counts, axis1=-2, axis2=-1)
    support = counts.sum(axis=-1)
    predicted = counts.sum(axis=-2)
    total = support.sum(axis=-1)
    f1_denominator = support + predicted  # = 2 TP + FP + FN
    has_f1, has_recall = f1_denominator > 0, support > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(has_f1, 2 * tp / np.where(has_f1, f1_denominator, 1), 0.0)
        recall = np.where(has_recall, tp / np.where(has_recall, support, 1), 0.0)
        return {"acc": tp.sum(axis=-1) / total,
                "uf1": f1.sum(axis=-1) / has_f1.sum(axis=-1),
                "uar": recall.sum(axis=-1) / has_recall.sum(axis=-1)}


# --- per-subject tables of one or more runs -----------------------------------

@dataclasses.dataclass(frozen=True)
class SubjectTable:
    """The clips of one column, grouped by subject, for R runs (seeds) on the same clips.

    ``confusions[r, s]`` is run r's confusion matrix on subject s's clips;
    ``correct[r, i]`` whether run r got clip ``samples[i]`` right.
    """
    subjects: tuple
    samples: tuple
    confusions: np.ndarray
    correct: np.ndarray

    @property
    def runs(self):
        return self.confusions.shape[0]


def _subject_order(subject):
    dataset, name = subject
    return (DATASETS.index(dataset) if dataset in DATASETS else len(DATASETS), dataset, natural_key(name))


def subject_table(seed_predictions, names=None):
    """The SubjectTable of R lists of Prediction objects that must predict the same clips.

    ``names`` (one per list, e.g. the seed folders) only serve the error
    message when a list predicts other clips than the first.
    """
    seed_predictions = [list(p) for p in seed_predictions]
    if not seed_predictions or not seed_predictions[0]:
        raise ValueError("subject_table needs at least one non-empty list of predictions")
    names = list(names) if names is not None else ["run %d" % (i + 1) for i in range(len(seed_predictions))]
    by_key = [{p.key: p for p in predictions} for predictions in seed_predictions]
    first = by_key[0]
    for name, table in zip(names[1:], by_key[1:]):
        _check_same_clips(names[0], first, name, table)
    samples = sorted(first, key=lambda k: (_subject_order((first[k].dataset, first[k].subject)), k))
    subjects = tuple(sorted({(first[k].dataset, first[k].subject) for k in samples}, key=_subject_order))
    subject_index = {s: i for i, s in enumerate(subjects)}
    rows = np.array([subject_index[(first[k].dataset, first[k].subject)] for k in samples])
    labels = np.array([first[k].label for k in samples])
    classes = len(CLASS_NAMES)
    confusions = np.zeros((len(by_key), len(subjects), classes, classes), dtype=np.int64)
    correct = np.zeros((len(by_key), len(samples)), dtype=bool)
    for r, table in enumerate(by_key):
        preds = np.array([table[k].pred for k in samples])
        for k, p in zip(samples, preds):
            if table[k].label != first[k].label:
                raise InputError("%s and %s give sample %s different labels (%d, %d)"
                                 % (names[0], names[r], k, first[k].label, table[k].label))
        np.add.at(confusions[r], (rows, labels, preds), 1)
        correct[r] = preds == labels
    return SubjectTable(subjects, tuple(samples), confusions, correct)


def _check_same_clips(name_a, a, name_b, b):
    """Paired statistics and seeds need the same clips on both sides: name the first odd one."""
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if only_a or only_b:
        side, other, key = (name_a, name_b, only_a[0]) if only_a else (name_b, name_a, only_b[0])
        raise InputError("%s predicts sample %s but %s does not (%d and %d samples differ): "
                         "compare runs on the same folds and samples" % (side, key, other, len(only_a), len(only_b)))


def paired_tables(seed_predictions_a, seed_predictions_b, names_a=None, names_b=None):
    """SubjectTables of two methods on the same clips (same labels), in the same subject and sample order."""
    seed_predictions_a, seed_predictions_b = list(seed_predictions_a), list(seed_predictions_b)
    names_a = list(names_a) if names_a is not None else ["A"] * len(seed_predictions_a)
    names_b = list(names_b) if names_b is not None else ["B"] * len(seed_predictions_b)
    both = subject_table(seed_predictions_a + seed_predictions_b, names_a + names_b)
    split = len(seed_predictions_a)
    return (SubjectTable(both.subjects, both.samples, both.confusions[:split], both.correct[:split]),
            SubjectTable(both.subjects, both.samples, both.confusions[split:], both.correct[split:]))


# --- resampling ----------------------------------------------------------------

def column_streams(boot, column):
    """Independent generators (subjects, seeds of A, seeds of B) for one column."""
    sequence = np.random.SeedSequence([int(boot.seed), zlib.crc32(str(column).encode("utf-8"))])
    return [np.random.default_rng(child) for child in sequence.spawn(3)]


def subject_weights(subjects, resamples, rng):
    """How often each subject is drawn in each resample: ``[resamples, subjects]`` ints summing to ``subjects``.

    Draws ``subjects`` indices with replacement per resample and counts them
    (one bincount over all resamples: four times faster than numpy's multinomial).
    """
    draws = rng.integers(0, subjects, size=(resamples, subjects))
    offsets = draws + subjects * np.arange(resamples)[:, None]
    return np.bincount(offsets.ravel(), minlength=resamples * subjects).reshape(resamples, subjects)


def resampled_scores(table, weights, rng):
    """Per metric, ``[resamples]`` scores: the mean over a draw of R seeds of each seed's
    score on the resampled subjects (R = 1: simply that run's score)."""
    classes = table.confusions.shape[-1]
    flat = table.confusions.reshape(table.runs, len(table.subjects), classes * classes)
    pooled = (weights @ flat).reshape(table.runs, weights.shape[0], classes, classes)  # exact integer sums
    per_seed = batch_scores(pooled)  # metric -> [R, resamples]
    if table.runs == 1:
        return {m: v[0] for m, v in per_seed.items()}
    draws = rng.integers(0, table.runs, size=(weights.shape[0], table.runs))
    columns = np.arange(weights.shape[0])[:, None]
    return {m: v[draws, columns].mean(axis=1) for m, v in per_seed.items()}


def jackknife_scores(table):
    """Per metric, ``[subjects]`` scores with each subject left out in turn (mean over seeds).

    They measure how lopsided the statistic is in the subjects (one subject
    of SMIC holds 39 of its 164 clips), which the BCa interval corrects for.
    """
    totals = table.confusions.sum(axis=1, keepdims=True)  # [R, 1, K, K]
    left_out = batch_scores(totals - table.confusions)  # metric -> [R, S]
    return {m: v.mean(axis=0) for m, v in left_out.items()}


def bca_interval(values, point, jackknife, level):
    """The bias-corrected and accelerated (BCa) bootstrap interval as ``[low, high]``.

    Efron's BCa: the bias correction z0 from the share of resamples below
    the point value, the acceleration from the jackknife's skewness; the
    interval is then read off the resamples' percentiles like the plain
    percentile interval, at shifted levels. With 68 subjects of very unequal
    size the plain percentile interval covers a little too rarely (about
    93 % for 95 % in tests/test_stats_coverage.py); BCa is closer.
    """
    values = np.asarray(values, dtype=np.float64)
    below = (np.sum(values < point) + 0.5 * np.sum(values == point)) / values.size
    if np.all(values == values[0]):  # a single subject, or every resample the same
        return [float(values[0]), float(values[0])]
    below = min(max(below, 0.5 / values.size), 1 - 0.5 / values.size)
    z0 = scipy.stats.norm.ppf(below)
    spread = np.mean(jackknife) - np.asarray(jackknife, dtype=np.float64)
    spread = spread[np.isfinite(spread)]
    squares = np.sum(spread ** 2)
    acceleration = float(np.sum(spread ** 3) / (6 * squares ** 1.5)) if squares > 0 else 0.0
    z = scipy.stats.norm.ppf([(1 - level) / 2, (1 + level) / 2])
    shares = scipy.stats.norm.cdf(z0 + (z0 + z) / (1 - acceleration * (z0 + z)))
    low, high = np.quantile(values, shares)
    return [float(low), float(high)]


def point_scores(table):
    """Per metric, the mean over seeds of each seed's pooled score, and the seeds' scores."""
    per_seed = batch_scores(table.confusions.sum(axis=1))
    return {m: (float(np.mean(v)), [float(x) for x in v]) for m, v in per_seed.items()}


def table_intervals(table, boot, column):
    """``{acc_ci, uf1_ci, uar_ci}`` of one column's SubjectTable."""
    subjects_rng, seeds_rng, _ = column_streams(boot, column)
    weights = subject_weights(len(table.subjects), boot.resamples, subjects_rng)
    values = resampled_scores(table, weights, seeds_rng)
    points, jackknife = point_scores(table), jackknife_scores(table)
    return {m + "_ci": bca_interval(values[m], points[m][0], jackknife[m], boot.level) for m in METRICS}


def table_difference(table_a, table_b, boot, column):
    """A minus B on the same clips: ``d_<metric>`` and ``d_<metric>_ci`` per metric.

    The same subject draw goes to both sides (that is the pairing); each
    side's seeds are drawn on their own, as they were trained independently.
    """
    subjects_rng, seeds_a, seeds_b = column_streams(boot, column)
    weights = subject_weights(len(table_a.subjects), boot.resamples, subjects_rng)
    values_a = resampled_scores(table_a, weights, seeds_a)
    values_b = resampled_scores(table_b, weights, seeds_b)
    point_a, point_b = point_scores(table_a), point_scores(table_b)
    jack_a, jack_b = jackknife_scores(table_a), jackknife_scores(table_b)
    result = {}
    for m in METRICS:
        difference = point_a[m][0] - point_b[m][0]
        result["d_" + m] = difference
        result["d_%s_ci" % m] = bca_interval(values_a[m] - values_b[m], difference, jack_a[m] - jack_b[m], boot.level)
    return result


# --- McNemar -------------------------------------------------------------------

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


# --- whole runs: every table column --------------------------------------------

def columns_of(seed_predictions, protocol):
    """``{column title: [rows of seed 1, rows of seed 2, ...]}`` in the tables' column order."""
    per_seed = [column_rows(predictions, protocol) for predictions in seed_predictions]
    return {title: [columns[title] for columns in per_seed] for title in TABLE_COLUMNS}


def run_intervals(seed_predictions, protocol, boot, names=None):
    """Per column ``{acc_ci, uf1_ci, uar_ci}`` (each ``[low, high]``, None for an empty column)
    of one run (one list of predictions) or of R seeds of one variant."""
    result = {}
    for title, rows in columns_of(seed_predictions, protocol).items():
        if not rows[0]:
            result[title] = {m + "_ci": None for m in METRICS}
            continue
        result[title] = table_intervals(subject_table(rows, names), boot, title)
    return result


def seed_statistics(seed_predictions, protocol, names=None):
    """Per column, over the seeds: ``<metric>`` (mean), ``<metric>_sd`` (sample sd, ddof 1;
    None for one seed), ``<metric>_seeds`` (each seed's score) and ``n``."""
    result = {}
    for title, rows in columns_of(seed_predictions, protocol).items():
        if not rows[0]:
            result[title] = dict({"n": 0}, **{k % m: None for m in METRICS for k in ("%s", "%s_sd", "%s_seeds")})
            continue
        table = subject_table(rows, names)
        column = {"n": len(table.samples)}
        for m, (mean, values) in point_scores(table).items():
            column[m] = mean
            column[m + "_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else None
            column[m + "_seeds"] = values
        result[title] = column
    return result


def compare_predictions(seed_predictions_a, seed_predictions_b, protocol, boot, names_a=None, names_b=None):
    """Per column: A minus B with paired intervals, McNemar p and n (comparison.json's columns).

    A column without clips is left out; the two sides must hold the same clips.
    """
    columns_a = columns_of(seed_predictions_a, protocol)
    columns_b = columns_of(seed_predictions_b, protocol)
    result = {}
    for title in TABLE_COLUMNS:
        if not columns_a[title][0] and not columns_b[title][0]:
            continue
        if not columns_a[title][0] or not columns_b[title][0]:
            raise InputError("column %s: only one of the two runs has predictions there" % title)
        table_a, table_b = paired_tables(columns_a[title], columns_b[title], names_a, names_b)
        column = dict(table_difference(table_a, table_b, boot, title), n=len(table_a.samples),
                      subjects=len(table_a.subjects))
        p_values = mcnemar_tables(table_a, table_b)
        column["mcnemar_p"] = max(p_values)
        if len(p_values) > 1:
            column["mcnemar_p_seeds"] = p_values
        result[title] = column
    return result
