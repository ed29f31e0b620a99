"""Evaluated runs as inputs of the paired statistics, and comparison.json.

What tools/compare_runs.py and tools/check_claims.py accept as a "run":

- an evaluated run directory (metrics.json and predictions_all.csv from
  tools/evaluate.py; metrics.json names the protocol, method and setting);
- a seed group: a directory whose ``seed-<N>/`` folders are evaluated runs of
  one variant and protocol on the same clips (tools/train.py --seeds writes
  this layout);
- a predictions CSV (atnet.predictions), whose protocol is given by the
  caller (CDE unless told otherwise) and which names no paper row.

comparison.json (tools/compare_runs.py A B --out DIR) holds, per table
column, ``d_acc``, ``d_uf1``, ``d_uar`` (A minus B; the mean over seeds for a
seed group), each with ``d_<metric>_ci`` ``[low, high]`` from the paired
subject-level bootstrap, ``mcnemar_p`` (exact McNemar on per-clip
correctness), each side's scores ``a_<metric>``/``b_<metric>``, ``n`` and
``subjects``; at the top level both runs, the protocol and the bootstrap's
settings.
"""
import dataclasses
import os
import re

from atnet.common import InputError, read_json
from atnet.folds import PROTOCOLS
from atnet.metrics import METRIC_TITLES, METRICS, TABLE_COLUMNS
from atnet.predictions import read_predictions
from atnet.report import format_value, markdown_table
from atnet.runs import METRICS_FILE
from atnet.uncertainty import compare_predictions, run_intervals, seed_statistics

#: The pooled predictions tools/evaluate.py writes beside metrics.json.
POOLED_PREDICTIONS = "predictions_all.csv"
#: A seed group's member folders: RUN/seed-0, RUN/seed-1, ...
SEED_FOLDER = re.compile(r"^seed-(\d+)$")


@dataclasses.dataclass(frozen=True)
class RunPredictions:
    """One method's pooled predictions: one list per seed (a single run has one)."""
    name: str
    path: str
    protocol: str
    method: str
    setting: str
    seeds: tuple
    predictions: tuple

    def describe(self):
        """The run as comparison.json records it."""
        return {"name": self.name, "path": self.path, "method": self.method, "setting": self.setting,
                "seeds": list(self.seeds)}

    @property
    def label(self):
        """E.g. ``ATNet Fusion`` or the file name when no paper row is known."""
        return " ".join(x for x in (self.method, self.setting) if x) or self.name


def seed_folders(path):
    """The ``seed-<N>`` sub-folders of ``path`` in seed order (empty when it is no seed group)."""
    if not os.path.isdir(path):
        return []
    found = [(int(m.group(1)), name) for name in os.listdir(path)
             for m in [SEED_FOLDER.match(name)] if m and os.path.isdir(os.path.join(path, name))]
    return [os.path.join(path, name) for _, name in sorted(found)]


def _evaluated_run(run_dir):
    """metrics.json and the pooled predictions of one evaluated run directory."""
    metrics_path = os.path.join(run_dir, METRICS_FILE)
    pooled_path = os.path.join(run_dir, POOLED_PREDICTIONS)
    for path in (metrics_path, pooled_path):
        if not os.path.isfile(path):
            raise InputError("%s not found: run tools/evaluate.py %s first" % (path, run_dir))
    doc = read_json(metrics_path)
    if not isinstance(doc, dict) or doc.get("protocol") not in PROTOCOLS:
        raise InputError("%s: 'protocol' must be one of %s" % (metrics_path, ", ".join(PROTOCOLS)))
    return doc, read_predictions(pooled_path)


def load_run(path, protocol=None):
    """The RunPredictions of a run directory, a seed group or a predictions CSV.

    ``protocol`` is required to match an evaluated run's own and is the
    protocol of a predictions CSV (CDE when None).
    """
    path = os.path.normpath(os.fspath(path))
    name = os.path.basename(path)
    if os.path.isfile(path):
        predictions = read_predictions(path)
        if not predictions:
            raise InputError("%s: no prediction rows" % path)
        return RunPredictions(name, path, protocol or "cde", None, None, (name,), (tuple(predictions),))
    members = seed_folders(path) or ([path] if os.path.isdir(path) else [])
    if not members:
        raise InputError("%s: no such run directory, seed group or predictions CSV" % path)
    docs, predictions = zip(*(_evaluated_run(member) for member in members))
    first = docs[0]
    for member, doc in zip(members[1:], docs[1:]):
        for key in ("protocol", "method", "setting"):
            if doc.get(key) != first.get(key):
                raise InputError("%s: %s %r differs from %s's %r: a seed group holds one variant and protocol"
                                 % (os.path.join(member, METRICS_FILE), key, doc.get(key), members[0],
                                    first.get(key)))
    if protocol and first["protocol"] != protocol:
        raise InputError("%s: protocol %s, but %s was asked for" % (members[0], first["protocol"], protocol))
    seeds = tuple(os.path.basename(m) for m in members) if len(members) > 1 or members[0] != path else (name,)
    return RunPredictions(name, path, first["protocol"], first.get("method"), first.get("setting"),
                          seeds, tuple(tuple(p) for p in predictions))


def seed_group_summary(run):
    """Per column, the mean and sd over the seeds of each metric (atnet.uncertainty.seed_statistics)."""
    return seed_statistics(run.predictions, run.protocol, run.seeds)


def seed_group_document(run, boot):
    """A seed group's metrics.json: per column the mean over seeds of each metric, its sd and
    per-seed values, and the two-level interval (``<metric>_ci``); the seeds and the
    bootstrap's settings at the top level."""
    doc = {"method": run.method, "setting": run.setting, "protocol": run.protocol, "seeds": list(run.seeds),
           "bootstrap": boot.document(), "partial": False, "missing_folds": []}
    stats = seed_group_summary(run)
    intervals = run_intervals(run.predictions, run.protocol, boot, ["%s (%s)" % (run.path, s) for s in run.seeds])
    for title in TABLE_COLUMNS:
        doc[title] = dict(stats[title], **intervals[title])
    return doc


def comparison_document(run_a, run_b, boot):
    """comparison.json's content for A minus B (see the module docstring)."""
    if run_a.protocol != run_b.protocol:
        raise InputError("%s is a %s run but %s is a %s run: compare runs of one protocol"
                         % (run_a.path, run_a.protocol.upper(), run_b.path, run_b.protocol.upper()))
    columns = compare_predictions(run_a.predictions, run_b.predictions, run_a.protocol, boot,
                                  ["%s (%s)" % (run_a.path, s) for s in run_a.seeds],
                                  ["%s (%s)" % (run_b.path, s) for s in run_b.seeds])
    stats_a, stats_b = seed_group_summary(run_a), seed_group_summary(run_b)
    doc = {"a": run_a.describe(), "b": run_b.describe(), "protocol": run_a.protocol,
           "bootstrap": boot.document(), "difference": "A minus B"}
    for title, column in columns.items():
        for m in METRICS:
            column["a_" + m], column["b_" + m] = stats_a[title][m], stats_b[title][m]
        doc[title] = column
    return doc


def comparison_markdown(doc):
    """comparison.json as a Markdown table: per column and metric A, B, A - B [95 % interval], McNemar p."""
    level = int(round(100 * doc["bootstrap"]["level"]))
    lines = ["# %s minus %s (%s)" % (_side_label(doc["a"]), _side_label(doc["b"]), doc["protocol"].upper()), "",
             "Paired subject-level bootstrap (%d resamples, seed %d); McNemar's exact test on per-clip "
             "correctness." % (doc["bootstrap"]["resamples"], doc["bootstrap"]["seed"]), ""]
    rows = []
    for title in TABLE_COLUMNS:
        if title not in doc:
            continue
        column = doc[title]
        for m in METRICS:
            rows.append([title, column["n"], METRIC_TITLES[m], format_value(column["a_" + m]),
                         format_value(column["b_" + m]), format_value(column["d_" + m], signed=True),
                         format_interval(column["d_%s_ci" % m], signed=True),
                         "%.3g" % column["mcnemar_p"] if m == "acc" else ""])
    lines.append(markdown_table(["Column", "n", "Metric", "A", "B", "A - B", "%d %% interval" % level,
                                 "McNemar p"], rows))
    return "\n".join(lines)


def _side_label(side):
    return " ".join(x for x in (side.get("method"), side.get("setting")) if x) or side["name"]


def format_interval(interval, signed=False):
    """``[0.512, 0.634]`` as the tables print it; None as a dash."""
    if interval is None:
        return "–"
    return "[%s, %s]" % (format_value(interval[0], signed=signed), format_value(interval[1], signed=signed))

