#!/usr/bin/env python3
"""Two runs on the same clips: per column the difference of Acc, UF1 and UAR with a paired
subject-level bootstrap interval, and McNemar's exact test on per-clip correctness.

    python tools/compare_runs.py RUN_A RUN_B [--out DIR] [--protocol cde|hde] [--resamples N] [--bootstrap-seed S]

RUN_A and RUN_B are each an evaluated run directory (tools/evaluate.py), a
seed group (a directory of seed-<N>/ runs) or a predictions CSV. Differences
are A minus B. Writes DIR/comparison.json (and comparison.md) with --out and
prints the Markdown table. See docs/statistics.md for the methods.
"""
import argparse
import os

from atnet.common import run_cli, write_json, write_text
from atnet.comparisons import comparison_document, comparison_markdown, load_run
from atnet.folds import PROTOCOLS
from atnet.uncertainty import add_bootstrap_arguments, bootstrap_from_args


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("run_a", metavar="RUN_A", help="run directory, seed group or predictions CSV")
    parser.add_argument("run_b", metavar="RUN_B", help="the same, on the same folds and clips")
    parser.add_argument("--out", metavar="DIR", help="write comparison.json and comparison.md here")
    parser.add_argument("--protocol", choices=PROTOCOLS, default=None,
                        help="protocol of a predictions CSV (default cde); a run's comes from its metrics.json")
    add_bootstrap_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    boot = bootstrap_from_args(args)
    doc = comparison_document(load_run(args.run_a, args.protocol), load_run(args.run_b, args.protocol), boot)
    markdown = comparison_markdown(doc)
    if args.out:
        write_text(os.path.join(args.out, "comparison.md"), markdown)
        write_json(os.path.join(args.out, "comparison.json"), doc)
    print(markdown, end="")
    return 0


if __name__ == "__main__":
    run_cli(main)
