#!/usr/bin/env python3
"""Regenerate the reference networks under prototxt/ (atnet/reference.py, from atnet/nets.py).

Writes, for each variant, <variant>/train_val.prototxt, deploy.prototxt and
readme.md, plus the solver template solver.prototxt. Files whose text is
unchanged are left alone.
"""
import argparse
import os

from atnet.common import run_cli, write_text
from atnet.reference import reference_files

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default=os.path.join(REPO, "prototxt"),
                        help="directory to write the prototxt tree into")
    args = parser.parse_args(argv)
    changed = 0
    for relative, text in sorted(reference_files().items()):
        path = os.path.join(args.out, relative)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                if handle.read() == text:
                    continue
        write_text(path, text)
        changed += 1
        print("wrote %s" % path)
    print("%d file(s) changed under %s" % (changed, args.out))
    return 0


if __name__ == "__main__":
    run_cli(main)
