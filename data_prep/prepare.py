#!/usr/bin/env python3
"""Prepare CASME II, SAMM and/or SMIC-HS releases for ATNet.

    python data_prep/prepare.py [--casme2 ROOT] [--samm ROOT] [--smic ROOT] --out DIR
        [--cropped] [--lenient] [--boxes FILE] [--flow NAME] [--face NAME] [--workers N]
        [--gt FILE] [--dry-run]

Reads the releases as unpacked, selects the MEGC2019 composite, and writes
DIR/index.csv, one 224x224 grey apex face (PNG) and one 64x128 ADM feature
(float32 .npy) per sample, DIR/selection.csv and DIR/manifest.json. A re-run
skips finished samples and redoes changed ones. See data_prep/README.md.
"""
import argparse
import sys

from atnet.common import run_cli
from atnet.config import add_option, declarations
from atnet.data.prepare import Settings, prepare
from atnet.logs import stage_log


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--casme2", metavar="ROOT",
                        help="CASME II root (holds CASME2-coding-*.xlsx and CASME2_RAW_selected/ or Cropped/)")
    parser.add_argument("--samm", metavar="ROOT",
                        help="SAMM root (holds SAMM_Micro_FACS_Codes_v2.xlsx and the 3-digit subject "
                             "folders, or SAMM_CROP/)")
    parser.add_argument("--smic", metavar="ROOT",
                        help="SMIC root (holds SMIC_all_raw/HS/ or SMIC_all_cropped/HS/)")
    parser.add_argument("--out", required=True, metavar="DIR", help="prepared directory to write")
    # Defaults, choices and help of the Settings options come from atnet.data.prepare.Settings.
    add_option(parser, Settings, "cropped", "--cropped")
    add_option(parser, Settings, "lenient", "--lenient")
    parser.add_argument("--boxes", metavar="FILE",
                        help="manual face boxes, CSV dataset,subject,sample,x,y,w,h (frame pixels); "
                             "they replace detection for those samples")
    add_option(parser, Settings, "flow", "--flow")
    add_option(parser, Settings, "face", "--face")
    add_option(parser, Settings, "margin", "--margin")
    add_option(parser, Settings, "workers", "--workers")
    parser.add_argument("--gt", metavar="FILE",
                        help="official combined_3class_gt.csv: report every difference from our selection "
                             "(exit status 1 if any)")
    parser.add_argument("--dry-run", action="store_true",
                        help="read and select only: print the counts and problems, write nothing")
    args = parser.parse_args(argv)
    if not (args.casme2 or args.samm or args.smic):
        parser.error("give at least one of --casme2, --samm, --smic")
    return args


def main(argv=None):
    args = parse_args(argv)
    roots = {name: getattr(args, name) for name in ("casme2", "samm", "smic") if getattr(args, name)}
    settings = Settings(**{name: getattr(args, name) for name in declarations(Settings)})
    log = stage_log("prepare", None if args.dry_run else args.out)   # OUT/prepare.log beside the outputs
    outcome = prepare(roots, args.out, settings, boxes_path=args.boxes, gt_path=args.gt,
                      dry_run=args.dry_run, command=sys.argv if argv is None else ["prepare.py"] + list(argv),
                      log=log)
    return 1 if outcome.differences else 0


if __name__ == "__main__":
    run_cli(main)
