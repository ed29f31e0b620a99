#!/usr/bin/env python3
"""Our metrics with their 95 % intervals beside the paper's Tables II (CDE runs) and III (HDE runs).

    python tools/compare_paper.py RUN_DIR... [--tolerance X] [--out DIR] [--label TEXT]

Each RUN_DIR must hold a metrics.json from tools/evaluate.py (a run or a seed
group); its method and setting (from run.json) pick the paper's row. Each of
our values is printed with its subject-level bootstrap interval and marked
"in" or "OUT" by whether the paper's value lies inside it, with the summary
line "k of n paper values inside our 95 % intervals". With --tolerance, exits 1 when
any compared value differs from the paper's by more than X (a value we could
not compute counts as a miss).
"""
import argparse
import os
import sys

from atnet.common import run_cli, write_text
from atnet.paper import compare_runs, comparison_csv, comparison_markdown, misses


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="evaluated run directories")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="largest allowed |ours - paper| per value; exit 1 when one misses it")
    parser.add_argument("--out", metavar="DIR", help="also write comparison.md and comparison.csv here")
    parser.add_argument("--label", help="shown in the title, e.g. 'synthetic data'")
    args = parser.parse_args(argv)
    if args.tolerance is not None and not args.tolerance >= 0:
        parser.error("--tolerance must be a non-negative number")
    return args


def main(argv=None):
    args = parse_args(argv)
    results = compare_runs(args.run_dirs, args.tolerance)
    markdown = comparison_markdown(results, args.tolerance, args.label)
    if args.out:
        write_text(os.path.join(args.out, "comparison.md"), markdown)
        write_text(os.path.join(args.out, "comparison.csv"), comparison_csv(results))
    print(markdown, end="")
    missed = misses(results)
    if missed:
        print("error: %d value(s) differ from the paper by more than %g" % (len(missed), args.tolerance),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    run_cli(main)
