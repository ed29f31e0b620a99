"""Solvers (atnet/solver.py): the paper's epoch schedule, the release's fixed
counts behind schedule="release", and no test-set influence on training."""
import subprocess
import sys

import pytest
from google.protobuf import text_format

from atnet import nets, solver
from atnet.prototxt_io import to_text
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


def test_one_schedule_name_and_the_old_spelling():
    assert solver.SCHEDULES == ("paper", "release")
    assert solver.schedule_name("epochs") == "paper"  # what atnet.solver called it before
    old = solver.make_solver("n", "p", seed=5, train_size=744, schedule="epochs")
    assert old == solver.make_solver("n", "p", seed=5, train_size=744, schedule="paper")
    assert solver.schedule_iterations("paper", 744) == (465, 2325)


def test_release_schedule_is_fixed():
    s = solver.make_solver("n", "p", seed=1, schedule="release")
    assert (s.stepsize, s.max_iter, s.snapshot) == (500, 2500, 2500)


def test_max_iter_override_for_quick_runs():
    s = solver.make_solver("n", "p", seed=1, train_size=744, max_iter=3, test_iter=7)
    assert (s.max_iter, s.snapshot, s.test_interval, s.display) == (3, 3, 3, 3)
    assert solver.snapshot_paths(s) == ("p_iter_3.caffemodel", "p_iter_3.solverstate")


def test_a_capped_run_scales_the_lr_step_and_snapshots_on_its_interval():
    """744 samples: stepsize 465 of 2325; capped at 100 the step comes at round(465 * 100 / 2325) = 20."""
    s = solver.make_solver("n", "p", seed=1, train_size=744, max_iter=100, scale_stepsize=True, snapshot_interval=30)
    assert (s.stepsize, s.max_iter, s.snapshot) == (20, 100, 30)
    assert solver.make_solver("n", "p", seed=1, train_size=744, max_iter=100).stepsize == 465  # not asked to scale
    tiny = solver.make_solver("n", "p", seed=1, train_size=744, max_iter=2, scale_stepsize=True, snapshot_interval=50)
    assert (tiny.stepsize, tiny.snapshot) == (1, 2)  # at least 1; no snapshot interval beyond the end
    uncapped = solver.make_solver("n", "p", seed=1, train_size=744, max_iter=5000, scale_stepsize=True)
    assert (uncapped.stepsize, uncapped.max_iter) == (465, 2325)  # a cap above the schedule changes nothing


def test_snapshot_names_are_caffes(tmp_path):
    prefix = str(tmp_path / "temporal")
    assert solver.snapshot_files(prefix, 12) == (prefix + "_iter_12.caffemodel", prefix + "_iter_12.solverstate")
    for name in ("temporal_iter_3.solverstate", "temporal_iter_12.solverstate", "temporal_iter_12.caffemodel",
                 "fusion_iter_20.solverstate", "temporal_iter_x.solverstate"):
        (tmp_path / name).write_bytes(b"")
    assert solver.snapshot_iterations(str(tmp_path), prefix) == [
        (12, prefix + "_iter_12.solverstate"), (3, prefix + "_iter_3.solverstate")]
    assert solver.snapshot_iterations(str(tmp_path / "none"), prefix) == []


def test_solver_needs_neither_nets_nor_a_caffe_runtime_to_import():
    """No import cycle with atnet.nets; the schedule is usable where pycaffe is not loaded."""
    code = "import sys, atnet.solver; print(sorted(m for m in ('caffe', 'atnet.nets') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


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
    parsed = text_format.Parse(to_text(s, "header\nline"), caffe_pb2.SolverParameter())
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
