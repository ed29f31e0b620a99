"""What a training run tells its user as it goes and when folds fail (atnet.train).

A line per finished fold (its test counts and time, from DONE, and the
paper's metrics pooled over every fold finished so far), and, at the end of
a run with failures, each failed fold with the line of its train.log that
says why.
"""
import os
import re

from atnet import runs
from atnet.common import InputError, read_json


def finished_line(fold_dir, name):
    """The line a finished fold leaves: its test counts and time, from DONE."""
    try:
        done = read_json(os.path.join(fold_dir, runs.DONE_FILE))
        return "%s: done, %d iterations, %d/%d test samples correct, %.0f s" % (
            name, done["iterations"], done["test_correct"], done["test_samples"], done["seconds_last_attempt"])
    except (InputError, KeyError, TypeError, ValueError):
        return "%s: done" % name


def pooled_so_far(run_dir, names):
    """``; pooled so far (12 of 68 folds): UF1 0.512, UAR 0.498``: the paper's metrics on the
    predictions of every finished fold of the run, a running check while it trains."""
    from atnet.metrics import scores
    from atnet.predictions import read_predictions
    pooled, finished = [], 0
    for name in names:
        path = os.path.join(run_dir, name, runs.FOLD_PREDICTIONS)
        if runs.fold_is_done(os.path.join(run_dir, name)) and os.path.isfile(path):
            try:
                pooled += read_predictions(path)
            except InputError:
                continue
            finished += 1
    if not pooled:
        return ""
    pooled_scores = scores([p.label for p in pooled], [p.pred for p in pooled])
    return "; pooled so far (%d of %d folds): UF1 %.3f, UAR %.3f" % (
        finished, len(names), pooled_scores["uf1"], pooled_scores["uar"])


def failure_report(run_dir, names, status, failures):
    """The end of a run with failed folds: the counts, then each failed fold, its log's cause and the log."""
    trained = sum(1 for name in names if status.get(name) == "trained")
    skipped = sum(1 for name in names if status.get(name) == "skipped")
    lines = ["%d of %d fold(s) failed (%d trained, %d already done); re-run the same command to retry them "
             "(finished folds are skipped):" % (len(failures), len(names), trained, skipped)]
    for name in names:
        if name in failures:
            log_path = os.path.join(run_dir, name, runs.TRAIN_LOG)
            cause = log_cause(log_path) if os.path.isfile(log_path) else None
            lines.append("  %s: %s\n      (%s)" % (name, cause or str(failures[name]).splitlines()[0],
                                                    log_path if cause else "no train.log"))
    return "\n".join(lines)


def log_cause(log_path):
    """The line of a fold's log that says why it failed: glog's fatal line (``F... Check failed``),
    else the last line of a Python traceback (``...Error: ...``), else the last line; None if empty."""
    with open(log_path, errors="replace") as handle:
        lines = [line.rstrip() for line in handle if line.strip()]
    for pattern in (r"^F\d{4,8} ", r"^\w*(Error|Exception)\b.*:", r"^\w+(\.\w+)*(Error|Exception)\b"):
        found = [line for line in lines if re.match(pattern, line)]
        if found:
            return found[-1]
    return lines[-1] if lines else None
