"""Helpers of the CUDA-build tests (test_gpu_*.py): find the builds that
`make setup` / `CAFFE_GPU=1 make setup` keep in the cache, and a usable GPU."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETUP = os.path.join(REPO, "setup", "setup.sh")
VENV = os.path.dirname(os.path.dirname(sys.executable))


def setup_env(gpu, **extra):
    """The environment setup.sh sees for this venv and build (an outside CAFFE_ROOT removed)."""
    env = dict(os.environ, VENV=VENV, CAFFE_GPU="1" if gpu else "0", **extra)
    env.pop("CAFFE_ROOT", None)
    return env


def setup_shell(command, gpu):
    """Run ``command`` in bash with setup.sh's functions defined (sourced, setup.sh runs nothing)."""
    return subprocess.run(["bash", "-c", 'source "$1" && ' + command, "bash", SETUP],
                          env=setup_env(gpu), capture_output=True, text=True)


def _last_line(text):
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(no message)"


def cached_build(gpu):
    """The cache prefix of this venv's CPU or CUDA build; skips the test when it is not built."""
    run = setup_shell(("check_cuda_options && " if gpu else "") + "caffe_prefix", gpu)
    if run.returncode != 0:
        pytest.skip("cannot key the %s build: %s" % ("CUDA" if gpu else "CPU", _last_line(run.stderr)))
    prefix = run.stdout.strip()
    if not os.path.exists(os.path.join(prefix, ".complete")):
        pytest.skip("the %s build of Caffe is not in the cache (%s); build it with %s"
                    % ("CUDA" if gpu else "CPU", prefix, "CAFFE_GPU=1 make setup" if gpu else "make setup"))
    return prefix


def require_gpu(prefix, device=0):
    """Skip unless the CUDA build can open GPU ``device`` (a GPU, its driver, a matching runtime)."""
    query = subprocess.run([os.path.join(prefix, "bin", "caffe"), "device_query", "-gpu", str(device)],
                           env=dict(os.environ, GLOG_logtostderr="1"), capture_output=True, text=True,
                           timeout=300)
    if query.returncode != 0:
        fatal = [line.split("] ", 1)[-1] for line in query.stderr.splitlines() if line.startswith("F")]
        pytest.skip("no usable NVIDIA GPU here: `caffe device_query -gpu %d` says: %s"
                    % (device, fatal[0] if fatal else _last_line(query.stderr)))
