#!/usr/bin/env python3
"""Convert the 3-channel ImageNet ResNet10_cvgj caffemodel into the 1-channel spatial stream.

Copies every blob by layer name; conv1 is summed and data_bn/data_scale are
averaged over the three input channels (see weights/README.md). Prints and
writes a report of every layer copied, reduced, skipped or missing. Pass the
result to training as the initial weights (`caffe train --weights ...`).
"""
import argparse
import json
import os

from atnet.common import run_cli, sha256_file
from atnet.weights import convert_file, report_lines


def _already_done(out, report_path, source):
    """True when ``out`` was converted from these exact source bytes (re-running skips it)."""
    if not (os.path.exists(out) and os.path.exists(report_path)):
        return False
    with open(report_path) as handle:
        report = json.load(handle)
    return (report.get("source_sha256") == sha256_file(source)
            and report.get("output_sha256") == sha256_file(out))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("source", help="3-channel ResNet10_cvgj .caffemodel (weights/download.py fetches it)")
    parser.add_argument("--out", help="1-channel caffemodel to write (default: SOURCE with _1ch before .caffemodel)")
    parser.add_argument("--report", help="JSON report to write (default: OUT.json)")
    parser.add_argument("--force", action="store_true", help="convert again even if OUT is up to date")
    args = parser.parse_args(argv)
    out = args.out or os.path.splitext(args.source)[0] + "_1ch.caffemodel"
    report_path = args.report or out + ".json"
    if not args.force and _already_done(out, report_path, args.source):
        print("%s is up to date (from %s); nothing to do" % (out, args.source))
        return 0
    report = convert_file(args.source, out, report_path)
    print("\n".join(report_lines(report)))
    print("%d layers copied (%d blobs reduced to 1 channel), %d skipped, %d missing -> %s (report %s)" % (
        len(report["copied"]), len(report["reduced"]), len(report["skipped"]), len(report["missing"]),
        out, report_path))
    return 0


if __name__ == "__main__":
    run_cli(main)
