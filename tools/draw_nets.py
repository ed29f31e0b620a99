#!/usr/bin/env python3
"""Draw each reference network (prototxt/<variant>/deploy.prototxt) as a readable diagram.

    python tools/draw_nets.py [--out docs/nets] [--no-svg]

Writes <variant>.dot (Graphviz text, committed and checked by a test) and
<variant>.svg (rendered by Graphviz's dot). Caffe's draw_net.py is used as
is (caffe.draw), except that the temporal stream's 64-way time-major
Slice/Concat is drawn as one node (atnet/diagrams.py).
"""
import argparse
import os

from atnet.common import run_cli, write_bytes, write_text
from atnet.diagrams import graph_text, read_net, render_svg
from atnet.variants import VARIANTS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--prototxt", default=os.path.join(REPO, "prototxt"), help="the reference networks")
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "nets"), help="folder for the diagrams")
    parser.add_argument("--no-svg", action="store_true", help="write the .dot text only (no Graphviz needed)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    for variant in sorted(VARIANTS):
        text = graph_text(read_net(os.path.join(args.prototxt, variant, "deploy.prototxt")))
        write_text(os.path.join(args.out, variant + ".dot"), text)
        written = [variant + ".dot"]
        if not args.no_svg:
            write_bytes(os.path.join(args.out, variant + ".svg"), render_svg(text))
            written.append(variant + ".svg")
        print("%s: %s" % (variant, ", ".join(os.path.join(args.out, name) for name in written)))
    return 0


if __name__ == "__main__":
    run_cli(main)
