"""Intervals in evaluate's report, seed groups, per-fold files and compare_paper's in/OUT marks."""
import csv
import json
import os

import numpy as np
import pytest

from atnet.folds import make_folds
from atnet.data.composite import composite_samples
from atnet.predictions import make_prediction, write_predictions
from atnet.runs import write_run_info
from stats_support import tool


def make_composite_run(run_dir, accuracy, seed, setting="Fusion"):
    """A finished 68-fold CDE run on the composite's clips, right with probability ``accuracy``."""
    rng = np.random.default_rng(seed)
    folds = make_folds(composite_samples(), "cde")
    write_run_info(run_dir, "ATNet", setting, "cde", [f.name for f in folds], seed=seed)
    for fold in folds:
        predictions = []
        for s in fold.test:
            pred = s["label"] if rng.random() < accuracy else int((s["label"] + rng.integers(1, 3)) % 3)
            predictions.append(make_prediction(s, [0.8 if c == pred else 0.1 for c in range(3)]))
        write_predictions(os.path.join(run_dir, fold.name, "predictions.csv"), predictions)
    return run_dir


def test_metrics_json_has_intervals_and_is_byte_identical_when_evaluated_twice(tmp_path):
    run = make_composite_run(tmp_path / "run", 0.6, 1)
    first = tool("evaluate.py", run, "--resamples", 500)
    assert first.returncode == 0, first.stderr
    content = (run / "metrics.json").read_bytes()
    again = tool("evaluate.py", run, "--resamples", 500)
    assert again.returncode == 0, again.stderr
    assert (run / "metrics.json").read_bytes() == content
    doc = json.loads(content)
    assert doc["bootstrap"]["resamples"] == 500 and doc["bootstrap"]["seed"] == 0
    for column in ("Full", "CASME II", "SAMM", "SMIC"):
        for m in ("acc", "uf1", "uar"):
            low, high = doc[column][m + "_ci"]
            assert low < doc[column][m] < high
    assert "[" in first.stdout  # the printed table shows the intervals
    other = tool("evaluate.py", run, "--resamples", 500, "--bootstrap-seed", 1)
    assert other.returncode == 0 and (run / "metrics.json").read_bytes() != content
    with open(run / "per_fold.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 68 and sum(int(r["n"]) for r in rows) == 442
    assert rows[0]["fold"] == "cde-casme2-sub01"
    assert (run / "per_fold.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_seed_group_reports_mean_sd_and_compare_paper_marks_inside_outside(tmp_path):
    group = tmp_path / "fusion"
    for seed, accuracy in ((0, 0.62), (1, 0.66), (2, 0.70)):
        make_composite_run(group / ("seed-%d" % seed), accuracy, seed)
    done = tool("evaluate.py", group, "--resamples", 500)
    assert done.returncode == 0, done.stderr
    doc = json.loads((group / "metrics.json").read_text())
    assert doc["seeds"] == ["seed-0", "seed-1", "seed-2"]
    seeds = [json.loads((group / ("seed-%d" % s) / "metrics.json").read_text()) for s in range(3)]
    full = doc["Full"]
    assert full["acc"] == pytest.approx(np.mean([s["Full"]["acc"] for s in seeds]))
    assert full["acc_sd"] == pytest.approx(np.std([s["Full"]["acc"] for s in seeds], ddof=1))
    low, high = full["acc_ci"]
    assert low < full["acc"] < high
    assert "± " in (group / "metrics.md").read_text()
    compared = tool("compare_paper.py", group, "--tolerance", "1", "--out", tmp_path / "cmp")
    assert compared.returncode == 0, compared.stderr
    assert "paper values inside our 95 % intervals." in compared.stdout
    with open(tmp_path / "cmp" / "comparison.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    inside = sum(int(r["inside_interval"]) for r in rows)
    assert "%d of %d paper values inside our 95 %% intervals." % (inside, len(rows)) in compared.stdout
    for r in rows:
        expected = float(r["ci_low"]) - 1e-6 <= float(r["paper"]) <= float(r["ci_high"]) + 1e-6
        assert int(r["inside_interval"]) == expected
    assert (" in |" in compared.stdout) or (" OUT |" in compared.stdout)


def test_train_seeds_need_one_lmdb_set_per_seed(tmp_path):
    done = tool("train.py", "--model", "temporal", "--protocol", "cde", "--lmdb", tmp_path / "lmdb",
                "--out", tmp_path / "run", "--seeds", 0, 1)
    assert done.returncode == 2 and "{seed}" in done.stderr
    both = tool("train.py", "--model", "temporal", "--protocol", "cde", "--lmdb", tmp_path / "lmdb{seed}",
                "--out", tmp_path / "run", "--seeds", 0, "--seed", 1)
    assert both.returncode == 2 and "not allowed with" in both.stderr
