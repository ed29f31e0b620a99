"""Solvers as typed caffe_pb2.SolverParameter (atnet.md section 2).

The paper trains with SGD, base_lr 0.01 divided by 10 every 10 epochs, for 50
epochs, momentum 0.9, weight decay 5e-6, batch 16. The release fixes the
iteration counts instead (stepsize 500, max_iter 2500) for every fold, which
is 10.75 / 53.8 epochs only for its 744-sample balanced training set. The
default schedule therefore derives the counts from the fold's training-set
size (``schedule="epochs"``); ``schedule="release"`` restores the fixed counts.

No test-set number may influence training: the model of a fold is always its
final iterate (snapshot at max_iter). With ``test_iter`` unset the solver
builds no test net at all; with it set, ``test_interval`` = max_iter and
``test_initialization`` false make Caffe evaluate the TEST net exactly once,
after the last update (for the log only).
"""
import math
import os

from caffe.proto import caffe_pb2

from atnet.common import write_text

SCHEDULES = ("epochs", "release")
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


def schedule_iterations(schedule="epochs", train_size=None, batch_size=BATCH_SIZE,
                        step_epochs=STEP_EPOCHS, max_epochs=MAX_EPOCHS):
    """(stepsize, max_iter) of the paper's epoch schedule or of the release's fixed one."""
    if schedule == "release":
        return RELEASE_STEPSIZE, RELEASE_MAX_ITER
    if schedule != "epochs":
        raise ValueError("unknown schedule %r (choose from %s)" % (schedule, ", ".join(SCHEDULES)))
    if train_size is None:
        raise ValueError("the epochs schedule needs the fold's training-set size")
    return (iterations(step_epochs, train_size, batch_size),
            iterations(max_epochs, train_size, batch_size))


def make_solver(net, snapshot_prefix, seed, train_size=None, batch_size=BATCH_SIZE,
                schedule="epochs", max_iter=None, test_iter=None, step_epochs=STEP_EPOCHS,
                max_epochs=MAX_EPOCHS, solver_mode="CPU", display=DISPLAY):
    """The SolverParameter of one fold.

    net: the train_val prototxt path, or a NetParameter to embed (``net_param``).
        Caffe resolves a relative path, like ``snapshot_prefix``, against the
        directory it is started from: pass absolute paths for runs.
    train_size, batch_size: the fold's (oversampled) training-set size and the
        Data layer's batch size, for the epoch schedule.
    max_iter: caps the iteration count for quick runs; snapshot and
        test_interval follow the effective max_iter, the stepsize stays the
        schedule's (a caller that shrinks the whole schedule scales it itself,
        as atnet.train does).
    test_iter: TEST-net batches to run once after the last iteration; None
        for no test net.
    solver_mode: CPU by default (a CPU-only build refuses GPU); ``caffe train
        --gpu`` overrides it.
    """
    stepsize, full_max_iter = schedule_iterations(schedule, train_size, batch_size,
                                                  step_epochs, max_epochs)
    if max_iter is not None:
        if max_iter <= 0:
            raise ValueError("max_iter must be positive, got %r" % max_iter)
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
    solver.snapshot = full_max_iter
    solver.snapshot_prefix = os.fspath(snapshot_prefix)
    solver.random_seed = seed
    solver.solver_mode = caffe_pb2.SolverParameter.SolverMode.Value(solver_mode)
    return solver


def snapshot_paths(solver):
    """The (.caffemodel, .solverstate) files Caffe writes at the end of training."""
    stem = "%s_iter_%d" % (solver.snapshot_prefix, solver.max_iter)
    return stem + ".caffemodel", stem + ".solverstate"


def write_solver(path, solver, header=None):
    """Write ``solver`` as prototxt atomically."""
    from atnet.nets import to_text
    write_text(path, to_text(solver, header))
