#!/usr/bin/env python3
"""Pre-train the spatial stream (ResNet-10) on a prepared macro-expression directory through pycaffe.

    python tools/pretrain.py --prepared DIR --out RUN_DIR [--weights FILE] [--iters N] [--gpu N]
        [--config FILE] [--set KEY=VALUE ...]

DIR comes from data_prep/prepare_macro.py. The net is the spatial stream with
a K-way head named fc_macro (K = the label set's classes), initialised from
--weights (e.g. the converted ImageNet model of tools/convert_weights.py)
or from its fillers. Defaults: 50,000 iterations, batch 16, SGD momentum 0.9,
lr 0.01 / 10 every 10,000 iterations, the paper's augmentation; every value
is a configuration key (atnet/macro/pretrain_config.py). Writes
RUN_DIR/pretrained.caffemodel (the final iterate) and RUN_DIR/report.json
(validation accuracy and confusion matrix per dataset). Fine-tune with
tools/train.py --weights RUN_DIR/pretrained.caffemodel. Re-running the same
command continues an interrupted run. See docs/pretraining.md.
"""
import argparse
import shlex
import sys

from atnet.common import run_cli
from atnet.macro import pretrain_config
from atnet.macro.pretrain import pretrain_run


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--prepared", required=True, metavar="DIR", help="output of data_prep/prepare_macro.py")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder")
    parser.add_argument("--weights", metavar="FILE", help="initial weights (.caffemodel, 1-channel conv1), loaded "
                        "by layer name; default: the fillers (from scratch)")
    parser.add_argument("--iters", type=int, metavar="N", help="cap the iterations at N (the lr steps scale with it)")
    parser.add_argument("--gpu", type=int, metavar="N", help="train on GPU N (needs a CUDA build of Caffe)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--config", metavar="FILE", help="YAML file of pre-training settings")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting (repeatable; keys: %s)" % ", ".join(pretrain_config.keys()))
    args = parser.parse_args(argv)
    if args.iters is not None and args.iters < 1:
        parser.error("--iters must be at least 1")
    return args


def main(argv=None):
    from atnet.macro.pretrain import scaled
    args = parse_args(argv)
    config, sources = pretrain_config.load_pretrain_config(args.config, args.assignments)
    if args.iters is not None:
        config = scaled(config, args.iters)
        sources = dict(sources, max_iter="--iters", stepsize="--iters (scaled)")
    command = shlex.join([sys.executable, sys.argv[0]] + (sys.argv[1:] if argv is None else list(argv)))
    status = pretrain_run(args.prepared, args.out, config, sources, weights=args.weights, gpu=args.gpu,
                          command=command, progress=not args.no_progress)
    print("%s: pre-training %s; model %s/pretrained.caffemodel, report %s/report.json"
          % (args.out, "finished" if status == "trained" else "already done", args.out, args.out))
    return 0


if __name__ == "__main__":
    run_cli(main)
