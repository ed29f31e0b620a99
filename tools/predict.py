#!/usr/bin/env python3
"""Class scores of a trained fold (or any ATNet deploy net + caffemodel) on a prepared directory or one clip.

    python tools/predict.py --fold runs/fusion-cde/casme2-sub01 --prepared data/prepared [--samples KEY,...]
    python tools/predict.py --deploy deploy.prototxt --weights final.caffemodel --flow-rows centred \
        --clip /data/CASME2/CASME2_RAW_selected/sub01/EP02_01f [--apex-frame 46]
        [--out scores.csv] [--gpu 0]

Prints a table (key, label, predicted class, softmax score per class) and
writes the same as CSV (default: scores.csv in the current folder unless
--out). A fold folder gives deploy.prototxt, final.caffemodel and, from its
LMDB's manifest, the flow row order it was trained with (atnet/predict.py).
A clip is prepared as data_prep/prepare.py does (face box on the apex
frame, ADM feature); without --apex-frame the middle frame is the apex.
"""
import argparse

from atnet.common import InputError, run_cli
from atnet.data.face import DEFAULT_FACE, FACE_DETECTORS
from atnet.data.flow import DEFAULT_FLOW, FLOW_ALGORITHMS
from atnet.data.prepare import DEFAULT_MARGIN
from atnet.predict import (FLOW_ROWS, Predictor, fold_inputs, predict_prepared, prepare_clip, score,
                           scores_table, write_scores)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    net = parser.add_argument_group("the net (--fold, or --deploy and --weights)")
    net.add_argument("--fold", metavar="DIR", help="a finished fold folder of tools/train.py")
    net.add_argument("--deploy", metavar="FILE", help="deploy prototxt (inputs data and/or flow, output prob)")
    net.add_argument("--weights", metavar="FILE", help="caffemodel")
    net.add_argument("--flow-rows", choices=FLOW_ROWS,
                     help="row order of the flow feature the model was trained with (default: the fold's "
                          "LMDB manifest; required with --deploy for a net with a flow input)")
    net.add_argument("--gpu", type=int, help="GPU id (a CUDA build); default the CPU")
    source = parser.add_argument_group("the input (--prepared or --clip)")
    source.add_argument("--prepared", metavar="DIR", help="a prepared directory")
    source.add_argument("--samples", metavar="KEY,...", help="only these clip keys of --prepared")
    source.add_argument("--clip", metavar="FOLDER", help="one clip's frame folder")
    source.add_argument("--apex-frame", type=int, metavar="N", help="the clip's apex frame number")
    source.add_argument("--flow", choices=sorted(FLOW_ALGORITHMS), default=DEFAULT_FLOW,
                        help="optical flow for --clip (use what the prepared training data used)")
    source.add_argument("--face", choices=sorted(FACE_DETECTORS), default=DEFAULT_FACE, help="face box for --clip")
    source.add_argument("--margin", type=float, default=DEFAULT_MARGIN, help="face box margin for --clip")
    parser.add_argument("--out", default="scores.csv", metavar="FILE", help="CSV of the scores to write")
    args = parser.parse_args(argv)
    if bool(args.fold) == bool(args.deploy or args.weights) or (args.deploy is None) != (args.weights is None):
        parser.error("give --fold DIR, or --deploy FILE and --weights FILE")
    if bool(args.prepared) == bool(args.clip):
        parser.error("give --prepared DIR or --clip FOLDER")
    if args.samples and not args.prepared:
        parser.error("--samples goes with --prepared")
    if args.apex_frame is not None and not args.clip:
        parser.error("--apex-frame goes with --clip")
    return args


def main(argv=None):
    args = parse_args(argv)
    deploy, weights, flow_rows = (fold_inputs(args.fold) if args.fold else (args.deploy, args.weights, None))
    flow_rows = args.flow_rows or flow_rows
    predictor = Predictor(deploy, weights, flow_rows or "centred", args.gpu)
    if predictor.flow_blob and flow_rows is None:
        raise InputError("%s: the net reads the flow feature; give --flow-rows (the order it was trained with)"
                         % deploy)
    if args.prepared:
        keys = [key for key in (args.samples or "").split(",") if key]
        results = predict_prepared(predictor, args.prepared, keys)
    else:
        apex, feature, _ = prepare_clip(args.clip, args.apex_frame, args.flow, args.face, args.margin)
        results = [score(predictor, args.clip.rstrip("/"), None, apex, feature)]
    print(scores_table(results))
    write_scores(args.out, results)
    print("wrote %s" % args.out)
    return 0


if __name__ == "__main__":
    run_cli(main)
