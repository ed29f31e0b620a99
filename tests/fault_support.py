"""Helpers of the integrity and fault-injection tests (test_integrity_*.py, test_faults.py).

Real operating-system faults, not imitations: a read-only bind mount, a full
(tiny) tmpfs, a file where a folder should be. Mounting needs root (the
project's machines and containers run the tests as root); without it the
tests that need a mount are skipped with a message saying so.
"""
import contextlib
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _mount(*args):
    result = subprocess.run(["mount"] + list(args), capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip("cannot mount here (needs root): %s" % result.stderr.strip())


def _umount(path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def read_only(path):
    """``path`` (a folder) made read-only by a read-only bind mount over itself."""
    path = str(path)
    _mount("--bind", path, path)
    try:
        _mount("-o", "remount,bind,ro", path)
        yield path
    finally:
        _umount(path)


@contextlib.contextmanager
def full_disk(path, size="64k"):
    """A tiny tmpfs mounted at ``path`` (created if needed): writing more than ``size`` fails with ENOSPC."""
    path = str(path)
    os.makedirs(path, exist_ok=True)
    _mount("-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path)
    try:
        yield path
    finally:
        _umount(path)


def run_script(script, *args, timeout=600, env=None, cwd="/"):
    """Run a repository script (``tools/x.py``, ``data_prep/x.py``) as a user would."""
    return subprocess.run([sys.executable, os.path.join(REPO, script)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def assert_clean_failure(result, *names):
    """Exit 2, one ``error:`` line naming each of ``names`` (paths or words), no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, "exit %d, expected 2:\n%s" % (result.returncode, output[-3000:])
    assert "Traceback" not in output, output[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors, "no 'error:' line:\n%s" % result.stderr[-3000:]
    text = result.stderr[result.stderr.index("error: "):]
    for name in names:
        assert str(name) in text, "%r not named in:\n%s" % (str(name), text[-3000:])


def snapshot_tree(*roots):
    """{path: (size, mtime_ns)} of every file under ``roots`` (to show nothing else was written)."""
    state = {}
    for root in roots:
        for folder, _, files in os.walk(str(root)):
            for name in files:
                path = os.path.join(folder, name)
                with contextlib.suppress(OSError):
                    stat = os.lstat(path)
                    state[path] = (stat.st_size, stat.st_mtime_ns)
    return state


def written_outside(before, after, allowed):
    """Paths created or changed between two snapshots that are not under one of ``allowed``."""
    allowed = [os.path.abspath(str(a)) + os.sep for a in allowed]
    changed = [path for path, state in after.items() if before.get(path) != state]
    return sorted(path for path in changed if not any((path + os.sep).startswith(a) or path.startswith(a)
                                                      for a in allowed))
