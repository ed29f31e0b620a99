"""The Caffe that `make setup` built is real BVLC Caffe and can do what this
project needs: the layer types the networks use, an LSTM that trains, LMDB
input through a Data layer, solving from pycaffe and from the `caffe` binary,
and snapshots that restore."""
import os
import subprocess
import sys
import textwrap

import lmdb
import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAFFE_BIN = os.path.join(os.path.dirname(sys.executable), "caffe")

NEEDED_LAYERS = ["LSTM", "Reduction", "Tile", "Slice", "Concat", "Eltwise", "Power",
                 "BatchNorm", "Scale", "Python", "Data", "Input", "Pooling", "Reshape"]


def test_import_from_root_lists_layers():
    """`import caffe` works from any directory (the venv's .pth), not just the repo."""
    out = subprocess.run([sys.executable, "-c",
                          "import caffe; print(' '.join(sorted(caffe.layer_type_list())))"],
                         cwd="/", check=True, capture_output=True, text=True).stdout.split()
    missing = [name for name in NEEDED_LAYERS if name not in out]
    assert not missing, "layer types missing from this Caffe: %s" % missing


def test_caffe_binary_reachable():
    assert os.access(CAFFE_BIN, os.X_OK), CAFFE_BIN
    result = subprocess.run([CAFFE_BIN, "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "1.0.0" in result.stdout + result.stderr


def _write(path, text):
    with open(path, "w") as handle:
        handle.write(textwrap.dedent(text))
    return str(path)


LSTM_NET = """
    layer { name: "x" type: "Input" top: "x" top: "cont"
            input_param { shape { dim: 5 dim: 2 dim: 3 } shape { dim: 5 dim: 2 } } }
    layer { name: "lstm" type: "LSTM" bottom: "x" bottom: "cont" top: "h"
            recurrent_param { num_output: 4
              weight_filler { type: "gaussian" std: 0.1 } bias_filler { type: "constant" } } }
    layer { name: "t" type: "Input" top: "target" input_param { shape { dim: 5 dim: 2 dim: 4 } } }
    layer { name: "loss" type: "EuclideanLoss" bottom: "h" bottom: "target" top: "loss" }
"""


def test_lstm_forward_backward(caffe, tmp_path):
    net = caffe.Net(_write(tmp_path / "lstm.prototxt", LSTM_NET), caffe.TRAIN)
    rng = np.random.default_rng(0)
    net.blobs["x"].data[...] = rng.normal(size=(5, 2, 3))
    net.blobs["cont"].data[...] = 1
    net.blobs["cont"].data[0] = 0
    net.blobs["target"].data[...] = rng.normal(size=(5, 2, 4))
    net.forward()
    assert net.blobs["h"].data.shape == (5, 2, 4)
    assert np.all(np.abs(net.blobs["h"].data) < 1)  # tanh-bounded hidden state
    net.backward()
    # LSTM params: input weights (4*4 x 3), bias (16), recurrent weights (16 x 4).
    shapes = [p.data.shape for p in net.params["lstm"]]
    assert shapes == [(16, 3), (16,), (16, 4)]
    assert all(np.abs(p.diff).sum() > 0 for p in net.params["lstm"])


def _write_lmdb(path, images, labels, caffe_pb2):
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i, (image, label) in enumerate(zip(images, labels)):
            datum = caffe_pb2.Datum(channels=image.shape[0], height=image.shape[1],
                                    width=image.shape[2], data=image.tobytes(), label=int(label))
            txn.put(b"%08d" % i, datum.SerializeToString())
    env.close()


DATA_NET = """
    layer { name: "data" type: "Data" top: "data" top: "label"
            transform_param { scale: 0.00390625 }
            data_param { source: "%(lmdb)s" batch_size: 4 backend: LMDB } }
    layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
            inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
"""

SOLVER = """
    net: "%(net)s"
    base_lr: 0.1
    lr_policy: "fixed"
    max_iter: %(max_iter)d
    snapshot: 2
    snapshot_prefix: "%(prefix)s"
    solver_mode: CPU
    random_seed: 7
    display: 1
"""


@pytest.fixture
def lmdb_problem(caffe, tmp_path):
    """A separable two-class problem in an LMDB of uint8 1x4x4 Datums."""
    from caffe.proto import caffe_pb2
    rng = np.random.default_rng(1)
    labels = np.arange(8) % 2
    images = (rng.integers(0, 40, size=(8, 1, 4, 4)) + 200 * labels[:, None, None, None]).astype(np.uint8)
    _write_lmdb(tmp_path / "train_lmdb", images, labels, caffe_pb2)
    net = _write(tmp_path / "net.prototxt", DATA_NET % {"lmdb": tmp_path / "train_lmdb"})
    return tmp_path, net, images, labels


def _solver(tmp_path, net, max_iter, name):
    prefix = str(tmp_path / name / "snap")
    os.makedirs(os.path.dirname(prefix))
    return _write(tmp_path / ("%s_solver.prototxt" % name),
                  SOLVER % {"net": net, "max_iter": max_iter, "prefix": prefix}), prefix


def test_data_layer_reads_lmdb_and_pycaffe_solves(caffe, lmdb_problem):
    tmp_path, net, images, labels = lmdb_problem
    solver_path, prefix = _solver(tmp_path, net, 4, "py")
    solver = caffe.SGDSolver(solver_path)
    solver.net.forward()
    # The first batch is the first four records in key order, bit for bit.
    np.testing.assert_array_equal(solver.net.blobs["data"].data, images[:4] / np.float32(256))
    np.testing.assert_array_equal(solver.net.blobs["label"].data, labels[:4])
    first_loss = float(solver.net.blobs["loss"].data)
    solver.step(4)
    assert solver.iter == 4
    assert np.isfinite(solver.net.blobs["loss"].data)
    assert float(solver.net.blobs["loss"].data) < first_loss
    assert os.path.exists(prefix + "_iter_4.caffemodel")
    assert os.path.exists(prefix + "_iter_2.solverstate")


def test_caffe_binary_trains_and_snapshot_restores(caffe, lmdb_problem):
    tmp_path, net, _, _ = lmdb_problem
    solver_path, prefix = _solver(tmp_path, net, 4, "bin")
    env = dict(os.environ, GLOG_minloglevel="0", GLOG_logtostderr="1")
    run = subprocess.run([CAFFE_BIN, "train", "--solver=" + solver_path],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Optimization Done" in run.stderr
    final = caffe.Net(net, prefix + "_iter_4.caffemodel", caffe.TEST)

    # Restore the iteration-2 state in pycaffe and finish: same weights as the binary's run
    # (same seed, same data order, deterministic CPU maths).
    solver = caffe.SGDSolver(solver_path)
    solver.restore(prefix + "_iter_2.solverstate")
    assert solver.iter == 2
    solver.step(2)
    assert solver.iter == 4
    for name in final.params:
        for restored, reference in zip(solver.net.params[name], final.params[name]):
            np.testing.assert_allclose(restored.data, reference.data, rtol=1e-5, atol=1e-6)

    # The binary resumes from a snapshot too.
    resumed = subprocess.run([CAFFE_BIN, "train", "--solver=" + solver_path,
                              "--snapshot=" + prefix + "_iter_2.solverstate"],
                             capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Resuming from" in resumed.stderr
    assert "Iteration 2" in resumed.stderr and "Optimization Done" in resumed.stderr
