#!/usr/bin/env python3
"""Parse a Caffe training log into two CSV files, LOG.train and LOG.test (Caffe's parse_log.py, Python 3).

    python tools/parse_log.py LOGFILE OUTPUT_DIR [--delimiter ,] [--verbose]

The same command line and output as BVLC Caffe's tools/extra/parse_log.py
(columns NumIters, Seconds, LearningRate, then each net output), reading
glog prefixes with or without the year (atnet/caffe_log.py). Works on a
fold's train.log and on a log of `caffe train` (setup/caffe-wrapper.sh).
"""
import argparse

from atnet.caffe_log import parse_log, save_csv_files
from atnet.common import run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("logfile_path", help="path to the log file")
    parser.add_argument("output_dir", help="directory in which to place the output CSV files")
    parser.add_argument("--verbose", action="store_true", help="print the output file names")
    parser.add_argument("--delimiter", default=",", help="column delimiter in the output files")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    train_rows, test_rows = parse_log(args.logfile_path)
    save_csv_files(args.logfile_path, args.output_dir, train_rows, test_rows, args.delimiter,
                   log=print if args.verbose else None)
    return 0


if __name__ == "__main__":
    run_cli(main)
