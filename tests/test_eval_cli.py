"""tools/evaluate.py and tools/compare_paper.py end to end on small run directories."""
import csv
import json
import os
import subprocess
import sys

import pytest

from atnet.common import InputError
from atnet.evaluate import evaluate_run
from atnet.folds import make_folds
from atnet.metrics import scores
from atnet.paper import load_paper_rows
from atnet.predictions import Prediction, make_prediction, read_predictions, write_predictions
from atnet.runs import write_run_info

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBJECTS = {("casme2", "sub01"): [0, 1, 2], ("casme2", "sub02"): [0, 0],
            ("samm", "6"): [0, 2, 2], ("samm", "7"): [1, 1], ("smic", "s01"): [0, 1, 2], ("smic", "s02"): [2, 0]}


def _samples():
    return [{"dataset": d, "subject": s, "sample": "%s_%d" % (s, i), "label": label}
            for (d, s), labels in SUBJECTS.items() for i, label in enumerate(labels)]


def _prediction(index, sample):
    """Right two times in three: a fixed, known mix of hits and misses."""
    pred = sample["label"] if index % 3 else (sample["label"] + 1) % 3
    return make_prediction(sample, [0.8 if c == pred else 0.1 for c in range(3)])


def make_run(run_dir, protocol="cde", setting="Fusion", skip=()):
    """A finished run as train.py leaves it; returns all its predictions."""
    folds = make_folds(_samples(), protocol)
    write_run_info(run_dir, "ATNet", setting, protocol, [f.name for f in folds], seed=1)
    everything = []
    for fold in folds:
        predictions = [_prediction(i, s) for i, s in enumerate(fold.test)]
        everything += predictions
        if fold.name in skip:
            continue
        write_predictions(os.path.join(run_dir, fold.name, "predictions.csv"), predictions)
        with open(os.path.join(run_dir, fold.name, "train_curve.csv"), "w") as handle:
            handle.write("iter,loss,lr,accuracy\n" + "".join(
                "%d,%g,%g,0\n" % (it, 1.1 / (1 + it / 20), 0.01 if it < 50 else 0.001) for it in range(0, 100, 10)))
    return everything


def tool(name, *args):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", name)] + [str(a) for a in args],
                          capture_output=True, text=True, env=env, cwd="/", timeout=120)


def test_evaluate_writes_the_report_of_a_finished_run(tmp_path):
    run = tmp_path / "run"
    predictions = make_run(run)
    done = tool("evaluate.py", run)
    assert done.returncode == 0, done.stderr
    assert "ATNet Fusion, CDE (Table II)" in done.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["method"], metrics["setting"], metrics["protocol"], metrics["partial"]) == (
        "ATNet", "Fusion", "cde", False)
    full = scores([p.label for p in predictions], [p.pred for p in predictions])
    assert {k: metrics["Full"][k] for k in full} == pytest.approx(full)
    smic = [p for p in predictions if p.dataset == "smic"]
    assert metrics["SMIC"]["uf1"] == pytest.approx(scores([p.label for p in smic], [p.pred for p in smic])["uf1"])
    assert sum(map(sum, metrics["Full"]["confusion"])) == len(predictions) == 15
    assert sorted(read_predictions(run / "predictions_all.csv"), key=lambda p: p.key) == sorted(
        predictions, key=lambda p: p.key)
    with open(run / "metrics.csv") as handle:
        table = {row["column"]: row for row in csv.DictReader(handle)}
    assert float(table["SAMM"]["uar"]) == pytest.approx(metrics["SAMM"]["uar"], abs=1e-6)
    for png in ("confusion.png", "training_curves.png"):
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| Full | 15 |" in (run / "metrics.md").read_text()


def test_evaluate_refuses_missing_folds_by_name_unless_partial(tmp_path):
    run = tmp_path / "run"
    make_run(run, skip=("cde-samm-7", "cde-smic-s02"))
    refused = tool("evaluate.py", run)
    assert refused.returncode == 2
    assert "2 of 6 folds" in refused.stderr and "cde-samm-7, cde-smic-s02" in refused.stderr
    assert "--partial" in refused.stderr and not (run / "metrics.json").exists()
    partial = tool("evaluate.py", run, "--partial")
    assert partial.returncode == 0, partial.stderr
    assert "missing folds: cde-samm-7, cde-smic-s02" in partial.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["partial"] is True and metrics["missing_folds"] == ["cde-samm-7", "cde-smic-s02"]
    assert metrics["Full"]["n"] == 11 and "PARTIAL: 4 of 6 folds" in (run / "metrics.md").read_text()


def test_evaluate_accepts_any_predictions_csv(tmp_path):
    predictions = make_run(tmp_path / "run", protocol="hde")
    source = tmp_path / "mine.csv"
    write_predictions(source, predictions)
    done = tool("evaluate.py", "--predictions", source, "--protocol", "hde", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["protocol"] == "hde" and metrics["CASME II"]["n"] == 5
    assert not (tmp_path / "out" / "training_curves.png").exists()


def test_a_fold_file_holding_another_subject_is_refused(tmp_path):
    make_run(tmp_path)
    stray = Prediction("casme2", "sub02", "sub02_9", 0, 0, (1.0, 0.0, 0.0))
    path = tmp_path / "cde-casme2-sub01" / "predictions.csv"
    write_predictions(path, read_predictions(path) + [stray])
    with pytest.raises(InputError, match="line 5: sample casme2-sub02-sub02_9 belongs to fold cde-casme2-sub02"):
        evaluate_run(tmp_path)


def test_a_broken_run_json_is_refused(tmp_path):
    (tmp_path / "run.json").write_text(
        '{"method": "ATNet", "setting": "Fusion", "protocol": "cde", "folds": ["hde-samm"]}')
    with pytest.raises(InputError, match="run.json: 'folds' must be distinct cde fold names; wrong: hde-samm"):
        evaluate_run(tmp_path)


def _evaluated(path, protocol, setting="Fusion"):
    make_run(path, protocol, setting)
    assert evaluate_run(path)["protocol"] == protocol
    return path


def test_compare_paper_prints_both_tables_and_holds_a_tolerance(tmp_path):
    cde, hde = _evaluated(tmp_path / "cde", "cde"), _evaluated(tmp_path / "hde", "hde", "temporal  stream")
    loose = tool("compare_paper.py", cde, hde, "--tolerance", "1", "--label", "synthetic data",
                 "--out", tmp_path / "cmp")
    assert loose.returncode == 0, loose.stderr
    assert loose.stdout.startswith("# Our results beside the paper's (synthetic data)")
    assert "## Table II" in loose.stdout and "## Table III" in loose.stdout
    assert "0 of 18 compared values outside" in loose.stdout  # CDE 4 columns x 3, HDE 3 x 2 (no acc)
    with open(tmp_path / "cmp" / "comparison.csv") as handle:
        rows = list(csv.DictReader(handle))
    metrics = json.loads((cde / "metrics.json").read_text())
    paper = {(r.table, r.column): r for r in load_paper_rows() if (r.method, r.setting) == ("ATNet", "Fusion")}
    smic_uar = next(r for r in rows if (r["table"], r["column"], r["metric"]) == ("II", "SMIC", "uar"))
    assert float(smic_uar["paper"]) == paper["II", "SMIC"].uar == 0.543
    assert float(smic_uar["difference"]) == pytest.approx(metrics["SMIC"]["uar"] - 0.543, abs=1e-6)
    assert (tmp_path / "cmp" / "comparison.md").read_text() == loose.stdout
    strict = tool("compare_paper.py", cde, hde, "--tolerance", "0")
    assert strict.returncode == 1
    assert "18 value(s) differ from the paper by more than 0" in strict.stderr
    assert "**" in strict.stdout


def test_compare_paper_lists_valid_settings_for_an_unknown_one(tmp_path):
    run = _evaluated(tmp_path / "run", "cde", "Fusion v2")
    refused = tool("compare_paper.py", run)
    assert refused.returncode == 2
    assert "no row for method 'ATNet', setting 'Fusion v2'" in refused.stderr
    assert "ATNet / Fusion" in refused.stderr and "HOOF / N=8 TIM=64" in refused.stderr
