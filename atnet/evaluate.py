"""Pool a run's fold predictions, compute the paper's metrics, write the report.

A run directory (its contract is atnet.runs) holds run.json (method, setting,
protocol, every expected fold), and RUN_DIR/<fold>/predictions.csv once that
fold has finished, optionally with its train_curve.csv. ``method`` and
``setting`` name the paper's row (atnet.variants declares them for the
network variants). The report, written into RUN_DIR or another
directory: metrics.json, metrics.csv, metrics.md, confusion.png,
training_curves.png (when curves exist), per_fold.csv and per_fold.png
(each fold's own clips and scores, for diagnosis) and predictions_all.csv
(the pool). metrics.json maps each table column (Full, CASME II, SAMM, SMIC)
to {acc, uf1, uar, n, confusion, acc_ci, uf1_ci, uar_ci} (the ``_ci`` are
95 % subject-level bootstrap intervals ``[low, high]``, atnet.uncertainty)
and also holds method, setting, protocol, partial, the missing folds and the
bootstrap's settings (``bootstrap``); it is written last, so its presence
means a complete report. The same seeds give the same bytes.

A seed group (a folder of ``seed-<N>/`` runs of one variant, tools/train.py
--seeds) is evaluated seed by seed, then as a whole: its metrics.json holds
per column the mean over the seeds, ``<metric>_sd``, ``<metric>_seeds`` and
the two-level interval ``<metric>_ci`` (atnet.comparisons.seed_group_document).
"""
import csv
import io
import os

import numpy as np

from atnet import runs
from atnet.common import (CLASS_NAMES, DATASET_TITLES, DATASETS, InputError, atomic_path, sha256_file, write_json,
                          write_text)
from atnet.comparisons import format_interval, load_run, seed_folders, seed_group_document
from atnet.folds import fold_name
from atnet.metrics import (METRIC_TITLES, METRICS, TABLE_COLUMNS, column_rows, confusion, scores,
                           scores_from_confusion)
from atnet.predictions import check_pooled_unique, read_predictions, write_predictions
from atnet.report import format_value, markdown_table
from atnet.runs import CURVE_COLUMNS, FOLD_CURVE, FOLD_PREDICTIONS, METRICS_FILE, RUN_FILE, read_run_info
from atnet.uncertainty import Bootstrap, run_intervals

PAPER_TABLE_OF = {"cde": "Table II", "hde": "Table III"}
PER_FOLD_FILE = "per_fold.csv"
PER_FOLD_CHART = "per_fold.png"
PER_FOLD_COLUMNS = ("fold", "dataset", "subjects", "n", "correct", "acc", "uf1", "uar")


def pool_run_predictions(run_dir, run, partial=False):
    """The pooled predictions of the finished folds and the names of the missing ones.

    Each fold's rows must belong to that fold (a CDE fold holds one subject,
    an HDE fold one dataset), must be exactly the held-out samples the fold
    recorded (runs.TEST_SAMPLES_FILE; with ``partial`` a fold lacking some is
    counted and listed in ``incomplete_folds``, never one with extra samples),
    and no sample may occur twice in the pool: a mis-copied predictions file
    is refused instead of silently counted. Returns (pooled, missing,
    incomplete {fold: missing keys}, digests {fold: sha256 of predictions.csv}).
    """
    pooled, missing, incomplete, digests = [], [], {}, {}
    for fold in run.folds:
        path = os.path.join(run_dir, fold, FOLD_PREDICTIONS)
        if not os.path.isfile(path):
            missing.append(fold)
            continue
        digests[fold] = sha256_file(path)
        predictions = read_predictions(path)
        for p in predictions:
            owner = fold_name(run.protocol, p.dataset, p.subject)
            if owner != fold:
                raise InputError("%s: sample %s belongs to fold %s, not %s" % (p.origin, p.key, owner, fold))
        absent = check_fold_samples(path, runs.read_test_samples(os.path.join(run_dir, fold)), predictions, partial)
        if absent:
            incomplete[fold] = absent
        pooled += predictions
    check_pooled_unique(pooled)
    return pooled, missing, incomplete, digests


def check_fold_samples(path, expected, predictions, partial):
    """The held-out samples without a prediction (allowed with ``partial``); InputError for
    predictions of samples the fold did not hold out, or for absent ones without ``partial``."""
    if expected is None:
        return []
    got = {p.key for p in predictions}
    extra = sorted(got - set(expected))
    absent = [key for key in expected if key not in got]
    if extra:
        raise InputError("%s: %d prediction(s) of samples this fold did not hold out, e.g. %s"
                         % (path, len(extra), extra[0]))
    if absent and not partial:
        raise InputError("%s: no prediction for %d of the fold's %d held-out samples, e.g. %s (use --partial "
                         "to report it marked as partial)" % (path, len(absent), len(expected), absent[0]))
    return absent


def metrics_document(predictions, protocol, boot=None, **meta):
    """metrics.json's content: per column the scores, their subject-level bootstrap intervals
    and the confusion matrix, plus ``meta`` and the bootstrap's settings."""
    boot = boot or Bootstrap()
    doc = dict(meta, protocol=protocol, bootstrap=boot.document())
    intervals = run_intervals([predictions], protocol, boot)
    for title, rows in column_rows(predictions, protocol).items():
        matrix = confusion([p.label for p in rows], [p.pred for p in rows])
        doc[title] = dict(scores_from_confusion(matrix), confusion=matrix.tolist(), **intervals[title])
    return doc


def is_seed_group(run_dir):
    """A folder of seed-<N>/ runs and no run.json of its own."""
    return not os.path.isfile(os.path.join(run_dir, RUN_FILE)) and bool(seed_folders(run_dir))


def evaluate_run(run_dir, out_dir=None, partial=False, boot=None):
    """Evaluate RUN_DIR (a run or a seed group); refuse missing folds by name unless ``partial``."""
    if is_seed_group(run_dir):
        return evaluate_seed_group(run_dir, out_dir, partial, boot)
    run = read_run_info(run_dir)
    predictions, missing, incomplete, digests = pool_run_predictions(run_dir, run, partial)
    if missing and not partial:
        raise InputError("%s: %d of %d folds have no %s yet: %s (use --partial to report the finished ones)"
                         % (run_dir, len(missing), len(run.folds), FOLD_PREDICTIONS, ", ".join(missing)))
    if not predictions:
        raise InputError("%s: no fold has finished (no %s found)" % (run_dir, FOLD_PREDICTIONS))
    # Curves of finished folds only: an unfinished fold may still be writing its curve.
    curves = {fold: read_curve(os.path.join(run_dir, fold, FOLD_CURVE)) for fold in run.folds
              if fold not in missing and os.path.isfile(os.path.join(run_dir, fold, FOLD_CURVE))}
    doc = metrics_document(predictions, run.protocol, boot, method=run.method, setting=run.setting,
                           partial=bool(missing or incomplete), missing_folds=missing,
                           incomplete_folds={fold: len(keys) for fold, keys in incomplete.items()},
                           predictions_sha256=digests,
                           folds_evaluated=len(run.folds) - len(missing), folds_expected=len(run.folds))
    write_report(out_dir or run_dir, doc, predictions, curves, run.folds)
    return doc


def evaluate_seed_group(group_dir, out_dir=None, partial=False, boot=None):
    """Evaluate every seed-<N>/ run of a seed group in place, then the group as a whole
    (metrics.json, metrics.md, metrics.csv in ``out_dir`` or the group folder)."""
    boot = boot or Bootstrap()
    members = [evaluate_run(member, None, partial, boot) for member in seed_folders(group_dir)]
    doc = seed_group_document(load_run(group_dir), boot)
    if any(m.get("partial") for m in members):
        doc.update(partial=True, folds_evaluated=min(m["folds_evaluated"] for m in members),
                   folds_expected=members[0]["folds_expected"],
                   missing_folds=sorted({f for m in members for f in m["missing_folds"]}))
    out_dir = out_dir or group_dir
    os.makedirs(out_dir, exist_ok=True)
    write_text(os.path.join(out_dir, "metrics.csv"), metrics_csv(doc))
    write_text(os.path.join(out_dir, "metrics.md"), metrics_markdown(doc))
    write_json(os.path.join(out_dir, METRICS_FILE), doc)
    return doc


def evaluate_file(predictions_csv, protocol, out_dir, method=None, setting=None, boot=None):
    """Evaluate any predictions CSV as the pooled predictions of ``protocol``."""
    predictions = read_predictions(predictions_csv)
    if not predictions:
        raise InputError("%s: no prediction rows" % predictions_csv)
    doc = metrics_document(predictions, protocol, boot, method=method, setting=setting, partial=False,
                           missing_folds=[], source=os.path.basename(predictions_csv))
    write_report(out_dir, doc, predictions, {})
    return doc


def per_fold_rows(predictions, protocol, folds=None):
    """One row per fold with predictions: its clips, correct count and its own Acc, UF1, UAR.

    For diagnosis only (which subjects are hard, which fold went wrong): the
    paper's metrics pool the folds, and a one-subject fold's scores are
    noisy. ``folds`` (a run's fold order) defaults to the order of first
    appearance.
    """
    by_fold = {}
    for p in predictions:
        by_fold.setdefault(fold_name(protocol, p.dataset, p.subject), []).append(p)
    rows = []
    for fold in [f for f in (folds or by_fold) if f in by_fold]:
        members = by_fold[fold]
        fold_scores = scores([p.label for p in members], [p.pred for p in members])
        rows.append(dict({m: fold_scores[m] for m in METRICS}, fold=fold, dataset=members[0].dataset,
                         subjects=len({p.subject for p in members}), n=len(members),
                         correct=sum(p.label == p.pred for p in members)))
    return rows


def per_fold_csv(rows):
    """per_fold.csv: fold, dataset, subjects, n, correct, acc, uf1, uar."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PER_FOLD_COLUMNS)
    for r in rows:
        writer.writerow([r[c] for c in PER_FOLD_COLUMNS[:5]] + ["%.6f" % r[m] for m in METRICS])
    return buffer.getvalue()


def per_fold_figure(rows, title):
    """Each fold's accuracy as a bar coloured by dataset, labelled correct/total, and the pooled Acc."""
    from matplotlib.patches import Patch
    fig = _figure(max(6.0, 0.16 * len(rows) + 2), 4.2)
    fig.suptitle(title + ": per fold")
    ax = fig.add_subplot(1, 1, 1)
    colours = {d: "C%d" % i for i, d in enumerate(DATASETS)}
    xs = np.arange(len(rows))
    ax.bar(xs, [r["acc"] for r in rows], color=[colours.get(r["dataset"], "grey") for r in rows])
    for x, r in zip(xs, rows):
        ax.text(x, r["acc"] + 0.02, "%d/%d" % (r["correct"], r["n"]), ha="center", va="bottom", fontsize=6,
                rotation=90)
    pooled = sum(r["correct"] for r in rows) / sum(r["n"] for r in rows)
    line = ax.axhline(pooled, color="black", lw=1, ls="--", label="pooled Acc %.3f" % pooled)
    ax.set_xticks(xs, [r["fold"] for r in rows], rotation=90, fontsize=6)
    ax.set(ylabel="accuracy of the fold's clips", ylim=(0, 1.2))
    present = [d for d in DATASETS if any(r["dataset"] == d for r in rows)]
    ax.legend(handles=[Patch(color=colours[d], label=DATASET_TITLES[d]) for d in present] + [line],
              fontsize=7, loc="upper right", ncol=4)
    return fig


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


def write_report(out_dir, doc, predictions, curves, folds=None):
    """Write every report file; metrics.json last, so it marks a complete report."""
    os.makedirs(out_dir, exist_ok=True)
    write_predictions(os.path.join(out_dir, "predictions_all.csv"), predictions)
    write_text(os.path.join(out_dir, "metrics.csv"), metrics_csv(doc))
    write_text(os.path.join(out_dir, "metrics.md"), metrics_markdown(doc))
    fold_rows = per_fold_rows(predictions, doc["protocol"], folds)
    write_text(os.path.join(out_dir, PER_FOLD_FILE), per_fold_csv(fold_rows))
    _save_figure(per_fold_figure(fold_rows, report_title(doc)), os.path.join(out_dir, PER_FOLD_CHART))
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
    """One line per table column: column, n, acc, uf1, uar, then each metric's interval
    (``<metric>_low``, ``<metric>_high``) and, for a seed group, sd over the seeds (empty when
    not computed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    group = "seeds" in doc
    extra = tuple("%s_%s" % (m, end) for m in METRICS for end in ("low", "high"))
    extra += tuple(m + "_sd" for m in METRICS) if group else ()
    writer.writerow(("column", "n") + METRICS + extra)
    for title in TABLE_COLUMNS:
        col = doc[title]
        values = [col[m] for m in METRICS]
        values += [None if col.get(m + "_ci") is None else col[m + "_ci"][i] for m in METRICS for i in (0, 1)]
        values += [col.get(m + "_sd") for m in METRICS] if group else []
        writer.writerow([title, col["n"]] + ["" if v is None else "%.6f" % v for v in values])
    return buffer.getvalue()


def metrics_markdown(doc):
    """The metrics as a Markdown table in the paper's layout and precision, each with its
    95 % interval (and, for a seed group, the sd over the seeds)."""
    lines = ["# " + report_title(doc), ""]
    if doc.get("missing_folds"):
        lines += ["Missing folds: " + ", ".join(doc["missing_folds"]), ""]
    boot = doc.get("bootstrap")
    if "seeds" in doc:
        lines += ["Mean over %d seeds (%s) ± sd over the seeds." % (len(doc["seeds"]), ", ".join(doc["seeds"])), ""]
    rows = [[title, doc[title]["n"]] + [_cell(doc[title], m) for m in METRICS] for title in TABLE_COLUMNS]
    lines.append(markdown_table(["Column", "n"] + [METRIC_TITLES[m] for m in METRICS], rows))
    if boot:
        lines += ["", "Intervals: %d %% %s over %s, %d resamples, seed %d (docs/statistics.md)."
                  % (round(100 * boot["level"]), boot["method"], boot["unit"], boot["resamples"], boot["seed"])]
    return "\n".join(lines)


def _cell(column, metric):
    """``0.612 [0.550, 0.671]``, with ``± 0.021`` for a seed group."""
    text = format_value(column[metric])
    if column.get(metric + "_sd") is not None:
        text += " ± %s" % format_value(column[metric + "_sd"])
    if column.get(metric + "_ci") is not None:
        text += " " + format_interval(column[metric + "_ci"])
    return text


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
