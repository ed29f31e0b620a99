"""One lock per output folder: a second process that would write into the same
folder stops at once, naming the holder (host, pid, since when).

Why not ``flock``: run folders live on shared (NFS, Lustre) file systems of a
cluster, where ``flock`` is either not shared between hosts or not supported.
The lock is a file ``<folder>/.atnet.lock`` made with ``link(2)``: its content
(host, pid, start time, command) is written to a private temporary file first
and then hard-linked to the lock name, which is atomic on local and network
file systems alike, so a reader never sees a half-written lock. Where hard
links are not supported the lock file is created with ``O_CREAT | O_EXCL``.

A lock whose holder is gone is *stale*. It is only ever recognised as such on
the holder's own host (same host name, boot and pid namespace: a container
sharing the host name is not "this host"), when its pid no longer runs or now
belongs to a process started later. A lock held from another host is never
broken automatically: the message says which file to remove once the user
knows that process is gone. Taking over a stale lock is serialised by a second
lock file (``.atnet.lock.break``), so two processes that find the same stale
lock cannot both win.
"""
import contextlib
import errno
import json
import os
import socket
import sys
import time
import uuid

from atnet.common import InputError

LOCK_NAME = ".atnet.lock"
BREAK_SUFFIX = ".break"


class FolderLocked(InputError):
    """Another live process holds the folder's lock; the message names it."""


def _read_first_line(path):
    try:
        with open(path) as handle:
            return handle.readline().strip()
    except OSError:
        return ""


def _process_start(pid):
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/PID/stat), or None."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            stat = handle.read()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces
    return int(stat.rsplit(")", 1)[1].split()[19])


def _pid_namespace():
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def this_process():
    """What a lock records about its holder: who, where, since when, doing what."""
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "boot_id": _read_first_line("/proc/sys/kernel/random/boot_id"),
            "pid_namespace": _pid_namespace(), "process_start": _process_start(os.getpid()),
            "since": time.strftime("%Y-%m-%d %H:%M:%S %z"), "since_epoch": time.time(),
            "command": " ".join(sys.argv)[:500], "token": uuid.uuid4().hex}


def holder_is_gone(holder):
    """True only when ``holder`` ran on this host and its process no longer exists.

    A holder on another host, or one whose record cannot be judged, counts as alive.
    """
    me = this_process()
    if not isinstance(holder, dict) or holder.get("host") != me["host"]:
        return False
    if holder.get("pid_namespace") != me["pid_namespace"]:
        return False
    if holder.get("boot_id") and me["boot_id"] and holder["boot_id"] != me["boot_id"]:
        return True                     # this host rebooted since the lock was taken
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:             # alive, another user's process
        return False
    started = _process_start(pid)
    return holder.get("process_start") is not None and started is not None and started != holder["process_start"]


def describe(holder):
    """``pid 123 on host node7 since 2026-12-01 22:31:44 +0000 (tools/train.py ...)``."""
    if not isinstance(holder, dict) or not holder:
        return "an unknown process (the lock file is unreadable)"
    text = "pid %s on host %s since %s" % (holder.get("pid"), holder.get("host"), holder.get("since"))
    return text + (" (%s)" % holder["command"] if holder.get("command") else "")


def read_holder(path):
    """The holder record of a lock file; None if the file is gone, {} if it is unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _create_exclusive(path, content):
    """Create ``path`` holding ``content`` unless it exists; True when this call created it."""
    tmp = "%s.%s.%d.tmp" % (path, uuid.uuid4().hex[:8], os.getpid())
    with open(tmp, "x", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError as err:
            if err.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.ENOSYS):
                return _create_with_excl(path, content)      # no hard links on this file system
            if os.stat(tmp).st_nlink == 2:                   # NFS: the link worked, the reply was lost
                return True
            raise
    finally:
        os.unlink(tmp)


def _create_with_excl(path, content):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    return True


class FolderLock:
    """The lock of one output folder; use ``with folder_lock(folder):``."""

    def __init__(self, folder, what="output folder"):
        self.folder = os.path.abspath(folder)
        self.path = os.path.join(self.folder, LOCK_NAME)
        self.what = what
        self.record = None

    def acquire(self):
        """Take the lock or raise FolderLocked naming the holder; OS trouble is an InputError."""
        if os.path.lexists(self.folder) and not os.path.isdir(self.folder):
            raise InputError("%s: this %s is a file, not a folder" % (self.folder, self.what))
        try:
            os.makedirs(self.folder, exist_ok=True)
            record = this_process()
            content = json.dumps(record, indent=1, sort_keys=True) + "\n"
            for _ in range(3):
                if _create_exclusive(self.path, content):
                    self.record = record
                    return self
                holder = read_holder(self.path)
                if holder is None:
                    continue                            # released meanwhile: try again
                if not self._break_if_stale(holder):
                    raise self._locked(holder)
        except OSError as err:
            raise InputError("%s: cannot lock this %s (%s)"
                             % (err.filename or self.path, self.what, err.strerror or err)) from None
        raise self._locked(read_holder(self.path))

    def _locked(self, holder):
        return FolderLocked("%s: this %s is in use by %s; wait for it to finish. If that process is gone "
                            "(another host's locks are never broken automatically), remove %s"
                            % (self.folder, self.what, describe(holder), self.path))

    def _break_if_stale(self, holder):
        """Remove the lock of a holder that is gone (serialised by the break lock).

        True when the caller should try to take the lock again: it was removed,
        or another process is removing it right now.
        """
        if not holder_is_gone(holder):
            return False
        breaker = self.path + BREAK_SUFFIX
        if not _create_exclusive(breaker, json.dumps(this_process()) + "\n"):
            if not holder_is_gone(read_holder(breaker) or {}):
                time.sleep(0.2)                         # another process is breaking it right now:
                return True                             # look again once it is done
            with contextlib.suppress(FileNotFoundError):
                os.unlink(breaker)                      # a breaker that died while breaking
            if not _create_exclusive(breaker, json.dumps(this_process()) + "\n"):
                time.sleep(0.2)
                return True
        try:
            if read_holder(self.path) == holder:        # still the same stale lock
                os.unlink(self.path)
                print("note: %s: removed the stale lock of %s" % (self.folder, describe(holder)), file=sys.stderr)
            return True
        finally:
            os.unlink(breaker)

    def release(self):
        """Remove the lock if it is still ours (never someone else's)."""
        if self.record is None:
            return
        holder = read_holder(self.path)
        if holder and holder.get("token") == self.record["token"]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        self.record = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False


def folder_lock(folder, what="output folder"):
    """Context manager holding the lock of ``folder`` (created if needed) for its body."""
    return FolderLock(folder, what)
