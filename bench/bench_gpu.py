#!/usr/bin/env python3
"""GPU speed of each ATNet variant, and the wall time of a whole CDE + HDE table on one GPU.

    python bench/bench_gpu.py [--gpu 0] [--variants fusion spatial ...] [--iterations 50]
    python bench/bench_gpu.py --cpu --iterations 3     # the same on this machine's CPU

Per variant, on LMDBs of random records in the project's format, at the
paper's batch of 16, each timed iteration ending with a read-back from the
device (so GPU work is waited for, not just queued):

  fwd+bwd   ms per forward + backward of the TRAIN net (Data layers included);
  step      ms per solver iteration: forward + backward + SGD update, what
            training repeats;
  test      ms per forward of the deploy net on one sample, as predicting does.

The projection multiplies these by the work of a table: the 68 CDE and 3 HDE
folds of the MEGC2019 composite (atnet.folds on its per-subject counts), each
fold's oversampled training set trained for 50 epochs (atnet.solver's
schedule) and its held-out samples predicted once; process start, LMDB
writing and snapshots are not included. Without a usable GPU (or with a
CPU-only Caffe; `CAFFE_GPU=1 make setup` builds the CUDA one) the timings are
skipped with the reason and only the work of a table is printed.
"""
import argparse
import os
import subprocess
import tempfile
import time

os.environ.setdefault("GLOG_minloglevel", "2")  # before pycaffe starts glog

import numpy as np  # noqa: E402

from atnet import nets, records  # noqa: E402
from atnet.common import InputError, run_cli  # noqa: E402
from atnet.data.composite import composite_samples  # noqa: E402
from atnet.folds import balance_by_oversampling, make_folds  # noqa: E402
from atnet.solver import make_solver, schedule_iterations, write_solver  # noqa: E402


def table_work(batch, schedule="epochs"):
    """{protocol: (folds, training iterations, test samples)} of a whole table of one variant."""
    samples = composite_samples()
    rng = np.random.default_rng(0)  # oversampling picks samples, not how many: sizes are seed-free
    work = {}
    for protocol in ("cde", "hde"):
        folds = make_folds(samples, protocol)
        iterations = sum(schedule_iterations(schedule, len(balance_by_oversampling(fold.train, rng)), batch)[1]
                         for fold in folds)
        work[protocol] = (len(folds), iterations, sum(len(fold.test) for fold in folds))
    return work


def time_test_forward(caffe, variant, iterations, workdir):
    """Seconds per deploy-net forward of one sample (random inputs; the output is read, so it waits)."""
    path = os.path.join(workdir, variant + "_deploy.prototxt")
    nets.write_prototxt(path, nets.deploy(variant, batch_size=1))
    net = caffe.Net(path, caffe.TEST)
    rng = np.random.default_rng(0)
    for name in net.inputs:
        net.blobs[name].data[...] = rng.uniform(0, 1, net.blobs[name].data.shape)
    net.forward()
    start = time.perf_counter()
    for _ in range(iterations):
        net.forward()
    return (time.perf_counter() - start) / iterations


def device_name(args):
    """A readable name of the device measured."""
    if args.cpu:
        return "CPU, %d cores visible, load average %.1f" % (len(os.sched_getaffinity(0)), os.getloadavg()[0])
    try:
        names = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader",
                                "-i", str(args.gpu)], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        names = ""
    return "GPU %d%s" % (args.gpu, " (%s)" % names if names else "")


def write_lmdbs(folder, count):
    """An apex and a flow LMDB of ``count`` random records (atnet.records' format)."""
    rng = np.random.default_rng(0)
    items = (("bench-s%02d-clip%04d" % (i % 7, i), i % 3,
              rng.integers(0, 256, records.APEX_SHAPE, dtype=np.uint8),
              rng.normal(size=records.FLOW_SHAPE).astype(np.float32)) for i in range(count))
    apex, flow = os.path.join(folder, "apex"), os.path.join(folder, "flow")
    records.write_record_pairs(items, apex, flow, total=count, desc="bench LMDBs")
    return apex, flow


def seconds_per_call(run, wait, iterations, warmup):
    """Mean wall seconds of ``run(); wait()``; ``wait`` reads a result back, so queued GPU work counts."""
    for _ in range(warmup):
        run()
        wait()
    start = time.perf_counter()
    for _ in range(iterations):
        run()
        wait()
    return (time.perf_counter() - start) / iterations


def measure(caffe, variant, args, workdir, lmdbs):
    """(fwd+bwd, step, test) seconds per iteration of ``variant`` on the chosen device."""
    net_path = os.path.join(workdir, variant + ".prototxt")
    nets.write_prototxt(net_path, nets.train_val(variant, *lmdbs, batch_size=args.batch))
    solver_path = os.path.join(workdir, variant + "_solver.prototxt")
    settings = make_solver(net_path, os.path.join(workdir, variant), seed=1, train_size=1000,
                           batch_size=args.batch, solver_mode="CPU" if args.cpu else "GPU")
    settings.snapshot, settings.snapshot_after_train = 0, False
    write_solver(solver_path, settings)
    solver = caffe.get_solver(solver_path)
    net = solver.net
    # Every iteration writes the classifier's gradient and weights on the device;
    # copying them back waits for all the work queued before.
    classifier = net.params[nets.variant_of(variant).score_blob][0]
    fwd_bwd = seconds_per_call(lambda: (net.forward(), net.backward()), lambda: classifier.diff,
                               args.iterations, args.warmup)
    step = seconds_per_call(lambda: solver.step(1), lambda: classifier.data, args.iterations, args.warmup)
    del solver, net, classifier
    return fwd_bwd, step, time_test_forward(caffe, variant, args.iterations, workdir)


def hours(seconds):
    return seconds / 3600.0


def print_work(work, batch, epochs_note):
    for protocol, (folds, iterations, tests) in work.items():
        print("  %s: %2d folds, %6d training iterations at batch %d (%s), %d test samples"
              % (protocol.upper(), folds, iterations, batch, epochs_note, tests))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(nets.VARIANTS), choices=list(nets.VARIANTS))
    parser.add_argument("--gpu", type=int, default=0, help="GPU id to measure")
    parser.add_argument("--cpu", action="store_true", help="measure on the CPU instead (for comparison)")
    parser.add_argument("--batch", type=int, default=16, help="training batch size (the paper's is 16)")
    parser.add_argument("--iterations", type=int, default=50, help="timed iterations per measurement")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations before each timing")
    parser.add_argument("--records", type=int, default=64, help="records in the benchmark LMDBs")
    args = parser.parse_args(argv)

    work = table_work(args.batch)
    print("work of one table per variant (the paper's schedule, 50 epochs; atnet.folds + atnet.solver):")
    print_work(work, args.batch, "50 epochs of each fold's oversampled training set")
    release = {protocol: (folds, folds * schedule_iterations("release")[1], tests)
               for protocol, (folds, _, tests) in work.items()}
    print_work(release, args.batch, "the release's fixed 2500 per fold")

    if not args.cpu:
        from atnet.train import check_gpu
        try:
            check_gpu(args.gpu)
        except InputError as err:
            print("GPU timings skipped: %s" % err)
            return 0
    import caffe
    if args.cpu:
        caffe.set_mode_cpu()
    else:
        caffe.set_device(args.gpu)
        caffe.set_mode_gpu()
    caffe.set_random_seed(0)
    print("device: %s; batch %d, %d timed iterations" % (device_name(args), args.batch, args.iterations))
    print("%-16s %11s %11s %9s %10s %10s %10s %12s" % ("variant", "fwd+bwd ms", "step ms", "test ms",
                                                       "CDE h", "HDE h", "table h", "release h"))
    with tempfile.TemporaryDirectory(prefix="atnet-bench-gpu-") as workdir:
        lmdbs = write_lmdbs(workdir, args.records)
        for variant in args.variants:
            fwd_bwd, step, test = measure(caffe, variant, args, workdir, lmdbs)
            per_protocol = {p: step * iterations + test * tests for p, (_, iterations, tests) in work.items()}
            release_total = sum(step * iterations + test * tests for _, iterations, tests in release.values())
            print("%-16s %11.1f %11.1f %9.2f %10.2f %10.2f %10.2f %12.2f"
                  % (variant, 1e3 * fwd_bwd, 1e3 * step, 1e3 * test, hours(per_protocol["cde"]),
                     hours(per_protocol["hde"]), hours(sum(per_protocol.values())), hours(release_total)),
                  flush=True)
    return 0


if __name__ == "__main__":
    run_cli(main)
