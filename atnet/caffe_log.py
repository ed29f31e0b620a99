"""Caffe's training-log parser (tools/extra/parse_log.py of BVLC Caffe), for Python 3.

Caffe's own script at commit 99bd997 is Python 2 only (a ``print``
statement) and reads only glog's ``I0210 13:39:22.381027`` prefix; glog 0.6
(Debian 12) writes ``I20260210 13:39:22.381027`` unless told not to
(``GLOG_log_year_in_prefix=false``, as the fold processes and
``setup/caffe-wrapper.sh`` set). This module reads both and writes exactly
what Caffe's script writes: ``<log name>.train`` and ``<log name>.test`` in
the output folder, CSV in Excel's dialect (CRLF line ends), columns
``NumIters, Seconds, LearningRate`` and then every net output in the order
Caffe logged them (``loss``, ``accuracy``, ...), numbers as Python floats.
Seconds count from the ``Solving`` line. The rules are Caffe's: a row is
complete when it has as many columns as the first row; the first row's
NaN learning rate (Caffe prints it after the first iteration) is copied
from the second row.

It is for people reading a log with Caffe's tools; the project's own
results come from its structured files (metrics.json, progress.csv), never
from log text.
"""
import collections
import csv
import datetime
import io
import os
import re

from atnet.common import InputError, write_text

REGEX_ITERATION = re.compile(r"Iteration (\d+)")
REGEX_TRAIN_OUTPUT = re.compile(r"Train net output #(\d+): (\S+) = ([\.\deE+-]+)")
REGEX_TEST_OUTPUT = re.compile(r"Test net output #(\d+): (\S+) = ([\.\deE+-]+)")
REGEX_LEARNING_RATE = re.compile(r"lr = ([-+]?[0-9]*\.?[0-9]+([eE]?[-+]?[0-9]+)?)")
#: glog's prefix: severity, [year]month day, time; e.g. I0210 or I20260210.
REGEX_PREFIX = re.compile(r"^[IWEF](\d{4})?(\d{2})(\d{2}) (\d{1,2}):(\d{2}):(\d{2})\.(\d{1,6})\b")


def line_datetime(line, year, where):
    """The time stamp of a glog line; the prefix's year wins over ``year`` (the file's)."""
    match = REGEX_PREFIX.match(line.strip())
    if not match:
        raise InputError("%s: no glog prefix such as 'I0210 13:39:22.381027' (is this a Caffe log?)" % where)
    prefix_year, month, day, hour, minute, second, micro = match.groups()
    return datetime.datetime(int(prefix_year or year), int(month), int(day), int(hour), int(minute),
                             int(second), int(micro.ljust(6, "0")))


def log_created_year(path):
    """The year a log file was written (Caffe's guess for prefixes without a year)."""
    return datetime.datetime.fromtimestamp(os.path.getctime(path)).year


def parse_log(path):
    """``(train_rows, test_rows)``: lists of OrderedDicts, as Caffe's parse_log returns."""
    year = log_created_year(path)
    iteration, learning_rate, start = -1, float("nan"), None
    train_rows, test_rows, train_row, test_row = [], [], None, None
    with open(path, errors="replace") as handle:
        lines = list(handle)
    for number, line in enumerate(lines, start=1):
        if start is None:
            if "Solving" in line:
                start = line_datetime(line, year, "%s, line %d" % (path, number))
            continue
        match = REGEX_ITERATION.search(line)
        if match:
            iteration = float(match.group(1))
        if iteration == -1:
            continue
        if not REGEX_PREFIX.match(line.strip()):
            continue        # a line without glog's prefix (a Python message): no time stamp
        seconds = (line_datetime(line, year, "%s, line %d" % (path, number)) - start).total_seconds()
        match = REGEX_LEARNING_RATE.search(line)
        if match:
            learning_rate = float(match.group(1))
        train_rows, train_row = _net_output(REGEX_TRAIN_OUTPUT, train_row, train_rows, line, iteration,
                                            seconds, learning_rate)
        test_rows, test_row = _net_output(REGEX_TEST_OUTPUT, test_row, test_rows, line, iteration,
                                          seconds, learning_rate)
    if start is None:
        raise InputError("%s: no 'Solving' line: not a Caffe training log" % path)
    for rows in (train_rows, test_rows):
        if len(rows) > 1:
            rows[0]["LearningRate"] = rows[1]["LearningRate"]
    return train_rows, test_rows


def _net_output(regex, row, rows, line, iteration, seconds, learning_rate):
    """Caffe's parse_line_for_net_output: add one output value, push full rows."""
    match = regex.search(line)
    if match:
        if not row or row["NumIters"] != iteration:
            if row:
                rows.append(row)
            row = collections.OrderedDict([("NumIters", iteration), ("Seconds", seconds),
                                           ("LearningRate", learning_rate)])
        row[match.group(2)] = float(match.group(3))
    if row and len(rows) >= 1 and len(row) == len(rows[0]):
        rows.append(row)
        row = None
    return rows, row


def table_text(rows, delimiter=","):
    """The CSV text Caffe writes for one table (Excel dialect: CRLF ends)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0].keys()), dialect=csv.excel, delimiter=delimiter)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def save_csv_files(log_path, out_dir, train_rows, test_rows, delimiter=",", log=None):
    """Write ``<log name>.train`` / ``.test`` into out_dir (a table without rows is not written)."""
    written = []
    for suffix, rows in (("train", train_rows), ("test", test_rows)):
        path = os.path.join(out_dir, "%s.%s" % (os.path.basename(log_path), suffix))
        if not rows:
            if log:
                log("Not writing %s; no lines to write" % path)
            continue
        write_text(path, table_text(rows, delimiter))
        written.append(path)
        if log:
            log("Wrote %s" % path)
    return written
