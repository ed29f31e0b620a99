"""Every variant trains with the stock `caffe train` command on tiny LMDBs, its
snapshot loads into its deploy net, and the Data-layer nets deliver the LMDB
records, the continuation indicators and the BatchNorm phase rule as intended."""
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from atnet import nets, records, solver
from atnet.prototxt_io import load_net, write_prototxt
from atnet.variants import VARIANTS

CAFFE_BIN = os.path.join(os.path.dirname(sys.executable), "caffe")
BATCH = 2
ITERATIONS = 2


def _samples(count, seed):
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(count):
        feature = np.zeros(records.FLOW_SHAPE, np.float32)
        feature[10:, 0::2] = rng.uniform(-np.pi, np.pi, (54, 64))
        feature[10:, 1::2] = rng.uniform(0, 1.5, (54, 64))
        samples.append(("smic-s%02d-s%02d_ne_%02d" % (i, i, i), i % 3,
                        rng.integers(0, 256, records.APEX_SHAPE, dtype=np.uint8), feature))
    return samples


@pytest.fixture(scope="module")
def lmdbs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lmdb")
    train, test = _samples(4, seed=1), _samples(2, seed=2)
    records.write_record_pairs(train, root / "train_apex", root / "train_flow")
    records.write_record_pairs(test, root / "test_apex", root / "test_flow")
    paths = {name: str(root / name.replace("_lmdb", "")) for name in
             ("train_apex_lmdb", "train_flow_lmdb", "test_apex_lmdb", "test_flow_lmdb")}
    return paths, train, test


def caffe_train(variant, paths, workdir, seed=1, full_log=False):
    """Write a fold-like train_val + solver under ``workdir`` and run `caffe train`; return (log, caffemodel).

    The INFO log (iterations, tests, and megabytes of unrolled-LSTM net
    definitions) costs seconds, so it is only kept when asked for.
    """
    net_path = os.path.join(workdir, "train_val.prototxt")
    write_prototxt(net_path, nets.train_val(variant, batch_size=BATCH, test_batch_size=1, **paths))
    params = solver.make_solver(net_path, os.path.join(workdir, "snap"), seed=seed, train_size=4,
                                batch_size=BATCH, max_iter=ITERATIONS, test_iter=2)
    solver_path = os.path.join(workdir, "solver.prototxt")
    solver.write_solver(solver_path, params)
    env = dict(os.environ, GLOG_logtostderr="1", GLOG_minloglevel="0" if full_log else "1")
    result = subprocess.run([CAFFE_BIN, "train", "--solver=" + solver_path], env=env, cwd="/",
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stderr, solver.snapshot_paths(params)[0]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_caffe_train_runs_and_snapshot_loads_into_deploy(caffe, lmdbs, variant, tmp_path):
    paths, _, _ = lmdbs
    _, caffemodel = caffe_train(variant, paths, str(tmp_path))
    assert os.path.exists(caffemodel)
    deploy = load_net(nets.deploy(variant), caffe.TEST, weights=caffemodel)
    trained = caffe.Net(str(tmp_path / "train_val.prototxt"), caffe.TEST, weights=caffemodel)
    fresh = caffe.Net(str(tmp_path / "train_val.prototxt"), caffe.TEST)
    score = VARIANTS[variant].score_blob
    for name, blobs in deploy.params.items():
        for mine, theirs in zip(blobs, trained.params[name]):
            assert np.all(np.isfinite(mine.data)), name
            np.testing.assert_array_equal(mine.data, theirs.data)
    # The updates reached the classifier: its bias left the filler's constant 0.2.
    assert not np.allclose(deploy.params[score][1].data, fresh.params[score][1].data)


@pytest.fixture(scope="module")
def logged_temporal_run(lmdbs, tmp_path_factory):
    """One temporal-variant training with the full INFO log, seed 7."""
    return caffe_train("temporal", lmdbs[0], str(tmp_path_factory.mktemp("logged")), seed=7, full_log=True)


def test_training_log_shows_losses_and_one_final_test(logged_temporal_run):
    log, _ = logged_temporal_run
    losses = re.findall(r"Iteration (\d+)[^\n]*, loss = (\S+)", log)
    assert [int(i) for i, _ in losses] == [0, ITERATIONS], log[-3000:]
    assert all(math.isfinite(float(x)) for _, x in losses)
    # The TEST net runs once, after the last update; never before or during training.
    assert re.findall(r"Iteration (\d+), Testing net", log) == [str(ITERATIONS)]
    assert re.search(r"Test net output #\d+: accuracy = ", log)


def test_same_seed_gives_identical_weights(lmdbs, logged_temporal_run, tmp_path):
    _, first = logged_temporal_run
    _, second = caffe_train("temporal", lmdbs[0], str(tmp_path), seed=7)
    with open(first, "rb") as one, open(second, "rb") as two:
        assert one.read() == two.read()


def test_data_layer_nets_feed_records_indicators_and_phase_rule(caffe, lmdbs, tmp_path):
    paths, train, test = lmdbs
    path = str(tmp_path / "train_val.prototxt")
    write_prototxt(path, nets.train_val("fusion", batch_size=BATCH, **paths))
    net = caffe.Net(path, caffe.TRAIN)
    net.forward()
    for i in range(BATCH):  # the two LMDBs stay aligned: same sample at the same position
        np.testing.assert_array_equal(net.blobs["data"].data[i, 0], train[i][2])
        np.testing.assert_array_equal(net.blobs["flow"].data[i, 0], train[i][3])
        assert net.blobs["label"].data[i] == train[i][1]
    index = net.blobs[nets.CONT_BLOB].data
    assert index.shape == (nets.SEQ_LEN, BATCH)
    assert np.all(index[0] == 0) and np.all(index[1:] == 1)
    # TRAIN: data_bn normalises with the batch's own statistics (data_scale starts at 1, 0).
    normalised = net.blobs["data_bn"].data
    assert abs(normalised.mean()) < 1e-4 and abs(normalised.var() - 1) < 1e-3
    test_net = caffe.Net(path, caffe.TEST)
    test_net.forward()
    np.testing.assert_array_equal(test_net.blobs["data"].data[0, 0], test[0][2])
    assert test_net.blobs[nets.CONT_BLOB].data.shape == (nets.SEQ_LEN, 1)
    # TEST: the stored statistics (still zero here) are used, not the batch's: x / sqrt(eps).
    np.testing.assert_allclose(test_net.blobs["data_bn"].data, test_net.blobs["data"].data / np.sqrt(1e-5),
                               rtol=1e-5)
