"""Which frames of which sequences become pre-training images, with which label and split.

Frames: CK+ and Oulu-CASIA sequences end at the peak, so the last K frames
are taken (K = 3 by default, the common CK+ convention: 981 images of its
327 labelled sequences); MUG takes peak mid-sequence, so a window of K
frames centred on the middle frame; a JAFFE image is its own frame. With
``neutral`` the first frame of every expressive sequence is added as a
neutral image (the label set must have a neutral class); the releases' own
neutral images (JAFFE NE, MUG neutral takes) are labelled neutral whenever
the label set has that class. Sequences whose emotion the label set leaves
out, unlabelled CK+ sequences, MUG takes ending in 'end' and MUG takes
shorter than ``mug_min_frames`` are excluded by rule (reported).

Split: subject-disjoint, per dataset: ``round(val_fraction x subjects)``
subjects of each dataset (at least one when it has two or more; never all)
go to validation, drawn with a seed derived from the run seed and the
dataset name (atnet.config.fold_seed), so adding a dataset does not change
another's split.
"""
import collections
import dataclasses

import numpy as np

from atnet.common import InputError
from atnet.config import fold_seed
from atnet.folds import natural_key
from atnet.macro import labels
from atnet.macro.sequences import MACRO_DATASETS, MACRO_TITLES

DEFAULT_FRAMES = 3
DEFAULT_MUG_MIN_FRAMES = 10
DEFAULT_VAL_FRACTION = 0.2
SPLITS = ("train", "val")


@dataclasses.dataclass(frozen=True)
class SelectionSettings:
    """What decides the selection (recorded in the manifest)."""
    label_set: str = labels.DEFAULT_LABEL_SET
    frames: int = DEFAULT_FRAMES
    neutral: bool = False
    mug_min_frames: int = DEFAULT_MUG_MIN_FRAMES
    val_fraction: float = DEFAULT_VAL_FRACTION
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class Pick:
    """One frame of a sequence to write: its position in ``Sequence.frames``,
    its role (peak, near-peak, neutral) and its class name."""
    position: int
    role: str
    label: str


@dataclasses.dataclass
class Planned:
    """A selected sequence, the frames picked from it and its subject's split."""
    sequence: object
    picks: tuple
    split: str = "train"


@dataclasses.dataclass
class MacroSelection:
    """Every sequence read, sorted into planned, excluded (a rule) and problems."""
    planned: list
    excluded: list      # (Sequence, reason)
    problems: list      # Problem
    notes: list         # (dataset, text)
    sequences_read: dict
    sources: dict


def check_settings(settings):
    """InputError for settings that cannot give a sensible selection."""
    labels.check_label_set(settings.label_set)
    if settings.frames < 1:
        raise InputError("--frames must be at least 1, got %d" % settings.frames)
    if settings.neutral and not labels.has_neutral(settings.label_set):
        raise InputError("--neutral adds neutral images, but label set %s has no neutral class "
                         "(use basic7 or ck8)" % settings.label_set)
    if not 0 <= settings.val_fraction < 1:
        raise InputError("--val-fraction must be in [0, 1), got %r" % settings.val_fraction)
    if settings.mug_min_frames < 1:
        raise InputError("--mug-min-frames must be at least 1, got %d" % settings.mug_min_frames)


def pick_frames(sequence, settings):
    """The frames of one sequence (a tuple of Pick) under ``settings``; InputError if it is too short."""
    count, peak = len(sequence.frames), sequence.peak_index
    wanted = 1 if sequence.peak_rule == "only" else settings.frames
    if sequence.peak_rule == "middle":
        first = peak - (wanted - 1) // 2
    else:
        first = peak - wanted + 1
    positions = range(first, first + wanted)
    expressive = sequence.emotion != labels.NEUTRAL
    add_neutral = settings.neutral and expressive and sequence.peak_rule != "only"
    if first < (1 if add_neutral else 0) or first + wanted > count:
        raise InputError("%d frame(s); %d %s frame(s)%s do not fit" % (
            count, wanted, "peak-centred" if sequence.peak_rule == "middle" else "last",
            " and a separate neutral first frame" if add_neutral else ""))
    label = labels.class_of(settings.label_set, sequence.emotion)
    picks = [Pick(p, "peak" if p == peak else "near-peak", label) for p in positions]
    if add_neutral:
        picks.insert(0, Pick(0, "neutral", labels.class_of(settings.label_set, labels.NEUTRAL)))
    return tuple(picks)


def exclusion(sequence, settings):
    """The rule that leaves a sequence out, or '' when it is selected."""
    if sequence.excluded:
        return sequence.excluded
    if sequence.emotion is None:
        return "unlabelled"
    if labels.class_of(settings.label_set, sequence.emotion) is None:
        return "emotion %s is not in label set %s" % (sequence.emotion, settings.label_set)
    if sequence.dataset == "mug" and sequence.frames and len(sequence.frames) < settings.mug_min_frames:
        return "short take (%d frames < %d)" % (len(sequence.frames), settings.mug_min_frames)
    return ""


def select(scans, settings):
    """Apply the rules to reader output (a list of MacroScan); assign the split."""
    check_settings(settings)
    selection = MacroSelection([], [], [], [], {}, {})
    for scan in scans:
        selection.sequences_read[scan.dataset] = len(scan.sequences)
        selection.sources[scan.dataset] = scan.sources
        selection.problems.extend(scan.problems)
        selection.notes.extend((scan.dataset, note) for note in scan.notes)
        for sequence in scan.sequences:
            # a reader's exclusion (unlabelled, 'end' take) wins over problems of the
            # left-out sequence; the label-set rules apply to sound sequences only
            if not sequence.excluded and sequence.problems:
                selection.problems.extend(sequence.problem(p) for p in sequence.problems)
                continue
            reason = exclusion(sequence, settings)
            if reason:
                selection.excluded.append((sequence, reason))
                continue
            try:
                selection.planned.append(Planned(sequence, pick_frames(sequence, settings)))
            except InputError as err:
                selection.problems.append(sequence.problem(str(err)))
    assign_split(selection.planned, settings.val_fraction, settings.seed)
    return selection


def validation_subjects(subjects, fraction, seed, dataset):
    """The subjects of one dataset that go to validation (seeded, see the module docstring)."""
    ordered = sorted(set(subjects), key=natural_key)
    if fraction <= 0 or len(ordered) < 2:
        return set()
    count = min(len(ordered) - 1, max(1, int(round(fraction * len(ordered)))))
    rng = np.random.default_rng(fold_seed(seed, "macro-%s" % dataset, "split"))
    return {ordered[i] for i in rng.permutation(len(ordered))[:count]}


def assign_split(planned, fraction, seed):
    """Set each Planned's split; all sequences of a subject share it."""
    for dataset in MACRO_DATASETS:
        mine = [p for p in planned if p.sequence.dataset == dataset]
        val = validation_subjects([p.sequence.subject for p in mine], fraction, seed, dataset)
        for item in mine:
            item.split = "val" if item.sequence.subject in val else "train"


def image_counts(items, label_set):
    """``{dataset: {split: {class: images}}}`` of (dataset, split, class) triples, every class listed."""
    counts = {}
    for dataset, split, label in items:
        per_split = counts.setdefault(dataset, {s: collections.Counter() for s in SPLITS})
        per_split[split][label] += 1
    return {dataset: {split: {c: counter[c] for c in labels.classes(label_set)}
                      for split, counter in per_split.items()}
            for dataset, per_split in counts.items()}


def planned_triples(planned):
    """(dataset, split, class) for every image of a selection."""
    return [(p.sequence.dataset, p.split, pick.label) for p in planned for pick in p.picks]


def counts_document(planned, excluded, problems, label_set, sequences_read=None):
    """Counts per dataset and class (images, per split), sequences, subjects, exclusions (JSON-ready)."""
    images = image_counts(planned_triples(planned), label_set)
    result = {}
    for dataset in MACRO_DATASETS:
        mine = [p for p in planned if p.sequence.dataset == dataset]
        if not mine and dataset not in (sequences_read or {}):
            continue
        reasons = collections.Counter(reason for s, reason in excluded if s.dataset == dataset)
        per_split = images.get(dataset, {s: {c: 0 for c in labels.classes(label_set)} for s in SPLITS})
        result[dataset] = {
            "images": {split: dict(per_split[split], total=sum(per_split[split].values())) for split in SPLITS},
            "sequences": len(mine), "subjects": {split: len({p.sequence.subject for p in mine if p.split == split})
                                                 for split in SPLITS},
            "excluded": dict(sorted(reasons.items())),
            "problems": sum(1 for p in problems if p.dataset == dataset),
            "sequences_read": (sequences_read or {}).get(dataset)}
    return {"label_set": label_set, "classes": list(labels.classes(label_set)), "datasets": result}


def format_counts(document):
    """The counts as a table: one row per dataset and split, one column per class."""
    names = document["classes"]
    width = max(9, max(len(n) for n in names) + 1)
    lines = ["%-20s %-5s " % ("dataset", "split") + "".join("%*s" % (width, n) for n in names)
             + "%8s %6s" % ("images", "subj")]
    totals = {split: collections.Counter() for split in SPLITS}
    for dataset, entry in document["datasets"].items():
        for split in SPLITS:
            row = entry["images"][split]
            totals[split].update({n: row[n] for n in names})
            lines.append("%-20s %-5s " % (MACRO_TITLES[dataset], split)
                         + "".join("%*d" % (width, row[n]) for n in names)
                         + "%8d %6d" % (row["total"], entry["subjects"][split]))
        if entry["excluded"]:
            lines.append("    excluded sequences: " + "; ".join("%s: %d" % item for item in entry["excluded"].items()))
    for split in SPLITS:
        lines.append("%-20s %-5s " % ("all", split) + "".join("%*d" % (width, totals[split][n]) for n in names)
                     + "%8d" % sum(totals[split].values()))
    empty = [n for n in names if not (totals["train"][n] + totals["val"][n])]
    if empty and document["datasets"]:
        lines.append("note: no images for class(es) %s" % ", ".join(empty))
    return "\n".join(lines)
