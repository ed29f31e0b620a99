"""Solvers (atnet/solver.py): the paper's epoch schedule, the release's fixed
counts behind schedule="release", and no test-set influence on training."""
import pytest
from google.protobuf import text_format

from atnet import nets, solver
from caffe.proto import caffe_pb2


def test_epoch_schedule_rounds_up_per_fold():
    s = solver.make_solver("/runs/x/train_val.prototxt", "/runs/x/snap", seed=5, train_size=744)
    assert (s.stepsize, s.max_iter) == (465, 2325)  # 10 and 50 epochs of 744 samples at batch 16
    s = solver.make_solver("n", "p", seed=5, train_size=745, batch_size=16)
    assert (s.stepsize, s.max_iter) == (466, 2329)  # 465.6 and 2328.1, rounded up
    assert (s.type, s.lr_policy) == ("SGD", "step")
    assert (s.base_lr, s.gamma, s.momentum, s.weight_decay) == pytest.approx((0.01, 0.1, 0.9, 5e-6), rel=1e-6)
    assert s.random_seed == 5
    assert s.snapshot == s.max_iter and s.snapshot_prefix == "p"
    assert s.solver_mode == caffe_pb2.SolverParameter.CPU


def test_release_schedule_is_fixed():
    s = solver.make_solver("n", "p", seed=1, schedule="release")
    assert (s.stepsize, s.max_iter, s.snapshot) == (500, 2500, 2500)


def test_max_iter_override_for_quick_runs():
    s = solver.make_solver("n", "p", seed=1, train_size=744, max_iter=3, test_iter=7)
    assert (s.max_iter, s.snapshot, s.test_interval, s.display) == (3, 3, 3, 3)
    assert solver.snapshot_paths(s) == ("p_iter_3.caffemodel", "p_iter_3.solverstate")


def test_no_test_number_can_influence_training():
    without = solver.make_solver("n", "p", seed=1, train_size=100)
    assert len(without.test_iter) == 0 and without.test_interval == 0  # no test net at all
    with_test = solver.make_solver("n", "p", seed=1, train_size=100, test_iter=4)
    assert list(with_test.test_iter) == [4]
    assert with_test.test_interval == with_test.max_iter  # once, after the last update
    assert with_test.test_initialization is False


def test_net_can_be_embedded_and_text_round_trips():
    net = nets.train_val("temporal", train_flow_lmdb="/lmdb/flow")
    s = solver.make_solver(net, "/snap", seed=2, train_size=32, batch_size=4)
    assert s.net_param.layer[0].data_param.source == "/lmdb/flow"
    parsed = text_format.Parse(nets.to_text(s, "header\nline"), caffe_pb2.SolverParameter())
    assert parsed == s


@pytest.mark.parametrize("kwargs, message", [
    (dict(schedule="weekly"), "unknown schedule"),
    (dict(), "training-set size"),
    (dict(train_size=0), "positive"),
    (dict(train_size=10, max_iter=0), "max_iter"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        solver.make_solver("n", "p", seed=1, **kwargs)
