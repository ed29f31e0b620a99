"""The paper's qualitative claims as data, and whether our runs bear them out.

``resources/paper_claims.csv`` holds one row per (claim, column, metric): in
that column of that table (II: CDE, III: HDE), the ``better`` method and
setting scores higher than the ``worse`` one on that metric. The claims are
the paper's central ones: CDE, the fusion model beats both streams and the
apex-frame methods (the spatial stream and Micro-Attention, which see the
apex frame only); HDE, the temporal stream beats the apex-frame methods and
so does the fusion model. Rows cover UF1 and UAR (the MEGC2019 metrics the
paper ranks by) in every column where the paper's own numbers show the
ordering; the one cell where they do not (Table II, SAMM, UAR: fusion 0.482,
temporal 0.490) is left out. tests/test_stats_claims.py checks every row
against paper_tables.csv.

A cell's verdict comes from the paired subject-level bootstrap of better
minus worse (atnet.uncertainty): supported when the whole 95 % interval is
above 0, contradicted when it is below 0, undecided when it holds 0, and
undecided ("not tested") when no given run is one of the two methods. A
claim is supported when all its tested cells are and every cell was tested,
contradicted when any cell is, and undecided otherwise. No correction for
the number of cells is made: the verdicts say which differences are clear of
subject-sampling noise one at a time, not a joint test.
"""
import csv
import dataclasses
import importlib.resources
import io

from atnet.common import InputError
from atnet.comparisons import format_interval
from atnet.metrics import METRIC_TITLES, METRICS
from atnet.paper import TABLE_OF_PROTOCOL
from atnet.report import format_value, markdown_table
from atnet.uncertainty import compare_predictions

CLAIM_COLUMNS = ("claim", "table", "column", "metric", "better_method", "better_setting",
                 "worse_method", "worse_setting", "statement")
SUPPORTED, CONTRADICTED, UNDECIDED = "supported", "contradicted", "undecided"


@dataclasses.dataclass(frozen=True)
class ClaimCell:
    """One ordering: in ``column`` of ``table``, better beats worse on ``metric``."""
    claim: str
    table: str
    column: str
    metric: str
    better: tuple  # (method, setting)
    worse: tuple
    statement: str


def load_claims(path=None):
    """Every row of the claims file (the packaged one unless ``path`` is given), checked."""
    resource = path or importlib.resources.files("atnet").joinpath("resources", "paper_claims.csv")
    with open(resource, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CLAIM_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError("%s line 1: header lacks column(s) %s" % (resource, ", ".join(missing)))
        cells = []
        for row in reader:
            where = "%s line %d" % (resource, reader.line_num)
            if row["table"] not in TABLE_OF_PROTOCOL.values():
                raise InputError("%s: table %r is not II or III" % (where, row["table"]))
            if row["metric"] not in METRICS:
                raise InputError("%s: metric %r is not one of %s" % (where, row["metric"], ", ".join(METRICS)))
            cells.append(ClaimCell(row["claim"], row["table"], row["column"], row["metric"],
                                   (row["better_method"], row["better_setting"]),
                                   (row["worse_method"], row["worse_setting"]), row["statement"]))
    return cells


@dataclasses.dataclass(frozen=True)
class CellVerdict:
    """A claim cell with our difference (better minus worse), its interval and the verdict."""
    cell: ClaimCell
    verdict: str
    difference: float = None
    interval: list = None
    better_run: str = None
    worse_run: str = None
    reason: str = ""


def _runs_by_row(runs):
    """``{(table, method, setting): run}``; two runs of one row are ambiguous and refused."""
    found = {}
    for run in runs:
        if not run.method or not run.setting:
            raise InputError("%s names no method and setting (a predictions CSV cannot be matched to a claim; "
                             "evaluate a run directory)" % run.path)
        key = (TABLE_OF_PROTOCOL[run.protocol], run.method, run.setting)
        if key in found:
            raise InputError("%s and %s are both %s %s runs of Table %s: give one (a seed group holds several seeds)"
                             % (found[key].path, run.path, run.method, run.setting, key[0]))
        found[key] = run
    return found


def judge(difference_interval):
    """The verdict of one interval of better minus worse."""
    low, high = difference_interval
    if low > 0:
        return SUPPORTED
    if high < 0:
        return CONTRADICTED
    return UNDECIDED


def check_claims(runs, boot, cells=None):
    """A CellVerdict for every claim cell, in the claims file's order."""
    cells = cells if cells is not None else load_claims()
    by_row = _runs_by_row(runs)
    cache = {}
    verdicts = []
    for cell in cells:
        better, worse = by_row.get((cell.table,) + cell.better), by_row.get((cell.table,) + cell.worse)
        absent = [" ".join(side) for side, run in ((cell.better, better), (cell.worse, worse)) if run is None]
        if absent:
            verdicts.append(CellVerdict(cell, UNDECIDED, reason="not tested: no run of %s" % " or ".join(absent)))
            continue
        key = (better.path, worse.path)
        if key not in cache:
            cache[key] = compare_predictions(better.predictions, worse.predictions, better.protocol, boot,
                                             ["%s (%s)" % (better.path, s) for s in better.seeds],
                                             ["%s (%s)" % (worse.path, s) for s in worse.seeds])
        column = cache[key].get(cell.column)
        if column is None:
            verdicts.append(CellVerdict(cell, UNDECIDED, better_run=better.path, worse_run=worse.path,
                                        reason="not tested: no predictions in column %s" % cell.column))
            continue
        interval = column["d_%s_ci" % cell.metric]
        verdicts.append(CellVerdict(cell, judge(interval), column["d_" + cell.metric], interval,
                                    better.path, worse.path))
    return verdicts


def claim_verdicts(verdicts):
    """``{claim: (verdict, statement, [CellVerdict])}``: contradicted if any cell is, supported
    if every cell is, otherwise undecided."""
    grouped = {}
    for v in verdicts:
        grouped.setdefault(v.cell.claim, []).append(v)
    result = {}
    for claim, cells in grouped.items():
        kinds = {c.verdict for c in cells}
        overall = CONTRADICTED if CONTRADICTED in kinds else SUPPORTED if kinds == {SUPPORTED} else UNDECIDED
        result[claim] = (overall, cells[0].cell.statement, cells)
    return result


def claims_markdown(verdicts, boot):
    """Per claim its verdict, then one row per cell with our difference and interval."""
    level = int(round(100 * boot.level))
    lines = ["# The paper's claims tested on our runs", "",
             "Better minus worse, paired subject-level bootstrap (%d resamples, seed %d, %d %% intervals): "
             "supported when the interval is above 0, contradicted when below, undecided otherwise."
             % (boot.resamples, boot.seed, level), ""]
    grouped = claim_verdicts(verdicts)
    summary = [[claim, overall.upper(), statement] for claim, (overall, statement, _) in grouped.items()]
    lines += [markdown_table(["Claim", "Verdict", "Statement"], summary)]
    rows = []
    for claim, (_, _, cells) in grouped.items():
        for v in cells:
            rows.append([claim, "Table " + v.cell.table, v.cell.column, METRIC_TITLES[v.cell.metric],
                         format_value(v.difference, signed=True), format_interval(v.interval, signed=True),
                         v.verdict + (" (%s)" % v.reason if v.reason else "")])
    lines += [markdown_table(["Claim", "Table", "Column", "Metric", "Better - worse", "%d %% interval" % level,
                              "Verdict"], rows)]
    counts = {kind: sum(1 for overall, _, _ in grouped.values() if overall == kind)
              for kind in (SUPPORTED, CONTRADICTED, UNDECIDED)}
    lines.append("%d claims: %d supported, %d contradicted, %d undecided."
                 % (len(grouped), counts[SUPPORTED], counts[CONTRADICTED], counts[UNDECIDED]))
    return "\n".join(lines) + "\n"


def claims_csv(verdicts):
    """One line per claim cell: claim, table, column, metric, better, worse, difference, interval, verdict."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("claim", "table", "column", "metric", "better", "worse", "difference", "ci_low", "ci_high",
                     "verdict", "reason", "better_run", "worse_run"))
    for v in verdicts:
        writer.writerow((v.cell.claim, v.cell.table, v.cell.column, v.cell.metric, " ".join(v.cell.better),
                         " ".join(v.cell.worse), "" if v.difference is None else "%.6f" % v.difference,
                         "" if v.interval is None else "%.6f" % v.interval[0],
                         "" if v.interval is None else "%.6f" % v.interval[1], v.verdict, v.reason,
                         v.better_run or "", v.worse_run or ""))
    return buffer.getvalue()
