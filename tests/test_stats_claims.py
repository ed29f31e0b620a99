"""The paper's claims as data, and tools/check_claims.py's verdicts on runs built to support,
contradict or leave them open."""
import csv

import numpy as np
import pytest

from atnet.claims import CONTRADICTED, SUPPORTED, UNDECIDED, check_claims, claim_verdicts, judge, load_claims
from atnet.comparisons import load_run
from atnet.data.composite import composite_samples
from atnet.evaluate import evaluate_file
from atnet.paper import load_paper_rows
from atnet.predictions import write_predictions
from atnet.uncertainty import Bootstrap
from stats_support import composite_predictions, tool

FUSION, TEMPORAL = ("ATNet", "Fusion"), ("ATNet", "Temporal Stream")
SPATIAL, MICRO_ATTENTION = ("ATNet", "Spatial Stream"), ("Micro-Attention", "apex")


def test_every_claim_holds_in_the_papers_own_numbers():
    rows = {(r.table, r.method, r.setting, r.column): r for r in load_paper_rows()}
    cells = load_claims()
    for cell in cells:
        better = getattr(rows[(cell.table,) + cell.better + (cell.column,)], cell.metric)
        worse = getattr(rows[(cell.table,) + cell.worse + (cell.column,)], cell.metric)
        assert better > worse, cell
    claims = {c.claim for c in cells}
    assert claims == {"cde-fusion-over-temporal", "cde-fusion-over-spatial", "cde-fusion-over-micro-attention",
                      "hde-temporal-over-spatial", "hde-temporal-over-micro-attention",
                      "hde-fusion-over-spatial", "hde-fusion-over-micro-attention"}
    assert all(c.table == "II" for c in cells if c.claim.startswith("cde"))
    assert all(c.table == "III" and c.column != "Full" for c in cells if c.claim.startswith("hde"))


def test_a_claims_file_with_a_bad_metric_is_refused(tmp_path):
    path = tmp_path / "claims.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["claim", "table", "column", "metric", "better_method", "better_setting",
                         "worse_method", "worse_setting", "statement"])
        writer.writerow(["x", "II", "Full", "f1", "ATNet", "Fusion", "ATNet", "Spatial Stream", "?"])
    with pytest.raises(Exception, match="line 2.*metric 'f1'"):
        load_claims(path)


def test_judge_reads_the_interval():
    assert judge([0.01, 0.2]) == SUPPORTED
    assert judge([-0.2, -0.01]) == CONTRADICTED
    assert judge([-0.05, 0.1]) == UNDECIDED


def _run(tmp_path, name, row, accuracy, seed):
    """An evaluated CDE run of the paper's ``row`` whose clips are right with probability ``accuracy``."""
    predictions = composite_predictions(np.random.default_rng(seed), accuracy=accuracy)
    csv_path = tmp_path / (name + ".csv")
    write_predictions(csv_path, predictions)
    evaluate_file(str(csv_path), "cde", str(tmp_path / name), row[0], row[1])
    return tmp_path / name


def test_verdicts_follow_clear_and_unclear_differences(tmp_path):
    runs = [load_run(_run(tmp_path, "fusion", FUSION, 0.80, 1)),
            load_run(_run(tmp_path, "spatial", SPATIAL, 0.40, 2)),  # far behind: supported
            load_run(_run(tmp_path, "temporal", TEMPORAL, 0.79, 3))]  # level: undecided
    verdicts = check_claims(runs, Bootstrap(resamples=1000))
    overall = {claim: v for claim, (v, _, _) in claim_verdicts(verdicts).items()}
    assert overall["cde-fusion-over-spatial"] == SUPPORTED
    assert overall["cde-fusion-over-temporal"] == UNDECIDED
    assert overall["cde-fusion-over-micro-attention"] == UNDECIDED  # not tested
    assert overall["hde-fusion-over-spatial"] == UNDECIDED  # no HDE run
    not_tested = [v for v in verdicts if v.cell.claim == "cde-fusion-over-micro-attention"]
    assert all("not tested" in v.reason and "Micro-Attention apex" in v.reason for v in not_tested)
    reversed_runs = [load_run(_run(tmp_path, "fusion-weak", FUSION, 0.35, 4)), runs[1]]
    verdicts = check_claims(reversed_runs, Bootstrap(resamples=1000))
    assert claim_verdicts(verdicts)["cde-fusion-over-spatial"][0] == CONTRADICTED


def test_check_claims_cli_prints_verdicts_and_strict_fails_on_a_contradiction(tmp_path):
    fusion = _run(tmp_path, "fusion", FUSION, 0.35, 5)
    spatial = _run(tmp_path, "spatial", SPATIAL, 0.80, 6)
    done = tool("check_claims.py", fusion, spatial, "--out", tmp_path / "claims", "--resamples", 500)
    assert done.returncode == 0, done.stderr
    assert "| cde-fusion-over-spatial | CONTRADICTED |" in done.stdout
    assert "7 claims: 0 supported, 1 contradicted, 6 undecided." in done.stdout
    with open(tmp_path / "claims" / "claims.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(load_claims())
    strict = tool("check_claims.py", fusion, spatial, "--strict", "--resamples", 500)
    assert strict.returncode == 1 and "cde-fusion-over-spatial" in strict.stderr


def test_check_claims_refuses_two_runs_of_one_row(tmp_path):
    a = _run(tmp_path, "a", FUSION, 0.6, 7)
    b = _run(tmp_path, "b", FUSION, 0.6, 8)
    done = tool("check_claims.py", a, b)
    assert done.returncode == 2 and "both ATNet Fusion runs" in done.stderr


def test_composite_helper_has_the_real_structure():
    assert len(composite_samples()) == 442
    assert len({(s["dataset"], s["subject"]) for s in composite_samples()}) == 68
