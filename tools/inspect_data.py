#!/usr/bin/env python3
"""Pictures of a prepared directory: face crops and boxes, ADM heat maps, flow at the apex, class means.

    python tools/inspect_data.py PREPARED --out DIR

Writes into DIR, per dataset, faces-<dataset>.png (a contact sheet per class:
the apex frame with the face box drawn, then the stored crop), adm-<dataset>.png
(ADM direction and magnitude heat maps of one sample per class) and
flow-<dataset>.png (the HSV optical-flow picture at the apex), and
mean-adm.png (the per-class mean ADM). See atnet/pictures.py.
"""
import argparse
import os

from atnet.common import run_cli
from atnet.pictures import inspect


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("prepared", metavar="PREPARED", help="a prepared directory (data_prep/prepare.py "
                                                            "or data_prep/import_release.py)")
    parser.add_argument("--out", metavar="DIR", help="folder for the pictures (default: PREPARED/inspect)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    inspect(args.prepared, args.out or os.path.join(args.prepared, "inspect"))
    return 0


if __name__ == "__main__":
    run_cli(main)
