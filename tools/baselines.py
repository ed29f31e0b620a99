#!/usr/bin/env python3
"""The hand-crafted baselines of Tables II and III: LBP-TOP or HOOF features
classified by a degree-2 polynomial SVM under CDE or HDE folds.

    # features extracted from a prepared directory (cached, parallel):
    python tools/baselines.py --method lbptop --prepared DIR --tim 10 --P 4 --protocol cde --out RUN
    python tools/baselines.py --method hoof --prepared DIR --tim 64 --bins 8 --protocol hde --out RUN
    # the authors' release-format features (<method folder>/Features/<clip key>.mat):
    python tools/baselines.py --method hoof --features HOOF_N4_TIM10 --labels Apex_Cropped_images.txt \\
        --protocol cde --out RUN [--C X] [--tune]
    # all eight configurations of the paper, both protocols, with the paper's rows beside them:
    python tools/baselines.py --all --prepared DIR --out runs/baselines
    python tools/baselines.py --all --features ROOT --labels FILE --out runs/baselines

Each run directory ends with predictions per fold and metrics.json in the
evaluate format (tools/evaluate.py, tools/compare_paper.py). See
docs/baselines.md for the feature and SVM choices.
"""
import argparse
import os
import sys

from atnet.common import InputError, run_cli, write_text
from atnet.baselines import features, runner
from atnet.baselines.classify import SvmConfig
from atnet.baselines.features import FeatureConfig
from atnet.config import add_option
from atnet.evaluate import metrics_markdown
from atnet.folds import PROTOCOLS
from atnet.logs import stage_log


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    what = parser.add_argument_group("what to run")
    what.add_argument("--method", choices=features.METHODS, help="the baseline (required unless --all)")
    what.add_argument("--all", action="store_true",
                      help="run the paper's eight configurations (LBP-TOP P 4/8, HOOF N 4/8, TIM 10/64)")
    what.add_argument("--protocol", choices=PROTOCOLS,
                      help="evaluation protocol (required unless --all, which runs both by default)")
    what.add_argument("--out", required=True, metavar="DIR",
                      help="run directory (with --all: the parent of one run directory per configuration)")
    what.add_argument("--folds", action="append", metavar="NAMES",
                      help="only these folds (comma-separated), e.g. cde-casme2-sub01; the report is partial")
    source = parser.add_argument_group("where the features come from (one of)")
    source.add_argument("--prepared", metavar="DIR", help="prepared directory (data_prep/prepare.py) to extract from")
    source.add_argument("--features", metavar="DIR",
                        help="release-format features: a method folder holding Features/<clip key>.mat "
                             "(with --all: the folder holding LBPTOP_P4_TIM10, ..., HOOF_N8_TIM64)")
    source.add_argument("--labels", metavar="FILE",
                        help="with --features: the samples and labels, as in the release's Apex_Cropped_images.txt")
    feature = parser.add_argument_group("features (extraction; --tim/--P/--bins also name the paper's row)")
    feature.add_argument("--tim", type=int, help="frames after temporal normalisation (the paper: 10 or 64)")
    feature.add_argument("--P", type=int, dest="neighbours", help="LBP-TOP neighbours per plane (the paper: 4 or 8)")
    feature.add_argument("--bins", type=int, help="HOOF orientation bins (the paper: 4 or 8)")
    # Defaults, choices and help of these options come from FeatureConfig and SvmConfig.
    add_option(feature, FeatureConfig, "radius", "--radius")
    add_option(feature, FeatureConfig, "mapping", "--lbp-mapping")
    add_option(feature, FeatureConfig, "grid", "--grid", metavar="RxC", type=str,
               default="x".join(str(n) for n in FeatureConfig.grid))
    add_option(feature, FeatureConfig, "interpolation", "--interpolation")
    add_option(feature, FeatureConfig, "half_window", "--half-window")
    feature.add_argument("--whole-clip", action="store_true",
                         help="use the whole onset..offset clip instead of the window around the apex")
    add_option(feature, FeatureConfig, "face_size", "--face-size")
    add_option(feature, FeatureConfig, "flow", "--flow")
    add_option(feature, FeatureConfig, "release_hoof_steps", "--release-hoof-steps")
    feature.add_argument("--cache", metavar="DIR", help="feature cache; default PREPARED/baseline_features")
    svm = parser.add_argument_group("SVM (degree-2 polynomial kernel)")
    add_option(svm, SvmConfig, "C", "--C")
    add_option(svm, SvmConfig, "tune", "--tune")
    add_option(svm, SvmConfig, "C_grid", "--C-grid", type=str,
               default=",".join("%g" % c for c in SvmConfig.C_grid))
    add_option(svm, SvmConfig, "gamma", "--gamma", type=str)
    add_option(svm, SvmConfig, "coef0", "--coef0")
    add_option(svm, SvmConfig, "scaling", "--scaling")
    add_option(svm, SvmConfig, "class_weight", "--class-weight")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="parallel processes for extraction and tuning")
    args = parser.parse_args(argv)
    _check_args(parser, args)
    return args


def _check_args(parser, args):
    """Option combinations argparse cannot express."""
    if (args.prepared is None) == (args.features is None):
        parser.error("give exactly one of --prepared DIR and --features DIR")
    if args.features and not args.labels:
        parser.error("--features needs --labels FILE")
    if not args.all and (args.method is None or args.protocol is None):
        parser.error("give --method and --protocol, or --all")
    if args.all and (args.method or args.tim or args.neighbours or args.bins):
        parser.error("--all runs the paper's eight configurations; leave out --method, --tim, --P and --bins")
    if args.prepared and args.labels:
        parser.error("--labels goes with --features; a prepared directory has its own index")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")


def svm_config(args):
    """The classifier settings from the command line."""
    try:
        grid = tuple(float(c) for c in args.C_grid.split(","))
        gamma = args.gamma if args.gamma in ("scale", "auto") else float(args.gamma)
    except ValueError:
        raise InputError("--C-grid %r / --gamma %r: expected numbers" % (args.C_grid, args.gamma)) from None
    return SvmConfig(C=args.C, gamma=gamma, coef0=args.coef0, scaling=args.scaling,
                     class_weight=args.class_weight, tune=args.tune, C_grid=grid)


def feature_config(args, method, frames, size):
    """The extraction settings of one configuration (``size``: P or bins)."""
    if frames is None or size is None:
        raise InputError("--prepared with --method %s needs --tim and %s"
                         % (method, "--P" if method == "lbptop" else "--bins"))
    try:
        grid = tuple(int(n) for n in args.grid.lower().split("x"))
    except ValueError:
        grid = ()
    if len(grid) != 2:
        raise InputError("--grid %r: expected rows x columns, e.g. 2x2" % args.grid)
    size_option = {"neighbours": size} if method == "lbptop" else {"bins": size}  # the other keeps its default
    return FeatureConfig(
        method=method, tim=frames, radius=args.radius, mapping=args.mapping, grid=grid,
        interpolation=args.interpolation, half_window=None if args.whole_clip else args.half_window,
        face_size=args.face_size, flow=args.flow, release_hoof_steps=args.release_hoof_steps, **size_option)


def release_setting(args, method, path, shape):
    """The paper's setting of release-format features, or a descriptive name when it is unknown."""
    frames, size = features.release_configuration(method, path, shape, args.tim, args.neighbours)
    if frames is None or size is None:
        print("note: give --tim and --P to name the paper's row of %s" % path, file=sys.stderr)
        return "release features %s" % os.path.basename(os.path.normpath(path))
    return features.setting_name(method, frames, size, size, args.radius)


def run_one(args, method, frames, size, protocols, out_dir, svm, features_path=None):
    """Run one configuration under each protocol; returns the run directories.

    ``out_dir(protocol)`` names each run directory; ``features_path`` is the
    release-format method folder when the features are not extracted.
    """
    if args.prepared:
        config = feature_config(args, method, frames, size)
        cache = args.cache or os.path.join(args.prepared, "baseline_features")
        samples, matrix, settings, stats = runner.prepared_source(args.prepared, config, cache, args.jobs)
        setting = features.setting_name(method, config.tim, config.neighbours, config.bins, config.radius)
        if stats["extracted"]:
            print("%s: extracted %d clips in %.1f s (%.2f clips/s, %d cached)"
                  % (setting, stats["extracted"], stats["seconds"], stats["extracted"] / stats["seconds"],
                     stats["cached"]))
    else:
        samples, matrix, settings = runner.release_source(features_path, args.labels, method,
                                                          args.bins if method == "hoof" else None)
        setting = release_setting(args, method, features_path, settings["shape"])
    run_dirs = []
    for protocol in protocols:
        run_dir = out_dir(protocol)
        doc, seconds = runner.run_configuration(samples, matrix, features.METHOD_TITLE[method], setting, protocol,
                                                run_dir, svm, settings, args.folds, args.jobs)
        log = stage_log("baselines", run_dir)  # the run folder exists now: its own log beside metrics.json
        log("%s %s %s: SVM %.1f s; %s", features.METHOD_TITLE[method], setting, protocol.upper(), seconds, run_dir)
        log(metrics_markdown(doc))
        run_dirs.append(run_dir)
    return run_dirs


def main(argv=None):
    args = parse_args(argv)
    svm = svm_config(args)
    if not args.all:
        run_dirs = run_one(args, args.method, args.tim, args.neighbours if args.method == "lbptop" else args.bins,
                           [args.protocol], lambda protocol: args.out, svm, args.features)
        print(runner.paper_comparison(run_dirs))
        return 0
    protocols = [args.protocol] if args.protocol else list(PROTOCOLS)
    run_dirs = []
    for method, frames, size in runner.PAPER_CONFIGURATIONS:
        name = features.folder_name(method, frames, size, size)
        run_dirs += run_one(args, method, frames, size, protocols,
                            lambda protocol, name=name: os.path.join(args.out, "%s-%s" % (name, protocol)), svm,
                            args.features and os.path.join(args.features, name))
    comparison = runner.paper_comparison(run_dirs)
    write_text(os.path.join(args.out, "comparison.md"), comparison)
    print(comparison)
    return 0


if __name__ == "__main__":
    run_cli(main)
