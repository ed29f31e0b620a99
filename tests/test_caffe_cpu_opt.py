"""The faster CPU build (setup.sh CAFFE_CPU_OPT=1, docs/cpu_speed.md) computes what
the stock build computes, and the unity build (CAFFE_UNITY=1, the default) what
Caffe's own file-by-file build computes.

The option's bookkeeping is checked everywhere (fast): the stock build keeps its
cache key, the faster one gets its own from its patches and options, and a bad
value is refused. The numerical identity needs both builds: forward and backward
of every variant's TRAIN net, from the same weights and inputs, in one process
per build (pycaffe of one build per process); every blob's data and diff and
every parameter's data and gradient must be equal bit for bit on one thread
(the patches keep each element's operation order) and within 1e-5 relative
(largest difference over largest magnitude, per array) on two, or within twice
the stock build's own difference between one thread and two for the sums that
cancel to almost nothing. It runs when
both builds are in the cache (`CAFFE_CPU_OPT=1 setup/setup.sh build` makes the
faster one, about 3.5 minutes on 2 cores) and is skipped, saying so, otherwise:
the suite never builds Caffe itself. Likewise the unity build against the
file-by-file one (`CAFFE_UNITY=0 setup/setup.sh build`), which must be equal bit
for bit on one thread and on two.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETUP = os.path.join(REPO, "setup", "setup.sh")
VENV = os.path.dirname(os.path.dirname(sys.executable))
BATCH = 2
RELATIVE = 1e-5


def _setup_sh(function, cpu_opt, check=True, unity="1", gpu=None):
    """Run one function of setup.sh (sourced, so nothing is built) with CAFFE_CPU_OPT and CAFFE_UNITY."""
    env = dict(os.environ, VENV=VENV, CAFFE_CPU_OPT=cpu_opt, CAFFE_UNITY=unity)
    env.pop("CAFFE_GPU", None)
    if gpu:
        env["CAFFE_GPU"] = gpu
    return subprocess.run(["bash", "-c", 'source "%s"; %s' % (SETUP, function)], env=env,
                          capture_output=True, text=True, check=check)


def test_stock_key_is_untouched_by_the_option():
    stock = _setup_sh("cache_inputs", "0").stdout
    assert "cpu-speed" not in stock and "USE_OPENMP" not in stock
    assert _setup_sh("cache_key", "").stdout == _setup_sh("cache_key", "0").stdout


def test_faster_build_is_keyed_by_its_patches_and_options():
    fast = _setup_sh("cache_inputs", "1").stdout
    assert "-DUSE_OPENMP=ON" in fast and "openblas-openmp" in fast
    patches = sorted(os.listdir(os.path.join(REPO, "setup", "patches", "cpu-speed")))
    assert patches and all(name.endswith(".patch") for name in patches)
    for name in patches:
        with open(os.path.join(REPO, "setup", "patches", "cpu-speed", name)) as handle:
            assert handle.read() in fast, name
    assert _setup_sh("cache_key", "1").stdout != _setup_sh("cache_key", "0").stdout


def test_bad_option_value_is_refused():
    run = _setup_sh("main venv", "yes", check=False)
    assert run.returncode != 0 and "CAFFE_CPU_OPT=yes" in run.stderr


def test_unity_build_is_the_default_keyed_and_one_option_away():
    unity = _setup_sh("cache_inputs", "0").stdout
    assert "-DCMAKE_UNITY_BUILD=ON" in unity and "-DCMAKE_UNITY_BUILD_BATCH_SIZE=16" in unity
    by_file = _setup_sh("cache_inputs", "0", unity="0").stdout
    assert "UNITY" not in by_file
    assert _setup_sh("cache_key", "0").stdout != _setup_sh("cache_key", "0", unity="0").stdout
    assert "-DCMAKE_UNITY_BUILD=ON" in _setup_sh("cache_inputs", "1").stdout
    # The CUDA build keeps its file-by-file options whatever CAFFE_UNITY says.
    assert _setup_sh("unity_build && echo unity || echo by-file", "0", gpu="1").stdout.strip() == "by-file"
    run = _setup_sh("main venv", "0", check=False, unity="yes")
    assert run.returncode != 0 and "CAFFE_UNITY=yes" in run.stderr


# Runs in a fresh interpreter with PYTHONPATH at one build's pycaffe: builds the
# variant's TRAIN net, takes the weights from the shared .caffemodel (the first
# build writes it), fills the Data layers' tops from a fixed seed, runs forward
# from the first layer after them and backward, and saves every array.
WORKER = r'''
import json, os, sys
import numpy as np
import caffe
spec = json.loads(sys.argv[1])
here = os.path.realpath(caffe.__file__)
if not here.startswith(os.path.realpath(spec["prefix"]) + os.sep):
    sys.exit("pycaffe from %s, not from %s" % (here, spec["prefix"]))
caffe.set_mode_cpu()
for variant, prototxt in spec["nets"].items():
    caffe.set_random_seed(0)
    net = caffe.Net(prototxt, caffe.TRAIN)
    weights = os.path.join(spec["workdir"], variant + ".caffemodel")
    if os.path.exists(weights):
        net.copy_from(weights)
    else:
        net.save(weights)
    rng = np.random.default_rng(0)
    names = list(net._layer_names)
    start = next(i for i, layer in enumerate(net.layers) if layer.type != "Data")
    for i in range(start):
        for top in net.top_names[names[i]]:
            blob = net.blobs[top]
            if top == "label":
                blob.data[...] = rng.integers(0, 3, blob.data.shape)
            else:
                blob.data[...] = rng.standard_normal(blob.data.shape)
    net.forward(start=names[start])
    net.backward()
    out = {}
    for name, blob in net.blobs.items():
        out["data:" + name] = blob.data
        out["diff:" + name] = blob.diff
    for name, params in net.params.items():
        for i, param in enumerate(params):
            out["param:%s:%d" % (name, i)] = param.data
            out["grad:%s:%d" % (name, i)] = param.diff
    np.savez(os.path.join(spec["out"], variant + ".npz"), **out)
'''


def _cached_build(cpu_opt, unity="1"):
    """The cached build for CAFFE_CPU_OPT=cpu_opt and CAFFE_UNITY=unity, or None when it is not there."""
    run = _setup_sh("caffe_prefix", cpu_opt, check=False, unity=unity)
    prefix = run.stdout.strip()
    if run.returncode != 0 or not os.path.isfile(os.path.join(prefix, ".complete")):
        return None, prefix or run.stderr.strip()
    return prefix, prefix


@pytest.fixture(scope="module")
def builds():
    stock, stock_where = _cached_build("0")
    fast, fast_where = _cached_build("1")
    if stock is None:
        pytest.skip("the stock Caffe build is not in the cache (%s)" % stock_where)
    if fast is None:
        pytest.skip("the CAFFE_CPU_OPT=1 Caffe build is not in the cache (%s); make it with "
                    "CAFFE_CPU_OPT=1 setup/setup.sh build (about 3.5 minutes)" % fast_where)
    return stock, fast


@pytest.fixture(scope="module")
def file_by_file_build():
    by_file, where = _cached_build("0", unity="0")
    if by_file is None:
        pytest.skip("the file-by-file (CAFFE_UNITY=0) Caffe build is not in the cache (%s); make it with "
                    "CAFFE_UNITY=0 setup/setup.sh build (about 7 minutes)" % where)
    return by_file


def _random_records(count):
    from atnet import records
    rng = np.random.default_rng(1)
    for i in range(count):
        feature = rng.uniform(0, 1.5, records.FLOW_SHAPE).astype(np.float32)
        yield ("test-s%02d-clip%04d" % (i, i), i % 3,
               rng.integers(0, 256, records.APEX_SHAPE, dtype=np.uint8), feature)


def _run_worker(prefix, nets, workdir, out, threads):
    os.makedirs(out)
    env = dict(os.environ, PYTHONPATH=os.path.join(prefix, "python"), GLOG_minloglevel="2",
               OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    spec = dict(prefix=prefix, nets=nets, workdir=workdir, out=out)
    run = subprocess.run([sys.executable, "-c", WORKER, json.dumps(spec)], env=env,
                         capture_output=True, text=True, cwd=workdir)
    assert run.returncode == 0, run.stderr[-3000:]
    return {variant: dict(np.load(os.path.join(out, variant + ".npz"))) for variant in nets}


def _compare(stock, fast, noise=None):
    """(arrays not bit-identical, arrays beyond the tolerance) of one variant.

    The tolerance of an array is RELATIVE times its largest magnitude or, when
    ``noise`` (stock against stock on another thread count) is given, twice the
    stock build's own difference, whichever is larger: gradients that are sums
    cancelling to almost nothing (the bias of a convolution that BatchNorm
    follows) differ between thread counts of stock Caffe by far more than 1e-5
    of their size."""
    assert sorted(stock) == sorted(fast)
    inexact, beyond = [], []
    for key, want in stock.items():
        got = fast[key]
        assert got.shape == want.shape, key
        if np.array_equal(got, want):
            continue
        scale = max(float(np.abs(want).max()), np.finfo(np.float32).tiny)
        difference = float(np.abs(got.astype(np.float64) - want).max())
        allowed = RELATIVE * scale
        if noise is not None:
            allowed = max(allowed, 2 * float(np.abs(noise[key].astype(np.float64) - want).max()))
        inexact.append("%s (%.1e)" % (key, difference / scale))
        if not difference <= allowed:
            beyond.append("%s (%.1e relative, %.1e allowed)" % (key, difference / scale, allowed / scale))
    return inexact, beyond


def _variant_nets(tmp_path):
    """Every variant's TRAIN prototxt on two random records: {variant: path}."""
    from atnet import nets, records
    lmdbs = dict(train_apex_lmdb=str(tmp_path / "apex"), train_flow_lmdb=str(tmp_path / "flow"))
    records.write_record_pairs(_random_records(BATCH), total=BATCH, apex_lmdb=lmdbs["train_apex_lmdb"],
                               flow_lmdb=lmdbs["train_flow_lmdb"])
    paths = {}
    for variant in nets.VARIANTS:
        paths[variant] = str(tmp_path / (variant + ".prototxt"))
        nets.write_prototxt(paths[variant], nets.train_val(variant, batch_size=BATCH, **lmdbs))
    return paths


@pytest.mark.slow
def test_unity_build_matches_file_by_file_bit_for_bit(builds, file_by_file_build, tmp_path):
    """The same sources and flags, only grouped into fewer translation units: inlining
    across files may change, the IEEE arithmetic may not (no fast-math, no FMA on
    x86-64's baseline), so every array is equal on one thread and on two."""
    stock, _ = builds
    paths = _variant_nets(tmp_path)
    for threads in (1, 2):
        want = _run_worker(file_by_file_build, paths, str(tmp_path), str(tmp_path / ("by-file-%d" % threads)), threads)
        got = _run_worker(stock, paths, str(tmp_path), str(tmp_path / ("unity-%d" % threads)), threads)
        for variant in paths:
            inexact, _ = _compare(want[variant], got[variant])
            assert not inexact, "%s, %d threads: not bit-identical: %s" % (variant, threads, ", ".join(inexact))


@pytest.mark.slow
def test_faster_build_matches_stock_forward_and_backward(builds, tmp_path):
    """One thread: the same BLAS calls on one thread and each patched loop's element
    arithmetic unchanged, so bit for bit. Two threads: the batch split runs each
    image's GEMM on one thread where stock OpenBLAS shares it between two, and
    OpenBLAS's sums already differ in the last bits between its thread counts
    (stock against stock), so within 1e-5 relative, or within twice that stock
    difference."""
    from atnet import nets
    stock, fast = builds
    paths = _variant_nets(tmp_path)
    stock_runs = {}
    for threads in (1, 2):
        want = stock_runs[threads] = _run_worker(stock, paths, str(tmp_path),
                                                 str(tmp_path / ("stock-%d" % threads)), threads)
        got = _run_worker(fast, paths, str(tmp_path), str(tmp_path / ("fast-%d" % threads)), threads)
        for variant in nets.VARIANTS:
            noise = stock_runs[1][variant] if threads == 2 else None
            inexact, beyond = _compare(want[variant], got[variant], noise)
            assert not beyond, "%s, %d threads: beyond the tolerance: %s" % (
                variant, threads, ", ".join(beyond))
            if threads == 1:
                assert not inexact, "%s, 1 thread: not bit-identical: %s" % (variant, ", ".join(inexact))
            print("%s, %d threads: %d of %d arrays bit-identical" % (
                variant, threads, len(want[variant]) - len(inexact), len(want[variant])))
