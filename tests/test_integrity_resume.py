"""Fault 7 of issue 12: a resumed fold restarted its data layers at their first
record (and Caffe's random stream at its seed), so its final model differed
from an uninterrupted run's.

The fold is killed with SIGKILL (parent and child, as a node failure or
``scancel`` does) after a snapshot, the same command is run again, and the
resumed fold's final model must be byte-identical to that of a run that was
never interrupted. The training set (21 records) is not a multiple of the
batch (4), so a restart at the first record would change the batches; the
temporal variant has a Dropout layer, so Caffe's random stream matters too.
"""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import train_support
from fault_support import REPO, run_script

pytestmark = pytest.mark.slow
ENV = train_support.single_threaded_env()
ITERATIONS, INTERVAL, KILL_AFTER = 40, 8, 16


@pytest.fixture(scope="module")
def lmdb(tmp_path_factory):
    prepared = str(tmp_path_factory.mktemp("resume_prepared"))
    train_support.make_prepared(prepared, train_support.small_counts(), separable=True)
    out = str(tmp_path_factory.mktemp("resume_lmdb") / "lmdb")
    result = run_script("tools/make_lmdb.py", "--prepared", prepared, "--protocol", "hde", "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def _command(lmdb, out):
    return ["tools/train.py", "--model", "temporal", "--protocol", "hde", "--lmdb", lmdb, "--out", out,
            "--iters", ITERATIONS, "--folds", "hde-casme2", "--no-progress", "--set", "batch_size=4",
            "--set", "snapshot_interval=%d" % INTERVAL, "--set", "keep_snapshots=0"]


def _kill_after_snapshot(lmdb, out):
    """Start the training, SIGKILL its process group once the KILL_AFTER snapshot is complete."""
    command = [sys.executable, os.path.join(REPO, _command(lmdb, out)[0])] + [str(a) for a in _command(lmdb, out)[1:]]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV,
                               start_new_session=True)
    state = os.path.join(out, "hde-casme2", "snapshots", "temporal_iter_%d.solverstate" % (KILL_AFTER + INTERVAL))
    deadline = time.monotonic() + 600
    while not os.path.exists(state) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not os.path.exists(os.path.join(out, "hde-casme2", "DONE")), "finished before it could be killed"


def test_a_killed_and_resumed_fold_ends_with_the_uninterrupted_model(lmdb, tmp_path):
    whole, resumed = str(tmp_path / "whole"), str(tmp_path / "resumed")
    result = run_script(*_command(lmdb, whole), env=ENV)
    assert result.returncode == 0, result.stderr
    _kill_after_snapshot(lmdb, resumed)
    snapshots = glob.glob(os.path.join(resumed, "hde-casme2", "snapshots", "*.solverstate"))
    assert snapshots, "killed before the first snapshot"
    result = run_script(*_command(lmdb, resumed), env=ENV)
    assert result.returncode == 0, result.stderr
    done = json.loads(open(os.path.join(resumed, "hde-casme2", "DONE")).read())
    assert done["resumed_from_iteration"] in range(INTERVAL, ITERATIONS, INTERVAL)
    with open(os.path.join(whole, "hde-casme2", "final.caffemodel"), "rb") as a, \
            open(os.path.join(resumed, "hde-casme2", "final.caffemodel"), "rb") as b:
        assert a.read() == b.read(), "the resumed fold's final model differs from the uninterrupted one"
    with open(os.path.join(whole, "hde-casme2", "predictions.csv")) as a, \
            open(os.path.join(resumed, "hde-casme2", "predictions.csv")) as b:
        assert a.read() == b.read()
    with open(os.path.join(whole, "hde-casme2", "train_curve.csv")) as a, \
            open(os.path.join(resumed, "hde-casme2", "train_curve.csv")) as b:
        assert a.read() == b.read()
