"""Fold-by-fold training through pycaffe, one process per fold, and the fold's predictions.

The parent (``train_run``, behind tools/train.py) checks the LMDBs and the
run folder, writes each fold's files and starts ``python -m atnet.train
FOLD_DIR`` for it: pycaffe does not reliably free a net's memory, so every
fold gets a fresh process. The child reads everything it needs from FOLD_DIR,
so a fold can be re-run by hand with that one command. Its glog output (Caffe's
own log, parseable by Caffe's tools/extra/parse_log.py) goes to train.log; it
reports each iteration's loss on stdout, which the parent turns into a
progress bar.

Run folder (``RUN_DIR``; the evaluation contract is in atnet/evaluate.py)::

    RUN_DIR/run.json                 method, setting, protocol, every fold; model, config, LMDB parameters
    RUN_DIR/<fold>/config.json       the merged configuration (and where each value came from)
    RUN_DIR/<fold>/job.json          what the child does: model, LMDB paths, weights, device, seeds
    RUN_DIR/<fold>/train_val.prototxt, deploy.prototxt, solver.prototxt   exactly what ran
    RUN_DIR/<fold>/versions.json     Python, packages, Caffe, this repository's commit
    RUN_DIR/<fold>/command.txt       the command lines
    RUN_DIR/<fold>/train.log         glog of every attempt (appended)
    RUN_DIR/<fold>/snapshots/        Caffe snapshots while training (removed once the fold is done)
    RUN_DIR/<fold>/train_curve.csv   iter, loss, lr of every iteration
    RUN_DIR/<fold>/final.caffemodel  the model: the final iterate, never one chosen on test data
    RUN_DIR/<fold>/predictions.csv   softmax scores of every held-out sample
    RUN_DIR/<fold>/DONE              written last; a fold with it is skipped

No number computed on the test fold influences training: the solver runs a
fixed number of iterations (atnet.solver) and has no test net; the final
iterate predicts the test fold once, after training.
"""
import concurrent.futures
import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import types

from tqdm import tqdm

from atnet import config as configuration
from atnet.common import InputError, atomic_path, sha256_file, write_json, write_text
from atnet.evaluate import FOLD_CURVE, FOLD_PREDICTIONS, write_run_info
from atnet.folds import select_folds, shard
from atnet.lmdb_folds import FOLDS_FILE, MANIFEST_FILE, differences, read_json, read_manifest
from atnet.paper import MODEL_ROWS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DONE_FILE = "DONE"
FINAL_MODEL = "final.caffemodel"
CURVE_PART = "train_curve.part.csv"
SNAPSHOT_DIR = "snapshots"
_PROGRESS = "@progress"
#: glog settings of a fold's process: every INFO line, on stderr (-> train.log), with the
#: month-day prefix that Caffe's tools/extra/parse_log.py reads (glog >= 0.6 adds the year).
GLOG_ENV = {"GLOG_minloglevel": "0", "GLOG_logtostderr": "1", "GLOG_log_year_in_prefix": "false"}
#: run.json keys that must match for a run folder to be continued.
_RUN_SIGNATURE = ("method", "setting", "protocol", "folds", "model", "config", "lmdb_parameters", "weights_sha256")


class TrainingFailed(InputError):
    """A fold's training process failed; the message names the fold and its log."""


# ============================================================================
# Parent: the run
# ============================================================================

def read_folds_file(lmdb_dir, protocol):
    """LMDB_DIR/folds.json, checked to be of ``protocol``."""
    path = os.path.join(lmdb_dir, FOLDS_FILE)
    if not os.path.isfile(path):
        raise InputError("%s not found: build the LMDBs first (tools/make_lmdb.py --out %s)" % (path, lmdb_dir))
    doc = read_json(path)
    if doc.get("protocol") != protocol:
        raise InputError("%s: these are %s folds, but --protocol is %s" % (path, doc.get("protocol"), protocol))
    return doc


def adopt_lmdb_parameters(config, sources, lmdb_parameters, folds_path):
    """The config with its data keys (augmentation, flow rows) taken from the LMDBs.

    Those settings were fixed when the LMDBs were written; one given
    explicitly to training that disagrees is an error, not silently ignored.
    """
    values = configuration.as_dict(config)
    for key in configuration.DATA_KEYS:
        if key not in lmdb_parameters:
            continue
        if key in sources and values[key] != lmdb_parameters[key]:
            raise InputError("%s (from %s) is %r, but the LMDBs were built with %r (%s); rebuild them with "
                             "tools/make_lmdb.py, or drop the setting" % (key, sources[key], values[key],
                                                                          lmdb_parameters[key], folds_path))
        values[key] = lmdb_parameters[key]
    return configuration.Config(**values)


def choose_folds(all_names, names=None, shard_spec=None):
    """The fold names selected by ``--folds`` and then ``--shard K/N``, in protocol order."""
    folds = select_folds([types.SimpleNamespace(name=n) for n in all_names], names)
    if shard_spec:
        folds = shard(folds, *shard_spec)
    return [fold.name for fold in folds]


def check_lmdb_folds(lmdb_dir, names, parameters):
    """Every selected fold must be complete and built with the folds.json parameters."""
    for name in names:
        manifest = read_manifest(lmdb_dir, name)
        if manifest is None:
            raise InputError("%s: fold %s has no complete LMDBs (no %s); build it with tools/make_lmdb.py"
                             % (lmdb_dir, name, MANIFEST_FILE))
        diff = differences(manifest.get("parameters", {}), parameters)
        if diff:
            raise InputError("%s: fold %s was built with other parameters than %s (%s); rebuild it"
                             % (os.path.join(lmdb_dir, name, MANIFEST_FILE), name, FOLDS_FILE, "; ".join(diff)))


def run_document(model, protocol, lmdb_dir, folds_doc, config, weights):
    """run.json's content: the paper row of the model and everything that makes two runs the same."""
    method, setting = MODEL_ROWS[model]
    return dict(method=method, setting=setting, protocol=protocol, folds=list(folds_doc["folds"]),
                model=model, config=configuration.as_dict(config), lmdb=os.path.abspath(lmdb_dir),
                lmdb_parameters=folds_doc["parameters"], weights=os.path.abspath(weights) if weights else None,
                weights_sha256=sha256_file(weights) if weights else None)


def check_run_folder(run_dir, document):
    """Refuse to continue a run folder that was started with other settings (names the differences)."""
    path = os.path.join(run_dir, "run.json")
    if not os.path.isfile(path):
        return
    recorded = read_json(path)
    diff = [key for key in _RUN_SIGNATURE if recorded.get(key) != document.get(key)]
    if diff:
        details = []
        for key in diff:
            if isinstance(recorded.get(key), dict) and isinstance(document.get(key), dict):
                details += differences(recorded[key], document[key])
            else:
                details.append("%s: %r -> %r" % (key, recorded.get(key), document.get(key)))
        raise InputError("%s: this run folder was started with other settings (%s); use another --out"
                         % (path, "; ".join(details)))


def check_gpu(device):
    """Fail clearly when ``--gpu`` cannot work: a CPU-only Caffe build aborts in set_device.

    Probed in a throw-away process, because a CPU_ONLY build ends the process
    with a glog FATAL instead of raising.
    """
    probe = "import caffe; caffe.set_mode_gpu(); caffe.set_device(%d); print('ok')" % device
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if result.returncode == 0 and "ok" in result.stdout:
        return
    if "CPU-only" in result.stderr:
        raise InputError("--gpu %d: this Caffe (%s) was built without CUDA (CPU_ONLY); build a GPU Caffe "
                         "(CAFFE_GPU=1 make setup, docs/gpu.md) or train without --gpu" % (device, _caffe_location()))
    last = [line for line in result.stderr.splitlines() if line.strip()][-1:] or ["exit code %d" % result.returncode]
    raise InputError("--gpu %d: Caffe cannot use this device (%s)" % (device, last[0]))


def _caffe_location():
    """The Caffe installation pycaffe comes from (the folder holding python/caffe)."""
    import caffe
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(caffe.__file__))))


def train_run(model, protocol, lmdb_dir, run_dir, config, sources=None, weights=None, gpu=None,
              fold_names=None, shard_spec=None, command=None, progress=True, jobs=1):
    """Train ``model`` on the selected folds of ``protocol``; returns ``{fold: 'trained' | 'skipped'}``.

    Finished folds (DONE) are skipped; an interrupted fold resumes from its
    newest complete snapshot. ``jobs`` folds train at the same time (each in
    its own process); the first failure stops new folds from starting, lets
    the running ones finish and is then raised.
    """
    from atnet.nets import variant_of
    variant_of(model)  # a clear error for an unknown model
    if weights and not os.path.isfile(weights):
        raise InputError("--weights %s: no such file" % weights)
    if jobs < 1:
        raise InputError("--jobs must be at least 1, got %d" % jobs)
    folds_doc = read_folds_file(lmdb_dir, protocol)
    folds_path = os.path.join(lmdb_dir, FOLDS_FILE)
    config = adopt_lmdb_parameters(config, sources or {}, folds_doc["parameters"], folds_path)
    names = choose_folds(folds_doc["folds"], fold_names, shard_spec)
    check_lmdb_folds(lmdb_dir, names, folds_doc["parameters"])
    document = run_document(model, protocol, lmdb_dir, folds_doc, config, weights)
    check_run_folder(run_dir, document)
    if gpu is not None:
        check_gpu(gpu)
    write_run_info(run_dir, **document)
    status = {name: "skipped" for name in names if os.path.isfile(os.path.join(run_dir, name, DONE_FILE))}
    todo = [name for name in names if name not in status]
    versions = collect_versions() if todo else None
    env = child_environment(jobs)

    def train_one(name, slot):
        job = prepare_fold(os.path.join(run_dir, name), name, model, lmdb_dir, config, sources or {}, weights,
                           gpu, versions, command)
        run_fold_process(os.path.join(run_dir, name), job, env, progress, position=slot)

    overall = tqdm(total=len(names), initial=len(status), desc="train %s %s" % (model, protocol), unit="fold",
                   disable=not progress)
    try:
        for name in run_parallel(todo, train_one, jobs, overall):
            status[name] = "trained"
    finally:
        overall.close()
    return {name: status[name] for name in names}


def run_parallel(names, work, jobs, bar):
    """Call ``work(name, slot)`` for every name, ``jobs`` at a time; yield names as they finish.

    ``slot`` (1..jobs) places the fold's progress bar under the overall one.
    """
    free_slots = list(range(jobs, 0, -1))
    pending = iter(names)
    failure = None
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        running = {}

        def start_next():
            name = next(pending, None)
            if name is not None:
                slot = free_slots.pop()
                running[pool.submit(work, name, slot)] = (name, slot)

        for _ in range(jobs):
            start_next()
        while running:
            done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                name, slot = running.pop(future)
                free_slots.append(slot)
                if future.exception() is not None:
                    failure = failure or future.exception()
                    continue
                bar.update(1)
                yield name
                if failure is None:
                    start_next()
    if failure is not None:
        raise failure


def child_environment(jobs):
    """The environment of the fold processes: glog to stderr at INFO, unbuffered stdout, and, when
    several folds share the machine and the user set nothing, the CPU cores split between them
    (OpenBLAS threads otherwise spin against each other)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", **GLOG_ENV)
    if jobs > 1 and "OPENBLAS_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in os.environ:
        env["OPENBLAS_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    return env


def fold_solver(config, fold, train_val_path, snapshot_prefix, train_size, gpu):
    """The fold's SolverParameter: the configured schedule, capped by ``max_iter`` with the lr
    steps scaled to the cap (so a quick run keeps the schedule's shape), snapshots every
    ``snapshot_interval``, the solver seed derived from the run seed and the fold.

    The solver gets no test net: the deploy net predicts the test set once
    after training, so nothing of the test fold is even computed during it
    (and each fold saves building a second copy of the network).
    """
    from atnet.solver import make_solver
    schedule = "epochs" if config.schedule == "paper" else "release"
    common = dict(seed=configuration.fold_seed(config.seed, fold, "solver"), train_size=train_size,
                  batch_size=config.batch_size, schedule=schedule,
                  step_epochs=config.step_epochs, max_epochs=config.epochs,
                  solver_mode="CPU" if gpu is None else "GPU", display=config.display)
    solver = make_solver(train_val_path, snapshot_prefix, **common)
    if config.max_iter is not None and config.max_iter < solver.max_iter:
        full_stepsize, full_max_iter = solver.stepsize, solver.max_iter
        solver = make_solver(train_val_path, snapshot_prefix, max_iter=config.max_iter, **common)
        solver.stepsize = max(1, round(full_stepsize * solver.max_iter / full_max_iter))
    solver.snapshot = min(config.snapshot_interval, solver.max_iter)
    return solver


def prepare_fold(fold_dir, fold, model, lmdb_dir, config, sources, weights, gpu, versions, command):
    """Write the fold's config, job, prototxts, solver, versions and command line; return the job."""
    from atnet.nets import deploy, train_val, write_prototxt
    from atnet.solver import write_solver
    fold_dir = os.path.abspath(fold_dir)
    lmdb_fold = os.path.abspath(os.path.join(lmdb_dir, fold))
    manifest = read_manifest(lmdb_dir, fold)
    streams = {name: os.path.join(lmdb_fold, name) for name in ("train_apex", "train_flow", "test_apex", "test_flow")}
    os.makedirs(os.path.join(fold_dir, SNAPSHOT_DIR), exist_ok=True)
    paths = {name: os.path.join(fold_dir, name)
             for name in ("train_val.prototxt", "deploy.prototxt", "solver.prototxt")}
    write_prototxt(paths["train_val.prototxt"], train_val(
        model, streams["train_apex"], streams["train_flow"], streams["test_apex"], streams["test_flow"],
        batch_size=config.batch_size, test_batch_size=1), header="ATNet %s, fold %s (generated by atnet/train.py)"
        % (model, fold))
    write_prototxt(paths["deploy.prototxt"], deploy(model), header="ATNet %s deploy net" % model)
    solver = fold_solver(config, fold, paths["train_val.prototxt"], os.path.join(fold_dir, SNAPSHOT_DIR, model),
                         manifest["train"]["records"], gpu)
    write_solver(paths["solver.prototxt"], solver, header="fold %s: %s schedule, %d training records, batch %d"
                 % (fold, config.schedule, manifest["train"]["records"], config.batch_size))
    job = {"model": model, "fold": fold, "lmdb": lmdb_fold, "weights": os.path.abspath(weights) if weights else None,
           "gpu": gpu, "max_iter": solver.max_iter, "snapshot_prefix": solver.snapshot_prefix,
           "keep_snapshots": config.keep_snapshots, "solver_seed": solver.random_seed,
           "lmdb_seeds": manifest.get("seeds")}
    write_json(os.path.join(fold_dir, "config.json"),
               {"config": configuration.as_dict(config), "sources": dict(sources)})
    write_json(os.path.join(fold_dir, "job.json"), job)
    write_json(os.path.join(fold_dir, "versions.json"), versions)
    write_text(os.path.join(fold_dir, "command.txt"), "%s\n%s\n" % (
        command or "(called from Python)", shlex.join(child_command(fold_dir))))
    return job


def child_command(fold_dir):
    return [sys.executable, "-m", "atnet.train", os.path.abspath(fold_dir)]


def run_fold_process(fold_dir, job, env, progress=True, position=1):
    """Run the fold's child process; its glog goes to train.log, its progress to a tqdm bar."""
    log_path = os.path.join(fold_dir, "train.log")
    with open(log_path, "ab") as log:
        process = subprocess.Popen(child_command(fold_dir), stdout=subprocess.PIPE, stderr=log, env=env,
                                   text=True, cwd=fold_dir)
        bar = tqdm(total=job["max_iter"], desc=job["fold"], unit="iter", leave=False, position=position,
                   disable=not progress)
        try:
            for line in process.stdout:
                fields = line.split()
                if fields and fields[0] == _PROGRESS and len(fields) == 3:
                    bar.n = int(fields[1]) + 1
                    bar.set_postfix(loss=fields[2], refresh=True)
                elif line.strip():
                    tqdm.write(line.rstrip())
        finally:
            code = process.wait()
            bar.close()
    if code != 0:
        raise TrainingFailed("fold %s: training failed (exit code %d); see %s. Last lines:\n%s"
                             % (job["fold"], code, log_path, _tail(log_path)))


def _tail(path, lines=8):
    with open(path, errors="replace") as handle:
        return "".join(handle.readlines()[-lines:]).rstrip()


def collect_versions():
    """Python, the pinned packages, Caffe (version, location, source commit) and this repository's commit."""
    import caffe
    packages = {}
    requirements = os.path.join(REPO, "requirements.txt")
    if os.path.isfile(requirements):
        with open(requirements) as handle:
            for line in handle:
                name = re.split(r"[=<>~!\[ ;#]", line.strip(), maxsplit=1)[0]
                if name:
                    try:
                        packages[name] = importlib.metadata.version(name)
                    except importlib.metadata.PackageNotFoundError:
                        packages[name] = None
    caffe_root = _caffe_location()
    build_info = os.path.join(caffe_root, "build-info.txt")  # written by newer setup/setup.sh builds
    return {
        "python": sys.version.split()[0],
        "packages": packages,
        "caffe": {"version": getattr(caffe, "__version__", None), "path": caffe_root,
                  # setup/setup.sh builds BVLC Caffe 99bd997 into ~/.cache/atnet/caffe/cpu-<key>
                  "commit": "99bd997" if re.search(r"atnet/caffe/[a-z]+-[0-9a-f]+$", caffe_root) else None,
                  "build_info_sha256": sha256_file(build_info) if os.path.isfile(build_info) else None},
        "repository": _git_state(),
    }


def _git_state():
    def git(*args):
        result = subprocess.run(["git", "-C", REPO] + list(args), capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else None
    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except OSError:  # no git installed (e.g. a slim image)
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": None if dirty is None else bool(dirty)}


# ============================================================================
# Child: one fold in its own process (python -m atnet.train FOLD_DIR)
# ============================================================================

def snapshot_iterations(snapshot_dir, prefix):
    """``[(iteration, solverstate path)]`` of the snapshots on disk, newest first."""
    pattern = re.compile(re.escape(os.path.basename(prefix)) + r"_iter_(\d+)\.solverstate$")
    found = []
    for name in os.listdir(snapshot_dir) if os.path.isdir(snapshot_dir) else ():
        match = pattern.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(snapshot_dir, name)))
    return sorted(found, reverse=True)


def snapshot_is_complete(state_path, iteration):
    """True when a snapshot can be restored: the .solverstate and the .caffemodel it names parse,
    agree on the iteration and hold one history blob per parameter blob, every blob full.

    Caffe writes the .caffemodel and then the .solverstate, neither atomically:
    a process killed while writing leaves a truncated newest snapshot.
    """
    from caffe.proto import caffe_pb2
    from google.protobuf.message import DecodeError
    try:
        with open(state_path, "rb") as handle:
            state = caffe_pb2.SolverState.FromString(handle.read())
        if state.iter != iteration or not os.path.isfile(state.learned_net):
            return False
        with open(state.learned_net, "rb") as handle:
            model = caffe_pb2.NetParameter.FromString(handle.read())
    except (OSError, DecodeError):
        return False
    blobs = [blob for layer in model.layer for blob in layer.blobs]
    return len(blobs) == len(state.history) and all(
        _blob_is_full(blob) for blob in list(blobs) + list(state.history))


def _blob_is_full(blob):
    size = 1
    for dim in blob.shape.dim:
        size *= dim
    return len(blob.data) == size


def newest_complete_snapshot(prefix):
    """(iteration, solverstate path) of the newest restorable snapshot, or None."""
    for iteration, path in snapshot_iterations(os.path.dirname(prefix), prefix):
        if snapshot_is_complete(path, iteration):
            return iteration, path
    return None


def prune_snapshots(prefix, keep):
    """Delete all but the newest ``keep`` complete snapshots (0 keeps all); incomplete older ones go too."""
    if keep <= 0:
        return
    kept = 0
    for iteration, path in snapshot_iterations(os.path.dirname(prefix), prefix):
        if kept < keep and snapshot_is_complete(path, iteration):
            kept += 1
            continue
        if kept >= keep:
            for stale in (path, "%s_iter_%d.caffemodel" % (prefix, iteration)):
                if os.path.exists(stale):
                    os.unlink(stale)


class CurveRecorder:
    """Collects (iter, loss, lr) of every iteration into train_curve.part.csv while training.

    On a resume the rows of iterations after the restored snapshot (which
    will be run again) are dropped first; ``finish`` writes train_curve.csv.
    """

    def __init__(self, fold_dir, start_iter):
        self.part = os.path.join(fold_dir, CURVE_PART)
        self.final = os.path.join(fold_dir, FOLD_CURVE)
        rows = [row for row in self._read() if row[0] < start_iter]
        with atomic_path(self.part) as tmp:
            with open(tmp, "w") as handle:
                handle.writelines("%d,%.9g,%.9g\n" % row for row in rows)
        self.handle = open(self.part, "a")

    def _read(self):
        rows = []
        if os.path.isfile(self.part):
            with open(self.part) as handle:
                for line in handle:
                    fields = line.strip().split(",")
                    try:  # a process killed mid-line leaves a short last line
                        rows.append((int(fields[0]), float(fields[1]), float(fields[2])))
                    except (IndexError, ValueError):
                        continue
        return rows

    def add(self, iteration, loss, lr):
        self.handle.write("%d,%.9g,%.9g\n" % (iteration, loss, lr))
        self.handle.flush()

    def finish(self):
        self.handle.close()
        rows = sorted({row[0]: row for row in self._read()}.values())
        lines = ["iter,loss,lr\n"] + ["%d,%.9g,%.9g\n" % row for row in rows]
        write_text(self.final, "".join(lines))
        os.unlink(self.part)


def train_fold(fold_dir):
    """Train (or resume) one fold, then predict its test set; the body of the child process."""
    import caffe
    fold_dir = os.path.abspath(fold_dir)
    job = read_json(os.path.join(fold_dir, "job.json"))
    caffe.init_log(0, True)
    if job["gpu"] is None:
        caffe.set_mode_cpu()
    else:
        caffe.set_mode_gpu()
        caffe.set_device(job["gpu"])
    started = time.time()
    final_model = os.path.join(fold_dir, FINAL_MODEL)
    resumed = None
    if not os.path.isfile(final_model):
        resumed = solve(caffe, fold_dir, job)
        last = "%s_iter_%d.caffemodel" % (job["snapshot_prefix"], job["max_iter"])
        os.replace(last, final_model)
    predictions = predict(caffe, fold_dir, job, final_model)
    from atnet.predictions import write_predictions
    write_predictions(os.path.join(fold_dir, FOLD_PREDICTIONS), predictions)
    if os.path.isfile(os.path.join(fold_dir, CURVE_PART)):
        CurveRecorder(fold_dir, job["max_iter"]).finish()
    correct = sum(p.pred == p.label for p in predictions)
    write_json(os.path.join(fold_dir, DONE_FILE), {
        "fold": job["fold"], "iterations": job["max_iter"], "resumed_from_iteration": resumed,
        "test_samples": len(predictions), "test_correct": correct,
        "final_model_sha256": sha256_file(final_model), "seconds_last_attempt": round(time.time() - started, 1)})
    shutil.rmtree(os.path.join(fold_dir, SNAPSHOT_DIR), ignore_errors=True)
    return 0


def solve(caffe, fold_dir, job):
    """Run the solver to max_iter, from the newest complete snapshot if there is one.

    Returns the iteration resumed from (None for a fresh start). Initial
    weights (``--weights``) are loaded by layer name on a fresh start only: a
    resumed fold has its own trained weights. After a resume Caffe's Data
    layers start again at their first record, as with ``caffe train
    --snapshot``; the total number of iterations is unchanged.
    """
    snapshot = newest_complete_snapshot(job["snapshot_prefix"])
    start = snapshot[0] if snapshot else 0
    if start >= job["max_iter"]:
        return start
    solver = caffe.get_solver(os.path.join(fold_dir, "solver.prototxt"))
    if snapshot is None and job["weights"]:
        solver.net.copy_from(job["weights"])
    curve = CurveRecorder(fold_dir, start)
    interval = _snapshot_interval(fold_dir)

    def on_start():
        if solver.iter > start and solver.iter % interval == 0:
            prune_snapshots(job["snapshot_prefix"], job["keep_snapshots"])

    def on_gradients_ready():
        from atnet.nets import LOSS_BLOB
        loss = float(solver.net.blobs[LOSS_BLOB].data)
        curve.add(solver.iter, loss, solver.lr)
        print("%s %d %.6g" % (_PROGRESS, solver.iter, loss), flush=True)

    solver.add_callback(on_start, on_gradients_ready)
    if snapshot:
        solver.solve(snapshot[1])
    else:
        solver.solve()
    curve.finish()
    return snapshot[0] if snapshot else None


def _snapshot_interval(fold_dir):
    from caffe.proto import caffe_pb2
    from google.protobuf import text_format
    with open(os.path.join(fold_dir, "solver.prototxt")) as handle:
        return text_format.Parse(handle.read(), caffe_pb2.SolverParameter()).snapshot


def predict(caffe, fold_dir, job, weights):
    """Softmax scores of every test record, batch 1, in the manifest's order, through the deploy net."""
    from atnet.nets import APEX_BLOB, FLOW_BLOB, PROB_BLOB, variant_of
    from atnet.predictions import make_prediction
    from atnet.records import clip_key_of, read_record_pairs
    variant = variant_of(job["model"])
    samples = read_json(os.path.join(job["lmdb"], MANIFEST_FILE))["test"]["samples"]
    net = caffe.Net(os.path.join(fold_dir, "deploy.prototxt"), caffe.TEST, weights=weights)
    records = read_record_pairs(os.path.join(job["lmdb"], "test_apex"), os.path.join(job["lmdb"], "test_flow"))
    predictions = []
    for position, (key, label, apex, flow) in enumerate(records):
        if position >= len(samples) or clip_key_of(key) != samples[position]["key"] \
                or label != samples[position]["label"]:
            raise InputError("%s: test record %s does not match the manifest's sample %d"
                             % (job["lmdb"], key, position))
        if variant.uses_apex:
            net.blobs[APEX_BLOB].data[0, 0] = apex
        if variant.uses_flow:
            net.blobs[FLOW_BLOB].data[0, 0] = flow
        scores = net.forward()[PROB_BLOB][0].ravel()
        predictions.append(make_prediction(samples[position], scores))
    if len(predictions) != len(samples):
        raise InputError("%s: %d test records, the manifest lists %d" % (job["lmdb"], len(predictions), len(samples)))
    return predictions


def main(argv=None):
    """``python -m atnet.train FOLD_DIR``: the child process of one fold."""
    argv = sys.argv[1:] if argv is None else argv
    for name, value in GLOG_ENV.items():  # read by glog when pycaffe loads it
        os.environ.setdefault(name, value)
    if len(argv) != 1 or not os.path.isfile(os.path.join(argv[0], "job.json")):
        raise InputError("usage: python -m atnet.train FOLD_DIR (a fold folder written by tools/train.py)")
    return train_fold(argv[0])


if __name__ == "__main__":
    from atnet.common import run_cli
    run_cli(main)
