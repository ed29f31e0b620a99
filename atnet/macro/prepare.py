"""``data_prep/prepare_macro.py``: macro releases -> a prepared macro directory (atnet.macro.index).

Stages: read the releases (atnet.macro.ckplus/oulu/jaffe/mug), select frames,
labels and the subject-disjoint split (atnet.macro.select), then per
sequence -- in parallel, cached -- the face box on the peak frame and the
crops of the picked frames (atnet.macro.outputs); finally index.csv,
sequences.csv, counts.json and the manifest. As in the micro pipeline
(atnet.data.prepare): any problem stops the run with a message naming the
file unless ``lenient`` (then skipped.csv lists it); every file is written
atomically; index.csv, counts.json and manifest.json are removed when a run
starts and written when it ends; finished sequences whose inputs,
parameters and code are unchanged and whose images still have their
checksums are not redone.
"""
import csv
import dataclasses
import hashlib
import io
import json
import os
import sys

from tqdm import tqdm

from atnet import provenance
from atnet.common import InputError, sha256_file, write_json, write_text
from atnet.data.prepare import DEFAULT_MARGIN, format_problems
from atnet.macro import labels, select as selecting
from atnet.macro.ckplus import read_ckplus
from atnet.macro.index import INDEX_FILE, MANIFEST_FILE, MacroRow, write_macro_index
from atnet.macro.jaffe import read_jaffe
from atnet.macro.mug import read_mug
from atnet.macro.oulu import DEFAULT_ILLUMINATIONS, DEFAULT_SENSORS, read_oulu
from atnet.macro.outputs import SequenceTask, face_params, outputs_code, params_digest, process, record_path
from atnet.macro.sequences import MACRO_DATASETS, MACRO_TITLES
from atnet.workers import map_unordered

COUNTS_FILE = "counts.json"


@dataclasses.dataclass(frozen=True)
class MacroSettings:
    """What a prepare_macro run does; everything here is recorded in the manifest."""
    label_set: str = labels.DEFAULT_LABEL_SET
    frames: int = selecting.DEFAULT_FRAMES
    neutral: bool = False
    mug_min_frames: int = selecting.DEFAULT_MUG_MIN_FRAMES
    val_fraction: float = selecting.DEFAULT_VAL_FRACTION
    seed: int = 0
    oulu_sensors: tuple = DEFAULT_SENSORS
    oulu_illuminations: tuple = DEFAULT_ILLUMINATIONS
    margin: float = DEFAULT_MARGIN
    lenient: bool = False
    workers: int = os.cpu_count() or 1

    def selection(self):
        return selecting.SelectionSettings(self.label_set, self.frames, self.neutral, self.mug_min_frames,
                                           self.val_fraction, self.seed)


@dataclasses.dataclass
class MacroOutcome:
    """The result of a run: index rows (empty for a dry run), skipped problems, the counts document."""
    rows: list
    skipped: list
    counts: dict
    selection: object


def scan(roots, settings):
    """Read the given roots (``{dataset: root}``) in MACRO_DATASETS order."""
    unknown = set(roots) - set(MACRO_DATASETS)
    if unknown:
        raise ValueError("unknown macro datasets %s" % sorted(unknown))
    readers = {"ckplus": read_ckplus, "jaffe": read_jaffe, "mug": read_mug,
               "oulu": lambda root: read_oulu(root, settings.oulu_sensors, settings.oulu_illuminations)}
    scans = []
    for dataset in MACRO_DATASETS:
        if dataset in roots:
            root = os.path.abspath(roots[dataset])
            if not os.path.isdir(root):
                raise InputError("--%s %s: no such folder" % (dataset, root))
            scans.append(readers[dataset](root))
    return scans


def make_task(planned, shared_key):
    """The SequenceTask of a planned sequence, with the fingerprint of everything that shapes its images."""
    sequence = planned.sequence
    paths = tuple(sequence.frames[p.position] for p in planned.picks)
    numbers = tuple(sequence.frame_numbers[p.position] for p in planned.picks)
    peak_path = sequence.frames[sequence.peak_index]
    state = []
    for path in dict.fromkeys(paths + (peak_path,)):
        stat = os.stat(path)
        state.append([path, stat.st_size, stat.st_mtime_ns])
    identity = dict(key=sequence.key, frames=state, numbers=list(numbers), landmarks=sequence.landmarks,
                    params=shared_key)
    fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return SequenceTask(sequence.dataset, sequence.subject, sequence.sequence, peak_path, paths, numbers,
                        sequence.landmarks, fingerprint)


def cached_record(out, task):
    """The record of a sequence finished by an earlier run with the same fingerprint and intact images."""
    try:
        with open(os.path.join(out, record_path(task.dataset, task.subject, task.sequence))) as handle:
            record = json.load(handle)
        if record["fingerprint"] != task.fingerprint or len(record["images"]) != len(task.paths):
            return None
        for image in record["images"]:
            if sha256_file(os.path.join(out, image["image"])) != image["sha256"]:
                return None
        return record
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _run(task, context):
    """Worker entry: ``(task key, record, None)`` or ``(task key, None, error text)`` for bad input."""
    out, margin = context
    try:
        return task.key, process(task, out, margin), None
    except InputError as err:
        return task.key, None, str(err)


def run_tasks(tasks, out, margin, workers):
    """Run tasks over ``workers`` spawned processes (atnet.workers); yields ``(key, record, error)``
    as they finish."""
    return map_unordered(_run, tasks, (out, margin), workers)


def start_run(out):
    """No index, counts or manifest of an earlier run (they come back at the end), no temporary files."""
    os.makedirs(out, exist_ok=True)
    for name in (INDEX_FILE, COUNTS_FILE, MANIFEST_FILE):
        if os.path.exists(os.path.join(out, name)):
            os.unlink(os.path.join(out, name))
    for folder, _, names in os.walk(out):
        for name in names:
            if name.startswith(".") and name.endswith(".tmp"):
                os.unlink(os.path.join(folder, name))


def prepare_macro(roots, out, settings=MacroSettings(), dry_run=False, command=None, log=print):
    """Prepare ``roots`` (``{dataset: root}``) into ``out``; returns a MacroOutcome.

    ``dry_run`` reads and selects only (counts and problems) and writes
    nothing. Raises InputError on bad input unless ``settings.lenient``.
    """
    if not roots:
        raise InputError("give at least one of --ckplus, --oulu, --jaffe, --mug")
    selection = selecting.select(scan(roots, settings), settings.selection())
    if selection.problems and not settings.lenient:
        raise InputError(format_problems(selection.problems))
    for dataset, note in selection.notes:
        log("note (%s): %s" % (MACRO_TITLES[dataset], note))
    skipped = list(selection.problems)
    if dry_run:
        counts = _counts(selection, selection.planned, skipped, settings)
        _report(counts, skipped, log, "selected (dry run, nothing written)")
        return MacroOutcome([], skipped, counts, selection)
    start_run(out)
    params = face_params(settings.margin)
    records, failures = compute(selection.planned, params_digest(params), out, settings, log)
    skipped += failures
    planned = [p for p in selection.planned if p.sequence.key in records]
    rows = write_macro_index(out, [row for p in planned for row in index_rows(p, records[p.sequence.key],
                                                                              settings.label_set)])
    counts = _counts(selection, planned, skipped, settings)
    write_json(os.path.join(out, COUNTS_FILE), counts)
    _write_sequences(out, selection, records, skipped)
    if settings.lenient:
        _write_skipped(out, skipped)
    _report(counts, skipped, log, "prepared")
    digests = {image["image"]: image["sha256"] for record in records.values() for image in record["images"]}
    _write_manifest(out, roots, selection, digests, skipped, settings, params, counts, command)
    return MacroOutcome(rows, skipped, counts, selection)


def compute(planned, shared_key, out, settings, log):
    """Records of every planned sequence, reusing finished ones: ``({key: record}, failures)``."""
    records, todo = {}, []
    by_key = {p.sequence.key: p for p in planned}
    for item in planned:
        task = make_task(item, shared_key)
        record = cached_record(out, task)
        if record is None:
            todo.append(task)
        else:
            records[task.key] = record
    log("%d sequences: %d finished earlier (skipped), %d to prepare with %d worker(s)"
        % (len(planned), len(records), len(todo), max(1, min(settings.workers, len(todo)))))
    failures = []
    with tqdm(total=len(todo), desc="prepare macro", unit="seq", file=sys.stderr, disable=not todo) as bar:
        for key, record, error in run_tasks(todo, out, settings.margin, settings.workers):
            bar.update(1)
            if record is not None:
                records[key] = record
            elif settings.lenient:
                failures.append(by_key[key].sequence.problem(error))
            else:
                raise InputError("%s\n(finished sequences are kept; --lenient skips such sequences)" % error)
    return records, failures


def index_rows(planned, record, label_set):
    """The MacroRows of one prepared sequence: labels and split from the plan, images from the record."""
    sequence = planned.sequence
    x, y, w, h = record["box"]
    peak_number = sequence.frame_numbers[sequence.peak_index]
    rows = []
    for pick, image in zip(planned.picks, record["images"]):
        emotion = labels.NEUTRAL if pick.role == "neutral" else sequence.emotion
        rows.append(MacroRow(sequence.dataset, sequence.subject, sequence.sequence, image["frame"], pick.label,
                             planned.split, image["image"], labels.class_index(label_set, pick.label),
                             emotion=emotion, code="" if pick.role == "neutral" else sequence.code,
                             role=pick.role, frame_file=os.path.basename(sequence.frames[pick.position]),
                             n_frames=len(sequence.frames), peak_frame=peak_number, box_x=x, box_y=y, box_w=w,
                             box_h=h, box_source=record["box_source"], source=sequence.source))
    return rows


def _counts(selection, planned, skipped, settings):
    return selecting.counts_document(planned, selection.excluded, skipped, settings.label_set,
                                     selection.sequences_read)


def _report(counts, skipped, log, title):
    if skipped:
        log(format_problems(skipped, title="skipped", hint=False))
    log("%s (label set %s, images per class):\n%s" % (title, counts["label_set"], selecting.format_counts(counts)))


def _write_csv(path, lines):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(lines)
    write_text(path, buffer.getvalue())


def _write_sequences(out, selection, records, skipped):
    """sequences.csv: every sequence read and what became of it."""
    lines = [("dataset", "subject", "sequence", "emotion", "code", "frames", "status", "reason", "source")]

    def line(sequence, status, reason):
        return (sequence.dataset, sequence.subject, sequence.sequence, sequence.emotion or "", sequence.code,
                len(sequence.frames), status, reason, sequence.source)
    lines += [line(p.sequence, "prepared", "") for p in selection.planned if p.sequence.key in records]
    lines += [line(sequence, "excluded", reason) for sequence, reason in selection.excluded]
    lines += [(p.dataset, p.subject, p.sample, "", "", "", "skipped", p.reason, p.where) for p in skipped]
    _write_csv(os.path.join(out, "sequences.csv"), lines)


def _write_skipped(out, skipped):
    lines = [("dataset", "subject", "sequence", "where", "reason")]
    lines += [(p.dataset, p.subject, p.sample, p.where, p.reason) for p in skipped]
    _write_csv(os.path.join(out, "skipped.csv"), lines)


def _write_manifest(out, roots, selection, digests, skipped, settings, params, counts, command):
    manifest = {
        "command": command,
        "datasets": {dataset: {"title": MACRO_TITLES[dataset], "root": os.path.abspath(root),
                               "read": selection.sources.get(dataset, {}),
                               "sequences_read": selection.sequences_read.get(dataset, 0)}
                     for dataset, root in roots.items()},
        "settings": dict(dataclasses.asdict(settings), classes=list(labels.classes(settings.label_set))),
        "parameters": params,
        "code": {"git": provenance.git_state()["describe"], "outputs_code_sha256": outputs_code()},
        "versions": provenance.versions(caffe=False),
        "counts": counts,
        "skipped": len(skipped),
        "outputs": {"index.csv": sha256_file(os.path.join(out, INDEX_FILE)),
                    "sequences.csv": sha256_file(os.path.join(out, "sequences.csv")),
                    COUNTS_FILE: sha256_file(os.path.join(out, COUNTS_FILE)),
                    "images": dict(sorted(digests.items()))},
    }
    write_json(os.path.join(out, MANIFEST_FILE), manifest)
