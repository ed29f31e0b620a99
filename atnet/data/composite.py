"""The MEGC2019 composite (the paper's 442 samples): selection rules, counts,
and the check against an official ground-truth list.

Rules (datasets.md): negative = CASME II {disgust, repression} and SAMM
{Anger, Contempt, Disgust, Fear, Sadness}; positive = Happiness; surprise =
Surprise; CASME II others/fear/sadness and SAMM Other are excluded; SMIC
keeps every clip (labels from its folders). The official CASME II selection
also leaves out two rows by name, listed in OFFICIAL_EXCLUSIONS. The
composite's per-subject class counts are CASME2_COMPOSITE, SAMM_COMPOSITE and
SMIC_COMPOSITE (``composite_samples()`` lists its 442 samples).
"""
import collections
import csv
import dataclasses

from atnet.common import CLASS_NAMES, DATASET_TITLES, DATASETS, InputError
from atnet.data.names import check_release_names

#: Emotion as written (compared lower-case) -> 3-class label; None = excluded.
EMOTION_LABELS = {
    "casme2": {"disgust": 0, "repression": 0, "happiness": 1, "surprise": 2,
               "others": None, "fear": None, "sadness": None},
    "samm": {"anger": 0, "contempt": 0, "disgust": 0, "fear": 0, "sadness": 0,
             "happiness": 1, "surprise": 2, "other": None},
    "smic": {"negative": 0, "positive": 1, "surprise": 2},
}

#: Rows with a composite emotion that the official selection leaves out.
OFFICIAL_EXCLUSIONS = {
    ("casme2", "sub04", "EP12_01f"): "not in the official MEGC2019 selection (apex '/')",
    ("casme2", "sub05", "EP09_05f"): "not in the official MEGC2019 selection (apex = onset)",
}


def emotion_label(dataset, emotion):
    """``(known, label)``: label None means the emotion is excluded (or unknown)."""
    table = EMOTION_LABELS[dataset]
    key = emotion.strip().lower()
    return key in table, table.get(key)


@dataclasses.dataclass
class Selection:
    """Every row read, sorted into selected, excluded (a rule) and problems."""
    selected: list
    excluded: list   # (Sample, reason)
    problems: list   # Problem
    rows: dict       # dataset -> number of sheet rows / clip folders read
    sources: dict    # dataset -> {what: path}


def select(scans):
    """Apply the composite rules to reader output (a list of ReleaseScan)."""
    selection = Selection([], [], [], {}, {})
    for scan in scans:
        selection.rows[scan.dataset] = len(scan.samples)
        selection.sources[scan.dataset] = scan.sources
        selection.problems.extend(scan.problems)
        for sample in scan.samples:
            known, label = emotion_label(sample.dataset, sample.emotion)
            official = OFFICIAL_EXCLUSIONS.get((sample.dataset, sample.subject, sample.sample))
            if known and label is None:
                selection.excluded.append((sample, "emotion %r is not in the composite" % sample.emotion))
            elif known and official:
                selection.excluded.append((sample, official))
            elif sample.problems:
                selection.problems.extend(sample.problem(reason) for reason in sample.problems)
            else:
                selection.selected.append(sample)
    return selection


def class_counts(items):
    """``{dataset: [n_negative, n_positive, n_surprise]}`` of (dataset, label) pairs."""
    counts = {dataset: [0] * len(CLASS_NAMES) for dataset in DATASETS}
    for dataset, label in items:
        counts[dataset][int(label)] += 1
    return counts


def format_counts(rows):
    """The per-dataset x per-class table of final samples, with subject counts.

    ``rows`` are objects or dicts with dataset, subject, label (index rows).
    """
    get = (lambda row, name: row[name]) if rows and isinstance(rows[0], dict) else getattr
    counts = class_counts((get(row, "dataset"), get(row, "label")) for row in rows)
    subjects = collections.defaultdict(set)
    for row in rows:
        subjects[get(row, "dataset")].add(get(row, "subject"))
    present = [d for d in DATASETS if subjects[d]]
    header = "%-10s" % "" + "".join("%10s" % name for name in CLASS_NAMES) + "%8s%10s" % ("total", "subjects")
    lines = [header]
    for dataset in present:
        lines.append("%-10s" % DATASET_TITLES[dataset] + "".join("%10d" % n for n in counts[dataset])
                     + "%8d%10d" % (sum(counts[dataset]), len(subjects[dataset])))
    totals = [sum(counts[d][c] for d in present) for c in range(len(CLASS_NAMES))]
    lines.append("%-10s" % "all" + "".join("%10d" % n for n in totals)
                 + "%8d%10d" % (sum(totals), sum(len(subjects[d]) for d in present)))
    return "\n".join(lines)


def format_accounting(selection, skipped, prepared=None):
    """One line per dataset: every row read = selected (or prepared) + excluded
    (by reason) + skipped. ``prepared``: the (dataset, subject, sample) that
    were written, when a run has computed them; samples selected but skipped
    while computing count as skipped, not selected."""
    skipped_by = collections.Counter(p.dataset for p in skipped if p.about_row)
    others_by = collections.Counter(p.dataset for p in skipped if not p.about_row)
    lines = []
    for dataset in DATASETS:
        if dataset not in selection.rows:
            continue
        reasons = collections.Counter(reason for sample, reason in selection.excluded
                                      if sample.dataset == dataset)
        chosen = [s for s in selection.selected if s.dataset == dataset
                  and (prepared is None or (s.dataset, s.subject, s.sample) in prepared)]
        what = "clip folders" if dataset == "smic" else "sheet rows"
        detail = "; ".join("%d %s" % (n, reason) for reason, n in sorted(reasons.items()))
        lines.append("%s: %d %s = %d %s + %d excluded%s + %d skipped%s"
                     % (DATASET_TITLES[dataset], selection.rows[dataset], what, len(chosen),
                        "selected" if prepared is None else "prepared", sum(reasons.values()),
                        " (%s)" % detail if detail else "", skipped_by[dataset],
                        "; %d folder problem(s)" % others_by[dataset] if others_by[dataset] else ""))
    return "\n".join(lines)


def read_gt(path):
    """An official ``combined_3class_gt.csv``: ``{(dataset, subject, sample): label}``."""
    truth = {}
    with open(path, newline="") as handle:
        for line_number, fields in enumerate(csv.reader(handle), start=1):
            if not fields or not "".join(fields).strip():
                continue
            if len(fields) != 4:
                raise InputError("%s, line %d: expected dataset,subject,filename,label, got %r"
                                 % (path, line_number, ",".join(fields)))
            dataset, subject, sample, label = (field.strip() for field in fields)
            if dataset not in DATASETS or label not in ("0", "1", "2"):
                raise InputError("%s, line %d: unknown dataset %r or label %r (want %s; 0..2)"
                                 % (path, line_number, dataset, label, "/".join(DATASETS)))
            check_release_names(dataset, subject, sample, "%s, line %d" % (path, line_number))
            if (dataset, subject, sample) in truth:
                raise InputError("%s, line %d: %s,%s,%s listed twice"
                                 % (path, line_number, dataset, subject, sample))
            truth[(dataset, subject, sample)] = int(label)
    return truth


def compare_with_gt(items, truth):
    """Every difference between our (dataset, subject, sample, label) items and
    the ground truth, restricted to the datasets we prepared."""
    ours = {(d, s, n): int(label) for d, s, n, label in items}
    datasets = {key[0] for key in ours}
    differences = []
    for key in sorted(set(truth) | set(ours)):
        if key[0] not in datasets:
            continue
        name = ",".join(key)
        if key not in ours:
            differences.append("%s: in the ground truth (label %d) but not selected" % (name, truth[key]))
        elif key not in truth:
            differences.append("%s: selected (label %d) but not in the ground truth" % (name, ours[key]))
        elif ours[key] != truth[key]:
            differences.append("%s: label %d, ground truth says %d" % (name, ours[key], truth[key]))
    return differences


# --- the composite's per-subject class counts ----------------------------------

#: Composite counts (negative, positive, surprise) per subject number, datasets.md
#: (the synthetic ``composite`` preset, fold sizes, benchmarks and tests use them).
CASME2_COMPOSITE = {
    1: (2, 1, 0), 2: (5, 1, 3), 3: (4, 0, 1), 4: (2, 0, 0), 5: (0, 1, 5), 6: (1, 1, 2), 7: (5, 0, 0),
    8: (1, 0, 0), 9: (5, 5, 0), 11: (4, 0, 0), 12: (5, 2, 4), 13: (0, 2, 0), 14: (0, 3, 0),
    15: (1, 1, 1), 16: (1, 2, 0), 17: (23, 7, 1), 19: (3, 3, 5), 20: (2, 0, 0), 21: (1, 0, 0),
    22: (2, 0, 0), 23: (7, 1, 0), 24: (2, 0, 1), 25: (3, 0, 2), 26: (9, 2, 0)}
SAMM_COMPOSITE = {
    6: (9, 0, 2), 7: (1, 5, 2), 9: (3, 0, 1), 10: (4, 0, 0), 11: (13, 7, 0), 12: (2, 0, 1),
    13: (6, 0, 0), 14: (2, 7, 1), 15: (2, 0, 1), 16: (2, 1, 2), 17: (3, 0, 1), 18: (2, 0, 1),
    19: (0, 1, 0), 20: (2, 2, 0), 21: (2, 0, 0), 22: (3, 2, 0), 23: (1, 0, 0), 24: (1, 0, 0),
    26: (9, 0, 0), 28: (1, 0, 2), 30: (3, 0, 0), 31: (1, 0, 0), 32: (4, 0, 0), 33: (4, 1, 0),
    34: (3, 0, 0), 35: (7, 0, 1), 36: (1, 0, 0), 37: (1, 0, 0)}
SMIC_COMPOSITE = {
    1: (3, 2, 1), 2: (0, 1, 5), 3: (22, 11, 6), 4: (10, 4, 5), 5: (1, 0, 1), 6: (2, 0, 2),
    8: (9, 4, 0), 9: (0, 1, 3), 11: (3, 3, 1), 12: (0, 8, 1), 13: (0, 10, 0), 14: (3, 2, 5),
    15: (1, 1, 2), 18: (2, 0, 5), 19: (0, 1, 1), 20: (14, 3, 5)}


def composite_samples():
    """The 442 samples of the MEGC2019 composite as dicts (dataset, subject, sample, label).

    Subjects follow the official ground-truth style (sub01, 6, s01); sample
    names are placeholders. For fold sizes and benchmarks, where only the
    per-subject class counts matter.
    """
    samples = []
    for dataset, counts, subject_name in (("casme2", CASME2_COMPOSITE, "sub%02d"), ("samm", SAMM_COMPOSITE, "%d"),
                                          ("smic", SMIC_COMPOSITE, "s%02d")):
        for number, per_class in counts.items():
            for label, count in enumerate(per_class):
                samples += [{"dataset": dataset, "subject": subject_name % number,
                             "sample": "c%d_%d" % (label, i), "label": label} for i in range(count)]
    return samples
