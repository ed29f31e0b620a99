#!/usr/bin/env python3
"""Import the authors' released apex images and optical-flow features.

    python data_prep/import_release.py --apex-list Apex_Cropped_images.txt
        --apex-dir DIR --optical Data/OpticalFlowFeatureData.txt --out DIR

Writes the same prepared-directory format as data_prep/prepare.py
(index.csv, 224x224 grey apex PNGs, 64x128 float32 features with the
released values kept exactly, manifest.json). See data_prep/README.md.
"""
import argparse
import sys

from atnet.common import run_cli
from atnet.data.release import import_release
from atnet.logs import stage_log


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--apex-list", required=True, metavar="FILE",
                        help="Apex_Cropped_images.txt: '<dataset>-<subject>-<sample>-<frame file> <label>' lines")
    parser.add_argument("--apex-dir", required=True, metavar="DIR",
                        help="folder of the apex face images named as in the apex list")
    parser.add_argument("--optical", required=True, metavar="FILE",
                        help="the concatenated optical-flow text file, e.g. the authors' "
                             "Data/OpticalFlowFeatureData.txt (65 lines a clip; headers as clip keys or "
                             "Windows paths Data\\casme2\\sub01\\EP02_01f)")
    parser.add_argument("--out", required=True, metavar="DIR", help="prepared directory to write")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import_release(args.apex_list, args.apex_dir, args.optical, args.out,
                   command=sys.argv if argv is None else ["import_release.py"] + list(argv),
                   log=stage_log("import_release", args.out))
    return 0


if __name__ == "__main__":
    run_cli(main)
