"""Pool a run's fold predictions, compute the paper's metrics, write the report.

A run directory (its contract is atnet.runs) holds run.json (method, setting,
protocol, every expected fold), and RUN_DIR/<fold>/predictions.csv once that
fold has finished, optionally with its train_curve.csv. ``method`` and
``setting`` name the paper's row (atnet.variants declares them for the
network variants). The report, written into RUN_DIR or another
directory: metrics.json, metrics.csv, metrics.md, confusion.png,
training_curves.png (when curves exist) and predictions_all.csv (the pool).
metrics.json maps each table column (Full, CASME II, SAMM, SMIC) to
{acc, uf1, uar, n, confusion} and also holds method, setting, protocol,
partial and the missing folds; it is written last, so its presence means a
complete report.
"""
import csv
import io
import os

import numpy as np

from atnet.common import CLASS_NAMES, InputError, atomic_path, write_json, write_text
from atnet.folds import fold_name
from atnet.metrics import METRIC_TITLES, METRICS, TABLE_COLUMNS, column_rows, confusion, scores_from_confusion
from atnet.predictions import check_pooled_unique, read_predictions, write_predictions
from atnet.report import format_value, markdown_table
from atnet.runs import CURVE_COLUMNS, FOLD_CURVE, FOLD_PREDICTIONS, METRICS_FILE, read_run_info

PAPER_TABLE_OF = {"cde": "Table II", "hde": "Table III"}


def pool_run_predictions(run_dir, run):
    """The pooled predictions of the finished folds and the names of the missing ones.

    Each fold's rows must belong to that fold (a CDE fold holds one subject,
    an HDE fold one dataset) and no sample may occur twice in the pool: a
    mis-copied predictions file is refused instead of silently counted.
    """
    pooled, missing = [], []
    for fold in run.folds:
        path = os.path.join(run_dir, fold, FOLD_PREDICTIONS)
        if not os.path.isfile(path):
            missing.append(fold)
            continue
        for p in read_predictions(path):
            owner = fold_name(run.protocol, p.dataset, p.subject)
            if owner != fold:
                raise InputError("%s: sample %s belongs to fold %s, not %s" % (p.origin, p.key, owner, fold))
            pooled.append(p)
    check_pooled_unique(pooled)
    return pooled, missing


def metrics_document(predictions, protocol, **meta):
    """metrics.json's content: per column the scores and confusion matrix, plus ``meta``."""
    doc = dict(meta, protocol=protocol)
    for title, rows in column_rows(predictions, protocol).items():
        matrix = confusion([p.label for p in rows], [p.pred for p in rows])
        doc[title] = dict(scores_from_confusion(matrix), confusion=matrix.tolist())
    return doc


def evaluate_run(run_dir, out_dir=None, partial=False):
    """Evaluate RUN_DIR; refuse missing folds by name unless ``partial``."""
    run = read_run_info(run_dir)
    predictions, missing = pool_run_predictions(run_dir, run)
    if missing and not partial:
        raise InputError("%s: %d of %d folds have no %s yet: %s (use --partial to report the finished ones)"
                         % (run_dir, len(missing), len(run.folds), FOLD_PREDICTIONS, ", ".join(missing)))
    if not predictions:
        raise InputError("%s: no fold has finished (no %s found)" % (run_dir, FOLD_PREDICTIONS))
    # Curves of finished folds only: an unfinished fold may still be writing its curve.
    curves = {fold: read_curve(os.path.join(run_dir, fold, FOLD_CURVE)) for fold in run.folds
              if fold not in missing and os.path.isfile(os.path.join(run_dir, fold, FOLD_CURVE))}
    doc = metrics_document(predictions, run.protocol, method=run.method, setting=run.setting,
                           partial=bool(missing), missing_folds=missing,
                           folds_evaluated=len(run.folds) - len(missing), folds_expected=len(run.folds))
    write_report(out_dir or run_dir, doc, predictions, curves)
    return doc


def evaluate_file(predictions_csv, protocol, out_dir, method=None, setting=None):
    """Evaluate any predictions CSV as the pooled predictions of ``protocol``."""
    predictions = read_predictions(predictions_csv)
    if not predictions:
        raise InputError("%s: no prediction rows" % predictions_csv)
    doc = metrics_document(predictions, protocol, method=method, setting=setting, partial=False,
                           missing_folds=[], source=os.path.basename(predictions_csv))
    write_report(out_dir, doc, predictions, {})
    return doc


def read_curve(path):
    """A fold's train_curve.csv as float arrays ``{'iter', 'loss', 'lr'}``."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CURVE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError("%s line 1: header lacks column(s) %s" % (path, ", ".join(missing)))
        values = []
        for row in reader:
            try:
                values.append([float(row[c]) for c in CURVE_COLUMNS])
            except (TypeError, ValueError):
                raise InputError("%s line %d: %s must be numbers"
                                 % (path, reader.line_num, ", ".join(CURVE_COLUMNS))) from None
    table = np.asarray(values, dtype=np.float64).reshape(-1, len(CURVE_COLUMNS))
    return {c: table[:, i] for i, c in enumerate(CURVE_COLUMNS)}


def write_report(out_dir, doc, predictions, curves):
    """Write every report file; metrics.json last, so it marks a complete report."""
    os.makedirs(out_dir, exist_ok=True)
    write_predictions(os.path.join(out_dir, "predictions_all.csv"), predictions)
    write_text(os.path.join(out_dir, "metrics.csv"), metrics_csv(doc))
    write_text(os.path.join(out_dir, "metrics.md"), metrics_markdown(doc))
    _save_figure(confusion_figure(doc), os.path.join(out_dir, "confusion.png"))
    if curves:
        _save_figure(curves_figure(curves, report_title(doc)), os.path.join(out_dir, "training_curves.png"))
    write_json(os.path.join(out_dir, METRICS_FILE), doc)


def report_title(doc):
    """E.g. ``ATNet Fusion, CDE (Table II)``; says so when the report is partial."""
    name = " ".join(x for x in (doc.get("method"), doc.get("setting")) if x) or doc.get("source", "predictions")
    title = "%s, %s (%s)" % (name, doc["protocol"].upper(), PAPER_TABLE_OF[doc["protocol"]])
    if doc.get("partial"):
        title += ", PARTIAL: %d of %d folds" % (doc["folds_evaluated"], doc["folds_expected"])
    return title


def metrics_csv(doc):
    """One line per table column: column, n, acc, uf1, uar (empty when not computed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("column", "n") + METRICS)
    for title in TABLE_COLUMNS:
        col = doc[title]
        writer.writerow([title, col["n"]] + ["" if col[m] is None else "%.6f" % col[m] for m in METRICS])
    return buffer.getvalue()


def metrics_markdown(doc):
    """The metrics as a Markdown table in the paper's layout and precision."""
    lines = ["# " + report_title(doc), ""]
    if doc.get("missing_folds"):
        lines += ["Missing folds: " + ", ".join(doc["missing_folds"]), ""]
    rows = [[title, doc[title]["n"]] + [format_value(doc[title][m]) for m in METRICS] for title in TABLE_COLUMNS]
    lines.append(markdown_table(["Column", "n"] + [METRIC_TITLES[m] for m in METRICS], rows))
    return "\n".join(lines)


def _figure(width, height):
    """A matplotlib Figure on the Agg canvas (no pyplot, no global backend state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save_figure(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def confusion_figure(doc):
    """One confusion-matrix panel per column with predictions; colour = share of the true class."""
    titles = [t for t in TABLE_COLUMNS if doc[t]["n"]]
    fig = _figure(3.2 * len(titles), 4.0)
    fig.suptitle(report_title(doc))
    for i, title in enumerate(titles):
        ax = fig.add_subplot(1, len(titles), i + 1)
        counts = np.asarray(doc[title]["confusion"])
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for (row, col), count in np.ndenumerate(counts):
            ax.text(col, row, str(count), ha="center", va="center",
                    color="white" if shares[row, col] > 0.5 else "black")
        ax.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES, fontsize=8)
        ax.set_yticks(range(len(CLASS_NAMES)), CLASS_NAMES if i == 0 else [""] * len(CLASS_NAMES), fontsize=8)
        ax.set_xlabel("predicted")
        if i == 0:
            ax.set_ylabel("true")
        col = doc[title]
        ax.set_title("%s (n=%d)\nUF1 %s  UAR %s" % (title, col["n"], format_value(col["uf1"]),
                                                    format_value(col["uar"])), fontsize=9)
    return fig


def curves_figure(curves, title):
    """Loss and learning rate against iteration: one line per fold, plus the folds' mean loss."""
    fig = _figure(10, 4)
    fig.suptitle(title)
    loss_ax, lr_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    alpha = 1.0 if len(curves) <= 8 else 0.3
    for fold, curve in curves.items():
        label = fold if len(curves) <= 8 else None
        loss_ax.plot(curve["iter"], curve["loss"], lw=0.8, alpha=alpha, label=label)
        lr_ax.plot(curve["iter"], curve["lr"], lw=0.8, alpha=alpha, drawstyle="steps-post")
    if len(curves) > 1:
        iters, mean_loss = _mean_curve(curves)
        loss_ax.plot(iters, mean_loss, color="black", lw=1.6, label="mean over folds")
    loss_ax.set(xlabel="iteration", ylabel="training loss")
    loss_ax.legend(fontsize=7)
    lr_ax.set(xlabel="iteration", ylabel="learning rate", yscale="log")
    return fig


def _mean_curve(curves):
    """Mean loss at each logged iteration over the folds that logged it (fold lengths differ)."""
    by_iter = {}
    for curve in curves.values():
        for it, loss in zip(curve["iter"], curve["loss"]):
            by_iter.setdefault(it, []).append(loss)
    iters = sorted(by_iter)
    return iters, [float(np.mean(by_iter[it])) for it in iters]
