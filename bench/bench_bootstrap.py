#!/usr/bin/env python3
"""Time the subject-level bootstrap on a CDE run of the composite's size (442 clips, 68 subjects).

Prints wall and CPU seconds (median of --repeats) for: the interval of one
column (Full, 68 subjects) of one run; the same for 3 seeds (two-level
bootstrap); one column's paired difference of two runs; and all four
columns of one run as tools/evaluate.py computes them. The target: one
column of one run under 2 s on one core. Run it with
``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`` (the default here) for one core.
"""
import argparse
import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # before numpy loads its BLAS

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from atnet.data.composite import composite_samples  # noqa: E402
from atnet.predictions import Prediction  # noqa: E402
from atnet.uncertainty import (Bootstrap, paired_tables, run_intervals, subject_table,  # noqa: E402
                               table_difference, table_intervals)


def synthetic_run(rng, accuracy):
    """The composite's 442 clips, each predicted right with probability ``accuracy``."""
    predictions = []
    for s in composite_samples():
        pred = s["label"] if rng.random() < accuracy else int((s["label"] + rng.integers(1, 3)) % 3)
        predictions.append(Prediction(s["dataset"], s["subject"], s["sample"], s["label"], pred, (0.0, 0.0, 0.0)))
    return predictions


def timed(function, repeats):
    """Median wall and CPU seconds of ``function()`` over ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per case (the median is printed)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    boot = Bootstrap(resamples=args.resamples)
    one = synthetic_run(rng, 0.6)
    seeds = [one, synthetic_run(rng, 0.62), synthetic_run(rng, 0.58)]
    other = synthetic_run(rng, 0.5)
    table = subject_table([one])
    seed_table = subject_table(seeds)
    table_a, table_b = paired_tables([one], [other])
    cases = [
        ("one column (Full, 68 subjects), one run", lambda: table_intervals(table, boot, "Full")),
        ("one column, 3 seeds (two-level)", lambda: table_intervals(seed_table, boot, "Full")),
        ("one column, paired difference of two runs", lambda: table_difference(table_a, table_b, boot, "Full")),
        ("all 4 columns of one run, from predictions", lambda: run_intervals([one], "cde", boot)),
    ]
    print("subject-level bootstrap, %d resamples, 442 clips / 68 subjects, %d repeats (median)"
          % (args.resamples, args.repeats))
    for name, function in cases:
        wall, cpu = timed(function, args.repeats)
        print("  %-46s wall %6.3f s   cpu %6.3f s" % (name, wall, cpu))
    return 0


if __name__ == "__main__":
    main()
