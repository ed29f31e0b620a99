#!/usr/bin/env python3
"""Time forward + backward of each ATNet variant's TRAIN net on this machine.

Each variant's train_val net reads a small LMDB pair of random records
(written with atnet.records, as training does) through its Data layers; the
script prints milliseconds per forward+backward iteration (wall clock, median
and best), images (samples) per second, and the process's CPU milliseconds per
iteration. The SGD update itself is not included (as in `caffe time`).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("GLOG_minloglevel", "2")  # before pycaffe starts glog

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402


def random_samples(count, seed):
    """``count`` random (key, label, apex, flow) records in the project's shapes, for timing only."""
    from atnet import records
    rng = np.random.default_rng(seed)
    for i in range(count):
        feature = np.zeros(records.FLOW_SHAPE, np.float32)
        feature[:, 0::2] = rng.uniform(-np.pi, np.pi, (records.FLOW_SHAPE[0], records.FLOW_SHAPE[1] // 2))
        feature[:, 1::2] = rng.uniform(0, 1.5, (records.FLOW_SHAPE[0], records.FLOW_SHAPE[1] // 2))
        yield ("bench-s%02d-clip%04d" % (i % 7, i), i % 3,
               rng.integers(0, 256, records.APEX_SHAPE, dtype=np.uint8), feature)


def time_variant(caffe, variant, lmdbs, batch, iterations, warmup, workdir):
    """Per-iteration (wall, CPU) seconds of forward + backward of ``variant``'s TRAIN net.

    CPU time counts every thread of this process; on a machine shared with
    other work it is the steadier measure of the net's cost.
    """
    from atnet import nets
    path = os.path.join(workdir, variant + ".prototxt")
    nets.write_prototxt(path, nets.train_val(variant, batch_size=batch, **lmdbs))
    net = caffe.Net(path, caffe.TRAIN)
    wall, cpu = [], []
    for step in tqdm(range(warmup + iterations), desc=variant, unit="iter", leave=False):
        start, start_cpu = time.perf_counter(), time.process_time()
        net.forward()
        net.backward()
        if step >= warmup:
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def main(argv=None):
    from atnet import nets, records
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(nets.VARIANTS), choices=list(nets.VARIANTS))
    parser.add_argument("--batch", type=int, default=16, help="training batch size")
    parser.add_argument("--iterations", type=int, default=5, help="timed iterations per variant")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    parser.add_argument("--gpu", type=int, help="GPU id to run on; CPU when not given")
    args = parser.parse_args(argv)

    import caffe
    if args.gpu is None:
        caffe.set_mode_cpu()
        device = "CPU, %d cores visible, OPENBLAS_NUM_THREADS=%s" % (
            len(os.sched_getaffinity(0)), os.environ.get("OPENBLAS_NUM_THREADS", "unset"))
    else:
        caffe.set_device(args.gpu)
        caffe.set_mode_gpu()
        device = "GPU %d" % args.gpu
    caffe.set_random_seed(0)
    print("device: %s; load average %.1f; batch %d, %d timed iterations after %d warm-up"
          % (device, os.getloadavg()[0], args.batch, args.iterations, args.warmup))
    print("%-16s %14s %14s %12s %16s" % ("variant", "ms/iter (med)", "ms/iter (min)", "images/s",
                                          "CPU ms/iter (med)"))
    with tempfile.TemporaryDirectory(prefix="atnet-bench-") as workdir:
        lmdbs = dict(train_apex_lmdb=os.path.join(workdir, "apex"), train_flow_lmdb=os.path.join(workdir, "flow"))
        records.write_record_pairs(random_samples(args.batch, seed=0), total=args.batch, **{
            "apex_lmdb": lmdbs["train_apex_lmdb"], "flow_lmdb": lmdbs["train_flow_lmdb"]})
        for variant in args.variants:
            wall, cpu = time_variant(caffe, variant, lmdbs, args.batch, args.iterations, args.warmup, workdir)
            median = statistics.median(wall)
            print("%-16s %14.1f %14.1f %12.1f %16.1f" % (variant, 1e3 * median, 1e3 * min(wall),
                                                        args.batch / median, 1e3 * statistics.median(cpu)))
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    from atnet.common import run_cli
    run_cli(main)
