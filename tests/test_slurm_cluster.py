"""tools/slurm.py on a real single-node SLURM (slurm_support.LocalSlurm: munge, slurmdbd on
MariaDB, slurmctld, slurmd): the tiny preset's 10 CDE folds as an array with a dependent
evaluation; one task cancelled mid-run (scancel) fails the array and the evaluation never starts;
the resubmission runs that fold alone, and the evaluation's metrics.json then equals a local
run's with the same seeds, fold by fold down to the model's checksum.

The spatial variant with 2 iterations at batch 1 keeps a fold to a few seconds (its net builds
fast); the local reference run and the array share one LMDB set. Skipped, with the reason,
where SLURM cannot be started (not root, or not installed and no apt-get)."""
import datetime
import json
import os
import subprocess
import sys
import time

import pytest

import slurm_support
import train_support

pytestmark = pytest.mark.slow
REPO = train_support.REPO
SLURM_TOOL = os.path.join(REPO, "tools", "slurm.py")
QUICK = ("--model", "spatial", "--protocol", "cde", "--iters", "2", "--set", "batch_size=1")
LAST = "cde-smic-s12"  # the fold of array index 9, cancelled mid-run


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = slurm_support.unavailable_reason()
    if reason:
        pytest.skip(reason)
    local = slurm_support.LocalSlurm(str(tmp_path_factory.mktemp("slurm")))
    try:
        yield local.start()
    finally:
        pids = local.pids()
        local.stop()
        for pid in pids:  # every daemon ended, by its own pid
            assert not os.path.exists("/proc/%d" % pid) or _is_zombie(pid), "daemon pid %d still runs" % pid


def _is_zombie(pid):
    with open("/proc/%d/stat" % pid) as handle:
        return handle.read().rsplit(")", 1)[1].split()[0] == "Z"


def tool(script, *args, env=None, timeout=300):
    """Run a repository script with this Python; fail with its output when it fails."""
    command = [sys.executable, os.path.join(REPO, script)] + [str(a) for a in args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    assert result.returncode == 0, "%s failed (%d):\n%s\n%s" % (" ".join(command), result.returncode,
                                                              result.stdout[-3000:], result.stderr[-3000:])
    return result.stdout


@pytest.fixture(scope="module")
def lmdb(tmp_path_factory):
    """The CDE LMDBs (10 folds) of the tiny synthetic preset: its subjects and per-class counts are read
    from the ground-truth list data_prep/synth.py writes, the prepared directory is written with random
    faces and features (train_support.make_prepared: preparing real clips adds nothing here)."""
    root = tmp_path_factory.mktemp("tiny")
    tool("data_prep/synth.py", "--preset", "tiny", "--out", root / "raw", "--seed", 0)
    counts = {}
    for line in read(root / "raw" / "combined_3class_gt.csv").split():
        dataset, subject, _, label = line.split(",")
        counts.setdefault((dataset, subject), [0, 0, 0])[int(label)] += 1
    train_support.make_prepared(str(root / "prepared"), {key: tuple(c) for key, c in counts.items()}, seed=3)
    tool("tools/make_lmdb.py", "--prepared", root / "prepared", "--protocol", "cde", "--out", root / "lmdb")
    assert len(folds_of(str(root / "lmdb"))) == 10
    return str(root / "lmdb")


@pytest.fixture(scope="module")
def local_run(lmdb, tmp_path_factory):
    """The reference: the same folds trained locally (two at a time, one BLAS thread each) and evaluated."""
    run_dir = str(tmp_path_factory.mktemp("local") / "run")
    tool("tools/train.py", *QUICK, "--lmdb", lmdb, "--out", run_dir, "--jobs", 2, "--no-progress",
         env=train_support.single_threaded_env())
    tool("tools/evaluate.py", run_dir)
    return run_dir


def folds_of(lmdb):
    with open(os.path.join(lmdb, "folds.json")) as handle:
        return json.load(handle)["folds"]


def read(path, mode="r"):
    with open(path, mode) as handle:
        return handle.read()


def status(cluster, run_dir, *options):
    return json.loads(tool(SLURM_TOOL, "status", run_dir, "--json", *options, env=cluster.env))


def submissions(run_dir):
    return json.loads(read(os.path.join(run_dir, "slurm", "submissions.json")))


@pytest.fixture(scope="module")
def cancelled(cluster, lmdb, tmp_path_factory):
    """All 10 folds submitted as an array with a dependent evaluation (``--wait``); the last fold's
    task is cancelled while it trains. Returns the run folder, the submission and what --wait said."""
    run_dir = str(tmp_path_factory.mktemp("array") / "run")
    command = [sys.executable, SLURM_TOOL, "submit", *QUICK, "--lmdb", lmdb, "--out", run_dir, "--cpus", "1",
               "--evaluate", "--wait", "--poll", "0.5"]
    waiting = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cluster.env)
    try:
        log = os.path.join(run_dir, LAST, "train.log")
        deadline = time.time() + 240
        while not os.path.exists(log):  # its training process has started: cancel it mid-run
            assert time.time() < deadline and waiting.poll() is None, "the last task never started: %s" % (
                cluster.queue(),)
            time.sleep(0.05)
        record, = submissions(run_dir)
        subprocess.run(["scancel", "%s_9" % record["array_job"]], env=cluster.env, check=True)
        output, _ = waiting.communicate(timeout=240)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    return run_dir, record, waiting.returncode, output


def test_a_cancelled_task_fails_the_array_and_the_evaluation_never_runs(cluster, cancelled):
    run_dir, record, code, output = cancelled
    assert code == 1 and "failed: %s" % LAST in output, output  # --wait reports the failure
    assert not os.path.exists(os.path.join(run_dir, LAST, "DONE")), "the task finished before scancel"
    tasks = cluster.sacct(record["array_job"])
    assert tasks.pop("%s_9" % record["array_job"])[0].startswith("CANCELLED")
    assert tasks == {"%s_%d" % (record["array_job"], i): ("COMPLETED", "0:0") for i in range(9)}, tasks
    assert cluster.sacct(record["final_job"])[record["final_job"]][0] == "CANCELLED"  # afterok never held
    assert not os.path.exists(os.path.join(run_dir, "metrics.json"))
    report = status(cluster, run_dir)
    assert [t["state"] for t in report["tasks"]] == ["done"] * 9 + ["failed"]
    assert "CANCELLED" in report["tasks"][9]["detail"] and report["final"]["state"] == "failed", report
    table = tool(SLURM_TOOL, "status", run_dir, env=cluster.env)
    assert "10 task(s): 9 done, 1 failed" in table and "CANCELLED" in table.splitlines()[10], table


def test_resubmission_runs_only_that_fold_and_the_evaluation_equals_a_local_run(cluster, cancelled, lmdb,
                                                                                local_run):
    run_dir, record, _, _ = cancelled
    folds = folds_of(lmdb)
    before = {fold: {name: os.stat(os.path.join(run_dir, fold, name)).st_mtime_ns
                     for name in ("DONE", "train.log", "predictions.csv")} for fold in folds[:9]}
    tool(SLURM_TOOL, "resubmit", run_dir, "--wait", "--poll", 0.5, env=cluster.env)
    again = submissions(run_dir)[-1]
    assert again["number"] == 2 and again["indices"] == [9]
    assert cluster.sacct(again["array_job"]) == {"%s_9" % again["array_job"]: ("COMPLETED", "0:0")}
    assert cluster.sacct(again["final_job"]) == {again["final_job"]: ("COMPLETED", "0:0")}
    assert {fold: {name: os.stat(os.path.join(run_dir, fold, name)).st_mtime_ns for name in before[fold]}
            for fold in before} == before  # the finished folds did not run again
    for index, fold in enumerate(folds):  # the array index is the fold's place in folds.json
        ours, theirs = os.path.join(run_dir, fold), os.path.join(local_run, fold)
        assert read(os.path.join(ours, "predictions.csv")) == read(os.path.join(theirs, "predictions.csv")), fold
        assert json.loads(read(os.path.join(ours, "DONE")))["final_model_sha256"] == \
            json.loads(read(os.path.join(theirs, "DONE")))["final_model_sha256"], fold
        job = record["array_job"] if index < 9 else again["array_job"]
        log = os.path.join(run_dir, "slurm", "logs", "atnet-spatial-cde-%s_%d.out" % (job, index))
        assert "task %d of array job %s" % (index, job) in read(log)
    assert json.loads(read(os.path.join(run_dir, "metrics.json"))) == \
        json.loads(read(os.path.join(local_run, "metrics.json")))
    report = status(cluster, run_dir, "--timing")
    assert [t["state"] for t in report["tasks"]] == ["done"] * 10 and report["final"]["state"] == "done"
    timing = report["timing"]
    assert len(timing) == 10 and all(t["queued_s"] >= 0 and t["to_first_iteration_s"] > 0 for t in timing), timing
    print_overhead(report["tasks"][:9], timing)


def print_overhead(first_attempts, timing):
    """Submit -> start and start -> first iteration per task (the note's figures), and how soon a task
    started once an earlier one had freed its CPU (the scheduler's own dispatch delay)."""
    stamp = datetime.datetime.fromisoformat
    ends = sorted(stamp(t["ended"]) for t in first_attempts)
    gaps = []
    for task in first_attempts:
        started = stamp(task["started"])
        freed = [end for end in ends if end <= started]
        gaps.append((started - (freed[-1] if freed else stamp(task["submitted"]))).total_seconds())
    first = sorted(t["to_first_iteration_s"] for t in timing)
    print("\noverhead per array task (sacct Submit/Start/End; the fold's first glog 'Iteration' line):\n"
          "  submit -> start, 9 first-attempt tasks, 2 at a time on 2 CPUs: %s s (queueing behind each other)\n"
          "  start after a CPU was freed (or after submit): %s s\n"
          "  submit -> start of the resubmitted task: %.0f s\n"
          "  start -> first iteration: min %.2f / median %.2f / max %.2f s (load average %.1f)"
          % ([round(t["queued_s"]) for t in timing[:9]], [round(g) for g in gaps], timing[9]["queued_s"],
             first[0], first[len(first) // 2], first[-1], os.getloadavg()[0]))
