#!/usr/bin/env python3
"""Compare Caffe builds (or BLAS libraries) per layer with `caffe time`.

    python bench/bench_caffe_builds.py --build stock=~/.cache/atnet/caffe/cpu-KEY \\
        --build opt=~/.cache/atnet/caffe/cpu-KEY2 [--build NAME=PREFIX,LD_LIBRARY_PATH=DIR] \\
        [--variant fusion] [--threads 1 2] [--iterations 5] [--rounds 2]

Each build prefix is a cached build of setup/setup.sh (its bin/caffe). The
variant's TRAIN net (atnet.nets.train_val at the given batch) reads LMDBs of
random records; `PREFIX/bin/caffe time` runs it with OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS and MKL_NUM_THREADS set to each thread count. Extra
KEY=VALUE items after a build's prefix go into that build's environment
(e.g. LD_LIBRARY_PATH to swap the OpenBLAS variant, LD_PRELOAD for oneMKL).
Builds and thread counts are interleaved round by round, so background load
hits them alike; the load average is printed beside every figure.

Prints, per build and thread count, the median over rounds of the forward +
backward time per iteration (wall, and the process's CPU time: steadier on a
loaded machine) and its split: convolution, BatchNorm + Scale,
the two LSTMs, everything else (ms and %). Nothing is asserted.
"""
import argparse
import collections
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile

from atnet.child_process import GLOG_ENV  # glog at INFO on stderr: the per-layer lines
from bench_nets import random_samples  # bench/ is the script's folder, so on sys.path

CATEGORIES = ("conv", "bn+scale", "lstm", "other")
_LAYER_TIME = re.compile(r"\]\s+(\S+)\s+(forward|backward): ([0-9.]+) ms\.")
_TOTAL = re.compile(r"Average Forward-Backward: ([0-9.]+) ms\.")


def category(layer_type):
    """The share of the iteration a layer type is counted in."""
    if layer_type == "Convolution":
        return "conv"
    if layer_type in ("BatchNorm", "Scale"):
        return "bn+scale"
    if layer_type == "LSTM":
        return "lstm"
    return "other"


def write_net(variant, batch, workdir):
    """Write the variant's TRAIN net and its LMDBs; return (prototxt path, {layer: type})."""
    from atnet import nets, records
    lmdbs = dict(train_apex_lmdb=os.path.join(workdir, "apex"), train_flow_lmdb=os.path.join(workdir, "flow"))
    records.write_record_pairs(random_samples(batch, seed=0), total=batch,
                               apex_lmdb=lmdbs["train_apex_lmdb"], flow_lmdb=lmdbs["train_flow_lmdb"])
    net = nets.train_val(variant, batch_size=batch, **lmdbs)
    path = os.path.join(workdir, variant + ".prototxt")
    nets.write_prototxt(path, net)
    return path, {layer.name: layer.type for layer in net.layer}


def parse_build(text):
    """NAME=PREFIX[,KEY=VALUE...] -> (name, caffe binary, extra environment)."""
    name, _, rest = text.partition("=")
    items = rest.split(",")
    prefix = os.path.expanduser(items[0])
    binary = os.path.join(prefix, "bin", "caffe")
    if not name or not os.access(binary, os.X_OK):
        raise SystemExit("error: --build %r: expected NAME=PREFIX with PREFIX/bin/caffe" % text)
    env = dict(item.split("=", 1) for item in items[1:])
    return name, binary, env


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_once(binary, env, prototxt, threads, iterations):
    """One `caffe time` run: (wall ms per iteration, {layer: ms fwd+bwd}, CPU ms per
    iteration). The CPU time is the whole process's (all threads, net setup
    included) over its iterations + 1 (`caffe time` runs one untimed first)."""
    run_env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads), **GLOG_ENV, **env)
    cpu = _children_cpu()
    out = subprocess.run([binary, "time", "-model", prototxt, "-iterations", str(iterations)],
                         env=run_env, capture_output=True, text=True)
    cpu = (_children_cpu() - cpu) * 1e3 / (iterations + 1)
    if out.returncode != 0:
        raise SystemExit("error: %s time failed:\n%s" % (binary, out.stderr[-3000:]))
    layers = collections.Counter()
    for match in _LAYER_TIME.finditer(out.stderr):
        layers[match.group(1)] += float(match.group(3))
    total = _TOTAL.search(out.stderr)
    return float(total.group(1)), layers, cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--build", action="append", required=True, help="NAME=PREFIX[,KEY=VALUE...]")
    parser.add_argument("--variant", default="fusion")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--iterations", type=int, default=5, help="timed iterations per `caffe time` run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repetitions of every run")
    parser.add_argument("--json", help="also write the medians to this file")
    args = parser.parse_args(argv)
    builds = [parse_build(text) for text in args.build]
    results = collections.defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="atnet-bench-builds-") as workdir:
        prototxt, types = write_net(args.variant, args.batch, workdir)
        for rnd in range(args.rounds):
            for threads in args.threads:
                for name, binary, env in builds:
                    load = os.getloadavg()[0]
                    total, layers, cpu = time_once(binary, env, prototxt, threads, args.iterations)
                    split = collections.Counter()
                    for layer, ms in layers.items():
                        split[category(types.get(layer, ""))] += ms
                    results[(name, threads)].append((total, split, load, cpu))
                    print("round %d  %-10s %d thread(s): %8.1f ms/iter, CPU %8.1f ms/iter  (load %.2f)"
                          % (rnd + 1, name, threads, total, cpu, load), flush=True)
    print("\n%s, batch %d, median of %d rounds x %d iterations (load = 1-min average at each run)"
          % (args.variant, args.batch, args.rounds, args.iterations))
    print("%-10s %3s %10s %10s " % ("build", "thr", "ms/iter", "CPU ms") +
          " ".join("%17s" % c for c in CATEGORIES) + "  load")
    summary = []
    for (name, threads), runs in results.items():
        total = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[3] for r in runs)
        split = {c: statistics.median(r[1][c] for r in runs) for c in CATEGORIES}
        loads = [r[2] for r in runs]
        layer_sum = sum(split.values()) or 1.0
        print("%-10s %3d %10.1f %10.1f " % (name, threads, total, cpu) +
              " ".join("%8.1f (%4.1f%%)" % (split[c], 100 * split[c] / layer_sum) for c in CATEGORIES) +
              "  %.1f-%.1f" % (min(loads), max(loads)))
        summary.append(dict(build=name, threads=threads, ms_per_iter=total, cpu_ms_per_iter=cpu,
                            split_ms=split, loads=loads))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(dict(variant=args.variant, batch=args.batch, results=summary), handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
