#!/usr/bin/env python3
"""Speed of macro pre-training (tools/pretrain.py) and the projected time of its 50,000-iteration default.

    python bench/bench_pretrain.py [--batch 16] [--iters 3] [--classes 6] [--head l2] [--gpu N]

On an LMDB of random 224 x 224 grey records in the project's format, the
pre-training net (atnet.macro.net: the spatial stream and fc_macro) is
trained by Caffe's own SGD solver exactly as tools/pretrain.py runs it
(Data layer, forward, backward, update), after one warm-up iteration:

  step      seconds per solver iteration (wall; CPU seconds of the process in brackets:
            on a shared machine the CPU figure is the steadier one);
  images/s  batch / step;
  50k       the default schedule's 50,000 iterations at this speed, in hours
            (LMDB writing, snapshots and the validation pass not included).

On the CPU with this machine's cores (Caffe's OpenBLAS uses them all); with
``--gpu N`` also on that GPU, when the Caffe build has CUDA and the device is
usable (otherwise the reason is printed and only the CPU figures are given).
Prints numbers; nothing is asserted.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402

from atnet import records  # noqa: E402
from atnet.common import InputError, run_cli  # noqa: E402
from atnet.macro.net import HEADS, train_net  # noqa: E402
from atnet.macro.pretrain_config import PretrainConfig  # noqa: E402
from atnet.prototxt_io import write_prototxt  # noqa: E402
from atnet.solver import make_solver, write_solver  # noqa: E402

DEFAULT_ITERATIONS = PretrainConfig().max_iter


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--batch", type=int, default=PretrainConfig().batch_size, help="training batch size")
    parser.add_argument("--iters", type=int, default=3, help="timed iterations (after one warm-up iteration)")
    parser.add_argument("--classes", type=int, default=6, help="classes of the head (basic6: 6)")
    parser.add_argument("--head", choices=HEADS, default=PretrainConfig().head, help="head between pool and fc_macro")
    parser.add_argument("--gpu", type=int, metavar="N", help="also time on GPU N (needs a CUDA build of Caffe)")
    parser.add_argument("--device", choices=("cpu", "gpu"), help=argparse.SUPPRESS)   # the timing child
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def write_lmdb(path, classes, count=64):
    rng = np.random.default_rng(0)
    samples = ((str(i), i % classes, rng.integers(0, 256, (224, 224), dtype=np.uint8), None) for i in range(count))
    records.write_record_pairs(samples, apex_lmdb=path, total=count, desc="bench LMDB", num_classes=classes)


def time_steps(args):
    """In this process: seconds (wall, CPU) per solver iteration on ``args.device``."""
    import caffe
    if args.device == "gpu":
        caffe.set_mode_gpu()
        caffe.set_device(args.gpu)
    else:
        caffe.set_mode_cpu()
    net_path, solver_path = (os.path.join(args.workdir, name) for name in ("train.prototxt", "solver.prototxt"))
    write_prototxt(net_path, train_net(args.classes, os.path.join(args.workdir, "lmdb"), args.batch, args.head))
    solver = make_solver(net_path, os.path.join(args.workdir, "snap"), seed=1, train_size=args.batch,
                         batch_size=args.batch, step_epochs=10 ** 6, max_epochs=10 ** 6,
                         solver_mode="GPU" if args.device == "gpu" else "CPU")
    write_solver(solver_path, solver)
    sgd = caffe.get_solver(solver_path)
    sgd.step(1)
    wall, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    sgd.step(args.iters)
    float(sgd.net.blobs["loss"].data)            # reads back: GPU work has finished
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
    print("%.6f %.6f" % ((time.perf_counter() - wall) / args.iters, cpu_seconds / args.iters))


def measure(args, device, workdir):
    """(wall, cpu) seconds per iteration from a fresh process (one device per process), or a reason."""
    command = [sys.executable, os.path.abspath(__file__), "--device", device, "--workdir", workdir,
               "--batch", str(args.batch), "--iters", str(args.iters), "--classes", str(args.classes),
               "--head", args.head] + (["--gpu", str(args.gpu)] if device == "gpu" else [])
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        fatal = [line for line in lines if "CPU-only" in line or "Check failed" in line or "rror" in line]
        return None, ((fatal or lines or ["exit code %d" % result.returncode])[0]).strip()
    wall, cpu = (float(v) for v in result.stdout.split()[-2:])
    return (wall, cpu), None


def report(name, timing, batch):
    wall, cpu = timing
    print("%-8s step %7.3f s (cpu %7.3f s)  %7.1f images/s   50k iterations: %7.1f h"
          % (name, wall, cpu, batch / wall, DEFAULT_ITERATIONS * wall / 3600))


def main(argv=None):
    args = parse_args(argv)
    if args.device:
        time_steps(args)
        return 0
    if args.batch < 1 or args.iters < 1 or args.classes < 2:
        raise InputError("--batch and --iters must be at least 1, --classes at least 2")
    print("macro pre-training, spatial stream + fc_macro (%d classes, head %s), batch %d, %d cores"
          % (args.classes, args.head, args.batch, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory(prefix="atnet-bench-pretrain-") as workdir:
        write_lmdb(os.path.join(workdir, "lmdb"), args.classes)
        timing, reason = measure(args, "cpu", workdir)
        if timing is None:
            raise InputError("CPU timing failed: %s" % reason)
        report("cpu", timing, args.batch)
        if args.gpu is not None:
            timing, reason = measure(args, "gpu", workdir)
            if timing is None:
                print("gpu %d   skipped: %s" % (args.gpu, reason))
            else:
                report("gpu %d" % args.gpu, timing, args.batch)
        else:
            print("gpu      not timed (pass --gpu N on a machine with a CUDA build of Caffe, docs/gpu.md)")
    return 0


if __name__ == "__main__":
    run_cli(main)
