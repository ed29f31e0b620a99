"""The sbatch scripts tools/slurm.py writes, without a scheduler: resource options as #SBATCH
lines, array ranges (with --max-parallel as %K), the index -> fold and seed mapping (the
generated script executed by bash for chosen indices), the afterok dependency of the final job,
--dry-run writing and submitting nothing, and bad input refused before anything is queued.
tests/test_slurm_cluster.py submits them to a real SLURM."""
import contextlib
import io
import json
import os
import subprocess
import sys

import pytest

import train_support
from atnet import slurm, slurm_plans
from atnet.common import InputError
from atnet.slurm_scripts import Plan, Resources, Task, array_script, array_spec, final_script

SLURM_TOOL = os.path.join(train_support.TOOLS, "slurm.py")


@pytest.fixture(scope="module")
def lmdb(tmp_path_factory):
    """Real CDE LMDBs of 9 folds (three subjects per dataset)."""
    root = tmp_path_factory.mktemp("slurm_lmdb")
    train_support.make_prepared(str(root / "prepared"), train_support.small_counts(), seed=1)
    train_support.call_tool("make_lmdb", "--prepared", root / "prepared", "--protocol", "cde", "--out", root / "lmdb")
    return str(root / "lmdb")


@pytest.fixture(scope="module")
def folds(lmdb):
    with open(os.path.join(lmdb, "folds.json")) as handle:
        return json.load(handle)["folds"]


def dry_run(*args, path=None):
    """tools/slurm.py ... --dry-run; with ``path``, run as a user runs it with only ``path`` as PATH
    (no SLURM command on it), else in this process (quicker)."""
    args = [str(a) for a in args]
    at = args.index("--") if "--" in args else len(args)  # what follows -- goes to the task's tool
    args = args[:at] + ["--dry-run"] + args[at:]
    if path is None:
        with contextlib.redirect_stdout(io.StringIO()) as output:
            assert train_support.call_tool("slurm", *args) == 0
        return output.getvalue()
    result = subprocess.run([sys.executable, SLURM_TOOL] + args, capture_output=True, text=True,
                            env=dict(os.environ, PATH=path))
    assert result.returncode == 0, result.stderr
    return result.stdout


def scripts_of(output):
    """{file name: script text} of a dry run's output."""
    parts = output.split("# ---- ")[1:]
    return {os.path.basename(part.split(" ", 1)[0]): part.split("\n", 1)[1] for part in parts}


def directives(script):
    return [line[len("#SBATCH "):] for line in script.splitlines() if line.startswith("#SBATCH ")]


def test_dry_run_prints_both_scripts_and_needs_no_scheduler(lmdb, folds, tmp_path):
    empty = tmp_path / "no-slurm-here"
    empty.mkdir()
    run_dir = tmp_path / "run"
    output = dry_run("submit", "--model", "fusion", "--protocol", "cde", "--lmdb", lmdb, "--out", run_dir,
                     "--iters", 5, "--evaluate", path=str(empty))
    scripts = scripts_of(output)
    assert sorted(scripts) == ["array-1.sbatch", "final-1.sbatch"]
    assert "--array=0-%d" % (len(folds) - 1) in directives(scripts["array-1.sbatch"])
    assert not run_dir.exists()  # nothing written, nothing submitted (no sbatch was reachable either)
    for text in scripts.values():
        subprocess.run(["bash", "-n"], input=text, text=True, check=True)


def test_resource_options_become_sbatch_lines_of_the_right_job(lmdb, tmp_path):
    run_dir = str(tmp_path / "run")
    output = dry_run("submit", "--model", "spatial", "--protocol", "cde", "--lmdb", lmdb, "--out", run_dir,
                     "--partition", "gpu", "--account", "lab42", "--time", "2-00:00:00", "--mem", "16G", "--cpus", 4,
                     "--gres", "gpu:1", "--max-parallel", 3, "--requeue", "--sbatch-line=--qos=long",
                     "--sbatch-line", "#SBATCH --constraint=a100", "--setup-line", "module load cuda/11.8",
                     "--compare")
    scripts = scripts_of(output)
    array, final = scripts["array-1.sbatch"], scripts["final-1.sbatch"]
    log_dir = os.path.join(run_dir, "slurm", "logs")
    assert directives(array) == [
        "--job-name=atnet-spatial-cde", "--array=0-8%3", "--output=%s/atnet-spatial-cde-%%A_%%a.out" % log_dir,
        "--open-mode=append", "--chdir=%s" % run_dir, "--partition=gpu", "--account=lab42", "--time=2-00:00:00",
        "--mem=16G", "--cpus-per-task=4", "--gres=gpu:1", "--requeue", "--qos=long", "--constraint=a100"]
    assert directives(final) == [  # no GPU, memory or CPUs for the evaluation; it waits for the array
        "--job-name=atnet-spatial-cde-final", "--dependency=afterok:<array job id>", "--kill-on-invalid-dep=yes",
        "--output=%s/atnet-spatial-cde-final-%%j.out" % log_dir, "--open-mode=append", "--chdir=%s" % run_dir,
        "--partition=gpu", "--account=lab42", "--time=2-00:00:00", "--qos=long", "--constraint=a100"]
    lines = array.splitlines()
    assert lines.index("module load cuda/11.8") < next(i for i, l in enumerate(lines) if l.startswith("COMMON="))
    assert "--gpu 0 --no-progress" in array  # the GPU SLURM gave the task is its device 0
    assert "tools/evaluate.py %s\n" % run_dir in final and "tools/compare_paper.py %s --out %s" % (run_dir, run_dir) \
        in final


def test_array_ranges_join_runs_and_cap_parallel_tasks():
    assert array_spec(range(68)) == "0-67"
    assert array_spec([7, 0, 1, 2, 5, 8], 8) == "0-2,5,7-8%8"
    assert array_spec([3]) == "3"
    with pytest.raises(ValueError):
        array_spec([])


def test_selected_folds_keep_their_index_in_folds_json(lmdb, folds, tmp_path):
    chosen = [folds[2], folds[3], folds[4], folds[7]]
    output = dry_run("submit", "--model", "temporal", "--protocol", "cde", "--lmdb", lmdb, "--out", tmp_path / "run",
                     "--folds", ",".join(chosen[:3]), "--folds", chosen[3], "--evaluate")
    scripts = scripts_of(output)
    assert "--array=2-4,7" in directives(scripts["array-1.sbatch"])
    assert "--partial" in scripts["final-1.sbatch"]  # 4 of 9 folds: the report says so


def run_task(script, index):
    env = dict(os.environ, SLURM_ARRAY_TASK_ID=str(index), SLURM_ARRAY_JOB_ID="41", SLURM_JOB_ID="42")
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)


def test_each_array_index_runs_its_fold_and_seed(lmdb, folds, tmp_path):
    """The generated script itself, run by bash with /bin/echo as the Python: what each index executes."""
    run_dir = str(tmp_path / "run")
    plan = slurm_plans.train_plan("temporal", "cde", lmdb, run_dir, iters=3, seeds=[0, 2], python="/bin/echo",
                                  assignments=["batch_size=4"])
    script = array_script(plan, [t.index for t in plan.tasks], Resources(cpus=2))
    assert "--array=0-17" in directives(script)
    for index in (0, 8, 9, 13, 17):
        seed, fold = (0, 2)[index // len(folds)], folds[index % len(folds)]
        result = run_task(script, index)
        assert result.returncode == 0, result.stderr
        words = result.stdout.splitlines()[-1].split()
        assert words[0] == os.path.join(train_support.TOOLS, "train.py")
        assert words[words.index("--out") + 1] == os.path.join(run_dir, "seed-%d" % seed)
        assert words[words.index("--folds") + 1] == fold
        assert words[-2:] == ["--set", "seed=%d" % seed] and "batch_size=4" in words and "3" in words
        assert "task %d of array job 41 (job 42)" % index in result.stdout
    outside = run_task(script, 18)
    assert outside.returncode == 2 and "array index 18 is not a task" in outside.stderr


def test_final_job_depends_on_the_array_and_on_tasks_still_running():
    plan = Plan("train", "atnet-x-cde", "/runs/x", (Task(0, "a", (("true",),), ()),),
                            (("echo", "evaluate"),), ())
    assert "#SBATCH --dependency=afterok:123\n#SBATCH --kill-on-invalid-dep=yes" in \
        final_script(plan, Resources(), ["123"])
    assert "#SBATCH --dependency=afterok:200:123_4\n" in final_script(plan, Resources(), ["200", "123_4"])
    assert "--dependency" not in final_script(plan, Resources(), [])
    assert "#SBATCH --dependency=afterok:77\n" in array_script(plan, [0], Resources(), after=("77",))


def test_weights_after_a_pretraining_job(lmdb, tmp_path):
    later = tmp_path / "pre" / "pretrained.caffemodel"  # written by the job it waits for
    output = dry_run("submit", "--model", "spatial", "--protocol", "cde", "--lmdb", lmdb, "--out", tmp_path / "run",
                     "--weights", later, "--after", 77)
    assert "--dependency=afterok:77" in directives(scripts_of(output)["array-1.sbatch"])
    assert "--weights %s" % later in output


def test_baselines_run_one_configuration_per_task(tmp_path):
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    out = tmp_path / "baselines"
    scripts = scripts_of(dry_run("baselines", "--prepared", prepared, "--out", out, "--compare", "--", "--tune"))
    array = scripts["array-1.sbatch"]
    assert "--array=0-7" in directives(array)
    branch = array.split("  6)  # HOOF_N4_TIM64\n")[1].split("    ;;")[0].strip().splitlines()
    assert len(branch) == 2  # CDE, then HDE with the cached features
    for line, protocol in zip(branch, ("cde", "hde")):
        assert "--protocol %s --out %s/HOOF_N4_TIM64-%s --method hoof --tim 64 --bins 4" % (protocol, out, protocol) \
            in line and line.endswith('--jobs "$ATNET_CPUS" --tune')
    final = scripts["final-1.sbatch"]
    assert final.count("-cde") == 8 and final.count("-hde") == 8 and "--out %s" % out in final
    subprocess.run(["bash", "-n"], input=array, text=True, check=True)


def test_pretraining_is_one_task_when_the_tool_exists(tmp_path):
    prepared = tmp_path / "macro"
    prepared.mkdir()
    args = ["pretrain", "--prepared", str(prepared), "--out", str(tmp_path / "pre"), "--", "--iters", "10"]
    if not os.path.isfile(slurm_plans.tool("pretrain")):
        with pytest.raises(InputError, match="tools/pretrain.py is not in this checkout"):
            train_support.call_tool("slurm", *args[:5], "--dry-run", *args[5:])
        return
    array = scripts_of(dry_run(*args))["array-1.sbatch"]
    assert "--array=0" in directives(array) and "--iters 10" in array


@pytest.mark.parametrize("extra, message", [
    (("--folds", "cde-nowhere-1"), "cde-nowhere-1: not a fold of .*folds.json"),
    (("--time", "soon"), "--time 'soon': expected a SLURM time limit"),
    (("--mem", "lots"), "--mem 'lots'"),
    (("--seeds", "0,1", "--set", "seed=3"), "--seeds and --set seed"),
    (("--seeds", "1,1"), "distinct"),
    (("--weights", "/nonexistent.caffemodel"), "no such file"),
    (("--set", "no_such_key=1"), "no_such_key"),
    (("--sbatch-line", ""), "one non-empty line"),
    (("--sbatch-line", "qos=long"), "expected an sbatch option"),
    (("--setup-line", "module load a\nmodule load b"), "one non-empty line"),
])
def test_bad_input_is_refused_before_anything_is_queued(lmdb, tmp_path, extra, message):
    with pytest.raises(InputError, match=message):
        train_support.call_tool("slurm", "submit", "--model", "spatial", "--protocol", "cde", "--lmdb", lmdb,
                                "--out", tmp_path / "run", *extra, "--dry-run")
    assert not (tmp_path / "run").exists()


def test_wrong_lmdb_or_run_folder_is_named(lmdb, tmp_path):
    with pytest.raises(InputError, match="these are cde folds, but --protocol is hde"):
        train_support.call_tool("slurm", "submit", "--model", "spatial", "--protocol", "hde", "--lmdb", lmdb,
                                "--out", tmp_path / "run", "--dry-run")
    with pytest.raises(InputError, match="folds.json not found"):
        train_support.call_tool("slurm", "submit", "--model", "spatial", "--protocol", "cde", "--lmdb", tmp_path,
                                "--out", tmp_path / "run", "--dry-run")
    with pytest.raises(InputError, match="must not contain blanks"):
        train_support.call_tool("slurm", "submit", "--model", "spatial", "--protocol", "cde", "--lmdb", lmdb,
                                "--out", tmp_path / "my run", "--dry-run")
    with pytest.raises(InputError, match="plan.json not found: .* was not submitted with tools/slurm.py"):
        train_support.call_tool("slurm", "status", tmp_path)
    with pytest.raises(InputError, match="--max-parallel must be at least 1"):
        train_support.call_tool("slurm", "submit", "--model", "spatial", "--protocol", "cde", "--lmdb", lmdb,
                                "--out", tmp_path / "run", "--max-parallel", "0", "--dry-run")


def test_a_run_folder_keeps_its_plan(lmdb, tmp_path):
    run_dir = str(tmp_path / "run")
    plan = slurm_plans.train_plan("spatial", "cde", lmdb, run_dir, iters=2)
    os.makedirs(plan.record_dir)
    with open(os.path.join(plan.record_dir, slurm.PLAN_FILE), "w") as handle:
        json.dump(plan.as_dict(), handle)
    slurm.check_same_plan(plan)  # the same commands: continuing is fine
    assert slurm.read_plan(run_dir) == plan
    with pytest.raises(InputError, match="submitted with other commands .*--iters"):
        slurm.check_same_plan(slurm_plans.train_plan("spatial", "cde", lmdb, run_dir, iters=3))


def test_the_cause_of_a_failure_comes_from_the_logs(tmp_path):
    out, train_log = tmp_path / "task.out", tmp_path / "train.log"
    out.write_text("atnet-slurm: task 3\nerror: fold cde-samm-6: training failed (exit code 134); see train.log\n")
    train_log.write_text("I1201 10:00:00.000001  77 solver.cpp:239] Iteration 0 (0 iter/s), loss = 1.1\n"
                         "F1201 10:00:01.000000  77 blob.cpp:33] Check failed: shape[i] >= 0 (-1 vs. 0)\n")
    assert slurm.tail_cause([str(out), str(train_log)]).startswith("error: fold cde-samm-6: training failed")
    assert "Check failed: shape" in slurm.tail_cause([str(train_log)])
    out.write_text("slurmstepd: error: *** JOB 18 ON node7 CANCELLED AT 2026-12-01T10:00:02 DUE TO TIME LIMIT ***\n")
    assert "DUE TO TIME LIMIT" in slurm.tail_cause([str(out), str(train_log)])
    assert slurm.tail_cause([str(tmp_path / "missing")]) == "no log"
    import datetime
    start = datetime.datetime(2026, 12, 1, 9, 59, 57)
    assert slurm.first_iteration_seconds(str(train_log), start) == 3.0
    assert slurm.first_iteration_seconds(str(train_log), start.replace(hour=11)) is None
