"""The evaluation protocols of the paper as folds over a list of samples.

CDE (composite database evaluation) is leave-one-subject-out over the pooled
CASME II, SAMM and SMIC samples; a subject is identified by dataset AND
subject id, so the real composite gives 68 folds. HDE (holdout-database
evaluation) trains on two datasets and tests on the third: 3 folds.

A sample is anything with ``dataset``, ``subject``, ``sample`` and ``label``,
as mapping keys (a row of ``index.csv``) or attributes; folds hold the given
objects themselves, in input order, so callers keep whatever else they carry.
"""
import dataclasses
import re

import numpy as np

from atnet.common import CLASS_NAMES, DATASETS, InputError, clip_key

PROTOCOLS = ("cde", "hde")


@dataclasses.dataclass(frozen=True)
class Fold:
    """One train/test split; ``name`` is e.g. ``cde-casme2-sub01`` or ``hde-samm``."""
    name: str
    train: list
    test: list


def field(sample, name):
    """A sample's field, whether the sample is a mapping or an object."""
    if isinstance(sample, dict):
        return sample[name]
    return getattr(sample, name)


def sample_key(sample):
    """The release's clip key of a sample, e.g. ``samm-6-006_1_2``."""
    return clip_key(field(sample, "dataset"), field(sample, "subject"), field(sample, "sample"))


def sample_label(sample):
    """A sample's class index as an int (index.csv rows carry it as text)."""
    try:
        label = int(field(sample, "label"))
    except (TypeError, ValueError):
        label = None
    if label not in range(len(CLASS_NAMES)):
        raise InputError("sample %s: label %r is not one of 0..%d"
                         % (sample_key(sample), field(sample, "label"), len(CLASS_NAMES) - 1))
    return label


def natural_key(text):
    """Sort key that orders embedded numbers by value: s2 < s10, 6 < 10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", str(text)) if part]


def fold_name(protocol, dataset, subject=None):
    """The fold naming convention shared by make_lmdb, train and evaluate."""
    if protocol == "cde":
        return "cde-%s-%s" % (dataset, subject)
    return "hde-%s" % dataset


def make_folds(samples, protocol):
    """The folds of ``protocol`` ('cde' or 'hde') over ``samples``.

    CDE: one fold per (dataset, subject), ordered casme2, samm, smic and then
    by natural subject order; the test set is exactly that subject's samples,
    the training set every other sample. HDE: one fold per dataset present
    (3 on the composite), in the same dataset order, holding that dataset out.
    Both lists keep the input order. Duplicate sample keys are refused because
    they would put one clip in a training and a test set at once.
    """
    if protocol not in PROTOCOLS:
        raise InputError("unknown protocol %r (expected one of %s)" % (protocol, ", ".join(PROTOCOLS)))
    samples = list(samples)
    _check_samples(samples)
    groups = sorted({_group(s, protocol) for s in samples},
                    key=lambda g: (DATASETS.index(g[0]), [natural_key(part) for part in g[1:]]))
    if protocol == "hde" and len(groups) < 2:
        raise InputError("HDE needs samples of at least two datasets, got %s"
                         % (", ".join(g[0] for g in groups) or "none"))
    return [Fold(fold_name(protocol, *g),
                 [s for s in samples if _group(s, protocol) != g],
                 [s for s in samples if _group(s, protocol) == g])
            for g in groups]


def _group(sample, protocol):
    """What a fold holds out: (dataset, subject) for CDE, (dataset,) for HDE."""
    if protocol == "cde":
        return field(sample, "dataset"), field(sample, "subject")
    return (field(sample, "dataset"),)


def _check_samples(samples):
    """Refuse unknown datasets and duplicate keys before any fold is formed."""
    seen = set()
    for sample in samples:
        key = sample_key(sample)
        if field(sample, "dataset") not in DATASETS:
            raise InputError("sample %s: unknown dataset %r (expected one of %s)"
                             % (key, field(sample, "dataset"), ", ".join(DATASETS)))
        if key in seen:
            raise InputError("sample %s occurs more than once" % key)
        seen.add(key)


def balance_by_oversampling(samples, rng):
    """Oversample every minority class up to the majority count, as the release does.

    atnet.md section 4: each minority class is randomly oversampled with
    replacement up to the majority class's count (248 per class -> 744 for the
    first CASME II CDE fold). The result is every original sample, in input
    order, followed by the extra copies: for each class in ascending label
    order with n_c < n_max members, ``rng.integers(0, n_c, size=n_max - n_c)``
    picks members (indices into that class's samples in input order). A class
    with no sample in ``samples`` cannot be oversampled and stays absent.
    ``rng`` is a ``numpy.random.Generator``; the caller records its seed and
    shuffles the result itself.
    """
    samples = list(samples)
    by_class = {}
    for sample in samples:
        by_class.setdefault(sample_label(sample), []).append(sample)
    if not by_class:
        return []
    majority = max(len(members) for members in by_class.values())
    balanced = list(samples)
    for label in sorted(by_class):
        members = by_class[label]
        picks = rng.integers(0, len(members), size=majority - len(members))
        balanced.extend(members[i] for i in picks)
    return balanced


def class_counts(samples):
    """Samples per class index, e.g. ``[248, 248, 248]`` (for manifests and checks)."""
    counts = np.zeros(len(CLASS_NAMES), dtype=int)
    for sample in samples:
        counts[sample_label(sample)] += 1
    return counts.tolist()


def select_folds(folds, names):
    """The folds named in ``names`` (``--folds``), in protocol order.

    ``names`` may hold comma-separated lists; empty or None selects every
    fold. Any unknown name is an InputError that names it.
    """
    wanted = [n.strip() for item in (names or []) for n in str(item).split(",") if n.strip()]
    if not wanted:
        return list(folds)
    known = {fold.name for fold in folds}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise InputError("unknown fold(s) %s; valid names look like %s (%d folds in all)"
                         % (", ".join(unknown), ", ".join(f.name for f in folds[:3]), len(folds)))
    return [fold for fold in folds if fold.name in set(wanted)]


def parse_shard(text):
    """``--shard K/N`` as the pair (K, N), with 1 <= K <= N."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise InputError("--shard %r: expected K/N with 1 <= K <= N, e.g. 2/4" % (text,))
    return int(match.group(1)), int(match.group(2))


def shard(folds, k, n):
    """Shard K of N: folds K, K+N, K+2N, ... (1-based, round-robin).

    Round-robin rather than contiguous because folds are sorted by dataset:
    contiguous shards would give one machine all the large SMIC folds. The
    N shards are disjoint and together are all folds, whatever N is.
    """
    if not 1 <= k <= n:
        raise InputError("shard %d/%d: expected 1 <= K <= N" % (k, n))
    return list(folds)[k - 1::n]
