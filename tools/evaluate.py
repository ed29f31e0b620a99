#!/usr/bin/env python3
"""Acc, UF1 and UAR of a run (predictions pooled over all its folds) or of any predictions CSV.

    python tools/evaluate.py RUN_DIR [--partial] [--out DIR] [--resamples N] [--bootstrap-seed S]
    python tools/evaluate.py --predictions FILE.csv [--protocol cde|hde] --out DIR

Writes metrics.json (each metric with its 95 % subject-level bootstrap
interval), metrics.csv, metrics.md, confusion.png, training_curves.png (when
the folds logged curves), per_fold.csv, per_fold.png and predictions_all.csv,
and prints the Markdown table. RUN_DIR may be a seed group (seed-<N>/ runs of
one variant, from tools/train.py --seeds): each seed is evaluated, then the
group (mean and sd over the seeds, intervals holding both subjects and
seeds; docs/statistics.md). See atnet/runs.py for the run directory
layout, atnet/evaluate.py for the report and atnet/metrics.py for the definitions.
"""
import argparse
import sys

from atnet.common import run_cli
from atnet.evaluate import evaluate_file, evaluate_run, metrics_markdown
from atnet.folds import PROTOCOLS
from atnet.logs import stage_log
from atnet.uncertainty import add_bootstrap_arguments, bootstrap_from_args


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("run_dir", nargs="?",
                        help="run directory holding run.json and one folder per fold, "
                             "or a seed group of seed-<N>/ runs")
    parser.add_argument("--predictions", metavar="FILE.csv",
                        help="evaluate this predictions CSV instead of a run directory (needs --out)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="cde",
                        help="protocol of --predictions (a run directory's comes from its run.json)")
    parser.add_argument("--method", help="with --predictions: the paper's method, e.g. ATNet, for compare_paper.py")
    parser.add_argument("--setting", help="with --predictions: the paper's setting, e.g. Fusion")
    parser.add_argument("--out", metavar="DIR", help="report directory; None means RUN_DIR itself")
    parser.add_argument("--partial", action="store_true",
                        help="report the finished folds when some are missing (metrics.json is marked partial)")
    add_bootstrap_arguments(parser)
    args = parser.parse_args(argv)
    if (args.run_dir is None) == (args.predictions is None):
        parser.error("give either RUN_DIR or --predictions FILE.csv")
    if args.predictions and not args.out:
        parser.error("--predictions needs --out DIR")
    if args.run_dir and (args.method or args.setting):
        parser.error("--method and --setting are for --predictions; a run's come from its run.json")
    return args


def main(argv=None):
    args = parse_args(argv)
    boot = bootstrap_from_args(args)
    if args.predictions:
        doc = evaluate_file(args.predictions, args.protocol, args.out, args.method, args.setting, boot)
    else:
        doc = evaluate_run(args.run_dir, args.out, args.partial, boot)
    log = stage_log("evaluate", args.out or args.run_dir)  # beside the metrics.json it wrote
    if doc.get("partial"):
        print("warning: partial result, missing folds: %s" % ", ".join(doc["missing_folds"]), file=sys.stderr)
    log(metrics_markdown(doc))
    return 0


if __name__ == "__main__":
    run_cli(main)
