"""tools/train.py end to end on real LMDBs with the real pycaffe (the temporal variant,
batch 2, a few iterations): the run folder, a glog log that Caffe's parse_log.py reads,
predictions of the final iterate, skipping finished folds, refusing changed settings,
weights loaded by layer name, parallel folds, and a kill -9 in the middle of a fold."""
import csv
import glob
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import types
import warnings

import numpy as np
import pytest

import train_support
from atnet import runs, train
from atnet.common import InputError
from atnet.config import fold_seed
from atnet.fold import snapshot_is_complete
from atnet.predictions import read_predictions
from atnet.runs import read_run_info
from atnet.solver import snapshot_iterations

TRAIN = os.path.join(train_support.TOOLS, "train.py")
FOLDS = ("cde-casme2-sub01", "cde-casme2-sub02", "cde-casme2-sub05")
QUICK = ("--model", "temporal", "--protocol", "cde", "--set", "batch_size=2", "--set", "display=1")


@pytest.fixture(autouse=True)
def single_blas_thread(monkeypatch):
    """Fold processes started from this process use one BLAS thread (see train_support)."""
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def lmdb(tmp_path_factory):
    return train_support.make_small_lmdb(tmp_path_factory.mktemp("train"), FOLDS)


@pytest.fixture(scope="module")
def trained(lmdb, tmp_path_factory):
    """Two folds trained for 3 iterations, side by side (--jobs 2), through the real command line."""
    run_dir = str(tmp_path_factory.mktemp("run") / "temporal-cde")
    result = subprocess.run([sys.executable, TRAIN, *QUICK, "--lmdb", lmdb, "--out", run_dir, "--iters", "3",
                             "--folds", ",".join(FOLDS[:2]), "--jobs", "2"], capture_output=True, text=True,
                            env=train_support.single_threaded_env())
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 fold(s) trained, 0 already done" in result.stdout
    return run_dir


def test_run_folder_holds_everything_of_each_fold(trained, lmdb):
    run = read_run_info(trained)
    assert (run.method, run.setting, run.protocol) == ("ATNet", "Temporal Stream", "cde")
    assert len(run.folds) == 9  # every fold of the LMDB set, so evaluation knows what is missing
    for fold in FOLDS[:2]:
        folder = os.path.join(trained, fold)
        for name in ("config.json", "job.json", "train_val.prototxt", "deploy.prototxt", "solver.prototxt",
                     "versions.json", "command.txt", "train.log", "train_curve.csv", "final.caffemodel",
                     "predictions.csv", "DONE"):
            assert os.path.isfile(os.path.join(folder, name)), (fold, name)
        assert os.listdir(os.path.join(folder, runs.SNAPSHOT_DIR)) == []  # emptied; kept for caffe train
        solver = open(os.path.join(folder, "solver.prototxt")).read()
        assert "max_iter: 3\n" in solver and "test_iter" not in solver  # no test net during training
        assert "random_seed: %d\n" % fold_seed(0, fold, "solver") in solver
        config = json.load(open(os.path.join(folder, "config.json")))
        assert config["config"]["batch_size"] == 2 and config["sources"]["batch_size"] == "--set"
        assert config["config"]["augment"] == "paper"  # taken from the LMDBs
        versions = json.load(open(os.path.join(folder, "versions.json")))
        assert versions["caffe"]["path"] and versions["packages"]["numpy"] == np.__version__
        assert json.load(open(os.path.join(folder, "DONE")))["iterations"] == 3
        manifest = json.load(open(os.path.join(lmdb, fold, "manifest.json")))
        predictions = read_predictions(os.path.join(folder, "predictions.csv"))
        assert [p.key for p in predictions] == [s["key"] for s in manifest["test"]["samples"]]
        assert all(abs(sum(p.scores) - 1) < 1e-5 for p in predictions)
        assert [int(r["iter"]) for r in _curve(folder)] == [0, 1, 2]
        assert "-m atnet.fold %s\n" % folder in open(os.path.join(folder, "command.txt")).read()


def test_a_finished_fold_reruns_by_hand_with_its_one_command(trained, tmp_path):
    """``python -m atnet.fold FOLD_DIR`` (command.txt's second line) needs nothing but the folder:
    with final.caffemodel there it predicts again, identically, and writes DONE."""
    copy = str(tmp_path / FOLDS[0])
    shutil.copytree(os.path.join(trained, FOLDS[0]), copy)
    for name in ("DONE", "predictions.csv"):
        os.unlink(os.path.join(copy, name))
    result = subprocess.run([sys.executable, "-m", "atnet.fold", copy], capture_output=True, text=True,
                            cwd=str(tmp_path), env=train_support.single_threaded_env())
    assert result.returncode == 0, result.stderr[-3000:]
    assert open(os.path.join(copy, "predictions.csv")).read() == \
        open(os.path.join(trained, FOLDS[0], "predictions.csv")).read()
    assert json.load(open(os.path.join(copy, "DONE")))["resumed_from_iteration"] is None
    bad = subprocess.run([sys.executable, "-m", "atnet.fold", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage: python -m atnet.fold FOLD_DIR" in bad.stderr


@pytest.mark.skipif(shutil.which("caffe", path=os.path.dirname(sys.executable)) is None,
                    reason="no .venv/bin/caffe (make setup)")
def test_a_finished_fold_runs_with_caffe_train_as_it_stands(trained, tmp_path):
    """Caffe's own command line on the finished folder's solver.prototxt, unchanged: it trains to
    max_iter into the fold's snapshots/ folder, and its log parses with tools/parse_log.py."""
    folder = os.path.join(trained, FOLDS[0])
    caffe = shutil.which("caffe", path=os.path.dirname(sys.executable))
    log = tmp_path / "caffe.log"
    env = {k: v for k, v in train_support.single_threaded_env().items() if not k.startswith("GLOG_")}
    env["GLOG_log_year_in_prefix"] = "false"   # what .venv/bin/caffe (setup/caffe-wrapper.sh) sets
    with open(log, "w") as handle:
        result = subprocess.run([caffe, "train", "-solver", os.path.join(folder, "solver.prototxt")],
                                stderr=handle, stdout=subprocess.DEVNULL, cwd=str(tmp_path), env=env, timeout=600)
    assert result.returncode == 0, log.read_text()[-3000:]
    snapshots = sorted(os.listdir(os.path.join(folder, runs.SNAPSHOT_DIR)))
    assert snapshots == ["temporal_iter_3.caffemodel", "temporal_iter_3.solverstate"]
    for name in snapshots:
        os.unlink(os.path.join(folder, runs.SNAPSHOT_DIR, name))   # the shared fixture stays as it was
    parsed = subprocess.run([sys.executable, os.path.join(train_support.TOOLS, "parse_log.py"), str(log),
                             str(tmp_path)], capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr
    rows = list(csv.DictReader(open(tmp_path / "caffe.log.train", newline="")))
    assert [row["NumIters"] for row in rows] == ["0.0", "1.0", "2.0"] and all(float(r["loss"]) > 0 for r in rows)


def test_fold_log_parses_with_tools_parse_log(trained, tmp_path):
    folder = os.path.join(trained, FOLDS[0])
    parsed = subprocess.run([sys.executable, os.path.join(train_support.TOOLS, "parse_log.py"),
                             os.path.join(folder, "train.log"), str(tmp_path)], capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr
    rows = list(csv.DictReader(open(tmp_path / "train.log.train", newline="")))
    np.testing.assert_allclose([float(r["loss"]) for r in rows], [float(r["loss"]) for r in _curve(folder)],
                               rtol=1e-4)
    assert not (tmp_path / "train.log.test").exists()   # no test net during training


def _curve(folder):
    with open(os.path.join(folder, "train_curve.csv")) as handle:
        return list(csv.DictReader(handle))


def test_log_has_the_lines_parse_log_reads(trained):
    """Independent of the Caffe source: parse_log.py's regexes and its date format (month-day, no year)."""
    folder = os.path.join(trained, FOLDS[0])
    text = open(os.path.join(folder, "train.log")).read()
    assert re.search(r"^I\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ solver\.cpp:\d+\] Solving ", text, re.M)
    losses = [float(v) for v in re.findall(r"Train net output #(?:\d+): loss = ([\.\deE+-]+)", text)]
    rates = re.findall(r"Iteration \d+, lr = ([-+]?[0-9]*\.?[0-9]+([eE]?[-+]?[0-9]+)?)", text)
    assert len(losses) == 3 and len(rates) == 3
    curve = [float(r["loss"]) for r in _curve(folder)]
    np.testing.assert_allclose(losses, curve, rtol=1e-4)
    for line in text.splitlines():
        assert line.strip(), "an empty line stops parse_log.py"
        if re.match(r"^[IWEF]\d{4} ", line):
            assert 1 <= int(line[1:3]) <= 12, line


def _caffe_tarball():
    cache = os.environ.get("ATNET_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "atnet")
    found = sorted(glob.glob(os.path.join(cache, "src", "caffe*.orig.tar.gz")))
    return found[0] if found else None


@pytest.mark.skipif(_caffe_tarball() is None, reason="no BVLC Caffe source tarball in the setup cache")
def test_caffe_parse_log_reads_the_log(trained, tmp_path):
    """Caffe's own tools/extra/parse_log.py (Python 2; its one print statement made a call)."""
    with tarfile.open(_caffe_tarball()) as tar:
        for member in tar.getmembers():
            if member.name.endswith(("tools/extra/parse_log.py", "tools/extra/extract_seconds.py")):
                source = tar.extractfile(member).read().decode()
                source = source.replace("print 'Wrote %s' % output_filename", "print('Wrote %s' % output_filename)")
                (tmp_path / os.path.basename(member.name)).write_text(source)
    try:
        for name in ("extract_seconds", "parse_log"):  # parse_log does `import extract_seconds`
            spec = importlib.util.spec_from_file_location(name, tmp_path / (name + ".py"))
            module = sys.modules[name] = importlib.util.module_from_spec(spec)
            with warnings.catch_warnings():  # its regexes are not raw strings
                warnings.simplefilter("ignore", DeprecationWarning)
                spec.loader.exec_module(module)
        train_rows, test_rows = module.parse_log(os.path.join(trained, FOLDS[0], "train.log"))
    finally:
        sys.modules.pop("parse_log", None)
        sys.modules.pop("extract_seconds", None)
    assert [row["NumIters"] for row in train_rows] == [0, 1, 2]
    curve = _curve(os.path.join(trained, FOLDS[0]))
    np.testing.assert_allclose([row["loss"] for row in train_rows], [float(r["loss"]) for r in curve], rtol=1e-4)
    # parse_log gives each row the lr line printed after the row before (and copies row 1's to row 0).
    np.testing.assert_allclose([row["LearningRate"] for row in train_rows[1:]], [float(r["lr"]) for r in curve[:-1]],
                               rtol=1e-6)
    assert test_rows == []  # no test net runs during training


def test_rerun_skips_finished_folds_and_refuses_other_settings(trained, lmdb):
    done = os.path.join(trained, FOLDS[0], "DONE")
    stamp = os.stat(done).st_mtime_ns
    again = subprocess.run([sys.executable, TRAIN, *QUICK, "--lmdb", lmdb, "--out", trained, "--iters", "3",
                            "--folds", FOLDS[0]], capture_output=True, text=True)
    assert again.returncode == 0 and "0 fold(s) trained, 1 already done" in again.stdout
    assert os.stat(done).st_mtime_ns == stamp
    with pytest.raises(InputError, match=r"max_iter: 3 -> 4"):
        train_support.call_tool("train", *QUICK, "--lmdb", lmdb, "--out", trained, "--iters", "4",
                                "--folds", FOLDS[0])
    with pytest.raises(InputError, match=r"augment.*built with 'paper'"):
        train_support.call_tool("train", *QUICK, "--lmdb", lmdb, "--out", trained + "-x", "--set", "augment=none",
                                "--folds", FOLDS[0])
    with pytest.raises(InputError, match="cde-samm-6 has no complete LMDBs"):
        train_support.call_tool("train", *QUICK, "--lmdb", lmdb, "--out", trained + "-y", "--folds", "cde-samm-6")
    with pytest.raises(InputError, match="these are cde folds"):
        train_support.call_tool("train", "--model", "temporal", "--protocol", "hde", "--lmdb", lmdb,
                                "--out", trained + "-z")


def test_partial_run_evaluates(trained, tmp_path):
    result = train_support.run_tool("evaluate", trained, "--partial", "--out", tmp_path)
    metrics = json.load(open(tmp_path / "metrics.json"))
    assert metrics["partial"] and metrics["folds_evaluated"] == 2 and metrics["Full"]["n"] == 7
    assert "Full" in result.stdout


def _layer_weights(caffemodel):
    """{layer name: first blob as an array} of a .caffemodel, read with protobuf."""
    from caffe.proto import caffe_pb2
    with open(caffemodel, "rb") as handle:
        model = caffe_pb2.NetParameter.FromString(handle.read())
    return {layer.name: np.array(layer.blobs[0].data) for layer in model.layer if layer.blobs}


def test_weights_are_loaded_by_layer_name(trained, lmdb, tmp_path):
    weights = os.path.join(trained, FOLDS[0], "final.caffemodel")
    run_dir = str(tmp_path / "from-weights")
    train_support.call_tool("train", *QUICK, "--lmdb", lmdb, "--out", run_dir, "--iters", "1",
                            "--folds", FOLDS[2], "--weights", weights, "--no-progress")
    loaded, result = _layer_weights(weights), _layer_weights(os.path.join(run_dir, FOLDS[2], "final.caffemodel"))
    assert {"lstm1", "lstm2", "fc_temporal"} <= set(result)
    for layer in ("lstm1", "lstm2", "fc_temporal"):
        # One SGD step (lr 0.01) away from the loaded weights; a fresh gaussian filler (std 0.1)
        # would differ by about 0.11 on average.
        assert np.abs(loaded[layer] - result[layer]).mean() < 0.01, layer
    run = json.load(open(os.path.join(run_dir, "run.json")))
    assert run["weights_sha256"] and run["weights"] == os.path.abspath(weights)


def test_gpu_on_a_cpu_only_caffe_fails_clearly(lmdb, tmp_path):
    probe = subprocess.run([sys.executable, "-c", "import caffe; caffe.set_mode_gpu(); caffe.set_device(0)"],
                           capture_output=True, text=True)
    if probe.returncode == 0 or "CPU-only" not in probe.stderr:
        pytest.skip("this Caffe has CUDA")
    with pytest.raises(InputError, match=r"--gpu 0: this Caffe .* was built without CUDA"):
        train_support.call_tool("train", *QUICK, "--lmdb", lmdb, "--out", tmp_path / "run", "--gpu", "0",
                                "--folds", FOLDS[0])
    assert not os.path.exists(tmp_path / "run" / FOLDS[0])


def test_folds_and_shards_select_in_protocol_order():
    names = ["cde-casme2-sub01", "cde-casme2-sub02", "cde-samm-6", "cde-smic-s01", "cde-smic-s03"]
    assert train.choose_folds(names) == names
    assert train.choose_folds(names, None, (2, 2)) == ["cde-casme2-sub02", "cde-smic-s01"]
    assert train.choose_folds(names, ["cde-smic-s03,cde-casme2-sub01"], (1, 1)) == ["cde-casme2-sub01", "cde-smic-s03"]
    shards = [train.choose_folds(names, None, (k, 3)) for k in (1, 2, 3)]
    assert sorted(sum(shards, [])) == sorted(names)
    with pytest.raises(InputError, match="cde-samm-99"):
        train.choose_folds(names, ["cde-samm-99"])


def _complete_snapshots(prefix):
    return [it for it, path in snapshot_iterations(os.path.dirname(prefix), prefix)
            if snapshot_is_complete(path, it)]


def test_kill_9_and_restart_resumes_from_the_last_good_snapshot(lmdb, tmp_path):
    iterations, first, second = 18, FOLDS[0], FOLDS[2]
    run_dir = str(tmp_path / "run")
    command = [sys.executable, TRAIN, *QUICK, "--lmdb", lmdb, "--out", run_dir, "--iters", str(iterations),
               "--folds", first + "," + second, "--set", "snapshot_interval=3", "--no-progress",
               "--jobs", "1"]  # one fold after the other: the kill finds the second one running
    prefix = os.path.join(run_dir, second, runs.SNAPSHOT_DIR, "temporal")
    with open(tmp_path / "first-attempt.log", "w") as log:
        process = subprocess.Popen(command, start_new_session=True, stdout=log, stderr=log)
    try:
        deadline = time.time() + 300
        while not (os.path.isfile(os.path.join(run_dir, first, "DONE")) and len(_complete_snapshots(prefix)) >= 2):
            assert process.poll() is None, open(tmp_path / "first-attempt.log").read()[-2000:]
            assert time.time() < deadline, "no snapshots within 5 minutes"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the parent and the fold's process, like kill -9 of the run
        process.wait()
    assert not os.path.exists(os.path.join(run_dir, second, "DONE")), "the fold finished before the kill"
    done_first = open(os.path.join(run_dir, first, "DONE")).read()
    log_first = os.path.getsize(os.path.join(run_dir, first, "train.log"))

    # Caffe writes snapshots in place: make the newest one look cut off mid-write.
    complete = _complete_snapshots(prefix)
    state = "%s_iter_%d.solverstate" % (prefix, complete[0])
    with open(state, "r+b") as handle:
        handle.truncate(os.path.getsize(state) // 2)
    resume_from = complete[1]

    restart = subprocess.run(command, capture_output=True, text=True)
    assert restart.returncode == 0, restart.stderr[-3000:]
    assert "1 fold(s) trained, 1 already done" in restart.stdout
    assert open(os.path.join(run_dir, first, "DONE")).read() == done_first  # the finished fold is kept
    assert os.path.getsize(os.path.join(run_dir, first, "train.log")) == log_first
    log = open(os.path.join(run_dir, second, "train.log")).read()
    assert "Restoring previous solver status from %s_iter_%d.solverstate" % (prefix, resume_from) in log
    done = json.load(open(os.path.join(run_dir, second, "DONE")))
    assert done["iterations"] == iterations and done["resumed_from_iteration"] == resume_from
    assert [int(r["iter"]) for r in _curve(os.path.join(run_dir, second))] == list(range(iterations))
    assert read_predictions(os.path.join(run_dir, second, "predictions.csv"))
    assert os.listdir(os.path.join(run_dir, second, runs.SNAPSHOT_DIR)) == []
    shutil.rmtree(run_dir)


def test_parallel_folds_finish_before_a_failure_is_raised():
    finished, slots = [], set()

    def work(name, slot):
        slots.add(slot)
        time.sleep(0.05 if name != "b" else 0.0)
        if name == "b":
            raise InputError("fold b failed")
        finished.append(name)

    bar = types.SimpleNamespace(update=lambda n: None)
    with pytest.raises(InputError, match="fold b failed"):
        list(train.run_parallel(["a", "b", "c", "d"], work, 2, bar))
    assert finished == ["a"]  # the running fold ends; no new fold starts after the failure
    assert slots <= {1, 2}
    assert sorted(train.run_parallel(["x", "y", "z"], lambda name, slot: None, 2, bar)) == ["x", "y", "z"]


FOREIGN_NET = """name: "foreign"
layer { name: "data" type: "DummyData" top: "data" top: "label"
  dummy_data_param { shape { dim: 2 dim: 3 } shape { dim: 2 } } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
"""


def _foreign_snapshot(prefix):
    """A complete snapshot (iteration 1) of another net at ``prefix``: restoring it fails inside Caffe."""
    folder = os.path.dirname(prefix)
    os.makedirs(folder)
    net = os.path.join(folder, "foreign.prototxt")
    with open(net, "w") as handle:
        handle.write(FOREIGN_NET)
    solver = os.path.join(folder, "foreign_solver.prototxt")
    with open(solver, "w") as handle:
        handle.write('net: "%s"\nbase_lr: 0.01\nlr_policy: "fixed"\nmax_iter: 1\nsnapshot_prefix: "%s"\n'
                     'momentum: 0.9\nsolver_mode: CPU\n' % (net, prefix))
    subprocess.run([sys.executable, "-c", "import caffe, sys; caffe.get_solver(sys.argv[1]).solve()", solver],
                   check=True, capture_output=True)
    for name in (net, solver):
        os.unlink(name)


def test_keep_going_trains_the_other_folds_and_lists_the_failed_ones(lmdb, tmp_path):
    """A fold that fails inside Caffe (a glog FATAL: it resumes from a snapshot of another net); the
    other folds still train (the default, --keep-going), each leaves a line, and the end names the
    failed fold and its log's cause."""
    run_dir = str(tmp_path / "run")
    args = [sys.executable, TRAIN, *QUICK, "--lmdb", lmdb, "--iters", "2", "--folds", ",".join(FOLDS),
            "--no-progress"]
    for folder in (run_dir, run_dir + "-stop"):
        _foreign_snapshot(os.path.join(folder, FOLDS[1], runs.SNAPSHOT_DIR, "temporal"))
    result = subprocess.run(args + ["--out", run_dir], capture_output=True, text=True,
                            env=train_support.single_threaded_env())
    assert result.returncode == 2, result.stderr[-3000:]
    assert "1 of 3 fold(s) failed (2 trained, 0 already done)" in result.stderr
    cause = re.search(r"  %s: (.*)\n      \((.*)\)" % FOLDS[1], result.stderr)
    assert cause and cause.group(1).startswith("F") and "Check failed" in cause.group(1), result.stderr
    assert cause.group(2) == os.path.join(run_dir, FOLDS[1], "train.log")
    for fold in (FOLDS[0], FOLDS[2]):
        assert os.path.isfile(os.path.join(run_dir, fold, "DONE"))
        assert re.search(r"^%s: done, 2 iterations, \d+/\d+ test samples correct" % fold, result.stdout, re.M)
    run_log = open(os.path.join(run_dir, "run.log")).read()
    assert "%s: done" % FOLDS[0] in run_log and "1 of 3 fold(s) failed" in run_log
    stop = subprocess.run(args + ["--out", run_dir + "-stop", "--no-keep-going"], capture_output=True, text=True,
                          env=train_support.single_threaded_env())
    assert stop.returncode == 2 and "fold %s: training failed" % FOLDS[1] in stop.stderr
    assert os.path.isfile(os.path.join(run_dir + "-stop", FOLDS[0], "DONE"))
    assert not os.path.exists(os.path.join(run_dir + "-stop", FOLDS[2]))   # never started
