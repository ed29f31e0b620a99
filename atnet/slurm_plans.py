"""The plans tools/slurm.py submits: which array tasks a run has and what each runs.

Every task runs one of this repository's own tools with the options a user
would type, so a task does exactly what the same command does on a
workstation and writes where it would:

- training (``train_plan``): one task per fold and seed, ``tools/train.py
  ... --out RUN --folds FOLD``; the array index is ``seed position x number
  of folds + the fold's position in the LMDBs' folds.json``, so an index
  always means the same fold, whichever folds a submission selects. With
  several seeds each seed gets its own run folder RUN_DIR/seed-N. The final
  job is tools/evaluate.py on each run folder (and tools/compare_paper.py).
- the baselines (``baselines_plan``): one task per paper configuration
  (LBP-TOP / HOOF, TIM 10 / 64, P or bins 4 / 8), each running that
  configuration under every protocol (the second reuses the feature cache);
  the final job compares all of them with the paper.
- pre-training (``pretrain_plan``): one task, tools/pretrain.py.

Inputs are checked here, before anything is submitted: a mistake found by
the first task after hours in the queue costs far more than one found now.
"""
import os
import sys

from atnet import config as configuration
from atnet import runs
from atnet.common import InputError, read_json
from atnet.folds import PROTOCOLS
from atnet.lmdb_folds import FOLDS_FILE, read_manifest
from atnet.slurm_scripts import CPUS_WORD, Plan, Task

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tool(name):
    """The absolute path of tools/<name>.py (tasks never rely on the current directory)."""
    return os.path.join(REPO, "tools", name + ".py")


def protocol_folds(lmdb_dir, protocol):
    """Every fold name of LMDB_DIR/folds.json, in its order, checked to be of ``protocol``."""
    path = os.path.join(lmdb_dir, FOLDS_FILE)
    if not os.path.isfile(path):
        raise InputError("%s not found: build the LMDBs first (tools/make_lmdb.py --out %s)" % (path, lmdb_dir))
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("folds"), list) or not doc["folds"]:
        raise InputError("%s: expected a JSON object with a non-empty 'folds' list" % path)
    if doc.get("protocol") != protocol:
        raise InputError("%s: these are %s folds, but --protocol is %s" % (path, doc.get("protocol"), protocol))
    return list(doc["folds"])


def select(all_folds, fold_options, lmdb_dir):
    """The folds named by ``--folds a,b --folds c`` (all when none), in folds.json's order."""
    if not fold_options:
        return list(all_folds)
    wanted = [name.strip() for option in fold_options for name in option.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in all_folds]
    if unknown:
        raise InputError("--folds %s: not a fold of %s (its folds: %s)" % (
            ", ".join(unknown), os.path.join(lmdb_dir, FOLDS_FILE), ", ".join(all_folds)))
    return [name for name in all_folds if name in wanted]


def parse_seeds(text):
    """``0,1,2`` -> [0, 1, 2]: distinct non-negative run seeds."""
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise InputError("--seeds %r: expected comma-separated whole numbers, e.g. 0,1,2" % text) from None
    if any(seed < 0 for seed in seeds) or len(set(seeds)) != len(seeds):
        raise InputError("--seeds %r: seeds must be distinct and not negative" % text)
    return seeds


def train_plan(model, protocol, lmdb_dir, run_dir, iters=None, fold_options=None, weights=None, config_file=None,
               assignments=(), seeds=None, gpu=None, evaluate=False, compare=False, python=None,
               weights_later=False):
    """The plan of training ``model`` on the folds of ``protocol`` (one task per fold and seed)."""
    lmdb_dir, run_dir = os.path.abspath(lmdb_dir), os.path.abspath(run_dir)
    all_folds = protocol_folds(lmdb_dir, protocol)
    folds = select(all_folds, fold_options, lmdb_dir)
    missing = [name for name in folds if read_manifest(lmdb_dir, name) is None]
    if missing:
        raise InputError("%s: fold(s) %s have no complete LMDBs; build them with tools/make_lmdb.py"
                         % (lmdb_dir, ", ".join(missing)))
    if weights and not weights_later and not os.path.isfile(weights):
        raise InputError("--weights %s: no such file" % weights)
    configuration.load_config(config_file, assignments, {"max_iter": iters})  # errors now, not in the queue
    if seeds and any(a.split("=", 1)[0].strip() == "seed" for a in assignments):
        raise InputError("--seeds and --set seed=... both set the seed; give one of them")
    common = [python or sys.executable, tool("train"), "--model", model, "--protocol", protocol, "--lmdb", lmdb_dir]
    common += ["--iters", str(iters)] if iters is not None else []
    common += ["--weights", os.path.abspath(weights)] if weights else []
    common += ["--config", os.path.abspath(config_file)] if config_file else []
    for assignment in assignments:
        common += ["--set", assignment]
    common += ["--gpu", str(gpu)] if gpu is not None else []
    common.append("--no-progress")
    run_dirs = {seed: os.path.join(run_dir, "seed-%d" % seed) for seed in seeds} if seeds else {None: run_dir}
    tasks = []
    for position, (seed, seed_dir) in enumerate(run_dirs.items()):
        for name in folds:
            fold_dir = os.path.join(seed_dir, name)
            command = common + ["--out", seed_dir, "--folds", name] + (["--set", "seed=%d" % seed] if seeds else [])
            log = os.path.join(fold_dir, runs.TRAIN_LOG)
            tasks.append(Task(position * len(all_folds) + all_folds.index(name),
                              name if seed is None else "%s seed %d" % (name, seed), (tuple(command),),
                              (os.path.join(fold_dir, runs.DONE_FILE),), (log,), log))
    final, final_done = [], []
    if evaluate or compare:
        partial = ["--partial"] if len(folds) < len(all_folds) else []
        for seed_dir in run_dirs.values():
            final.append((python or sys.executable, tool("evaluate"), seed_dir, *partial))
            final_done.append(os.path.join(seed_dir, runs.METRICS_FILE))
    if compare:
        final.append((python or sys.executable, tool("compare_paper"), *run_dirs.values(), "--out", run_dir))
        final_done.append(os.path.join(run_dir, "comparison.md"))
    return Plan("train", "atnet-%s-%s" % (model, protocol), run_dir, tuple(tasks), tuple(final), tuple(final_done))


def baselines_plan(out_dir, prepared=None, features=None, labels=None, protocols=PROTOCOLS, extra=(),
                   compare=False, python=None):
    """The plan of the paper's eight baseline configurations (one task each, every protocol in it)."""
    from atnet.baselines.features import folder_name
    from atnet.baselines.runner import PAPER_CONFIGURATIONS
    if (prepared is None) == (features is None):
        raise InputError("give exactly one of --prepared DIR and --features DIR")
    if features and not labels:
        raise InputError("--features needs --labels FILE")
    for path in (prepared, features, labels):
        if path and not os.path.exists(path):
            raise InputError("%s: no such file or folder" % path)
    out_dir = os.path.abspath(out_dir)
    python = python or sys.executable
    tasks, run_dirs = [], []
    for index, (method, frames, size) in enumerate(PAPER_CONFIGURATIONS):
        name = folder_name(method, frames, size, size)
        source = ["--prepared", os.path.abspath(prepared)] if prepared else \
            ["--features", os.path.join(os.path.abspath(features), name), "--labels", os.path.abspath(labels)]
        commands, done = [], []
        for protocol in protocols:
            run_dir = os.path.join(out_dir, "%s-%s" % (name, protocol))
            commands.append((python, tool("baselines"), *source, "--protocol", protocol, "--out", run_dir,
                             "--method", method, "--tim", str(frames), "--P" if method == "lbptop" else "--bins",
                             str(size), "--jobs", CPUS_WORD, *extra))
            done.append(os.path.join(run_dir, runs.METRICS_FILE))
            run_dirs.append(run_dir)
        tasks.append(Task(index, name, tuple(commands), tuple(done)))
    final = [(python, tool("compare_paper"), *run_dirs, "--out", out_dir)] if compare else []
    return Plan("baselines", "atnet-baselines", out_dir, tuple(tasks), tuple(final),
                (os.path.join(out_dir, "comparison.md"),) if compare else ())


def pretrain_plan(prepared, out_dir, extra=(), gpu=None, python=None):
    """The plan of pre-training the spatial stream (tools/pretrain.py, one task)."""
    if not os.path.isfile(tool("pretrain")):
        raise InputError("%s is not in this checkout: pre-training cannot be submitted yet" % tool("pretrain"))
    if not os.path.isdir(prepared):
        raise InputError("--prepared %s: no such folder" % prepared)
    out_dir = os.path.abspath(out_dir)
    command = [python or sys.executable, tool("pretrain"), "--prepared", os.path.abspath(prepared), "--out", out_dir,
               "--no-progress"] + (["--gpu", str(gpu)] if gpu is not None else []) + list(extra)
    done = tuple(os.path.join(out_dir, name) for name in ("pretrained.caffemodel", "report.json"))
    log = os.path.join(out_dir, runs.TRAIN_LOG)
    return Plan("pretrain", "atnet-pretrain", out_dir, (Task(0, "pretrain", (tuple(command),), done, (log,), log),))
