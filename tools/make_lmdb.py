#!/usr/bin/env python3
"""Build the per-fold LMDB pairs of a protocol from a prepared directory.

    python tools/make_lmdb.py --prepared DIR --protocol cde|hde --out LMDB_DIR
        [--folds NAME,...] [--augment paper|none] [--flow-rows centred|release] [--seed N]

CDE: one fold per (dataset, subject), 68 on the composite; HDE: one fold per
held-out dataset. Per fold: LMDB_DIR/<fold>/{train_apex,train_flow,test_apex,
test_flow} and manifest.json; LMDB_DIR/folds.json lists every fold. Training
sets are class-balanced by oversampling, the copies augmented (atnet.md
section 4), shuffled with the recorded seed. Complete folds are skipped on a
re-run. See atnet/lmdb_folds.py.
"""
import argparse

from atnet import config as configuration
from atnet import lmdb_folds
from atnet.common import run_cli
from atnet.data.prepared import load_index
from atnet.folds import PROTOCOLS
from atnet.logs import stage_log


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--prepared", required=True, metavar="DIR",
                        help="prepared directory (index.csv; data_prep/prepare.py)")
    parser.add_argument("--protocol", required=True, choices=PROTOCOLS,
                        help="cde: leave one subject out; hde: leave one dataset out")
    parser.add_argument("--out", required=True, metavar="LMDB_DIR", help="where the fold folders go")
    parser.add_argument("--folds", action="append", metavar="NAME[,NAME...]",
                        help="build only these folds (e.g. cde-casme2-sub01); default: all")
    # Defaults come from the configuration (atnet/config.py), so these options show them in their help.
    parser.add_argument("--augment", choices=configuration.AUGMENTATIONS, default=argparse.SUPPRESS,
                        help="paper: rotate/shift the oversampled copies; none: the release's effective "
                             "behaviour (config default: %s)" % configuration.Config.augment)
    parser.add_argument("--flow-rows", choices=configuration.FLOW_ROWS, default=argparse.SUPPRESS,
                        help="centred: the feature as stored; release: zero rows first "
                             "(config default: %s)" % configuration.Config.flow_rows)
    parser.add_argument("--seed", type=int, default=argparse.SUPPRESS,
                        help="run seed (config default: %d)" % configuration.Config.seed)
    parser.add_argument("--force", action="store_true",
                        help="rebuild complete folds that were built with other parameters")
    parser.add_argument("--dry-run", action="store_true",
                        help="print every selected fold's sizes and class counts; write nothing")
    configuration.add_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    config, _ = configuration.load_config(args.config, args.assignments, {
        key: getattr(args, key, None) for key in ("seed", "augment", "flow_rows")})
    if args.dry_run:
        plans = lmdb_folds.plan_folds(load_index(args.prepared), args.protocol, config, args.folds)
        print(lmdb_folds.describe_plans(plans))
        return 0
    status = lmdb_folds.build(args.prepared, args.protocol, args.out, config, args.folds, args.force)
    built = sum(1 for s in status.values() if s == "built")
    log = stage_log("make_lmdb", args.out)  # after the build: a refused folder gets no log file
    log("%s: %d fold(s) built, %d already complete (seed %d, augment %s, flow rows %s)"
        % (args.out, built, len(status) - built, config.seed, config.augment, config.flow_rows))
    return 0


if __name__ == "__main__":
    run_cli(main)
