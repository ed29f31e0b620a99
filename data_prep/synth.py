#!/usr/bin/env python3
"""Write synthetic CASME II, SAMM and SMIC-HS releases in the real layouts.

    python data_prep/synth.py --preset tiny --out DIR [--seed N]

writes DIR/CASME2, DIR/SAMM and DIR/SMIC (each a dataset root as the real
release unpacks) and DIR/combined_3class_gt.csv (the official-style list of
the composite samples it contains). See atnet/data/synth/.
"""
import argparse
import os
import time

from atnet.common import run_cli
from atnet.data import synth
from atnet.data.synth.clips import PRESETS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny",
                        help="tiny: a few subjects per dataset; composite: the 68 subjects and "
                             "exact per-subject counts of the MEGC2019 composite")
    parser.add_argument("--out", required=True, help="folder to write the three dataset roots into")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--cropped", action="store_true",
                        help="also write the face-cropped releases (Cropped/, SAMM_CROP/, SMIC_all_cropped/)")
    parser.add_argument("--casme2-integer-subjects", action="store_true",
                        help="write the later CASME II sheet (CASME2-coding-20190701.xlsx, integer Subject)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing dataset roots")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    clips = synth.generate(args.out, args.preset, args.seed, cropped=args.cropped,
                           casme2_integer_subjects=args.casme2_integer_subjects,
                           overwrite=args.overwrite, progress=True)
    for dataset, items in clips.items():
        selected = [clip for clip in items if clip.selected]
        print("%-7s %4d clips (%d in the composite, %d excluded rows), %d frames"
              % (dataset, len(items), len(selected), len(items) - len(selected),
                 sum(clip.offset - clip.onset + 1 for clip in items)))
    print("wrote %s in %.1f s" % (os.path.abspath(args.out), time.time() - start))
    return 0


if __name__ == "__main__":
    run_cli(main)
