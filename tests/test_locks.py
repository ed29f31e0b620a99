"""atnet.locks: one lock per output folder, across processes, hosts' records judged honestly."""
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time

import pytest

from atnet import locks
from atnet.common import InputError
from fault_support import read_only

HOLD = """
import sys, time
from atnet.locks import folder_lock
with folder_lock(sys.argv[1], "run folder"):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(folder, seconds=60):
    """A separate process holding the folder's lock; returns once it has it."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(seconds)], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def test_a_second_process_stops_at_once_naming_the_holder(tmp_path):
    holder = _holder(tmp_path / "run")
    try:
        started = time.monotonic()
        with pytest.raises(locks.FolderLocked) as caught:
            with locks.folder_lock(tmp_path / "run", "run folder"):
                pass
        assert time.monotonic() - started < 2
        message = str(caught.value)
        assert "pid %d" % holder.pid in message and socket.gethostname() in message
        assert "since %s" % time.strftime("%Y-%m-%d") in message
        assert os.path.join(str(tmp_path / "run"), locks.LOCK_NAME) in message
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_is_released_on_exit_and_on_error(tmp_path):
    folder = tmp_path / "out"
    with locks.folder_lock(folder):
        assert (folder / locks.LOCK_NAME).is_file()
        assert json.loads((folder / locks.LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (folder / locks.LOCK_NAME).exists()
    with pytest.raises(RuntimeError):
        with locks.folder_lock(folder):
            raise RuntimeError("boom")
    assert not (folder / locks.LOCK_NAME).exists()
    assert os.listdir(folder) == []      # no temporary files left either


def test_a_lock_left_by_a_killed_process_on_this_host_is_taken_over(tmp_path, capsys):
    holder = _holder(tmp_path / "run")
    holder.kill()                         # kill -9: no chance to release
    holder.wait()
    assert (tmp_path / "run" / locks.LOCK_NAME).is_file()
    with locks.folder_lock(tmp_path / "run") as lock:
        assert lock.record["pid"] == os.getpid()
    assert "removed the stale lock of pid %d" % holder.pid in capsys.readouterr().err


def test_a_reused_pid_is_recognised_by_its_start_time(tmp_path):
    record = dict(locks.this_process(), process_start=1)      # our pid, but "started" at tick 1
    (tmp_path / locks.LOCK_NAME).write_text(json.dumps(record))
    with locks.folder_lock(tmp_path):
        pass


def test_a_lock_of_another_host_is_never_broken(tmp_path):
    record = dict(locks.this_process(), host="other-node", pid=999999)
    (tmp_path / locks.LOCK_NAME).write_text(json.dumps(record))
    with pytest.raises(locks.FolderLocked, match="pid 999999 on host other-node since"):
        with locks.folder_lock(tmp_path):
            pass
    assert json.loads((tmp_path / locks.LOCK_NAME).read_text())["host"] == "other-node"


def test_another_pid_namespace_on_the_same_host_name_is_not_this_host(tmp_path):
    record = dict(locks.this_process(), pid=999999, pid_namespace="pid:[1]")
    (tmp_path / locks.LOCK_NAME).write_text(json.dumps(record))
    with pytest.raises(locks.FolderLocked):
        with locks.folder_lock(tmp_path):
            pass


def test_an_unreadable_lock_file_is_not_broken(tmp_path):
    (tmp_path / locks.LOCK_NAME).write_text("garbage")
    with pytest.raises(locks.FolderLocked, match="unknown process"):
        with locks.folder_lock(tmp_path):
            pass


def test_release_never_removes_someone_elses_lock(tmp_path):
    lock = locks.FolderLock(tmp_path).acquire()
    other = dict(locks.this_process(), token="someone-else")
    (tmp_path / locks.LOCK_NAME).write_text(json.dumps(other))
    lock.release()
    assert json.loads((tmp_path / locks.LOCK_NAME).read_text())["token"] == "someone-else"


def test_a_file_in_place_of_the_folder_and_a_read_only_folder_are_clear_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        locks.FolderLock(tmp_path / "file").acquire()
    (tmp_path / "ro").mkdir()
    with read_only(tmp_path / "ro"):
        with pytest.raises(InputError, match="cannot lock this run folder .Read-only file system"):
            locks.FolderLock(tmp_path / "ro", "run folder").acquire()


def _race(folder, ready, results, done):
    ready.wait()        # every racer started: all try at once
    try:
        lock = locks.FolderLock(folder).acquire()
        results.put("won")
        done.wait(60)   # held until every racer has tried: a late racer meets the lock, not a free folder
        lock.release()
    except locks.FolderLocked:
        results.put("refused")


@pytest.mark.parametrize("stale", [False, True])
def test_exactly_one_of_many_racing_processes_wins(tmp_path, stale):
    if stale:   # all racers find the same stale lock and try to break it at once
        record = dict(locks.this_process(), pid=2 ** 22 + 12345, process_start=None)
        (tmp_path / locks.LOCK_NAME).write_text(json.dumps(record))
    context = multiprocessing.get_context("spawn")
    results, ready, done = context.Queue(), context.Barrier(6), context.Event()
    racers = [context.Process(target=_race, args=(str(tmp_path), ready, results, done)) for _ in range(6)]
    for racer in racers:
        racer.start()
    try:
        outcomes = sorted(results.get(timeout=120) for _ in racers)
    finally:
        done.set()
        for racer in racers:
            racer.join(30)
    assert outcomes == ["refused"] * 5 + ["won"]
