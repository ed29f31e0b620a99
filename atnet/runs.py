"""The run folder, one home for its contract: file names, run.json, the
"same settings?" check and DONE.

Written by tools/train.py (atnet.train, one process per fold in atnet.fold)
and by the baselines tool (atnet.baselines.runner); read by tools/evaluate.py
(atnet.evaluate) and tools/compare_paper.py (atnet.paper)::

    RUN_DIR/run.json                 method, setting (the paper's row: atnet.variants), protocol,
                                     folds (every expected fold name), plus what makes two runs
                                     the same (training: model, config, LMDB parameters, weights;
                                     baselines: "baseline", the feature and SVM settings) and versions
    RUN_DIR/<fold>/predictions.csv   softmax scores of every held-out sample; present once the fold
                                     has finished (what evaluation pools)
    RUN_DIR/<fold>/train_curve.csv   optional; columns iter, loss, lr (more allowed)

A training fold also holds (atnet.train writes them, atnet.fold runs them)::

    config.json                      the merged configuration (and where each value came from)
    job.json                         what the fold's process does (atnet.fold.FoldJob)
    train_val.prototxt, deploy.prototxt, solver.prototxt   exactly what ran
    versions.json                    Python, packages, Caffe build, this repository's commit
    command.txt                      the command lines
    train.log                        glog of every attempt (appended)
    snapshots/                       Caffe snapshots while training (emptied once the fold is done; the
                                     folder stays, so `caffe train -solver solver.prototxt` runs as is)
    final.caffemodel                 the model: the final iterate, never one chosen on test data
    DONE                             written last; a fold with it is skipped on a re-run

A baseline fold holds fold.json (chosen C, inner-LOSO scores, sizes) and its
predictions.csv, written last, which marks it finished. Reports
(metrics.json and the rest, atnet.evaluate) go into RUN_DIR.
"""
import dataclasses
import os
import sys

from atnet.common import InputError, read_json, sha256_file, write_json
from atnet.folds import PROTOCOLS

RUN_FILE = "run.json"
FOLD_PREDICTIONS = "predictions.csv"
FOLD_CURVE = "train_curve.csv"
CURVE_COLUMNS = ("iter", "loss", "lr")
CURVE_PART = "train_curve.part.csv"
CONFIG_FILE = "config.json"
JOB_FILE = "job.json"
TRAIN_VAL_FILE = "train_val.prototxt"
DEPLOY_FILE = "deploy.prototxt"
SOLVER_FILE = "solver.prototxt"
VERSIONS_FILE = "versions.json"
COMMAND_FILE = "command.txt"
TRAIN_LOG = "train.log"
SNAPSHOT_DIR = "snapshots"
FINAL_MODEL = "final.caffemodel"
DONE_FILE = "DONE"
BASELINE_FOLD_INFO = "fold.json"
#: The keys of a fold's held-out samples, written before its predictions (training and baselines):
#: evaluation refuses predictions that are not exactly these.
TEST_SAMPLES_FILE = "test_samples.json"
METRICS_FILE = "metrics.json"


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """The part of run.json that evaluation relies on."""
    method: str
    setting: str
    protocol: str
    folds: tuple


def write_run_info(run_dir, method, setting, protocol, folds, **extra):
    """Write RUN_DIR/run.json (atomically) in the contract's form, plus ``extra`` keys."""
    info = dict(extra, method=method, setting=setting, protocol=protocol, folds=list(folds))
    check_run_info(info, os.path.join(run_dir, RUN_FILE))
    write_json(os.path.join(run_dir, RUN_FILE), info)


def read_run_info(run_dir):
    """RUN_DIR/run.json as a RunInfo; InputError naming the file on any problem."""
    path = os.path.join(run_dir, RUN_FILE)
    if not os.path.isfile(path):
        raise InputError("%s not found: %s is not a run directory" % (path, run_dir))
    info = read_json(path)
    check_run_info(info, path)
    return RunInfo(info["method"], info["setting"], info["protocol"], tuple(info["folds"]))


def check_run_info(info, path):
    """InputError naming ``path`` unless ``info`` has a method, a setting, a protocol and its folds."""
    if not isinstance(info, dict):
        raise InputError("%s: expected a JSON object" % path)
    for key in ("method", "setting"):
        if not isinstance(info.get(key), str) or not info[key].strip():
            raise InputError("%s: %r must be a non-empty string" % (path, key))
    if info.get("protocol") not in PROTOCOLS:
        raise InputError("%s: 'protocol' is %r, expected one of %s"
                         % (path, info.get("protocol"), ", ".join(PROTOCOLS)))
    folds = info.get("folds")
    if not isinstance(folds, list) or not folds or not all(isinstance(f, str) for f in folds):
        raise InputError("%s: 'folds' must be a non-empty list of fold names" % path)
    wrong = [f for f in folds if not f.startswith(info["protocol"] + "-")]
    if wrong or len(set(folds)) != len(folds):
        raise InputError("%s: 'folds' must be distinct %s fold names; wrong: %s"
                         % (path, info["protocol"], ", ".join(wrong) or "a repeated name"))


# --- the one "same settings?" check -------------------------------------------

def setting_differences(recorded, wanted, keys=None, prefix=""):
    """``key: recorded -> wanted`` for every key that differs (for messages).

    ``keys`` limits the comparison (default: every key of either side);
    nested dicts are compared key by key and named ``outer.inner``.
    """
    keys = sorted(set(recorded) | set(wanted)) if keys is None else keys
    found = []
    for key in keys:
        old, new = recorded.get(key), wanted.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            found += setting_differences(old, new, prefix="%s%s." % (prefix, key))
        else:
            found.append("%s%s: %r -> %r" % (prefix, key, old, new))
    return found


def check_same_settings(path, recorded, wanted, keys=None, what="holds other settings",
                        advice="use another --out"):
    """InputError naming ``path`` and every difference unless ``recorded`` matches ``wanted``.

    The one check before a stage continues work in an existing folder
    (a run folder, an LMDB folder or one of its folds): continuing with other
    settings would mix two configurations in one result.
    """
    if not isinstance(recorded, dict):
        raise InputError("%s: expected a JSON object" % path)
    diff = setting_differences(recorded, wanted, keys)
    if diff:
        raise InputError("%s: %s (%s); %s" % (path, what, "; ".join(diff), advice))


def check_run_folder(run_dir, document, keys, what="this run folder was started with other settings",
                     advice="use another --out"):
    """Refuse to continue a run folder whose run.json differs from ``document`` in ``keys``.

    Returns True when a run.json was there (and matches), False for a new folder.
    """
    path = os.path.join(run_dir, RUN_FILE)
    if not os.path.isfile(path):
        return False
    check_same_settings(path, read_json(path), document, keys, what, advice)
    return True


# --- DONE ------------------------------------------------------------------------

def fold_is_done(fold_dir):
    """True once a training fold has written DONE (its last file) and its final model and
    predictions are still what DONE recorded.

    A DONE that no longer matches is removed with a note naming what differs,
    so the fold is redone, the missing part only: a final model that is still
    right only predicts again (atnet.fold); a wrong one is removed and trained again.
    """
    path = os.path.join(fold_dir, DONE_FILE)
    if not os.path.isfile(path):
        return False
    problem = done_problem(fold_dir)
    if problem is None:
        return True
    print("note: %s: %s; redoing the fold" % (path, problem), file=sys.stderr)
    os.unlink(path)
    if "final.caffemodel" in problem and os.path.isfile(os.path.join(fold_dir, FINAL_MODEL)):
        os.unlink(os.path.join(fold_dir, FINAL_MODEL))
    return False


_checked_done = {}


def _stat_key(fold_dir):
    key = [os.path.abspath(fold_dir)]
    for name in (DONE_FILE, FINAL_MODEL, FOLD_PREDICTIONS):
        try:
            stat = os.stat(os.path.join(fold_dir, name))
            key.append((stat.st_size, stat.st_mtime_ns, stat.st_ino))
        except OSError:
            key.append(None)
    return tuple(key)


def done_problem(fold_dir):
    """What differs between a fold's DONE and its files (None when nothing does).

    Hashing a final model costs a few ms per MB, so a fold whose files have
    not changed since this process checked them is not hashed again.
    """
    key = _stat_key(fold_dir)
    if key not in _checked_done:
        _checked_done[key] = _done_problem(fold_dir)
    return _checked_done[key]


def _done_problem(fold_dir):
    try:
        done = read_json(os.path.join(fold_dir, DONE_FILE))
    except InputError as err:
        return str(err)
    if not isinstance(done, dict):
        return "not a JSON object"
    for name, key in ((FINAL_MODEL, "final_model_sha256"), (FOLD_PREDICTIONS, "predictions_sha256")):
        if key not in done:
            continue                    # recorded by newer folds only
        file_path = os.path.join(fold_dir, name)
        if not os.path.isfile(file_path):
            return "%s is missing" % name
        if sha256_file(file_path) != done[key]:
            return "%s differs from the one DONE recorded" % name
    return None


def write_done(fold_dir, summary):
    """Mark a training fold finished: DONE holds its summary (iterations, resume point, test counts)."""
    write_json(os.path.join(fold_dir, DONE_FILE), summary)


# --- the held-out samples a fold must predict ------------------------------------

def write_test_samples(fold_dir, fold, keys):
    """Record the clip keys a fold must predict (evaluation checks its predictions against them)."""
    write_json(os.path.join(fold_dir, TEST_SAMPLES_FILE), {"fold": fold, "samples": list(keys)})


def read_test_samples(fold_dir):
    """The clip keys a fold must predict, or None for a fold that records none (older folders)."""
    path = os.path.join(fold_dir, TEST_SAMPLES_FILE)
    if not os.path.isfile(path):
        return None
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("samples"), list):
        raise InputError("%s: expected {\"fold\": ..., \"samples\": [clip keys]}" % path)
    return doc["samples"]
