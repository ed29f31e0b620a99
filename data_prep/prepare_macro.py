#!/usr/bin/env python3
"""Prepare macro-expression releases (CK+, Oulu-CASIA, JAFFE, MUG) for pre-training the spatial stream.

    python data_prep/prepare_macro.py [--ckplus DIR] [--oulu DIR] [--jaffe DIR] [--mug DIR] [--data DIR] --out DIR
        [--label-set basic6|basic7|ck8|3class] [--frames K] [--neutral] [--lenient]
        [--oulu-sensors VL,NI] [--oulu-illuminations Strong] [--val-fraction 0.2] [--seed 0]
        [--workers N] [--dry-run]

Reads the releases as unpacked, picks the last K frames of each CK+ and
Oulu-CASIA sequence (MUG: K frames about the middle, peak frame; JAFFE: the
image), finds the face on each sequence's peak frame (CK+ landmarks when
present, else OpenCV's Haar cascade) and cuts that box from the sequence's
picked frames, and writes DIR/index.csv (dataset,subject,sequence,frame,
label,split,image,...), DIR/images/..., DIR/sequences.csv, DIR/counts.json
and DIR/manifest.json. The validation split is subject-disjoint and seeded.
A re-run skips finished sequences. See docs/pretraining.md.
"""
import argparse
import os
import sys

from atnet.common import run_cli
from atnet.data.prepare import DEFAULT_MARGIN
from atnet.macro.labels import DEFAULT_LABEL_SET, LABEL_SETS
from atnet.macro.oulu import DEFAULT_ILLUMINATIONS, DEFAULT_SENSORS
from atnet.macro.prepare import MacroSettings, prepare_macro
from atnet.macro.sequences import MACRO_FOLDERS
from atnet.macro.select import DEFAULT_FRAMES, DEFAULT_MUG_MIN_FRAMES, DEFAULT_VAL_FRACTION


def _names(text):
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--ckplus", metavar="DIR", help="CK+ root (holds cohn-kanade-images/ or "
                        "extended-cohn-kanade-images/, and Emotion/ or Emotion_labels/)")
    parser.add_argument("--oulu", metavar="DIR", help="Oulu-CASIA NIR&VIS root (holds OriginalImg/, "
                        "possibly under one prefix folder)")
    parser.add_argument("--jaffe", metavar="DIR", help="JAFFE folder (the .tiff images, or jaffedbase/)")
    parser.add_argument("--mug", metavar="DIR", help="MUG root (holds subjects3/)")
    parser.add_argument("--data", metavar="DIR", help="a folder holding any of %s (each a release as "
                        "unpacked); used for the datasets not given by their own option"
                        % ", ".join(name + "/" for name in MACRO_FOLDERS.values()))
    parser.add_argument("--out", required=True, metavar="DIR", help="prepared macro directory to write")
    parser.add_argument("--label-set", choices=LABEL_SETS, default=DEFAULT_LABEL_SET,
                        help="classes: basic6 (six basic), basic7 (+ neutral), ck8 (+ neutral, contempt), "
                             "3class (negative/positive/surprise as the micro composite maps them)")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES, metavar="K",
                        help="frames per sequence: the last K (MUG: K about the middle frame)")
    parser.add_argument("--neutral", action="store_true",
                        help="add the first frame of every expressive sequence as a neutral image "
                             "(needs a label set with neutral)")
    parser.add_argument("--lenient", action="store_true",
                        help="skip sequences with problems and list them in DIR/skipped.csv")
    parser.add_argument("--oulu-sensors", type=_names, default=DEFAULT_SENSORS, metavar="VL,NI",
                        help="Oulu-CASIA sensors to read (VL visible, NI near-infrared)")
    parser.add_argument("--oulu-illuminations", type=_names, default=DEFAULT_ILLUMINATIONS,
                        metavar="Strong,Weak,Dark", help="Oulu-CASIA illuminations to read")
    parser.add_argument("--mug-min-frames", type=int, default=DEFAULT_MUG_MIN_FRAMES, metavar="N",
                        help="MUG takes with fewer frames are left out (reported)")
    parser.add_argument("--val-fraction", type=float, default=DEFAULT_VAL_FRACTION,
                        help="fraction of each dataset's subjects held out for validation")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation split")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                        help="margin added on each side of the face box, as a fraction of its size")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel processes")
    parser.add_argument("--dry-run", action="store_true", help="read and select only: print counts, write nothing")
    args = parser.parse_args(argv)
    for dataset, name in MACRO_FOLDERS.items():
        if args.data and not getattr(args, dataset) and os.path.isdir(os.path.join(args.data, name)):
            setattr(args, dataset, os.path.join(args.data, name))
    if not (args.ckplus or args.oulu or args.jaffe or args.mug):
        parser.error("give at least one of --ckplus, --oulu, --jaffe, --mug%s"
                     % (" (--data %s holds none of %s)" % (args.data, ", ".join(MACRO_FOLDERS.values()))
                        if args.data else ""))
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    roots = {name: getattr(args, name) for name in ("ckplus", "oulu", "jaffe", "mug") if getattr(args, name)}
    settings = MacroSettings(label_set=args.label_set, frames=args.frames, neutral=args.neutral,
                             mug_min_frames=args.mug_min_frames, val_fraction=args.val_fraction, seed=args.seed,
                             oulu_sensors=args.oulu_sensors, oulu_illuminations=args.oulu_illuminations,
                             margin=args.margin, lenient=args.lenient, workers=args.workers)
    prepare_macro(roots, args.out, settings, dry_run=args.dry_run,
                  command=sys.argv if argv is None else ["prepare_macro.py"] + list(argv))
    return 0


if __name__ == "__main__":
    run_cli(main)
