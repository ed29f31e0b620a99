#!/usr/bin/env python3
"""Throughput of data preparation per optical-flow algorithm, and the face-box agreement of the detectors.

Prints, for each algorithm: (1) flow + ADM block means on one core, in flow
pairs per second on 224 x 224 face crops; (2) the whole prepare stage (read
frames, detect the face, crop, flow, write) over the synthetic ``tiny`` set
with N worker processes, in clips and flow pairs per second of wall time,
plus the CPU seconds it used (``--prepare-flows``; TV-L1 is left out by
default: at several seconds a pair the tiny set would take over an hour).
Then (3) per face detector (haar, landmarks) the time per apex frame and the
IoU of the two detectors' boxes on every synthetic apex frame. The load
average is printed too: on a shared machine wall-clock numbers are only as
good as the machine was idle.
"""
import argparse
import os
import resource
import sys
import tempfile
import time

import cv2
import numpy as np

from atnet.data import adm, synth
from atnet.data.flow import FLOW_ALGORITHMS, make_flow
from atnet.data.frames import read_clip_grey
from atnet.data.face import FACE_DETECTORS, box_iou, crop_face, detect_face, expand_box
from atnet.data.frames import read_grey
from atnet.data.prepare import Settings, prepare, scan

ROOTS = {"casme2": "CASME2", "samm": "SAMM", "smic": "SMIC"}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", help="a synth.py output folder (default: generate the tiny preset)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for the prepare run")
    parser.add_argument("--flows", nargs="+", default=sorted(FLOW_ALGORITHMS), choices=sorted(FLOW_ALGORITHMS))
    parser.add_argument("--pairs", type=int, default=200, help="flow pairs for the one-core measurement")
    parser.add_argument("--tvl1-pairs", type=int, default=6, help="flow pairs for TV-L1's one-core measurement")
    parser.add_argument("--prepare-flows", nargs="*", default=["dis", "farneback"], choices=sorted(FLOW_ALGORITHMS),
                        help="algorithms whose whole prepare run is measured")
    return parser.parse_args()


def crops_of_one_clip(roots):
    """224 x 224 face crops of the longest selected clip (real frames, real box)."""
    sample = max(scan(roots).selected, key=lambda s: len(s.frames))
    frames = read_clip_grey(sample.frames)
    box = expand_box(detect_face(frames[sample.apex_index]), 0.1, frames[0].shape[1], frames[0].shape[0])
    return [crop_face(frame, box, adm.CROP_SIZE) for frame in frames]


def one_core(name, crops, pairs):
    """Flow pairs per second (flow + ADM block means), one thread."""
    flow = make_flow(name)
    cv2.setNumThreads(1)
    start = time.perf_counter()
    for index in range(pairs):
        first = index % (len(crops) - 1)
        adm.block_means(flow(crops[first], crops[first + 1]))
    return pairs / (time.perf_counter() - start)


def cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def whole_prepare(name, roots, workers, scratch):
    """Clips/s, pairs/s and CPU seconds of a full prepare run (nothing cached)."""
    out = tempfile.mkdtemp(dir=scratch, prefix="prepared-%s-" % name)
    cpu, start = cpu_seconds(), time.perf_counter()
    outcome = prepare(roots, out, Settings(flow=name, workers=workers), log=lambda *a: None)
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    pairs = sum(row.valid_rows for row in outcome.rows)
    return len(outcome.rows), pairs, wall, cpu


def face_agreement(roots):
    """Seconds per apex frame of each detector, and the IoU of their raw boxes on every apex frame."""
    samples = scan(roots).selected
    frames = [read_grey(sample.frames[sample.apex_index]) for sample in samples]
    boxes = {}
    for name in sorted(FACE_DETECTORS):
        start = time.perf_counter()
        boxes[name] = [detect_face(frame, name) for frame in frames]
        print("face %-9s %.3f s per apex frame, %d of %d faces found"
              % (name, (time.perf_counter() - start) / len(frames), sum(b is not None for b in boxes[name]),
                 len(frames)))
    ious = [box_iou(a, b) for a, b in zip(boxes["haar"], boxes["landmarks"]) if a is not None and b is not None]
    if ious:
        print("IoU haar vs landmarks (raw boxes, %d apex frames): mean %.3f, min %.3f, median %.3f, max %.3f"
              % (len(ious), np.mean(ious), np.min(ious), np.median(ious), np.max(ious)))


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_flow-") as scratch:
        data = args.data
        if data is None:
            data = os.path.join(scratch, "tiny")
            synth.generate(data, "tiny", seed=0)
        roots = {dataset: os.path.join(data, name) for dataset, name in ROOTS.items()}
        crops = crops_of_one_clip(roots)
        print("load average before: %.2f %.2f %.2f on %d cores" % (os.getloadavg() + (os.cpu_count(),)))
        print("%-10s %13s %9s %9s %8s %8s %11s %12s" % ("flow", "pairs/s 1core", "clips/s", "pairs/s",
                                                           "wall s", "cpu s", "pairs/cpu-s", "composite s"))
        for name in args.flows:
            single = one_core(name, crops, args.tvl1_pairs if name == "tvl1" else args.pairs)
            if name not in args.prepare_flows:
                print("%-10s %13.2f %9s %9s %8s %8s %11s %12.0f" % (name, single, "-", "-", "-", "-", "-",
                                                                   442 * 64 / single))
                continue
            clips, pairs, wall, cpu = whole_prepare(name, roots, args.workers, scratch)
            # the real composite: 442 clips of up to 64 pairs (SMIC clips have fewer), at this wall rate
            print("%-10s %13.1f %9.2f %9.1f %8.1f %8.1f %11.1f %12.0f"
                  % (name, single, clips / wall, pairs / wall, wall, cpu, pairs / cpu, 442 * 64 / (pairs / wall)))
        print("prepare: %d worker(s). pairs/cpu-s: pairs per CPU second of all processes (a rate that does "
              "not depend on other load); composite s: 442 x 64 pairs at the measured wall rate (one core "
              "where the prepare run was not measured)" % args.workers)
        face_agreement(roots)
        print("load average after: %.2f %.2f %.2f" % os.getloadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
