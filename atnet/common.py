"""Small pieces every stage shares: class and dataset names, sample keys,
user-facing errors, atomic writes and checksums."""
import contextlib
import errno
import hashlib
import json
import os
import sys
import tempfile

#: The MEGC2019 3-class label set, in label-index order.
CLASS_NAMES = ("negative", "positive", "surprise")
#: Dataset identifiers as used in index files and sample keys.
DATASETS = ("casme2", "samm", "smic")
#: Column titles of the paper's tables for each dataset.
DATASET_TITLES = {"casme2": "CASME II", "samm": "SAMM", "smic": "SMIC"}


class InputError(Exception):
    """A problem with the user's input (a file, a row, a frame, an option).

    Entry points print it without a traceback and exit non-zero; the message
    must name the file and the row or frame that is wrong.
    """


def clip_key(dataset, subject, sample):
    """The release's clip key ``dataset-subject-sample``, e.g. ``casme2-sub01-EP02_01f``."""
    return "%s-%s-%s" % (dataset, subject, sample)


def run_cli(main):
    """Run an entry point's ``main()``; exit codes: 0 done, 1 a comparison or ground-truth
    check that did not hold (``main`` returns it), 2 bad input or environment.

    An InputError, or an operating-system error (read-only folder, disk full,
    missing file, a file where a folder belongs), becomes one ``error:`` line
    naming the path and the cause, without a traceback.
    """
    try:
        sys.exit(main())
    except InputError as err:
        print("error: %s" % err, file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        print("error: %s" % os_error_message(err), file=sys.stderr)
        sys.exit(2)


_OS_CAUSES = {errno.ENOSPC: "No space left on device (disk full)", errno.EDQUOT: "disk quota exceeded",
              errno.EROFS: "Read-only file system"}


def os_error_message(err):
    """``PATH: cause`` of an OSError, with a plainer cause for a file in the way of a folder."""
    cause = _OS_CAUSES.get(err.errno) or err.strerror or str(err)
    path = err.filename
    if err.errno == errno.EEXIST and path is not None and os.path.isfile(path):
        cause = "a file is in the way (a folder is needed here)"
    elif err.errno == errno.ENOTDIR:
        cause = "a part of this path is a file, not a folder"
    if path is None:
        return cause
    if err.filename2 is not None:
        path = "%s -> %s" % (err.filename, err.filename2)
    return "%s: %s" % (path, cause)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    Readers never see a half-written file: on any exception the temporary file
    (or directory) is removed and ``path`` is left as it was.
    """
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        import shutil
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def read_json(path):
    """The one JSON reader: a file's parsed content; InputError naming the file when it cannot
    be read, or the file and line when it is not valid JSON."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as err:
        raise InputError("%s: cannot read (%s)" % (path, err.strerror or err)) from None
    except UnicodeDecodeError as err:
        raise InputError("%s: not UTF-8 text (%s)" % (path, err.reason)) from None
    except json.JSONDecodeError as err:
        raise InputError("%s line %d: not valid JSON (%s)" % (path, err.lineno, err.msg)) from None


def write_bytes(path, data):
    """Write ``data`` to ``path`` atomically; an OS error (disk full) names ``path``."""
    with atomic_path(path) as tmp:
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
        except OSError as err:
            if err.filename is None:     # a failed write() names no file
                raise OSError(err.errno, err.strerror, os.fspath(path)) from None
            raise


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path, obj):
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def sha256_file(path, chunk=1 << 20):
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
