"""THE LMDB record format the networks read; defined once, used by every writer and reader.

A prepared sample becomes two Caffe ``Datum`` records stored under the SAME key
in two LMDBs, so that the two ``Data`` layers of a net (each reading its LMDB in
key order, batch by batch) always deliver the same sample at the same position:

* apex LMDB: the 224 x 224 grey-scale apex face crop as ``data`` bytes
  (channels 1, height 224, width 224, uint8 0..255) plus the label;
* flow LMDB: the 64 x 128 ADM feature (rows = time steps; direction, magnitude
  alternating) as ``float_data`` (channels 1, height 64, width 128) plus the label.

Keys are ``%08d_<clip key>`` (e.g. ``00000007_casme2-sub01-EP02_01f``): LMDB
sorts keys as bytes, so the zero-padded position makes its order the intended
order, and the clip key keeps repeated (oversampled) samples distinct and
traceable. Caffe's Data layer reads records in that order and wraps around.
"""
import contextlib
import itertools
import os
import shutil

import lmdb
import numpy as np
from tqdm import tqdm

from atnet.common import CLASS_NAMES, InputError, atomic_path

APEX_SHAPE = (224, 224)
FLOW_SHAPE = (64, 128)
KEY_FORMAT = "%08d_%s"
#: Records written per LMDB transaction; a full map grows and retries one chunk.
_CHUNK = 256
_INITIAL_MAP_SIZE = 1 << 28


def _caffe_pb2():
    """pycaffe's generated protobuf module (imported late: pycaffe is heavy)."""
    from caffe.proto import caffe_pb2
    return caffe_pb2


def record_key(position, key):
    """The LMDB key of the record at ``position`` for the sample ``key`` (its clip key)."""
    if position < 0 or position >= 10 ** 8:
        raise ValueError("record position %r outside 0..99999999" % position)
    return (KEY_FORMAT % (position, key)).encode("ascii")


def _check_label(label, where, num_classes=len(CLASS_NAMES)):
    if not isinstance(label, (int, np.integer)) or not 0 <= int(label) < num_classes:
        raise InputError("%s: label %r is not one of 0..%d" % (where, label, num_classes - 1))
    return int(label)


def encode_apex(image, label, where="apex image", num_classes=len(CLASS_NAMES)):
    """Serialised apex ``Datum``: 1 x 224 x 224 uint8 grey-scale pixels and the label.

    ``num_classes``: the micro classes by default; macro pre-training
    (atnet.macro.pretrain) writes its label set's K classes.
    """
    image = np.asarray(image)
    if image.shape != APEX_SHAPE or image.dtype != np.uint8:
        raise InputError("%s: expected a %dx%d uint8 grey-scale image, got %s %s"
                         % (where, APEX_SHAPE[0], APEX_SHAPE[1], image.dtype, image.shape))
    datum = _caffe_pb2().Datum(channels=1, height=APEX_SHAPE[0], width=APEX_SHAPE[1],
                               data=np.ascontiguousarray(image).tobytes(),
                               label=_check_label(label, where, num_classes))
    return datum.SerializeToString()


def encode_flow(feature, label, where="flow feature"):
    """Serialised flow ``Datum``: the 64 x 128 feature as float_data (1 x 64 x 128) and the label."""
    feature = np.asarray(feature)
    if feature.shape != FLOW_SHAPE or not np.issubdtype(feature.dtype, np.floating):
        raise InputError("%s: expected a %dx%d float feature, got %s %s"
                         % (where, FLOW_SHAPE[0], FLOW_SHAPE[1], feature.dtype, feature.shape))
    feature = feature.astype(np.float32)
    bad = np.argwhere(~np.isfinite(feature))
    if len(bad):
        raise InputError("%s: non-finite value at time step (row) %d, column %d"
                         % (where, bad[0][0], bad[0][1]))
    datum = _caffe_pb2().Datum(channels=1, height=FLOW_SHAPE[0], width=FLOW_SHAPE[1],
                               label=_check_label(label, where))
    return datum.SerializeToString() + _packed_float_data(feature)


def _packed_float_data(values):
    """``Datum.float_data`` (field 6) in packed wire format: tag, byte length, little-endian floats.

    Filling the repeated field through protobuf's Python API costs ~14 ms a
    record; protobuf parsers (Caffe's C++ one included) accept the packed form
    of any repeated scalar field, and appending it to the other serialised
    fields gives the same message.
    """
    payload = np.ascontiguousarray(values, dtype="<f4").tobytes()
    return bytes([6 << 3 | 2]) + _varint(len(payload)) + payload


def _varint(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _parse(raw, where):
    datum = _caffe_pb2().Datum()
    datum.ParseFromString(raw)
    if datum.channels != 1:
        raise InputError("%s: Datum has %d channels, expected 1" % (where, datum.channels))
    return datum


def decode_apex(raw, where="apex record"):
    """(image uint8 224x224, label) from a serialised apex ``Datum``."""
    datum = _parse(raw, where)
    if (datum.height, datum.width) != APEX_SHAPE or len(datum.data) != APEX_SHAPE[0] * APEX_SHAPE[1]:
        raise InputError("%s: not a 224x224 uint8 apex Datum" % where)
    return np.frombuffer(datum.data, dtype=np.uint8).reshape(APEX_SHAPE), datum.label


def decode_flow(raw, where="flow record"):
    """(feature float32 64x128, label) from a serialised flow ``Datum``."""
    datum = _parse(raw, where)
    if (datum.height, datum.width) != FLOW_SHAPE or len(datum.float_data) != FLOW_SHAPE[0] * FLOW_SHAPE[1]:
        raise InputError("%s: not a 64x128 float flow Datum" % where)
    return np.asarray(datum.float_data, dtype=np.float32).reshape(FLOW_SHAPE), datum.label


def lmdb_error_message(path, err):
    """A py-lmdb error while writing ``path`` as one line; says so when the disk is full
    (LMDB reports a full file system as an I/O error)."""
    try:
        stat = os.statvfs(os.path.dirname(os.path.abspath(path)))
        free = stat.f_bavail * stat.f_frsize
    except OSError:
        free = None
    if free is not None and free < (1 << 20):
        return "%s: cannot write the LMDB: No space left on device (%d bytes free; %s)" % (path, free, err)
    return "%s: cannot write the LMDB (%s)" % (path, err)


class _LmdbWriter:
    """Appends records to a new LMDB, growing the memory map when it is full."""

    def __init__(self, path):
        self.path = path
        try:
            self.env = lmdb.open(path, map_size=_INITIAL_MAP_SIZE, subdir=True, lock=False)
        except lmdb.Error as err:
            raise InputError(lmdb_error_message(path, err)) from None
        self.pending = []

    def put(self, key, value):
        self.pending.append((key, value))
        if len(self.pending) >= _CHUNK:
            self.flush()

    def flush(self):
        while self.pending:
            try:
                with self.env.begin(write=True) as txn:
                    for key, value in self.pending:
                        if not txn.put(key, value, overwrite=False):
                            raise InputError("duplicate LMDB key %s" % key.decode())
                self.pending = []
            except lmdb.MapFullError:
                self.env.set_mapsize(self.env.info()["map_size"] * 2)
            except lmdb.Error as err:
                raise InputError(lmdb_error_message(self.path, err)) from None


def write_record_pairs(samples, apex_lmdb=None, flow_lmdb=None, total=None, desc="LMDB",
                       num_classes=len(CLASS_NAMES)):
    """Write the apex and/or flow LMDB of ``samples`` in the given order; return the count.

    ``samples`` yields ``(key, label, apex_image, flow_feature)`` with ``key`` the
    clip key; a stream whose path is None is not written (its item may be None).
    Both LMDBs get the same keys in the same order. Each LMDB is built under a
    temporary name and renamed when complete, so a failure leaves no
    half-written database; an existing LMDB at a path is replaced.
    """
    targets = [(path, kind) for path, kind in ((apex_lmdb, "apex"), (flow_lmdb, "flow")) if path]
    if not targets:
        raise ValueError("write_record_pairs needs apex_lmdb, flow_lmdb or both")
    with _atomic_dirs([path for path, _ in targets]) as tmp_paths:
        writers = [_LmdbWriter(tmp) for tmp in tmp_paths]
        try:
            count = 0
            for position, (key, label, image, feature) in enumerate(
                    tqdm(samples, total=total, desc=desc, unit="sample", leave=False)):
                lmdb_key = record_key(position, key)
                for writer, (_, kind) in zip(writers, targets):
                    if kind == "apex":
                        writer.put(lmdb_key, encode_apex(image, label, "sample %s (apex)" % key, num_classes))
                    else:
                        writer.put(lmdb_key, encode_flow(feature, label, "sample %s (flow)" % key))
                count += 1
            for writer in writers:
                writer.flush()
        finally:
            for writer in writers:
                writer.env.close()
    return count


@contextlib.contextmanager
def _atomic_dirs(paths):
    """Temporary directories for ``paths``; on success each replaces its path, on failure none does."""
    with contextlib.ExitStack() as stack:
        tmps = [stack.enter_context(atomic_path(path)) for path in paths]
        yield tmps
        for path in paths:  # os.replace cannot overwrite a non-empty directory
            if os.path.isdir(path):
                shutil.rmtree(path)


def read_records(path, decode):
    """Yield ``(key, value, label)`` of one LMDB in key order (``decode`` = decode_apex/decode_flow)."""
    if not os.path.isdir(path):
        raise InputError("%s: no LMDB directory here" % path)
    env = lmdb.open(os.fspath(path), readonly=True, lock=False, subdir=True)
    try:
        with env.begin() as txn:
            for raw_key, raw in txn.cursor():
                key = raw_key.decode("ascii")
                value, label = decode(raw, "%s: record %s" % (path, key))
                yield key, value, label
    finally:
        env.close()


def read_record_pairs(apex_lmdb, flow_lmdb):
    """Yield ``(key, label, apex_image, flow_feature)`` from a pair of LMDBs.

    Checks the contract the two Data layers rely on: the same keys, in the same
    order, with the same labels.
    """
    apex = read_records(apex_lmdb, decode_apex)
    flow = read_records(flow_lmdb, decode_flow)
    sentinel = (None, None, None)
    for position, (a, f) in enumerate(itertools.zip_longest(apex, flow, fillvalue=sentinel)):
        if a[0] != f[0]:
            raise InputError("%s / %s: record %d has key %s in the apex LMDB but %s in the flow LMDB"
                             % (apex_lmdb, flow_lmdb, position, a[0], f[0]))
        if a[2] != f[2]:
            raise InputError("%s / %s: record %s has label %s (apex) but %s (flow)"
                             % (apex_lmdb, flow_lmdb, a[0], a[2], f[2]))
        yield a[0], a[2], a[1], f[1]


def clip_key_of(record_key_text):
    """The clip key part of an LMDB key (``00000007_casme2-sub01-EP02_01f`` -> ``casme2-sub01-EP02_01f``)."""
    return record_key_text.split("_", 1)[1]


def write_rotated_copy(source, target, first):
    """Copy the LMDB ``source`` to ``target`` with its records rotated to start at position ``first``.

    Caffe's Data layer always starts at the first record and wraps around; a
    fold resumed at iteration k must go on with record (k x batch) mod N, as
    the uninterrupted run does. The rotated copy gives the Data layer exactly
    that order: values are copied byte for byte, keys renumbered so that LMDB's
    key order is the rotated order (the clip keys stay, for tracing).
    Returns the number of records.
    """
    env = lmdb.open(os.fspath(source), readonly=True, lock=False, subdir=True)
    try:
        with env.begin() as txn:
            items = list(txn.cursor())
    finally:
        env.close()
    if not items:
        raise InputError("%s: empty LMDB" % source)
    first %= len(items)
    rotated = items[first:] + items[:first]
    with _atomic_dirs([target]) as (tmp,):
        writer = _LmdbWriter(tmp)
        try:
            for position, (key, value) in enumerate(rotated):
                writer.put(record_key(position, clip_key_of(key.decode("ascii"))), value)
            writer.flush()
        finally:
            writer.env.close()
    return len(rotated)
