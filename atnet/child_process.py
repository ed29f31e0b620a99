"""The protocol between a training parent and its child process (one home for it).

tools/train.py runs every fold, and tools/pretrain.py its one run, in a
process of its own (``python -m atnet.fold FOLD_DIR``, ``python -m
atnet.macro.pretrain RUN_DIR``): pycaffe does not reliably free a net's
memory, and a fresh process can be re-run by hand with the command its
folder records. Both children speak the same way: glog (Caffe's own log) on
stderr, which the parent appends to the folder's train.log, and one
``@progress ITER LOSS`` line per iteration on stdout, which the parent turns
into a progress bar.
"""
import os
import subprocess
import sys

from tqdm import tqdm

from atnet import runs
from atnet.common import InputError

#: glog settings of a child process: every INFO line, on stderr (-> train.log), with the
#: month-day prefix that Caffe's tools/extra/parse_log.py reads (glog >= 0.6 adds the year).
GLOG_ENV = {"GLOG_minloglevel": "0", "GLOG_logtostderr": "1", "GLOG_log_year_in_prefix": "false"}
PROGRESS_TAG = "@progress"


def progress_line(iteration, loss):
    """The stdout line that reports one iteration to the parent."""
    return "%s %d %.6g" % (PROGRESS_TAG, iteration, loss)


def parse_progress(line):
    """(iteration, loss text) of a progress line, or None for any other output."""
    fields = line.split()
    if len(fields) == 3 and fields[0] == PROGRESS_TAG:
        return int(fields[1]), fields[2]
    return None


def run_with_progress(command, folder, env, total, desc, progress=True, position=None, leave=True):
    """Run a child in ``folder``: stderr appended to its train.log, progress lines to a tqdm bar,
    any other stdout line printed. Returns (exit code, train.log's size before this run), so that
    the caller can read what this attempt logged."""
    log_path = os.path.join(folder, runs.TRAIN_LOG)
    with open(log_path, "ab") as log:
        log_start = log.tell()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env, text=True, cwd=folder)
        bar = tqdm(total=total, desc=desc, unit="iter", leave=leave, position=position, disable=not progress)
        try:
            for line in process.stdout:
                reported = parse_progress(line)
                if reported:
                    bar.n = reported[0] + 1
                    bar.set_postfix(loss=reported[1], refresh=True)
                elif line.strip():
                    tqdm.write(line.rstrip())
        finally:
            code = process.wait()
            bar.close()
    return code, log_start


def child_main(argv, usage, function):
    """The entry point of a child, ``python -m MODULE FOLDER``: glog's settings (read when pycaffe
    loads it), then ``function(FOLDER)`` for a folder holding a job file; else ``usage``."""
    argv = sys.argv[1:] if argv is None else argv
    for name, value in GLOG_ENV.items():
        os.environ.setdefault(name, value)
    if len(argv) != 1 or not os.path.isfile(os.path.join(argv[0], runs.JOB_FILE)):
        raise InputError("usage: " + usage)
    return function(argv[0])
