#!/usr/bin/env python3
"""The paper's qualitative claims (atnet/resources/paper_claims.csv) tested on our runs:
each supported, contradicted or undecided, from paired subject-level bootstrap intervals.

    python tools/check_claims.py RUN... [--out DIR] [--strict] [--resamples N] [--bootstrap-seed S]

Each RUN is an evaluated run directory or a seed group (a directory of
seed-<N>/ runs); its method, setting and protocol (metrics.json) say which
claims it takes part in. A claim whose methods were not all given is
undecided (not tested). With --strict, exits 1 when a claim is contradicted.
See docs/statistics.md for the decision rule.
"""
import argparse
import os
import sys

from atnet.claims import CONTRADICTED, check_claims, claim_verdicts, claims_csv, claims_markdown
from atnet.common import run_cli, write_text
from atnet.comparisons import load_run
from atnet.uncertainty import add_bootstrap_arguments, bootstrap_from_args



def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN", help="evaluated run directories or seed groups")
    parser.add_argument("--out", metavar="DIR", help="also write claims.md and claims.csv here")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any claim is contradicted")
    add_bootstrap_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    boot = bootstrap_from_args(args)
    verdicts = check_claims([load_run(path) for path in args.runs], boot)
    markdown = claims_markdown(verdicts, boot)
    if args.out:
        write_text(os.path.join(args.out, "claims.md"), markdown)
        write_text(os.path.join(args.out, "claims.csv"), claims_csv(verdicts))
    print(markdown, end="")
    contradicted = [c for c, (overall, _, _) in claim_verdicts(verdicts).items() if overall == CONTRADICTED]
    if args.strict and contradicted:
        print("error: %d claim(s) contradicted: %s" % (len(contradicted), ", ".join(contradicted)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    run_cli(main)
