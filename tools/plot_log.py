#!/usr/bin/env python3
"""Plot a Caffe training log: every train and test output against the iteration, and the learning rate.

    python tools/plot_log.py LOGFILE [--out LOGFILE.png]

Reads the log with atnet/caffe_log.py (the rows tools/parse_log.py writes)
and draws one panel per net output (loss, accuracy, ...), train and test
together, plus the learning rate.
"""
import argparse

from atnet.caffe_log import parse_log
from atnet.common import InputError, run_cli
from atnet.log_plot import plot_rows


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("logfile_path", help="a Caffe log (a fold's train.log or a `caffe train` log)")
    parser.add_argument("--out", help="PNG to write (default: LOGFILE.png)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    train_rows, test_rows = parse_log(args.logfile_path)
    if not train_rows and not test_rows:
        raise InputError("%s: no 'Train/Test net output' lines to plot" % args.logfile_path)
    out = args.out or args.logfile_path + ".png"
    plot_rows(train_rows, test_rows, out, title=args.logfile_path)
    print("wrote %s" % out)
    return 0


if __name__ == "__main__":
    run_cli(main)
