"""How sure a pooled score is: subject-level bootstrap intervals, seeds, paired tests.

The paper reports Acc, UF1 and UAR of ONE training run on the pooled
predictions of 442 clips from 68 subjects. Clips of one subject are not
independent (same face, same recording session, one fold's model), so the
unit of resampling is the subject, keyed by (dataset, subject): a cluster
bootstrap. Everything here works on per-subject confusion matrices, so one
resample costs a weighted sum of 68 small matrices, not a pass over 442 rows.

- One run: draw the column's subjects with replacement (``resamples`` times,
  2,000 by default), pool their clips, score. The 95 % interval is the
  studentized (bootstrap-t) one: each resample's score minus the point value
  is divided by that resample's own standard error (the delta method on the
  subjects' contributions, see ``influences``), and the 2.5 and 97.5
  percentiles of that ratio, times the point value's standard error, give
  the interval. With 68 subjects of very unequal size (SMIC s03 has 39 of
  the 442 clips) the plain percentile and BCa intervals cover only 91 to
  94 % of the time for a nominal 95 % (docs/statistics.md); the studentized
  one about 95 %.
- Several seeds of one variant (the same clips, retrained): a two-level
  bootstrap. Each resample draws the subjects (shared by every seed: they are
  the same people) AND, independently, R of the R seeds with replacement; its
  value is the mean over the drawn seeds of each seed's score on the drawn
  subjects, and its standard error adds the drawn seeds' variance / R to the
  subjects' part. The interval therefore holds both the subject sampling and
  the run-to-run (seed) variation, around the mean over seeds.
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

from atnet.common import CLASS_NAMES, DATASETS, InputError
from atnet.folds import natural_key
from atnet.mcnemar import mcnemar_tables
from atnet.metrics import METRICS, TABLE_COLUMNS, column_rows

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95
METHOD = "subject-level cluster bootstrap, studentized (bootstrap-t) interval"


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
    return {m: v for m, (v, _, _) in _estimates(table, weights, _seed_draws(table, weights.shape[0], rng)).items()}


def _seed_draws(table, resamples, rng):
    """``[resamples, R]`` seed indices drawn with replacement (all zeros for one run)."""
    if table.runs == 1:
        return np.zeros((resamples, 1), dtype=np.int64)
    return rng.integers(0, table.runs, size=(resamples, table.runs))


def influences(pooled, subjects):
    """Each subject's linearised contribution to each metric: ``[R, B, S]`` per metric.

    ``pooled`` ``[R, B, K, K]`` are pooled confusion matrices (R seeds, B
    resamples), ``subjects`` ``[R, S, K, K]`` the per-subject ones. Every
    metric is a mean of ratios of sums over subjects (Acc = correct / n,
    recall_c = TP_c / N_c, F1_c = 2 TP_c / (N_c + predicted_c)), so the delta
    method gives subject s the contribution (numerator_s - ratio *
    denominator_s) / denominator, averaged over the classes that count; the
    spread of the contributions is the metric's variance (the sandwich
    estimate) without refitting anything per subject.
    """
    pooled = np.asarray(pooled, dtype=np.float64)
    subjects = np.asarray(subjects, dtype=np.float64)
    tp, tp_s = np.diagonal(pooled, axis1=-2, axis2=-1), np.diagonal(subjects, axis1=-2, axis2=-1)
    support, support_s = pooled.sum(axis=-1), subjects.sum(axis=-1)
    both, both_s = support + pooled.sum(axis=-2), support_s + subjects.sum(axis=-2)
    return {"acc": _mean_of_ratios(tp.sum(axis=-1, keepdims=True), support.sum(axis=-1, keepdims=True),
                                   tp_s.sum(axis=-1, keepdims=True), support_s.sum(axis=-1, keepdims=True)),
            "uf1": _mean_of_ratios(2 * tp, both, 2 * tp_s, both_s),
            "uar": _mean_of_ratios(tp, support, tp_s, support_s)}


def _mean_of_ratios(numerator, denominator, numerator_s, denominator_s):
    """Contributions ``[R, B, S]`` of each subject to the mean over classes of
    numerator_c / denominator_c (``[R, B, K]`` pooled, ``[R, S, K]`` per subject); classes with
    a zero denominator are left out, as in batch_scores. Linear in the subject's counts,
    so two matrix products give every resample at once."""
    counts = denominator > 0
    safe = np.where(counts, denominator, 1.0)
    share = counts / np.maximum(counts.sum(axis=-1, keepdims=True), 1)
    on_numerator = share / safe
    on_denominator = share * numerator / (safe * safe)
    return (on_numerator @ np.swapaxes(numerator_s, -1, -2)
            - on_denominator @ np.swapaxes(denominator_s, -1, -2))


def _estimates(table, weights, draws):
    """Per metric ``(value, contributions, seed variance)`` for each row of ``weights``.

    value ``[B]``: the mean over the drawn seeds of each seed's score on the
    weighted subjects; contributions ``[B, S]``: the same mean of each seed's
    contribution of one copy of each subject (see influences); seed
    variance ``[B]``: the drawn seeds' sample variance divided by their
    number (0 for one seed), the seeds' share of the value's variance.
    """
    classes = table.confusions.shape[-1]
    flat = table.confusions.reshape(table.runs, len(table.subjects), classes * classes)
    pooled = (weights @ flat).reshape(table.runs, weights.shape[0], classes, classes)  # exact integer sums
    values = batch_scores(pooled)  # metric -> [R, B]
    contributions = influences(pooled, table.confusions)  # metric -> [R, B, S]
    rows = np.arange(weights.shape[0])[:, None]
    result = {}
    for m in METRICS:
        drawn = values[m][draws, rows]  # [B, R']
        spread = drawn.var(axis=1, ddof=1) / draws.shape[1] if draws.shape[1] > 1 else np.zeros(len(drawn))
        result[m] = (drawn.mean(axis=1), contributions[m][draws, rows].mean(axis=1), spread)
    return result


def _standard_errors(contributions, weights, seed_variance):
    """The standard error of each estimate: subject sampling, n / (n - 1) times the weighted
    sum of squared deviations of the drawn subjects' contributions, plus the seeds' share."""
    subjects = weights.sum(axis=1)
    mean = (weights * contributions).sum(axis=1) / subjects
    spread = (weights * (contributions - mean[:, None]) ** 2).sum(axis=1)
    return np.sqrt(subjects / (subjects - 1) * spread + seed_variance)


def studentized_interval(values, errors, point, error, level, bounds):
    """The bootstrap-t interval ``[low, high]``, clipped to ``bounds``.

    Each resample's t = (value - point) / its own standard error; the
    interval is point - t_high * error .. point - t_low * error. Dividing by
    each resample's own error removes most of the skew that big subjects
    give the plain percentile interval: on composite-like simulations the
    percentile and BCa intervals cover about 92 % for 95 %, this one 95 %.
    Resamples whose own error is 0 have no t and are left out; when they are
    more than 1 % of all, the percentile interval is used instead.
    """
    if not error > 0:  # e.g. two identical runs: no variation at all
        return [float(point), float(point)]
    quantiles = [(1 - level) / 2, (1 + level) / 2]
    defined = errors > 0
    if np.mean(defined) < 0.99:
        # Many resamples without any spread (e.g. runs that differ on one subject only):
        # their t is undefined, so fall back to the percentile interval.
        low, high = np.quantile(values, quantiles)
    else:
        t_low, t_high = np.quantile((values[defined] - point) / errors[defined], quantiles)
        low, high = point - t_high * error, point - t_low * error
    return [float(np.clip(low, *bounds)), float(np.clip(high, *bounds))]


def point_scores(table):
    """Per metric, the mean over seeds of each seed's pooled score, and the seeds' scores."""
    per_seed = batch_scores(table.confusions.sum(axis=1))
    return {m: (float(np.mean(v)), [float(x) for x in v]) for m, v in per_seed.items()}


def _point_estimates(table):
    """_estimates at the data themselves: every subject once, every seed once."""
    return _estimates(table, np.ones((1, len(table.subjects)), dtype=np.int64),
                      np.arange(table.runs)[None, :])


def point_standard_errors(table):
    """Per metric, the standard error of the point value (subjects and, for several runs, seeds)."""
    ones = np.ones((1, len(table.subjects)), dtype=np.int64)
    return {m: float(_standard_errors(c, ones, spread)[0]) for m, (_, c, spread) in _point_estimates(table).items()}


def table_intervals(table, boot, column):
    """``{acc_ci, uf1_ci, uar_ci}`` of one column's SubjectTable (None with fewer than 2 subjects)."""
    if len(table.subjects) < 2:
        return {m + "_ci": None for m in METRICS}
    subjects_rng, seeds_rng, _ = column_streams(boot, column)
    weights = subject_weights(len(table.subjects), boot.resamples, subjects_rng)
    resampled = _estimates(table, weights, _seed_draws(table, boot.resamples, seeds_rng))
    point = _point_estimates(table)
    ones = np.ones((1, len(table.subjects)), dtype=np.int64)
    result = {}
    for m in METRICS:
        values, contributions, spread = resampled[m]
        point_value, point_contributions, point_spread = point[m]
        result[m + "_ci"] = studentized_interval(
            values, _standard_errors(contributions, weights, spread), point_value[0],
            _standard_errors(point_contributions, ones, point_spread)[0], boot.level, (0.0, 1.0))
    return result


def table_difference(table_a, table_b, boot, column):
    """A minus B on the same clips: ``d_<metric>`` and ``d_<metric>_ci`` per metric.

    The same subject draw goes to both sides (that is the pairing: a
    subject's contributions to A and B are subtracted before squaring); each
    side's seeds are drawn on their own, as they were trained independently.
    """
    subjects_rng, seeds_a, seeds_b = column_streams(boot, column)
    weights = subject_weights(len(table_a.subjects), boot.resamples, subjects_rng)
    resampled_a = _estimates(table_a, weights, _seed_draws(table_a, boot.resamples, seeds_a))
    resampled_b = _estimates(table_b, weights, _seed_draws(table_b, boot.resamples, seeds_b))
    point_a, point_b = _point_estimates(table_a), _point_estimates(table_b)
    ones = np.ones((1, len(table_a.subjects)), dtype=np.int64)
    result = {}
    for m in METRICS:
        difference = float(point_a[m][0][0] - point_b[m][0][0])
        result["d_" + m] = difference
        if len(table_a.subjects) < 2:
            result["d_%s_ci" % m] = None
            continue
        errors = _standard_errors(resampled_a[m][1] - resampled_b[m][1], weights,
                                  resampled_a[m][2] + resampled_b[m][2])
        error = _standard_errors(point_a[m][1] - point_b[m][1], ones, point_a[m][2] + point_b[m][2])[0]
        result["d_%s_ci" % m] = studentized_interval(resampled_a[m][0] - resampled_b[m][0], errors, difference,
                                                     error, boot.level, (-1.0, 1.0))
    return result


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
