"""Fold-by-fold training of a run: the parent process behind tools/train.py.

``train_run`` checks the LMDBs (atnet.lmdb_folds) and the run folder
(atnet.runs, which also lists every file of a fold), writes each fold's
config, job (atnet.fold.FoldJob), prototxts, solver (atnet.solver), versions
(atnet.provenance) and command line, and starts ``python -m atnet.fold
FOLD_DIR`` for it: one process per fold, because pycaffe does not reliably
free a net's memory. Folds run ``jobs`` at a time; the fold's glog goes to
its train.log and its progress lines become tqdm bars; each finished fold
leaves a line (atnet.train_report). Finished folds (DONE) are skipped; an
interrupted fold resumes from its newest complete snapshot.

No number computed on the test fold influences training: the solver runs a
fixed number of iterations and has no test net; the final iterate predicts
the test fold once, after training (atnet.fold).
"""
import concurrent.futures
import os
import shlex
import signal
import subprocess
import sys
import types

from tqdm import tqdm

from atnet import config as configuration
from atnet import fold as fold_process
from atnet import parallel, provenance, runs
from atnet.child_process import GLOG_ENV, run_with_progress
from atnet.common import InputError, sha256_file, write_json, write_text
from atnet.folds import select_folds, shard
from atnet.integrity import caffe_failure, verify_fold_lmdbs
from atnet.locks import folder_lock
from atnet.lmdb_folds import FOLDS_FILE, check_lmdb_folds, read_folds_file, read_manifest
from atnet.train_report import failure_report, finished_line, pooled_so_far
from atnet.variants import VARIANTS, variant_of

#: run.json keys that must match for a run folder to be continued.
RUN_SIGNATURE = ("method", "setting", "protocol", "folds", "model", "config", "lmdb_parameters", "weights_sha256")
#: tools/train.py's own messages (a line per finished fold, the end of the run), beside the fold folders.
RUN_LOG = "run.log"
#: The LMDB streams of a fold folder, as the train_val net reads them.
LMDB_STREAMS = ("train_apex", "train_flow", "test_apex", "test_flow")


class TrainingFailed(InputError):
    """A fold's training process failed; the message names the fold and its log."""


def adopt_lmdb_parameters(config, sources, lmdb_parameters, folds_path):
    """The config with its run seed and data keys (augmentation, flow rows) taken from the LMDBs.

    Those settings were fixed when the LMDBs were written; one given
    explicitly to training that disagrees is an error, not silently ignored.
    The seed is one of them: it decided the LMDBs' oversampling,
    augmentation and shuffle (fold_seed(seed, fold, purpose)), and training
    derives the solver's random_seed (fillers, dropout) from the same seed, so
    a run's every random choice comes from the one seed run.json records.
    """
    values = configuration.as_dict(config)
    for key in ("seed",) + tuple(configuration.DATA_KEYS):
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


def run_document(model, protocol, lmdb_dir, folds_doc, config, weights):
    """run.json's content: the paper row of the model and everything that makes two runs the same."""
    method, setting = VARIANTS[model].table_row
    return dict(method=method, setting=setting, protocol=protocol, folds=list(folds_doc["folds"]),
                model=model, config=configuration.as_dict(config), lmdb=os.path.abspath(lmdb_dir),
                lmdb_parameters=folds_doc["parameters"], weights=os.path.abspath(weights) if weights else None,
                weights_sha256=sha256_file(weights) if weights else None)


def check_weights_once(model, weights):
    """Refuse a --weights file that would change nothing or make Caffe abort, before any fold
    starts (each fold checks it again against its own net and writes the report)."""
    import caffe
    from atnet.nets import deploy
    from atnet.prototxt_io import load_net
    from atnet.weights import check_initial_weights, net_blob_shapes
    check_initial_weights(weights, net_blob_shapes(load_net(deploy(model), caffe.TEST)))


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
                         "(CAFFE_GPU=1 make setup, docs/gpu.md) or train without --gpu"
                         % (device, provenance.caffe_location()))
    last = [line for line in result.stderr.splitlines() if line.strip()][-1:] or ["exit code %d" % result.returncode]
    raise InputError("--gpu %d: Caffe cannot use this device (%s)" % (device, last[0]))


def train_run(model, protocol, lmdb_dir, run_dir, config, sources=None, weights=None, gpu=None,
              fold_names=None, shard_spec=None, command=None, progress=True, jobs=1, keep_going=False, log=None):
    """Train ``model`` on the selected folds of ``protocol``; returns ``{fold: 'trained' | 'skipped'}``.

    Finished folds (DONE) are skipped; an interrupted fold resumes from its
    newest complete snapshot. ``jobs`` folds train at the same time (each in
    its own process); atnet.parallel (--jobs auto) chooses them and the threads per fold from the
    cores, memory and folds to train (auto_parallelism), and run.json's
    "parallel" and run.log record what was used. Without ``keep_going`` the first failure stops new folds
    from starting, lets the running ones finish and is then raised; with it
    every fold is tried, and the failures are raised together at the end (a
    TrainingFailed that lists each failed fold with the cause from its log).
    Each finished fold leaves one line (``log``, default tqdm.write, so it
    stays above the progress bars).
    """
    variant_of(model)  # a clear error for an unknown model
    if weights and not os.path.isfile(weights):
        raise InputError("--weights %s: no such file" % weights)
    if jobs != parallel.JOBS_AUTO and (not isinstance(jobs, int) or jobs < 1):
        raise InputError("--jobs must be %r or at least 1, got %r" % (parallel.JOBS_AUTO, jobs))
    folds_doc = read_folds_file(lmdb_dir, protocol)
    folds_path = os.path.join(lmdb_dir, FOLDS_FILE)
    config = adopt_lmdb_parameters(config, sources or {}, folds_doc["parameters"], folds_path)
    names = choose_folds(folds_doc["folds"], fold_names, shard_spec)
    check_lmdb_folds(lmdb_dir, names, folds_doc["parameters"])
    document = run_document(model, protocol, lmdb_dir, folds_doc, config, weights)
    runs.check_run_folder(run_dir, document, RUN_SIGNATURE)
    if gpu is not None:
        check_gpu(gpu)
    status = {name: "skipped" for name in names if runs.fold_is_done(os.path.join(run_dir, name))}
    todo = [name for name in names if name not in status]
    jobs, threads, sharing = parallel.parallel_settings(jobs, model, config.batch_size, len(todo), gpu)
    runs.write_run_info(run_dir, **document, parallel=sharing)
    for name in todo:   # every fold's LMDBs checked before any fold starts (again by the fold itself)
        verify_fold_lmdbs(os.path.join(lmdb_dir, name), name, read_manifest(lmdb_dir, name), protocol)
    if weights and todo:
        check_weights_once(model, weights)
    versions = provenance.versions() if todo else None
    env = child_environment(threads)

    log = log or tqdm.write
    if todo:
        log(parallel.parallel_line(sharing, len(todo)))

    def train_one(name, slot):
        fold_dir = os.path.join(run_dir, name)
        with folder_lock(fold_dir, "fold folder"):   # per fold: shards and array tasks share a run folder
            if runs.fold_is_done(fold_dir):
                return                                # finished by another process meanwhile
            job = prepare_fold(fold_dir, name, model, lmdb_dir, config, sources or {}, weights,
                               gpu, versions, command)
            run_fold_process(fold_dir, job, env, progress, position=slot)

    overall = tqdm(total=len(names), initial=len(status), desc="train %s %s" % (model, protocol), unit="fold",
                   disable=not progress)
    failures = {}
    try:
        for name in run_parallel(todo, train_one, jobs, overall, failures if keep_going else None):
            status[name] = "trained"
            log(finished_line(os.path.join(run_dir, name), name) + pooled_so_far(run_dir, names))
    finally:
        overall.close()
    if failures:
        raise TrainingFailed(failure_report(run_dir, names, status, failures))
    return {name: status[name] for name in names}


def run_parallel(names, work, jobs, bar, failures=None):
    """Call ``work(name, slot)`` for every name, ``jobs`` at a time; yield names as they finish.

    ``slot`` (1..jobs) places the fold's progress bar under the overall one.
    A failure stops new work from starting and is raised once the running
    work has finished; when a ``failures`` dict is given instead, every name
    is tried and each failure is stored there (name -> exception).
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
                    if failures is None:
                        failure = failure or future.exception()
                        continue
                    failures[name] = future.exception()
                    start_next()
                    continue
                bar.update(1)
                yield name
                if failure is None:
                    start_next()
    if failure is not None:
        raise failure


def child_environment(threads=None):
    """The environment of the fold processes: glog to stderr at INFO, unbuffered stdout, and, when
    the user set neither OPENBLAS_NUM_THREADS nor OMP_NUM_THREADS, ``threads`` BLAS/OpenMP threads
    per fold (atnet.parallel.parallel_settings; None: the libraries' own default), so that parallel
    folds' threads do not spin against each other."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", **GLOG_ENV)
    if threads is not None and parallel.user_blas_threads() is None:
        env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
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
    return make_solver(train_val_path, snapshot_prefix, seed=configuration.fold_seed(config.seed, fold, "solver"),
                       train_size=train_size, batch_size=config.batch_size, schedule=config.schedule,
                       step_epochs=config.step_epochs, max_epochs=config.epochs, max_iter=config.max_iter,
                       scale_stepsize=True, snapshot_interval=config.snapshot_interval,
                       solver_mode="CPU" if gpu is None else "GPU", display=config.display)


def prepare_fold(fold_dir, fold, model, lmdb_dir, config, sources, weights, gpu, versions, command):
    """Write the fold's config, job, prototxts, solver, versions and command line; return the job."""
    from atnet.nets import deploy, train_val
    from atnet.prototxt_io import write_prototxt
    from atnet.solver import write_solver
    fold_dir = os.path.abspath(fold_dir)
    lmdb_fold = os.path.abspath(os.path.join(lmdb_dir, fold))
    manifest = read_manifest(lmdb_dir, fold)
    streams = {name: os.path.join(lmdb_fold, name) for name in LMDB_STREAMS}
    runs.write_test_samples(fold_dir, fold, [sample["key"] for sample in manifest["test"]["samples"]])
    os.makedirs(os.path.join(fold_dir, runs.SNAPSHOT_DIR), exist_ok=True)
    paths = {name: os.path.join(fold_dir, name) for name in (runs.TRAIN_VAL_FILE, runs.DEPLOY_FILE, runs.SOLVER_FILE)}
    write_prototxt(paths[runs.TRAIN_VAL_FILE], train_val(
        model, streams["train_apex"], streams["train_flow"], streams["test_apex"], streams["test_flow"],
        batch_size=config.batch_size, test_batch_size=1), header="ATNet %s, fold %s (generated by atnet/train.py)"
        % (model, fold))
    write_prototxt(paths[runs.DEPLOY_FILE], deploy(model), header="ATNet %s deploy net" % model)
    solver = fold_solver(config, fold, paths[runs.TRAIN_VAL_FILE], os.path.join(fold_dir, runs.SNAPSHOT_DIR, model),
                         manifest["train"]["records"], gpu)
    write_solver(paths[runs.SOLVER_FILE], solver, header="fold %s: %s schedule, %d training records, batch %d"
                 % (fold, config.schedule, manifest["train"]["records"], config.batch_size))
    job = fold_process.FoldJob(
        model=model, fold=fold, lmdb=lmdb_fold, weights=os.path.abspath(weights) if weights else None, gpu=gpu,
        max_iter=solver.max_iter, snapshot_prefix=solver.snapshot_prefix, keep_snapshots=config.keep_snapshots,
        solver_seed=solver.random_seed, lmdb_seeds=manifest.get("seeds"))
    write_json(os.path.join(fold_dir, runs.CONFIG_FILE),
               {"config": configuration.as_dict(config), "sources": dict(sources)})
    job.write(fold_dir)
    write_json(os.path.join(fold_dir, runs.VERSIONS_FILE), versions)
    write_text(os.path.join(fold_dir, runs.COMMAND_FILE), "%s\n%s\n" % (
        command or "(called from Python)", shlex.join(fold_process.command(fold_dir))))
    return job


def run_fold_process(fold_dir, job, env, progress=True, position=1):
    """Run the fold's process; its glog goes to train.log, its progress to a tqdm bar."""
    log_path = os.path.join(fold_dir, runs.TRAIN_LOG)
    code, log_start = run_with_progress(fold_process.command(fold_dir), fold_dir, env, job.max_iter, job.fold,
                                        progress, position=position, leave=False)
    if code != 0:
        how = "killed by %s" % signal.Signals(-code).name if code < 0 else "exit code %d" % code
        fatal = caffe_failure(log_path, log_start)
        if fatal:
            raise TrainingFailed("fold %s: training failed (%s): Caffe says: %s (log: %s)"
                                 % (job.fold, how, fatal, log_path))
        raise TrainingFailed("fold %s: training failed (%s); see %s. Last lines:\n%s"
                             % (job.fold, how, log_path, _tail(log_path)))


def _tail(path, lines=8):
    """The log's last lines, without glog's stack-address lines ("    @ 0x7f...")."""
    with open(path, errors="replace") as handle:
        kept = [line for line in handle.readlines() if not line.lstrip().startswith("@ ")]
    return "".join(kept[-lines:]).rstrip()


if __name__ == "__main__":  # run folders written before atnet.fold existed name this module in command.txt
    from atnet.common import run_cli
    run_cli(fold_process.main)
