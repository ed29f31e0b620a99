#!/usr/bin/env python3
"""Train one network variant on the folds of a protocol through pycaffe, one process per fold.

    python tools/train.py --model fusion|spatial|temporal|micro_attention --protocol cde|hde
        --lmdb LMDB_DIR --out RUN_DIR [--weights FILE] [--iters N] [--gpu N]
        [--folds NAME,...] [--shard K/N] [--jobs N|auto] [--config FILE] [--set KEY=VALUE ...]
        [--seed N | --seeds N [N ...]]

Each fold trains for the configured schedule (the paper's 50 epochs of the
fold's balanced training set by default), its final iterate predicts the
held-out samples, and RUN_DIR/<fold>/ keeps the config, prototxts, solver,
glog log, curve, final caffemodel and predictions. Finished folds are skipped
and an interrupted fold resumes from its newest snapshot, so re-running the
same command continues a run. Evaluate with tools/evaluate.py RUN_DIR.

Seeds: the run seed (--seed, default the LMDBs' own) decides every random
choice; the LMDBs' oversampling, augmentation and shuffle were derived from
it by tools/make_lmdb.py --seed, and the solver's random_seed (fillers,
dropout) is derived from it here (atnet.config.fold_seed(seed, fold,
purpose)), so --seed must match the LMDBs'. --seeds 0 1 2 trains one run per
seed into RUN_DIR/seed-N/ (a seed group for tools/evaluate.py), each from the
LMDBs named by --lmdb with {seed} replaced, e.g. --lmdb 'lmdb/cde-seed{seed}'
(build each with tools/make_lmdb.py --seed N). See
atnet/train.py (the run), atnet/fold.py (one fold's process) and atnet/runs.py
(the run folder).
"""
import argparse
import os
import shlex
import sys
import time

from atnet import config as configuration
from atnet.common import run_cli
from atnet.folds import PROTOCOLS, parse_shard
from atnet.logs import stage_log
from atnet.parallel import JOBS_AUTO
from atnet.train import RUN_LOG, TrainingFailed, train_run
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
    parser.add_argument("--jobs", type=jobs_value, default=JOBS_AUTO, metavar="N|auto",
                        help="folds trained at the same time, one process each (CPU: the cores split "
                             "between them); auto: one single-threaded fold per core, as memory and the "
                             "number of folds allow (atnet.parallel.auto_parallelism, docs/cpu_speed.md)")
    parser.add_argument("--keep-going", action=argparse.BooleanOptionalAction, default=True,
                        help="when a fold fails, train the others and list the failed folds with the cause "
                             "from their logs at the end (exit status 2); --no-keep-going stops at the first "
                             "failure")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=None, metavar="N",
                       help="run seed; must be the one the LMDBs were built with (default: theirs)")
    seeds.add_argument("--seeds", type=int, nargs="+", metavar="N",
                       help="train one run per seed into RUN_DIR/seed-N/; --lmdb must contain {seed}")
    configuration.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.seeds and "{seed}" not in args.lmdb:
        parser.error("--seeds needs --lmdb with {seed} in it (one LMDB set per seed: their oversampling, "
                     "augmentation and shuffle come from the seed), e.g. --lmdb 'lmdb/cde-seed{seed}'")
    if args.seeds and len(set(args.seeds)) != len(args.seeds):
        parser.error("--seeds lists a seed twice")
    if any(s < 0 for s in args.seeds or [args.seed or 0]):
        parser.error("seeds must be non-negative")
    if args.iters is not None and args.iters < 1:
        parser.error("--iters must be at least 1")
    return args


def jobs_value(text):
    """--jobs: ``auto`` or a whole number of at least 1."""
    if text == JOBS_AUTO:
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("expected %s or a number of at least 1, got %r" % (JOBS_AUTO, text))
    return int(text)


def train_one_seed(args, seed, lmdb_dir, out_dir, command):
    """Train one run (one seed); returns its status per fold. Ends with a summary line:
    counts, elapsed time and the next command."""
    shard_spec = parse_shard(args.shard) if args.shard else None
    config, sources = configuration.load_config(args.config, args.assignments,
                                                {"max_iter": args.iters, "seed": seed})
    # the run's messages (a line per finished fold, the end) also go to RUN_DIR/run.log
    log = stage_log("train", out_dir, bars=not args.no_progress, file_name=RUN_LOG)
    started = time.monotonic()
    try:
        status = train_run(args.model, args.protocol, lmdb_dir, out_dir, config, sources, weights=args.weights,
                           gpu=args.gpu, fold_names=args.folds, shard_spec=shard_spec, command=command,
                           progress=not args.no_progress, jobs=args.jobs, keep_going=args.keep_going, log=log)
    except TrainingFailed as err:
        log.logger.error("%s", err)
        log("%s: stopped after %s; re-run the same command to retry the failed folds" % (
            out_dir, _elapsed(started)))
        raise
    trained = sum(1 for s in status.values() if s == "trained")
    log("%s: %d fold(s) trained, %d already done, 0 failed, in %s; next: python tools/evaluate.py %s"
        % (out_dir, trained, len(status) - trained, _elapsed(started), shlex.quote(out_dir)))
    return status


def _elapsed(started):
    seconds = time.monotonic() - started
    return "%.1f min" % (seconds / 60) if seconds >= 60 else "%.0f s" % seconds


def main(argv=None):
    args = parse_args(argv)
    command = shlex.join([sys.executable, sys.argv[0]] + (sys.argv[1:] if argv is None else list(argv)))
    if not args.seeds:
        train_one_seed(args, args.seed, args.lmdb, args.out, command)
        return 0
    for seed in args.seeds:
        train_one_seed(args, seed, args.lmdb.replace("{seed}", str(seed)), os.path.join(args.out, "seed-%d" % seed),
                       command)
    print("%s: %d seeds trained; next: python tools/evaluate.py %s (mean, sd and intervals over the seeds)"
          % (args.out, len(args.seeds), shlex.quote(args.out)))
    return 0


if __name__ == "__main__":
    run_cli(main)
