"""tools/train.py --jobs auto (the default): folds in parallel and BLAS threads per fold chosen
from the cores, the memory and the folds to train (atnet.parallel.auto_parallelism); the choice
recorded in run.json and run.log; explicit numbers as before; and a fold's result the same
whether it trained beside another fold or alone."""
import json
import os
import subprocess
import sys

import pytest

import train_support
from atnet import parallel, train

TRAIN = os.path.join(train_support.TOOLS, "train.py")
FOLDS = ("cde-casme2-sub01", "cde-casme2-sub02")
QUICK = ("--model", "temporal", "--protocol", "cde", "--set", "batch_size=2", "--iters", "2", "--no-progress")
GIB = 1024


@pytest.mark.parametrize("cores, available, folds, fold_mib, threads, expected", [
    (2, 20 * GIB, 68, 1500, None, (2, 1)),     # the measured case: two single-threaded folds beat one with two
    (2, 20 * GIB, 1, 1500, None, (1, 2)),      # one fold left: it gets both cores
    (16, 20 * GIB, 68, 1500, None, (13, 1)),   # memory for 13 folds, not 16
    (2, 1000, 68, 1500, None, (1, 2)),         # not even memory for one: still one, with every core
    (8, None, 3, 1500, None, (3, 2)),          # memory unknown: 3 folds, 8 // 3 threads each
    (8, 20 * GIB, 68, 1500, 4, (2, 4)),        # the user's OPENBLAS_NUM_THREADS=4 kept: 2 folds fill 8 cores
    (2, 20 * GIB, 5, 1500, 4, (1, 4)),         # more threads than cores: one fold at a time
])
def test_auto_parallelism_fills_cores_with_single_threaded_folds(cores, available, folds, fold_mib, threads,
                                                                 expected):
    assert parallel.auto_parallelism(cores, available, folds, fold_mib, threads) == expected


@pytest.fixture
def machine(monkeypatch):
    """A 2-core machine with 8 GiB available and no thread settings of the user's."""
    monkeypatch.setattr(parallel, "machine_cores", lambda: 2)
    monkeypatch.setattr(parallel, "available_memory_mib", lambda: 8 * GIB)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_parallel_settings_auto_explicit_and_gpu(machine):
    jobs, threads, record = parallel.parallel_settings("auto", "fusion", 16, 68, None)
    assert (jobs, threads) == (2, 1)
    assert record["requested"] == "auto" and record["fold_mib_estimate"] == parallel.FOLD_PEAK_MIB["fusion"]
    assert parallel.parallel_settings("auto", "fusion", 64, 68, None)[:2] == (1, 2)   # 4x the activations
    assert parallel.parallel_settings("auto", "fusion", 16, 68, 0)[:2] == (1, None)   # one GPU: one fold
    assert parallel.parallel_settings(1, "fusion", 16, 68, None)[:2] == (1, None)     # as before: library default
    assert parallel.parallel_settings(2, "fusion", 16, 68, None)[:2] == (2, 1)
    machine.setenv("OPENBLAS_NUM_THREADS", "2")
    assert parallel.parallel_settings("auto", "fusion", 16, 68, None)[:2] == (1, 2)


def test_child_environment_sets_both_thread_variables_unless_the_user_did(machine):
    env = train.child_environment(1)
    assert (env["OPENBLAS_NUM_THREADS"], env["OMP_NUM_THREADS"]) == ("1", "1")
    assert "OPENBLAS_NUM_THREADS" not in train.child_environment()
    machine.setenv("OMP_NUM_THREADS", "3")
    env = train.child_environment(1)
    assert env["OMP_NUM_THREADS"] == "3" and "OPENBLAS_NUM_THREADS" not in env


def test_jobs_parses_auto_by_default_and_numbers():
    tool = train_support.load_tool("train")
    base = ["--model", "temporal", "--protocol", "cde", "--lmdb", "L", "--out", "R"]
    assert tool.parse_args(base).jobs == "auto"
    assert tool.parse_args(base + ["--jobs", "3"]).jobs == 3
    for bad in ("0", "-1", "two"):
        with pytest.raises(SystemExit):
            tool.parse_args(base + ["--jobs", bad])


@pytest.fixture(scope="module")
def lmdb(tmp_path_factory):
    return train_support.make_small_lmdb(tmp_path_factory.mktemp("jobs"), FOLDS)


def _train(lmdb, run_dir, *extra):
    result = subprocess.run([sys.executable, TRAIN, *QUICK, "--lmdb", lmdb, "--out", run_dir, *extra],
                            capture_output=True, text=True, env=train_support.single_threaded_env())
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_a_default_run_records_its_choice_and_trains_as_a_lone_fold_does(lmdb, tmp_path):
    """Without --jobs (auto) and with OPENBLAS_NUM_THREADS=1, two folds train side by side on a
    machine of two or more cores; run.json and run.log say so; the first fold's model and
    predictions are byte for byte those of the same fold trained alone (--jobs 1)."""
    auto, alone = str(tmp_path / "auto"), str(tmp_path / "alone")
    _train(lmdb, auto, "--folds", ",".join(FOLDS))
    sharing = json.load(open(os.path.join(auto, "run.json")))["parallel"]
    jobs = min(2, parallel.machine_cores())
    assert sharing["requested"] == "auto" and sharing["threads_per_fold"] == 1
    assert sharing["jobs"] == jobs and sharing["cores"] == parallel.machine_cores()
    assert "2 fold(s) to train, %d at a time, 1 BLAS thread(s) each (--jobs auto" % jobs \
        in open(os.path.join(auto, train.RUN_LOG)).read()
    _train(lmdb, alone, "--folds", FOLDS[0], "--jobs", "1")
    assert json.load(open(os.path.join(alone, "run.json")))["parallel"]["jobs"] == 1
    done = [json.load(open(os.path.join(run, FOLDS[0], "DONE"))) for run in (auto, alone)]
    for key in ("final_model_sha256", "predictions_sha256"):
        assert done[0][key] == done[1][key], key
