"""Solvers as typed caffe_pb2.SolverParameter (atnet.md section 2).

The paper trains with SGD, base_lr 0.01 divided by 10 every 10 epochs, for 50
epochs, momentum 0.9, weight decay 5e-6, batch 16. The release fixes the
iteration counts instead (stepsize 500, max_iter 2500) for every fold, which
is 10.75 / 53.8 epochs only for its 744-sample balanced training set. The
default schedule therefore derives the counts from the fold's training-set
size (``schedule="paper"``, the name atnet.config uses too; the older spelling
"epochs" is still accepted); ``schedule="release"`` restores the fixed counts.
A quick run caps the iterations and, for a run folder, scales the lr step
with the cap (``scale_stepsize``) so the schedule keeps its shape.

This module is also the one home of Caffe's snapshot names
(``<prefix>_iter_<N>.caffemodel`` / ``.solverstate``). It imports pycaffe's
protobuf classes only when it builds or reads a solver, so the schedule names
and iteration counts are available without a Caffe runtime.

No test-set number may influence training: the model of a fold is always its
final iterate (snapshot at max_iter). With ``test_iter`` unset the solver
builds no test net at all; with it set, ``test_interval`` = max_iter and
``test_initialization`` false make Caffe evaluate the TEST net exactly once,
after the last update (for the log only).
"""
import math
import os
import re

from atnet.common import write_text
from atnet.prototxt_io import to_text

SCHEDULES = ("paper", "release")
#: Older spellings still accepted (atnet.solver called the paper's schedule "epochs").
SCHEDULE_ALIASES = {"epochs": "paper"}
BASE_LR = 0.01
GAMMA = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-6
BATCH_SIZE = 16
STEP_EPOCHS = 10
MAX_EPOCHS = 50
RELEASE_STEPSIZE = 500
RELEASE_MAX_ITER = 2500
DISPLAY = 10


def iterations(epochs, train_size, batch_size):
    """Iterations that cover ``epochs`` passes over ``train_size`` samples, rounded up."""
    if train_size <= 0 or batch_size <= 0:
        raise ValueError("training-set size and batch size must be positive (got %r, %r)"
                         % (train_size, batch_size))
    return math.ceil(epochs * train_size / batch_size)


def schedule_name(schedule):
    """The schedule's one name ("paper" or "release"); ValueError for anything else."""
    name = SCHEDULE_ALIASES.get(schedule, schedule)
    if name not in SCHEDULES:
        raise ValueError("unknown schedule %r (choose from %s)" % (schedule, ", ".join(SCHEDULES)))
    return name


def schedule_iterations(schedule="paper", train_size=None, batch_size=BATCH_SIZE,
                        step_epochs=STEP_EPOCHS, max_epochs=MAX_EPOCHS):
    """(stepsize, max_iter) of the paper's epoch schedule or of the release's fixed one."""
    if schedule_name(schedule) == "release":
        return RELEASE_STEPSIZE, RELEASE_MAX_ITER
    if train_size is None:
        raise ValueError("the paper's (epochs) schedule needs the fold's training-set size")
    return (iterations(step_epochs, train_size, batch_size),
            iterations(max_epochs, train_size, batch_size))


def make_solver(net, snapshot_prefix, seed, train_size=None, batch_size=BATCH_SIZE,
                schedule="paper", max_iter=None, test_iter=None, step_epochs=STEP_EPOCHS,
                max_epochs=MAX_EPOCHS, solver_mode="CPU", display=DISPLAY, scale_stepsize=False,
                snapshot_interval=None):
    """The SolverParameter of one fold.

    net: the train_val prototxt path, or a NetParameter to embed (``net_param``).
        Caffe resolves a relative path, like ``snapshot_prefix``, against the
        directory it is started from: pass absolute paths for runs.
    train_size, batch_size: the fold's (oversampled) training-set size and the
        Data layer's batch size, for the epoch schedule.
    max_iter: caps the iteration count for quick runs; snapshot and
        test_interval follow the effective max_iter. The stepsize stays the
        schedule's unless ``scale_stepsize``: then a cap below the schedule's
        length scales it by the same ratio (at least 1), as runs do
        (atnet.train), so the lr steps keep their place in the schedule.
    snapshot_interval: snapshots every this many iterations (at most
        max_iter); default: only at the end.
    test_iter: TEST-net batches to run once after the last iteration; None
        for no test net.
    solver_mode: CPU by default (a CPU-only build refuses GPU); ``caffe train
        --gpu`` overrides it.
    """
    from caffe.proto import caffe_pb2
    stepsize, full_max_iter = schedule_iterations(schedule, train_size, batch_size,
                                                  step_epochs, max_epochs)
    if max_iter is not None:
        if max_iter <= 0:
            raise ValueError("max_iter must be positive, got %r" % max_iter)
        if scale_stepsize and max_iter < full_max_iter:
            stepsize = max(1, round(stepsize * max_iter / full_max_iter))
        full_max_iter = min(full_max_iter, max_iter)
    solver = caffe_pb2.SolverParameter()
    if isinstance(net, caffe_pb2.NetParameter):
        solver.net_param.CopyFrom(net)
    else:
        solver.net = os.fspath(net)
    if test_iter:
        solver.test_iter.append(test_iter)
        solver.test_interval = full_max_iter
        solver.test_initialization = False
    solver.type = "SGD"
    solver.base_lr = BASE_LR
    solver.lr_policy = "step"
    solver.gamma = GAMMA
    solver.stepsize = stepsize
    solver.max_iter = full_max_iter
    solver.momentum = MOMENTUM
    solver.weight_decay = WEIGHT_DECAY
    solver.display = min(display, full_max_iter)
    solver.snapshot = full_max_iter if snapshot_interval is None else min(snapshot_interval, full_max_iter)
    solver.snapshot_prefix = os.fspath(snapshot_prefix)
    solver.random_seed = seed
    solver.solver_mode = caffe_pb2.SolverParameter.SolverMode.Value(solver_mode)
    return solver


def snapshot_stem(prefix, iteration):
    """Caffe's name of the snapshot at ``iteration``, without extension."""
    return "%s_iter_%d" % (prefix, iteration)


def snapshot_files(prefix, iteration):
    """The (.caffemodel, .solverstate) pair Caffe writes at ``iteration``."""
    stem = snapshot_stem(prefix, iteration)
    return stem + ".caffemodel", stem + ".solverstate"


def snapshot_paths(solver):
    """The (.caffemodel, .solverstate) files Caffe writes at the end of training."""
    return snapshot_files(solver.snapshot_prefix, solver.max_iter)


def snapshot_iterations(snapshot_dir, prefix):
    """``[(iteration, solverstate path)]`` of the snapshots of ``prefix`` on disk, newest first."""
    pattern = re.compile(re.escape(os.path.basename(prefix)) + r"_iter_(\d+)\.solverstate$")
    found = []
    for name in os.listdir(snapshot_dir) if os.path.isdir(snapshot_dir) else ():
        match = pattern.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(snapshot_dir, name)))
    return sorted(found, reverse=True)


def write_solver(path, solver, header=None):
    """Write ``solver`` as prototxt atomically."""
    write_text(path, to_text(solver, header))


def read_solver(path):
    """A solver prototxt as a SolverParameter."""
    from caffe.proto import caffe_pb2
    from google.protobuf import text_format
    with open(path) as handle:
        return text_format.Parse(handle.read(), caffe_pb2.SolverParameter())
