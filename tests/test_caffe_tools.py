"""Caffe's own tools on what this repository writes: the `caffe` wrapper's log and a pycaffe
training log parse with tools/parse_log.py (Caffe's parse_log.py format), and plot."""
import csv
import os
import re
import shutil
import subprocess
import sys

import pytest

from atnet.caffe_log import parse_log

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAFFE = shutil.which("caffe", path=os.path.join(REPO, ".venv", "bin")) or shutil.which("caffe")

NET = """name: "tiny"
layer { name: "data" type: "DummyData" top: "data" top: "label"
  dummy_data_param { shape { dim: 4 dim: 5 } shape { dim: 4 }
    data_filler { type: "gaussian" std: 1 } data_filler { type: "uniform" min: 0 max: 2.99 } } }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
  inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
layer { name: "accuracy" type: "Accuracy" bottom: "fc" bottom: "label" top: "accuracy" include { phase: TEST } }
"""
SOLVER = """net: "{net}"
test_iter: 2
test_interval: 3
base_lr: 0.01
lr_policy: "step"
gamma: 0.5
stepsize: 4
display: 1
max_iter: 6
momentum: 0.9
snapshot_prefix: "{prefix}"
random_seed: 1
solver_mode: CPU
"""


def _solver(folder):
    net = os.path.join(folder, "net.prototxt")
    with open(net, "w") as handle:
        handle.write(NET)
    solver = os.path.join(folder, "solver.prototxt")
    with open(solver, "w") as handle:
        handle.write(SOLVER.format(net=net, prefix=os.path.join(folder, "snap")))
    return solver


def _wrapper(folder):
    """setup/caffe-wrapper.sh installed as setup.sh installs it: bin/caffe beside bin/caffe.real."""
    real = os.path.realpath(CAFFE)
    bin_dir = os.path.join(folder, "bin")
    os.makedirs(bin_dir)
    os.symlink(real, os.path.join(bin_dir, "caffe.real"))
    shutil.copy(os.path.join(REPO, "setup", "caffe-wrapper.sh"), os.path.join(bin_dir, "caffe"))
    return os.path.join(bin_dir, "caffe")


def _train(binary, folder, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLOG_")}
    env.update(env_extra or {}, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    log = os.path.join(folder, "caffe.log")
    with open(log, "w") as handle:
        result = subprocess.run([binary, "train", "-solver", _solver(folder)], stderr=handle,
                                stdout=subprocess.DEVNULL, env=env, timeout=300)
    assert result.returncode == 0, open(log).read()[-2000:]
    return log


def _check_tables(log, out, outputs=("loss",), test_outputs=("accuracy", "loss")):
    result = subprocess.run([sys.executable, os.path.join(REPO, "tools", "parse_log.py"), log, out, "--verbose"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    name = os.path.basename(log)
    train_path, test_path = os.path.join(out, name + ".train"), os.path.join(out, name + ".test")
    assert "Wrote %s" % train_path in result.stdout
    with open(train_path, "rb") as handle:
        assert handle.readline() == ("NumIters,Seconds,LearningRate,%s\r\n" % ",".join(outputs)).encode()
    with open(train_path, newline="") as handle:
        train = list(csv.DictReader(handle))
    with open(test_path, newline="") as handle:
        test = list(csv.DictReader(handle))
    assert list(test[0]) == ["NumIters", "Seconds", "LearningRate"] + list(test_outputs)
    # the values are the log's: every "Iteration N ... loss = X" and the lr of each display line
    text = open(log).read()
    losses = [float(v) for v in re.findall(r"Iteration \d+ \(.*?\), loss = ([-+.\deE]+)", text)
              or re.findall(r"Iteration \d+, loss = ([-+.\deE]+)", text)]
    assert [float(row["loss"]) for row in train] == pytest.approx(losses)
    assert [row["NumIters"] for row in train] == ["%.1f" % i for i in range(len(train))]
    assert float(train[-1]["LearningRate"]) == pytest.approx(0.005)
    assert [float(row["NumIters"]) for row in test] == [0.0, 3.0, 6.0]
    assert all(float(row["Seconds"]) >= 0 for row in train + test)
    assert float(train[-1]["Seconds"]) >= float(train[0]["Seconds"])
    return train, test


@pytest.mark.skipif(CAFFE is None, reason="no caffe binary (make setup)")
def test_caffe_wrapper_log_parses_like_caffe_parse_log(tmp_path):
    log = _train(_wrapper(str(tmp_path)), str(tmp_path))
    first = next(line for line in open(log) if line[:1] in "IWEF")
    assert re.match(r"^I\d{4} \d\d:\d\d:\d\d\.\d{6} ", first), first     # Caffe's month-day prefix
    train, _ = _check_tables(log, str(tmp_path))
    assert len(train) == 6          # display 1, max_iter 6: iterations 0..5


@pytest.mark.skipif(CAFFE is None, reason="no caffe binary (make setup)")
def test_year_prefix_of_plain_glog_is_read_too(tmp_path):
    log = _train(os.path.realpath(CAFFE), str(tmp_path), {"GLOG_log_year_in_prefix": "true"})
    assert re.match(r"^I\d{8} ", next(line for line in open(log) if line[:1] in "IWEF"))
    _check_tables(log, str(tmp_path))


def test_pycaffe_training_log_parses_and_plots(tmp_path, caffe):
    """A log written by pycaffe with the child processes' glog settings (atnet.child_process.GLOG_ENV)."""
    from atnet.child_process import GLOG_ENV
    solver = _solver(str(tmp_path))
    env = dict({k: v for k, v in os.environ.items() if not k.startswith("GLOG_")}, **GLOG_ENV)
    log = os.path.join(str(tmp_path), "train.log")
    with open(log, "w") as handle:
        subprocess.run([sys.executable, "-c", "import caffe, sys; caffe.set_mode_cpu(); "
                        "caffe.get_solver(sys.argv[1]).solve()", solver],
                       stderr=handle, env=env, check=True, timeout=300)
    _check_tables(log, str(tmp_path))
    out = os.path.join(str(tmp_path), "plot.png")
    result = subprocess.run([sys.executable, os.path.join(REPO, "tools", "plot_log.py"), log, "--out", out],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    import cv2
    image = cv2.imread(out)
    assert image is not None and image.shape[0] > 500 and image.std() > 10


def test_a_log_without_solving_is_refused(tmp_path):
    path = tmp_path / "x.log"
    path.write_text("hello\n")
    from atnet.common import InputError
    with pytest.raises(InputError, match="no 'Solving' line"):
        parse_log(str(path))
