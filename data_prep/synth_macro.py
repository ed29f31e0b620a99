#!/usr/bin/env python3
"""Write synthetic CK+, Oulu-CASIA, JAFFE and MUG releases in their real layouts.

    python data_prep/synth_macro.py --preset tiny|pretrain|release --out DIR [--seed N]
        [--datasets ckplus,oulu,jaffe,mug] [--overwrite]

writes DIR/CK+, DIR/Oulu-CASIA, DIR/JAFFE and DIR/MUG (each a dataset root as
the real release unpacks, with its oddities) and DIR/synth_macro.json. The
faces are the micro synth's, with macro-sized expressions that share the
micro classes' cues (atnet/macro/faces.py). Prepare them with
data_prep/prepare_macro.py. See atnet/macro/synth.py.
"""
import argparse
import time

from atnet.common import run_cli
from atnet.macro import synth
from atnet.macro.sequences import MACRO_DATASETS


def _datasets(text):
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in MACRO_DATASETS]
    if unknown or not names:
        raise argparse.ArgumentTypeError("choose from %s" % ",".join(MACRO_DATASETS))
    return names


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--preset", choices=sorted(synth.PRESETS), default="tiny",
                        help="tiny: a few subjects per dataset (tests, the demo); pretrain: the "
                             "pre-training comparison; release: the releases' sequence and image counts")
    parser.add_argument("--out", required=True, help="folder to write the dataset roots into")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--datasets", type=_datasets, default=MACRO_DATASETS, metavar="NAMES",
                        help="comma-separated subset of %s" % ",".join(MACRO_DATASETS))
    parser.add_argument("--overwrite", action="store_true", help="replace existing dataset roots")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    summary = synth.generate(args.out, args.preset, args.seed, datasets=args.datasets, overwrite=args.overwrite,
                             progress=True)
    for dataset, counts in summary.items():
        print("%-8s %s" % (synth.ROOT_NAMES[dataset], ", ".join("%s %d" % item for item in counts.items())))
    print("wrote %s in %.1f s" % (args.out, time.time() - start))
    return 0


if __name__ == "__main__":
    run_cli(main)
