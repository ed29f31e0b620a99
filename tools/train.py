#!/usr/bin/env python3
"""Train one network variant on the folds of a protocol through pycaffe, one process per fold.

    python tools/train.py --model fusion|spatial|temporal|micro_attention --protocol cde|hde
        --lmdb LMDB_DIR --out RUN_DIR [--weights FILE] [--iters N] [--gpu N]
        [--folds NAME,...] [--shard K/N] [--jobs N] [--config FILE] [--set KEY=VALUE ...]

Each fold trains for the configured schedule (the paper's 50 epochs of the
fold's balanced training set by default), its final iterate predicts the
held-out samples, and RUN_DIR/<fold>/ keeps the config, prototxts, solver,
glog log, curve, final caffemodel and predictions. Finished folds are skipped
and an interrupted fold resumes from its newest snapshot, so re-running the
same command continues a run. Evaluate with tools/evaluate.py RUN_DIR. See
atnet/train.py (the run), atnet/fold.py (one fold's process) and atnet/runs.py
(the run folder).
"""
import argparse
import shlex
import sys

from atnet import config as configuration
from atnet.common import run_cli
from atnet.folds import PROTOCOLS, parse_shard
from atnet.train import train_run
from atnet.variants import VARIANTS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", required=True, choices=sorted(VARIANTS), help="network variant")
    parser.add_argument("--protocol", required=True, choices=PROTOCOLS, help="the protocol of the LMDBs")
    parser.add_argument("--lmdb", required=True, metavar="LMDB_DIR", help="output folder of tools/make_lmdb.py")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (one sub-folder per fold)")
    parser.add_argument("--weights", metavar="FILE",
                        help="initial weights (.caffemodel), loaded by layer name; unmatched layers keep "
                             "their fillers")
    parser.add_argument("--iters", type=int, metavar="N",
                        help="cap every fold at N iterations (quick runs); the lr steps scale with it")
    parser.add_argument("--gpu", type=int, metavar="N", help="train on GPU N (needs a CUDA build of Caffe)")
    parser.add_argument("--folds", action="append", metavar="NAME[,NAME...]",
                        help="train only these folds (e.g. cde-samm-6); default: all")
    parser.add_argument("--shard", metavar="K/N",
                        help="train shard K of N (folds K, K+N, ...) of the selected folds, for several machines")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="folds trained at the same time, one process each (CPU: split the cores "
                             "between them, see atnet/train.py)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    configuration.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.iters is not None and args.iters < 1:
        parser.error("--iters must be at least 1")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    shard_spec = parse_shard(args.shard) if args.shard else None
    config, sources = configuration.load_config(args.config, args.assignments, {"max_iter": args.iters})
    command = shlex.join([sys.executable, sys.argv[0]] + (sys.argv[1:] if argv is None else list(argv)))
    status = train_run(args.model, args.protocol, args.lmdb, args.out, config, sources, weights=args.weights,
                       gpu=args.gpu, fold_names=args.folds, shard_spec=shard_spec, command=command,
                       progress=not args.no_progress, jobs=args.jobs)
    trained = sum(1 for s in status.values() if s == "trained")
    print("%s: %d fold(s) trained, %d already done" % (args.out, trained, len(status) - trained))
    return 0


if __name__ == "__main__":
    run_cli(main)
