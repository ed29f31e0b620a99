"""``data_prep/prepare.py``: releases -> a prepared directory (see atnet.data.prepared).

Stages: read the releases (atnet.data.casme2/samm/smic), select the MEGC2019
composite (atnet.data.composite), then per sample -- in parallel, cached --
find the face box on the apex frame, crop every frame with it, write the apex
face and the ADM feature; finally index.csv, selection.csv and the manifest.

Problems are never silent: by default any problem stops the run with a
message naming the file and row or frame; ``lenient`` skips those samples
and lists each in ``skipped.csv``. Caching: each sample has a fingerprint of
its frame files (names, sizes, modification times), its sheet values, the
face box override, the parameters and the code that shape its outputs
(atnet.data.sample_outputs: OUTPUT_MODULE_NAMES, not this module); a
re-run skips samples whose record matches and whose outputs still have the
recorded checksums, and redoes the rest. Every file is written atomically;
index.csv and manifest.json are removed at the start of a run and written at
its end, so an interrupted run never leaves an index that lies.
"""
import csv
import dataclasses
import glob
import hashlib
import io
import json
import os
import sys

from tqdm import tqdm

from atnet import provenance
from atnet.locks import folder_lock
from atnet.common import DATASET_TITLES, DATASETS, InputError, sha256_file, write_json, write_text
from atnet.config import setting
from atnet.data.casme2 import read_casme2
from atnet.data.composite import compare_with_gt, format_accounting, format_counts, read_gt, select
from atnet.data.face import DEFAULT_FACE, FACE_DETECTORS, read_boxes
from atnet.data.flow import DEFAULT_FLOW, FLOW_ALGORITHMS
from atnet.data.prepared import INDEX_FILE, IndexRow, output_paths, write_index
from atnet.data.sample_outputs import Task, feature_params, params_digest, process
from atnet.data.samm import read_samm
from atnet.data.samples import Problem
from atnet.data.smic import read_smic
from atnet.workers import map_unordered

READERS = {"casme2": read_casme2, "samm": read_samm, "smic": read_smic}
DEFAULT_MARGIN = 0.1
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
MAX_LISTED_PROBLEMS = 30


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a prepare run does; everything here is recorded in the manifest.

    Declared with atnet.config.setting: data_prep/prepare.py's options take
    their defaults, choices and help from here.
    """
    flow: str = setting(DEFAULT_FLOW, "dense optical-flow algorithm", choices=sorted(FLOW_ALGORITHMS))
    face: str = setting(DEFAULT_FACE, "face box on the apex frame: haar (OpenCV's cascade) or landmarks "
                                      "(the box of dlib's 68 landmarks, like the paper's ASM crop)",
                        choices=sorted(FACE_DETECTORS))
    margin: float = setting(DEFAULT_MARGIN, "margin added on each side of the detected face box, "
                                            "as a fraction of its size")
    cropped: bool = setting(False, "read the face-cropped releases; the whole frame is the face box")
    lenient: bool = setting(False, "skip samples with problems and list them in DIR/skipped.csv "
                                   "instead of stopping at the first problem")
    workers: int = setting(os.cpu_count() or 1, "parallel processes (one clip each)", minimum=1)


@dataclasses.dataclass
class Outcome:
    """The result of a prepare run: final rows, skipped samples, GT differences."""
    rows: list
    skipped: list
    differences: list
    selection: object


def code_version(modules=None):
    """sha256 over the named atnet/data modules (all of them by default)."""
    names = modules or sorted(os.path.basename(p) for p in glob.glob(os.path.join(PACKAGE_DIR, "*.py")))
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0")
        with open(os.path.join(PACKAGE_DIR, name), "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()


# --- reading and selecting ----------------------------------------------------

def scan(roots, cropped=False):
    """Read the given dataset roots (``{dataset: root}``) and select the composite."""
    unknown = set(roots) - set(READERS)
    if unknown:
        raise ValueError("unknown datasets %s" % sorted(unknown))
    return select([READERS[dataset](os.path.abspath(root), cropped)
                   for dataset, root in sorted(roots.items(), key=lambda item: DATASETS.index(item[0]))])


def format_problems(problems, title="problem(s) in the input", hint=True):
    """A readable list of problems, shortened after MAX_LISTED_PROBLEMS."""
    lines = ["  " + str(problem) for problem in problems[:MAX_LISTED_PROBLEMS]]
    if len(problems) > MAX_LISTED_PROBLEMS:
        lines.append("  ... and %d more" % (len(problems) - MAX_LISTED_PROBLEMS))
    if hint:
        lines.append("(--lenient skips these samples and lists them in skipped.csv)")
    return "%d %s:\n%s" % (len(problems), title, "\n".join(lines))


def check_boxes(boxes, selection):
    """Every manual box must name a selected sample of a dataset being prepared."""
    selected = {(s.dataset, s.subject, s.sample) for s in selection.selected}
    for identity, (box, where) in boxes.items():
        if identity[0] in selection.rows and identity not in selected:
            raise InputError("%s: %s is not a selected sample of this run" % (where, "/".join(identity)))


# --- one sample's cache key and record ----------------------------------------

def make_task(sample, boxes, shared_key):
    """A Task with the fingerprint that decides whether cached outputs are still good:
    the sample's inputs plus ``shared_key`` (sample_outputs.params_digest: the
    parameters and the code that shape the outputs)."""
    box, where = boxes.get((sample.dataset, sample.subject, sample.sample), (None, ""))
    frames_state = []
    for path in sample.frames:
        stat = os.stat(path)
        frames_state.append([os.path.basename(path), stat.st_size, stat.st_mtime_ns])
    identity = dict(dataset=sample.dataset, subject=sample.subject, sample=sample.sample,
                    label=sample.label, emotion=sample.emotion, fps=sample.fps, onset=sample.onset,
                    apex=sample.apex, offset=sample.offset, folder=sample.folder,
                    frames=frames_state, box=box, params=shared_key)
    fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return Task(sample.dataset, sample.subject, sample.sample, sample.label, sample.emotion,
                sample.fps, sample.onset, sample.apex, sample.offset, sample.apex_source,
                sample.apex_index, sample.folder, tuple(sample.frames), box, where, fingerprint)


def cached_row(out, task):
    """The IndexRow of a sample finished by an earlier run with the same
    fingerprint and intact outputs, else None."""
    paths = output_paths(task.dataset, task.key)
    try:
        with open(os.path.join(out, paths["record"])) as handle:
            record = json.load(handle)
        if record["fingerprint"] != task.fingerprint:
            return None
        for name in ("apex_image", "flow"):
            if sha256_file(os.path.join(out, paths[name])) != record["sha256"][name]:
                return None
        return IndexRow(**record["row"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _run(task, context):
    """Worker entry: ``(row, None)`` or ``(None, Problem)`` for bad input."""
    out, settings = context
    try:
        return process(task, out, settings), None
    except InputError as err:
        return None, Problem(task.dataset, task.subject, task.sample, task.folder, str(err))


def run_tasks(tasks, out, settings):
    """Run tasks over ``settings.workers`` processes (atnet.workers); yields ``(row, problem)``
    as samples finish."""
    return map_unordered(_run, tasks, (out, settings), settings.workers)


# --- the whole run --------------------------------------------------------------

def prepare(roots, out, settings=Settings(), boxes_path=None, gt_path=None, dry_run=False,
            command=None, log=print):
    """Prepare ``roots`` (``{dataset: root}``) into ``out``; returns an Outcome.

    ``dry_run`` reads and selects only (counts, problems, the GT check) and
    writes nothing. Raises InputError on bad input unless ``settings.lenient``.
    """
    selection = scan(roots, settings.cropped)
    boxes = read_boxes(boxes_path) if boxes_path else {}
    check_boxes(boxes, selection)
    truth = read_gt(gt_path) if gt_path else None
    if selection.problems and not settings.lenient:
        raise InputError(format_problems(selection.problems))
    skipped = list(selection.problems)
    if dry_run:
        return _finish(selection, selection.selected, skipped, truth, log, dry_run=True)

    with folder_lock(out, "prepared folder"):     # one prepare (or import) at a time per folder
        return _write_prepared(roots, out, settings, selection, boxes, truth, skipped, boxes_path, gt_path,
                               command, log)


def _write_prepared(roots, out, settings, selection, boxes, truth, skipped, boxes_path, gt_path, command, log):
    """The writing part of ``prepare``, run while holding the folder's lock."""
    start_run(out)
    params = feature_params(settings)
    rows, failures = compute(selection, boxes, params_digest(params), out, settings, log)
    skipped += failures
    rows = write_index(out, rows)
    _write_selection(out, selection, rows, skipped)
    if settings.lenient:
        _write_skipped(out, skipped)
    outcome = _finish(selection, rows, skipped, truth, log, dry_run=False)
    if truth is not None:
        write_text(os.path.join(out, "gt_check.txt"),
                   "".join(line + "\n" for line in outcome.differences) or "no differences\n")
    _write_manifest(out, roots, selection, rows, skipped, settings, params, boxes_path, gt_path,
                    outcome.differences, command)
    log("look at the data (face boxes first): python tools/inspect_data.py %s --out %s"
        % (out, os.path.join(out, "inspect")))
    return outcome


def start_run(out):
    """Make ``out`` ready: no index or manifest of an earlier run (they come back
    at the end of this one), no temporary files of an interrupted one."""
    os.makedirs(out, exist_ok=True)
    for name in (INDEX_FILE, "manifest.json"):
        if os.path.exists(os.path.join(out, name)):
            os.unlink(os.path.join(out, name))
    for path in glob.glob(os.path.join(out, ".*.tmp")) + glob.glob(os.path.join(out, "*", "*", ".*.tmp")):
        os.unlink(path)


def compute(selection, boxes, shared_key, out, settings, log):
    """Outputs of every selected sample, reusing finished ones: (rows, failures).

    A failure stops the run unless lenient; finished samples stay on disk.
    """
    rows, todo = [], []
    for sample in selection.selected:
        task = make_task(sample, boxes, shared_key)
        row = cached_row(out, task)
        if row is None:
            todo.append(task)
        else:
            rows.append(row)
    log("%d samples: %d finished earlier (skipped), %d to prepare with %d worker(s), flow %s, face %s"
        % (len(selection.selected), len(rows), len(todo), max(1, min(settings.workers, len(todo))),
           settings.flow, settings.face))
    failures = []
    with tqdm(total=len(todo), desc="prepare", unit="clip", file=sys.stderr, disable=not todo) as bar:
        for row, problem in run_tasks(todo, out, settings):
            bar.update(1)
            if problem is None:
                rows.append(row)
            elif settings.lenient:
                failures.append(problem)
            else:
                raise InputError("%s\n(finished samples are kept; --lenient skips such samples)" % problem)
    return rows, failures


def _finish(selection, rows, skipped, truth, log, dry_run):
    """Print the true counts (and every GT difference); build the Outcome.

    ``rows`` are IndexRows, or for a dry run the selected Samples.
    """
    log(format_accounting(selection, skipped, None if dry_run else
                          {(r.dataset, r.subject, r.sample) for r in rows}))
    if skipped:
        log(format_problems(skipped, title="skipped", hint=False))
    log(("selected (dry run, nothing written):\n" if dry_run else "prepared:\n") + format_counts(rows))
    differences = []
    if truth is not None:
        differences = compare_with_gt([(r.dataset, r.subject, r.sample, r.label) for r in rows], truth)
        log("ground-truth check: %s" % ("%d difference(s)" % len(differences) if differences
                                        else "no differences"))
        for line in differences:
            log("  " + line)
    return Outcome([] if dry_run else rows, skipped, differences, selection)


def _write_selection(out, selection, rows, skipped):
    """selection.csv: every sheet row / clip folder read, and what became of it."""
    prepared = {(r.dataset, r.subject, r.sample) for r in rows}
    lines = [("dataset", "subject", "sample", "emotion", "label", "status", "reason", "source")]
    for sample in selection.selected:
        if (sample.dataset, sample.subject, sample.sample) in prepared:
            lines.append((sample.dataset, sample.subject, sample.sample, sample.emotion, sample.label,
                          "prepared", "", sample.source))
    for sample, reason in selection.excluded:
        lines.append((sample.dataset, sample.subject, sample.sample, sample.emotion,
                      "" if sample.label is None else sample.label, "excluded", reason, sample.source))
    for problem in skipped:
        lines.append((problem.dataset, problem.subject, problem.sample, "", "", "skipped",
                      problem.reason, problem.where))
    _write_csv(os.path.join(out, "selection.csv"), lines)


def _write_skipped(out, skipped):
    """skipped.csv (--lenient): one line per skipped sample or folder, with its reason."""
    lines = [("dataset", "subject", "sample", "where", "reason")]
    lines += [(p.dataset, p.subject, p.sample, p.where, p.reason) for p in skipped]
    _write_csv(os.path.join(out, "skipped.csv"), lines)


def _write_csv(path, lines):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(lines)
    write_text(path, buffer.getvalue())


def counts_json(rows):
    """Per-dataset class counts and subjects of the final rows (for the manifest)."""
    result = {}
    for dataset in DATASETS:
        mine = [r for r in rows if r.dataset == dataset]
        if mine:
            result[dataset] = {"negative": sum(r.label == 0 for r in mine),
                               "positive": sum(r.label == 1 for r in mine),
                               "surprise": sum(r.label == 2 for r in mine),
                               "total": len(mine), "subjects": len({r.subject for r in mine})}
    result["all"] = {name: sum(v[name] for v in result.values())
                     for name in ("negative", "positive", "surprise", "total", "subjects")}
    return result


def _write_manifest(out, roots, selection, rows, skipped, settings, params, boxes_path, gt_path,
                    differences, command):
    excluded = {}
    for sample, reason in selection.excluded:
        excluded.setdefault(sample.dataset, {}).setdefault(reason, 0)
        excluded[sample.dataset][reason] += 1
    files = {}
    for row in rows:
        for path in (row.apex_image, row.flow):
            files[path] = sha256_file(os.path.join(out, path))
    manifest = {
        "command": command,
        "datasets": {dataset: {"title": DATASET_TITLES[dataset], "root": os.path.abspath(root),
                               "read": selection.sources.get(dataset, {}),
                               "rows_read": selection.rows.get(dataset, 0)}
                     for dataset, root in roots.items()},
        "settings": dataclasses.asdict(settings),
        "parameters": params,
        "boxes": {"path": os.path.abspath(boxes_path), "sha256": sha256_file(boxes_path)} if boxes_path else None,
        "ground_truth": {"path": os.path.abspath(gt_path), "sha256": sha256_file(gt_path),
                         "differences": len(differences)} if gt_path else None,
        "code": {"git": provenance.git_state()["describe"], "atnet_data_sha256": code_version()},
        "versions": provenance.versions(caffe=False),
        "counts": counts_json(rows),
        "excluded": excluded,
        "skipped": len(skipped),
        "outputs": {"index.csv": sha256_file(os.path.join(out, INDEX_FILE)),
                    "selection.csv": sha256_file(os.path.join(out, "selection.csv")),
                    "files": files},
    }
    write_json(os.path.join(out, "manifest.json"), manifest)
