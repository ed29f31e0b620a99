#!/usr/bin/env python3
"""Speed of the hand-crafted baselines: feature extraction per clip and the SVM per protocol.

    python bench/bench_baselines.py [--clips 4] [--frames 65] [--size 224] [--skip-svm] [--tune]

Extraction: each of the eight paper configurations on synthetic 224 x 224
clips of 65 frames (the window around the apex), one process; reading the
frames from disk is not included. SVM: the CDE (68 folds) and HDE (3 folds)
protocols on random features of each configuration's size for 442 samples
with the composite's exact per-subject class counts, fixed C (and with
--tune the inner leave-one-subject-out search too).
"""
import argparse
import time

import numpy as np

from atnet.baselines import classify, features, runner
from atnet.data.composite import composite_samples
from atnet.data.flow import make_flow
from atnet.folds import make_folds


def synthetic_clip(rng, frames, size):
    """A drifting, noisy texture: realistic work for LBP and optical flow."""
    base = rng.integers(0, 256, (size + frames, size + frames)).astype(np.float32)
    clip = np.stack([base[t:t + size, t // 2:t // 2 + size] for t in range(frames)])
    return np.clip(clip + rng.normal(0, 3, clip.shape), 0, 255).astype(np.uint8)


def bench_extraction(args):
    rng = np.random.default_rng(0)
    clips = [synthetic_clip(rng, args.frames, args.size) for _ in range(args.clips)]
    features.clip_feature(clips[0][:10, :32, :32], 5, features.FeatureConfig("lbptop", 10))  # load skimage once
    print("feature extraction, one process, %d clips of %d x %d x %d:"
          % (args.clips, args.frames, args.size, args.size))
    for method, tim, size in runner.PAPER_CONFIGURATIONS:
        config = features.FeatureConfig(method=method, tim=tim, neighbours=size, bins=size)
        flow = make_flow(config.flow) if method == "hoof" else None
        started = time.perf_counter()
        for clip in clips:
            features.clip_feature(clip, args.frames // 2, config, flow)
        seconds = (time.perf_counter() - started) / len(clips)
        print("  %-16s %7.3f s/clip  %6.2f clips/s  (442 clips: %5.0f s)"
              % (features.folder_name(method, tim, size, size), seconds, 1 / seconds, 442 * seconds))



def bench_svm(args):
    samples = composite_samples()
    rng = np.random.default_rng(0)
    print("SVM on %d samples (random features), one process:" % len(samples))
    dims = {"LBP-TOP (3 x 59)": 177, "HOOF N=8 TIM=10 (8 x 9)": 72, "HOOF N=8 TIM=64 (8 x 63)": 504}
    for name, dim in dims.items():
        matrix = rng.random((len(samples), dim))
        features_of = classify.feature_lookup(samples, matrix)
        for tune in ([False, True] if args.tune else [False]):
            config = classify.SvmConfig(tune=tune)
            for protocol in ("cde", "hde"):
                folds = make_folds(samples, protocol)
                started = time.perf_counter()
                for fold in folds:
                    classify.classify_fold(fold, features_of, config)
                print("  %-26s %s %2d folds %s: %7.2f s" % (name, protocol.upper(), len(folds),
                                                          "tuned C (5 values)" if tune else "fixed C",
                                                          time.perf_counter() - started))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--clips", type=int, default=4, help="synthetic clips per configuration")
    parser.add_argument("--frames", type=int, default=65, help="frames per clip (the apex window)")
    parser.add_argument("--size", type=int, default=224, help="face crop side, pixels")
    parser.add_argument("--skip-svm", action="store_true", help="only time the feature extraction")
    parser.add_argument("--tune", action="store_true", help="also time the inner-LOSO tuning of C")
    args = parser.parse_args()
    import cv2
    cv2.setNumThreads(1)
    bench_extraction(args)
    if not args.skip_svm:
        bench_svm(args)


if __name__ == "__main__":
    main()
