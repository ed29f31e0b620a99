#!/usr/bin/env python3
"""CPU time per training iteration of each network variant through the real Data layers,
and the share of it spent waiting for data.

    python bench/bench_train.py [--variants fusion,spatial,...] [--batch 16] [--iters 5]

For each variant, on LMDBs of random records in the project's record format:
  step      seconds per ``solver.step`` iteration: Data layers (LMDB read and
            decode in Caffe's prefetch thread) + forward + backward + update;
  compute   seconds per iteration of forward + backward + update from the first
            layer after the Data layers, with the batch already in the blobs;
  data      seconds per forward of the Data layers alone (copying a prefetched
            batch, or waiting for one);
  data %    data / step: the share of an iteration spent in the Data layers;
  diff %    (step - compute) / step, the same share measured the other way
            round (it also holds the solver's bookkeeping, and timing noise);
  wait %    the share of an iteration spent in the Data layers' forward
            (taking the next prefetched batch, or waiting for it) measured
            inside iterations run as Solver::Step runs them (clear diffs,
            forward from the Data layers on, backward, update), for
            ``--wait-iters`` iterations in a row: the prefetch thread reads
            and decodes while the net computes, as in training (atnet.fold's
            solver.solve()). "data" above times Data forwards back to back, with
            no compute to hide the prefetch behind: an upper bound.
Wall seconds, and in brackets the CPU seconds of the process (all its threads:
Caffe's prefetch threads and OpenBLAS's); on a busy machine the CPU figures are
the steadier ones. Prints one line per variant; nothing is asserted.
"""
import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402

import caffe  # noqa: E402
from atnet import nets, records  # noqa: E402
from atnet.solver import make_solver, write_solver  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--variants", default=",".join(nets.VARIANTS), help="comma-separated network variants")
    parser.add_argument("--batch", type=int, default=16, help="training batch size (the paper's is 16)")
    parser.add_argument("--iters", type=int, default=5, help="timed iterations per measurement")
    parser.add_argument("--records", type=int, default=64, help="records in the benchmark LMDBs")
    parser.add_argument("--wait-iters", type=int, default=12,
                        help="iterations of the data-wait measurement (more than the 4 batches Caffe prefetches)")
    return parser.parse_args(argv)


def write_lmdbs(folder, count, seed=0):
    """Random apex images and flow features in the record format, under ``folder``."""
    rng = np.random.default_rng(seed)
    items = ((records_key(i), i % 3, rng.integers(0, 256, (224, 224), dtype=np.uint8),
              rng.normal(size=(64, 128)).astype(np.float32)) for i in range(count))
    apex, flow = os.path.join(folder, "apex"), os.path.join(folder, "flow")
    records.write_record_pairs(items, apex, flow, total=count, desc="bench LMDBs")
    return apex, flow


def records_key(index):
    return "casme2-sub01-bench%03d" % index


def make_bench_solver(folder, variant, apex, flow, batch):
    net_path = os.path.join(folder, variant + ".prototxt")
    nets.write_prototxt(net_path, nets.train_val(variant, apex, flow, batch_size=batch))
    solver = make_solver(net_path, os.path.join(folder, variant), seed=1, train_size=1000, batch_size=batch)
    solver.snapshot = 0
    solver.snapshot_after_train = False
    solver_path = os.path.join(folder, variant + "_solver.prototxt")
    write_solver(solver_path, solver)
    return caffe.get_solver(solver_path)


def last_data_layer(net):
    """Index of the last Data layer (they come first in a train_val net)."""
    return max(i for i, layer in enumerate(net.layers) if layer.type == "Data")


def _timed(function, iters):
    """(wall seconds, CPU seconds of this process, all threads) per call of ``function``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(iters):
        function()
    return (time.perf_counter() - wall) / iters, (time.process_time() - cpu) / iters


def measure(solver, iters):
    """Per-iteration (wall, CPU) of: step, compute, data; see the module docstring."""
    net = solver.net
    data_end = last_data_layer(net)
    last = len(net.layers) - 1

    def compute():
        net.clear_param_diffs()
        net._forward(data_end + 1, last)
        net._backward(last, data_end + 1)
        solver.apply_update()

    solver.step(1)  # warm-up: allocations, first prefetch
    step = _timed(lambda: solver.step(1), iters)
    data = _timed(lambda: net._forward(0, data_end), iters)
    return step, _timed(compute, iters), data


def data_wait_share(solver, iters):
    """The share of ``iters`` consecutive training iterations spent in the Data layers' forward.

    Each iteration is Solver::Step's sequence (clear diffs, forward, backward,
    update) with the Data layers' forward timed apart; their prefetch thread
    fills the next batches meanwhile, as in training, so what is measured is
    the copy of a ready batch plus any wait for one not ready yet.
    """
    net = solver.net
    data_end, last = last_data_layer(net), len(net.layers) - 1
    solver.step(1)  # lets the prefetch thread refill the queue that measure()'s back-to-back Data forwards emptied
    waited = total = 0.0
    for _ in range(iters):
        start = time.perf_counter()
        net.clear_param_diffs()
        net._forward(0, data_end)
        got_batch = time.perf_counter()
        net._forward(data_end + 1, last)
        net._backward(last, data_end + 1)
        solver.apply_update()
        waited += got_batch - start
        total += time.perf_counter() - start
    return waited / total


def main(argv=None):
    args = parse_args(argv)
    caffe.set_mode_cpu()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    print("batch %d, %d timed iterations, %d CPU cores, OPENBLAS_NUM_THREADS=%s, load average %.1f"
          % (args.batch, args.iters, os.cpu_count(), os.environ.get("OPENBLAS_NUM_THREADS", "(default)"),
             os.getloadavg()[0]))
    print("%-16s %10s %9s %12s %11s %10s %7s %7s %7s" % ("variant", "step s/it", "(CPU s)", "compute s/it",
                                                         "(CPU s)", "data s/it", "data %", "diff %", "wait %"))
    with tempfile.TemporaryDirectory(prefix="atnet-bench-") as folder:
        apex, flow = write_lmdbs(folder, args.records)
        for variant in variants:
            solver = make_bench_solver(folder, variant, apex, flow, args.batch)
            step, compute, data = measure(solver, args.iters)
            wait = data_wait_share(solver, args.wait_iters)
            print("%-16s %10.3f %9.3f %12.3f %11.3f %10.4f %6.2f%% %6.1f%% %6.2f%%" % (
                variant, step[0], step[1], compute[0], compute[1], data[0], 100 * data[0] / step[0],
                100 * (step[0] - compute[0]) / step[0], 100 * wait), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
