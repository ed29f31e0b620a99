"""The paper's Tables II and III as data, and our metrics beside them.

``resources/paper_tables.csv`` (a copy of the project's spec file) holds one
row per (table, method, setting, column) with acc, uf1 and uar as printed in
the paper; Table III reports no accuracy, so its acc cells are empty.
"""
import csv
import dataclasses
import importlib.resources
import io
import os
import re

from atnet.common import InputError, read_json, sha256_file
from atnet.metrics import METRIC_TITLES, METRICS
from atnet.report import format_value, markdown_table
from atnet.variants import VARIANTS

#: The paper table of each protocol.
TABLE_OF_PROTOCOL = {"cde": "II", "hde": "III"}
TABLE_TITLES = {"II": "Table II: composite database evaluation (CDE)",
                "III": "Table III: holdout-database evaluation (HDE)"}
#: The paper's (method, setting) row of each network variant, for run.json (declared in atnet.variants).
MODEL_ROWS = {name: variant.table_row for name, variant in VARIANTS.items()}


@dataclasses.dataclass(frozen=True)
class PaperRow:
    """One printed cell group of the paper: a method/setting's scores in one column."""
    table: str
    method: str
    setting: str
    column: str
    acc: float
    uf1: float
    uar: float


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One metric of one column: the paper's value, ours, ours minus the paper's and,
    when a tolerance was given, whether the difference is within it (else None); our 95 %
    interval (metrics.json's ``<metric>_ci``) and whether the paper's value lies inside it
    (None when we have no interval)."""
    column: str
    metric: str
    paper: float
    ours: float
    difference: float
    within_tolerance: bool
    interval: list = None
    inside_interval: bool = None


def load_paper_rows(path=None):
    """Every row of the paper's tables (the packaged copy unless ``path`` is given)."""
    resource = path or importlib.resources.files("atnet").joinpath("resources", "paper_tables.csv")
    with open(resource, encoding="utf-8", newline="") as handle:
        return [PaperRow(r["table"], r["method"], r["setting"], r["column"],
                         *(float(r[m]) if r[m] else None for m in METRICS))
                for r in csv.DictReader(handle)]


def _normalised(text):
    return re.sub(r"\s+", " ", str(text)).strip().casefold()


def paper_results(rows, table, method, setting):
    """``{column: PaperRow}`` of one method and setting in one table.

    Method and setting match ignoring case and repeated spaces. A pair the
    table does not have is an InputError that lists the table's valid pairs.
    """
    found = {r.column: r for r in rows if r.table == table
             and _normalised(r.method) == _normalised(method) and _normalised(r.setting) == _normalised(setting)}
    if not found:
        valid = sorted({(r.method, r.setting) for r in rows if r.table == table})
        raise InputError("Table %s has no row for method %r, setting %r; valid (method, setting) pairs: %s"
                         % (table, method, setting, "; ".join("%s / %s" % pair for pair in valid)))
    return found


def compare(metrics, paper, tolerance=None):
    """Comparisons for every value the paper prints, in column then metric order.

    ``metrics`` is a metrics.json document. A value we could not compute
    (no predictions in that column) has ``ours`` None and, when a tolerance
    is asked for, counts as outside it: a check must not pass on no data.
    """
    comparisons = []
    for column, row in paper.items():
        for metric in METRICS:
            theirs = getattr(row, metric)
            if theirs is None:
                continue
            ours = metrics.get(column, {}).get(metric)
            difference = None if ours is None else ours - theirs
            within = None if tolerance is None else (difference is not None
                                                     and abs(difference) <= tolerance + 1e-12)
            interval = metrics.get(column, {}).get(metric + "_ci")
            inside = None if interval is None else interval[0] - 1e-12 <= theirs <= interval[1] + 1e-12
            comparisons.append(Comparison(column, metric, theirs, ours, difference, within, interval, inside))
    return comparisons


@dataclasses.dataclass(frozen=True)
class RunComparison:
    """A run's metrics beside its paper row."""
    name: str
    metrics: dict
    table: str
    comparisons: list


def load_run_metrics(run_dir):
    """RUN_DIR/metrics.json (written by tools/evaluate.py), checked for what comparing needs."""
    path = os.path.join(run_dir, "metrics.json")
    if not os.path.isfile(path):
        raise InputError("%s not found: run tools/evaluate.py %s first" % (path, run_dir))
    doc = read_json(path)
    if not isinstance(doc, dict) or doc.get("protocol") not in TABLE_OF_PROTOCOL:
        raise InputError("%s: 'protocol' must be one of %s" % (path, ", ".join(TABLE_OF_PROTOCOL)))
    if not doc.get("method") or not doc.get("setting"):
        raise InputError("%s: no method and setting to find the paper's row by (evaluate a run directory, "
                         "or pass --method and --setting to tools/evaluate.py --predictions)" % path)
    check_metrics_current(run_dir, doc, path)
    return doc


def check_metrics_current(run_dir, doc, path):
    """InputError unless metrics.json summarises the predictions the run's folds hold now.

    evaluate records each fold's predictions.csv checksum; a fold that
    finished, changed or vanished since then makes the report stale.
    Contents, not modification times, decide (clocks differ on shared file systems).
    """
    recorded = doc.get("predictions_sha256")
    run_file = os.path.join(run_dir, "run.json")
    if recorded is None or not os.path.isfile(run_file):
        return                                        # a report of a predictions file, or an older one
    from atnet.runs import FOLD_PREDICTIONS, read_run_info
    for fold in read_run_info(run_dir).folds:
        predictions = os.path.join(run_dir, fold, FOLD_PREDICTIONS)
        now = sha256_file(predictions) if os.path.isfile(predictions) else None
        if now != recorded.get(fold):
            raise InputError("%s is older than %s (%s since it was evaluated); re-run tools/evaluate.py %s"
                             % (path, predictions, "written" if recorded.get(fold) is None else
                                "removed" if now is None else "changed", run_dir))


def compare_runs(run_dirs, tolerance=None, rows=None):
    """Each run beside its row of Table II (CDE runs) or Table III (HDE runs)."""
    rows = rows if rows is not None else load_paper_rows()
    results = []
    for run_dir in run_dirs:
        doc = load_run_metrics(run_dir)
        table = TABLE_OF_PROTOCOL[doc["protocol"]]
        try:
            paper = paper_results(rows, table, doc["method"], doc["setting"])
        except InputError as err:
            raise InputError("%s: %s" % (os.path.join(run_dir, "metrics.json"), err)) from None
        results.append(RunComparison(os.path.basename(os.path.normpath(run_dir)), doc, table,
                                     compare(doc, paper, tolerance)))
    return results


def misses(results):
    """The comparisons outside the tolerance, over all runs."""
    return [c for r in results for c in r.comparisons if c.within_tolerance is False]


def interval_summary(results):
    """``k of n paper values inside our 95 % intervals`` (n counts the values we have an interval for)."""
    with_interval = [c for r in results for c in r.comparisons if c.inside_interval is not None]
    level = next((r.metrics.get("bootstrap", {}).get("level") for r in results if r.metrics.get("bootstrap")), 0.95)
    return "%d of %d paper values inside our %d %% intervals." % (
        sum(c.inside_interval for c in with_interval), len(with_interval), round(100 * level))


def comparison_markdown(results, tolerance=None, label=None):
    """Both tables, paper | ours | difference per metric; values outside the tolerance in bold."""
    title = "Our results beside the paper's" + (" (%s)" % label if label else "")
    lines = ["# " + title, ""]
    for table in ("II", "III"):
        lines += ["## " + TABLE_TITLES[table], ""]
        in_table = [r for r in results if r.table == table]
        if not in_table:
            lines += ["No run of this protocol was given.", ""]
            continue
        header = ["Run", "Method", "Setting", "Column"]
        for metric in METRICS:
            header += [METRIC_TITLES[metric] + suffix for suffix in (" paper", " ours [95 % interval]", " diff")]
        lines.append(markdown_table(header, [row for r in in_table for row in _markdown_rows(r)]))
    lines.append("In: the paper's value lies inside our interval; OUT: outside. " + interval_summary(results))
    lines.append("")
    if tolerance is not None:
        missed = misses(results)
        lines.append("Tolerance %.3f: %d of %d compared values outside it."
                     % (tolerance, len(missed), sum(len(r.comparisons) for r in results)))
    return "\n".join(lines) + "\n"


def _markdown_rows(result):
    """One row per paper column; metrics the paper does not print show dashes."""
    setting = result.metrics["setting"]
    if result.metrics.get("partial"):
        setting += " (partial: %d of %d folds)" % (result.metrics["folds_evaluated"], result.metrics["folds_expected"])
    by_cell = {(c.column, c.metric): c for c in result.comparisons}
    rows = []
    for column in dict.fromkeys(c.column for c in result.comparisons):
        row = [result.name, result.metrics["method"], setting, column]
        for metric in METRICS:
            c = by_cell.get((column, metric))
            if c is None:
                row += ["–", format_value(result.metrics.get(column, {}).get(metric)), "–"]
                continue
            diff = format_value(c.difference, signed=True)
            if c.within_tolerance is False:
                diff = "**%s**" % diff
            row += [format_value(c.paper), _ours_cell(c), diff]
        rows.append(row)
    return rows


def _ours_cell(comparison):
    """``0.612 [0.550, 0.671] in`` (or ``OUT``); just the value when there is no interval."""
    text = format_value(comparison.ours)
    if comparison.interval is None:
        return text
    return "%s [%s, %s] %s" % (text, format_value(comparison.interval[0]), format_value(comparison.interval[1]),
                               "in" if comparison.inside_interval else "OUT")


def comparison_csv(results):
    """One line per compared value: table, run, method, setting, column, metric, paper, ours, difference,
    within_tolerance, our interval (ci_low, ci_high) and whether the paper's value is inside it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("table", "run", "method", "setting", "partial", "column", "metric",
                     "paper", "ours", "difference", "within_tolerance", "ci_low", "ci_high", "inside_interval"))
    for r in results:
        for c in r.comparisons:
            writer.writerow((r.table, r.name, r.metrics["method"], r.metrics["setting"],
                             int(bool(r.metrics.get("partial"))), c.column, c.metric, "%.3f" % c.paper,
                             "" if c.ours is None else "%.6f" % c.ours,
                             "" if c.difference is None else "%.6f" % c.difference,
                             "" if c.within_tolerance is None else int(c.within_tolerance),
                             "" if c.interval is None else "%.6f" % c.interval[0],
                             "" if c.interval is None else "%.6f" % c.interval[1],
                             "" if c.inside_interval is None else int(c.inside_interval)))
    return buffer.getvalue()
