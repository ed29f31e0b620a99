"""Checks of a hand-off where it is consumed, and the messages of what went wrong.

* ``verify_fold_lmdbs``: a fold's four LMDBs against its manifest, before
  training or prediction reads them: every ``data.mdb`` present with the
  recorded sha256 (a deleted, truncated or swapped file is named; Caffe would
  die of SIGBUS on a truncated one), the training LMDBs' keys exactly the
  manifest's training records in order and none of them a held-out sample,
  the test LMDBs' keys exactly the manifest's test samples.
* ``caffe_failure``: Caffe's own ``F...`` / ``Check failed`` line from a
  fold's glog, instead of the stack addresses that follow it.
"""
import os
import re
import time

import lmdb

from atnet.common import InputError, sha256_file
from atnet.folds import fold_name
from atnet.records import record_key

STREAMS = ("train_apex", "train_flow", "test_apex", "test_flow")
DATA_FILE = "data.mdb"


def lmdb_keys(path):
    """The keys of one LMDB in order (values are not read)."""
    try:
        env = lmdb.open(os.fspath(path), readonly=True, lock=False, subdir=True)
    except lmdb.Error as err:
        raise InputError("%s: cannot open the LMDB (%s)" % (path, err)) from None
    try:
        with env.begin() as txn:
            return [key.decode("ascii", "replace") for key in txn.cursor().iternext(keys=True, values=False)]
    except lmdb.Error as err:
        raise InputError("%s: damaged LMDB (%s)" % (path, err)) from None
    finally:
        env.close()


def check_checksums(fold_dir, manifest, streams=STREAMS):
    """InputError naming the first data.mdb that is missing or differs from the manifest."""
    recorded = manifest.get("checksums") or {}
    for stream in streams:
        path = os.path.join(fold_dir, stream, DATA_FILE)
        if stream not in recorded:
            raise InputError("%s: the manifest records no checksum of %s; rebuild the fold with tools/make_lmdb.py"
                             % (os.path.join(fold_dir, "manifest.json"), stream))
        if not os.path.isfile(path):
            raise InputError("%s: missing; rebuild the fold with tools/make_lmdb.py" % path)
        actual = sha256_file(path)
        if actual != recorded[stream]:
            raise InputError("%s: checksum %s... differs from the manifest's %s... (%d bytes: truncated, replaced "
                             "or changed); rebuild the fold with tools/make_lmdb.py"
                             % (path, actual[:12], recorded[stream][:12], os.path.getsize(path)))


def expected_keys(records):
    """The LMDB keys of a manifest's record list (``{'key': clip key, ...}`` in order)."""
    return [record_key(position, record["key"]).decode("ascii") for position, record in enumerate(records)]


def _clip_owner(protocol, clip_key):
    dataset, subject, _ = clip_key.split("-", 2)
    return fold_name(protocol, dataset, subject)


def check_keys(fold_dir, fold, manifest, protocol):
    """InputError unless the LMDBs' keys are the manifest's records and no held-out sample trains."""
    if manifest.get("fold") != fold:
        raise InputError("%s: manifest of fold %r in the folder of fold %s"
                         % (os.path.join(fold_dir, "manifest.json"), manifest.get("fold"), fold))
    for part in ("train", "test"):
        wanted = expected_keys(manifest[part]["samples"])
        for stream in (part + "_apex", part + "_flow"):
            path = os.path.join(fold_dir, stream)
            keys = lmdb_keys(path)
            if part == "train":
                held_out = [key for key in keys if _clip_owner(protocol, key.split("_", 1)[1]) == fold]
                if held_out:
                    raise InputError("%s: %d held-out sample(s) of fold %s among the training records, e.g. %s; "
                                     "rebuild the fold with tools/make_lmdb.py" % (path, len(held_out), fold,
                                                                                   held_out[0].split("_", 1)[1]))
            if keys != wanted:
                position = next((i for i, (a, b) in enumerate(zip(keys, wanted)) if a != b), min(len(keys),
                                                                                                 len(wanted)))
                raise InputError("%s: %d records, the manifest lists %d; first difference at record %d (%s, "
                                 "manifest %s); rebuild the fold with tools/make_lmdb.py"
                                 % (path, len(keys), len(wanted), position,
                                    keys[position] if position < len(keys) else "none",
                                    wanted[position] if position < len(wanted) else "none"))


def verify_fold_lmdbs(fold_dir, fold, manifest, protocol):
    """All checks of one fold's LMDBs; returns the seconds they took (reported in the fold's DONE)."""
    started = time.perf_counter()
    check_checksums(fold_dir, manifest)
    check_keys(fold_dir, fold, manifest, protocol)
    return time.perf_counter() - started


# --- Caffe's own failure line ---------------------------------------------------

_FATAL = re.compile(r"^F\d{4} .*|.*Check failed.*")


def caffe_failure(log_path, since=0):
    """Caffe's own fatal line (``F1201 ... Check failed: ...``) from a glog file, or None.

    ``since`` is the byte offset where this attempt's log begins (train.log is appended).
    """
    try:
        with open(log_path, "rb") as handle:
            handle.seek(since)
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    fatal = [line.strip() for line in lines if _FATAL.match(line)]
    return fatal[-1] if fatal else None
