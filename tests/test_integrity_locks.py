"""Fault 4 of issue 12: output folders had no lock.

Two trainings into the same run folder interleaved, one failed with an
unrelated message and the survivor's train_curve.csv was left with only its
header; the same held for LMDB, prepare and baseline output folders. Now each
of those commands holds the folder's lock (atnet.locks) and a second process
stops at once with a message naming the holder (host, pid, since when).
"""
import csv
import os
import socket
import subprocess
import sys
import time

import pytest

from atnet import locks

import data_support
import train_support
from fault_support import REPO, assert_clean_failure, run_script

ENV = train_support.single_threaded_env()
HOLD = """
import sys, time
from atnet.locks import folder_lock
with folder_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """``hold(folder)``: another process holding the lock of ``folder``; killed at the end."""
    processes = []

    def hold(folder):
        process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "locked"
        processes.append(process)
        return process
    yield hold
    for process in processes:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    return data_support.release(tmp_path_factory, data_support.MICRO)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("locks_prepared"))
    train_support.make_prepared(out, train_support.small_counts(), separable=True)
    return out


@pytest.fixture(scope="module")
def lmdb(prepared, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("locks_lmdb") / "lmdb")
    result = run_script("tools/make_lmdb.py", "--prepared", prepared, "--protocol", "hde", "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def _assert_locked_out(result, started, process):
    assert_clean_failure(result, "pid %d" % process.pid, "host %s" % socket.gethostname(), "since")
    assert time.monotonic() - started < 60        # at once: no waiting for the holder


def test_prepare_stops_at_once_when_its_output_folder_is_in_use(micro, tmp_path, holder):
    out = tmp_path / "prepared"
    process = holder(out)
    started = time.monotonic()
    result = run_script("data_prep/prepare.py", *data_support.root_args(data_support.roots(micro, ("casme2",))),
                        "--out", out, "--workers", 1)
    _assert_locked_out(result, started, process)
    assert set(os.listdir(out)) <= {locks.LOCK_NAME, "prepare.log"}    # the stage's log records the refusal


def test_make_lmdb_stops_at_once_when_its_output_folder_is_in_use(prepared, tmp_path, holder):
    out = tmp_path / "lmdb"
    process = holder(out)
    started = time.monotonic()
    result = run_script("tools/make_lmdb.py", "--prepared", prepared, "--protocol", "hde", "--out", out)
    _assert_locked_out(result, started, process)
    assert sorted(os.listdir(out)) == [locks.LOCK_NAME]


def test_baselines_stop_at_once_when_their_run_folder_is_in_use(micro, tmp_path, holder):
    prepared_dir = tmp_path / "prepared"
    result = run_script("data_prep/prepare.py", *data_support.root_args(data_support.roots(micro)),
                        "--out", prepared_dir, "--workers", 1)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "run"
    process = holder(out)
    started = time.monotonic()
    result = run_script("tools/baselines.py", "--method", "lbptop", "--tim", 10, "--P", 4, "--protocol", "hde",
                        "--prepared", prepared_dir, "--cache", tmp_path / "cache", "--out", out, "--jobs", 1)
    _assert_locked_out(result, started, process)
    assert sorted(os.listdir(out)) == [locks.LOCK_NAME]


def test_two_trainings_into_one_run_folder(lmdb, tmp_path):
    """Started together: one stops at once naming the other; the other finishes a full curve."""
    out = tmp_path / "run"
    command = [sys.executable, os.path.join(REPO, "tools", "train.py"), "--model", "temporal", "--protocol", "hde",
               "--lmdb", lmdb, "--out", str(out), "--iters", "6", "--folds", "hde-casme2", "--no-progress",
               "--set", "batch_size=4"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    results = []
    for process in (first, second):
        stdout, stderr = process.communicate(timeout=600)
        results.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
    codes = sorted(result.returncode for result in results)
    assert codes == [0, 2], [(r.returncode, r.stderr[-2000:]) for r in results]
    loser = next(r for r in results if r.returncode == 2)
    winner_pid = (first if loser is results[1] else second).pid
    assert_clean_failure(loser, "pid %d" % winner_pid, "since")
    with open(out / "hde-casme2" / "train_curve.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["iter"]) for row in rows] == list(range(6))
    assert not (out / locks.LOCK_NAME).exists()
