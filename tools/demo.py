#!/usr/bin/env python3
"""The whole pipeline on synthetic data, end to end (`make demo`).

    python tools/demo.py [--out runs/demo] [--jobs 2] [--seed 0]

1. data_prep/synth.py --preset tiny: synthetic CASME II, SAMM and SMIC releases
   (10 subjects, 39 composite samples) in the real layouts;
2. data_prep/prepare.py: apex faces and ADM flow features;
3. tools/make_lmdb.py: the CDE (10 folds) and HDE (3 folds) LMDBs;
4. data_prep/synth_macro.py --preset tiny, data_prep/prepare_macro.py and
   tools/pretrain.py: a short pre-training of the spatial stream on
   synthetic CK+, Oulu-CASIA, JAFFE and MUG (DEMO_PRETRAINING), the chain
   ImageNet -> macro -> micro of docs/pretraining.md without the ImageNet step;
5. tools/train.py: the temporal, spatial and fusion variants on both
   protocols, spatial and fusion fine-tuned from the pre-trained model
   (--weights), with short schedules (DEMO_SCHEDULES) so that it all fits in
   about 10 minutes on 2 CPU cores;
6. tools/evaluate.py on each of the six runs;
7. tools/compare_paper.py: our numbers, each with its 95 % subject-level
   bootstrap interval, beside the paper's Tables II and III, marked "in" or
   "OUT" by whether the paper's value lies inside our interval;
8. tools/check_claims.py: the paper's claims (fusion beats both streams and
   the apex-frame methods, ...) as supported, contradicted or undecided by
   these runs (Micro-Attention is not trained here, so its claims are "not
   tested"). Both are printed last. They come from SYNTHETIC data and a few
   epochs: they show that the pipeline works, not what ATNet scores on the
   real datasets.

Every stage skips what an earlier run of the demo finished, so re-running it
is quick. Each stage is printed as the command it runs, so the demo doubles
as a worked example of the tools.
"""
import argparse
import os
import shlex
import subprocess
import sys
import time

from atnet.common import InputError, run_cli, write_text

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("temporal", "spatial", "fusion")
PROTOCOLS = ("cde", "hde")
#: Short schedules (the paper: 50 epochs, batch 16). The lr stays at the
#: paper's 0.01 throughout (step_epochs = epochs). The temporal and fusion
#: variants learn the synthetic movements in these few epochs; the spatial
#: stream (a ResNet-10 at 224 x 224, the expensive part on a CPU) gets one
#: epoch only: it just has to run.
DEMO_SCHEDULES = {
    "temporal": {"batch_size": 4, "epochs": 8, "step_epochs": 8},
    "spatial": {"batch_size": 4, "epochs": 1, "step_epochs": 1},
    "fusion": {"batch_size": 4, "epochs": 6, "step_epochs": 6},
}
#: The demo's pre-training (tools/pretrain.py --set): a few iterations, one augmented copy, and the
#: BatchNorm statistics re-estimated from the final weights (a short run needs it: docs/pretraining.md).
DEMO_PRETRAINING = {"max_iter": 20, "stepsize": 20, "batch_size": 4, "augment_copies": 1, "snapshot_interval": 20,
                    "bn_recompute_batches": 10}
#: The variants fine-tuned from the pre-trained spatial stream.
FROM_PRETRAINED = ("spatial", "fusion")
LABEL = "SYNTHETIC data (tiny preset, a few epochs): a pipeline check, not the paper's datasets"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default=os.path.join(REPO, "runs", "demo"),
                        help="folder for everything the demo writes")
    parser.add_argument("--jobs", type=int, default=2, help="folds trained at the same time")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data, the LMDBs and training")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    return args


def run(step, script, *args, capture=False):
    """Run one stage's tool with this Python, echoing the command; stop the demo if it fails."""
    command = [sys.executable, os.path.join(REPO, script)] + [str(a) for a in args]
    print("\n==> [%s] %s" % (step, shlex.join([os.path.relpath(command[1], REPO)] + command[2:])), flush=True)
    result = subprocess.run(command, stdout=subprocess.PIPE if capture else None, text=True)
    if result.returncode != 0:
        raise InputError("demo stage %s failed (exit code %d): %s" % (step, result.returncode, shlex.join(command)))
    return result.stdout


def write_schedule(out, model, seed):
    """The model's demo schedule as a YAML config file (also a template for your own)."""
    path = os.path.join(out, "config", "demo-%s.yaml" % model)
    lines = ["# tools/demo.py's short schedule for the %s variant (see atnet/config.py for every key)" % model,
             "seed: %d" % seed] + ["%s: %s" % item for item in DEMO_SCHEDULES[model].items()]
    write_text(path, "\n".join(lines) + "\n")
    return path


def pretrain(out, seed):
    """Stage 4: synthetic macro releases, prepared, and a short pre-training; returns the model."""
    raw, prepared, run_dir = (os.path.join(out, "macro", name) for name in ("raw", "prepared", "pretrain"))
    if os.path.isfile(os.path.join(raw, "synth_macro.json")):     # written last
        print("\n==> [4/8 pretrain] %s exists: synthetic macro releases already written" % raw)
    else:
        run("4/8 pretrain", "data_prep/synth_macro.py", "--preset", "tiny", "--out", raw, "--seed", seed,
            "--overwrite")
    run("4/8 pretrain", "data_prep/prepare_macro.py", "--ckplus", os.path.join(raw, "CK+"), "--oulu",
        os.path.join(raw, "Oulu-CASIA"), "--jaffe", os.path.join(raw, "JAFFE"), "--mug", os.path.join(raw, "MUG"),
        "--out", prepared, "--seed", seed)
    settings = ["--set=%s=%s" % item for item in sorted(dict(DEMO_PRETRAINING, seed=seed).items())]
    run("4/8 pretrain", "tools/pretrain.py", "--prepared", prepared, "--out", run_dir, *settings)
    return os.path.join(run_dir, "pretrained.caffemodel")


def main(argv=None):
    args = parse_args(argv)
    out = os.path.abspath(args.out)
    raw, prepared = os.path.join(out, "raw"), os.path.join(out, "prepared")
    started = time.time()
    gt = os.path.join(raw, "combined_3class_gt.csv")
    if os.path.isfile(gt):  # synth writes the ground-truth list last
        print("\n==> [1/8 synth] %s exists: synthetic releases already written" % gt)
    else:
        run("1/8 synth", "data_prep/synth.py", "--preset", "tiny", "--out", raw, "--seed", args.seed, "--overwrite")
    run("2/8 prepare", "data_prep/prepare.py", "--casme2", os.path.join(raw, "CASME2"), "--samm",
        os.path.join(raw, "SAMM"), "--smic", os.path.join(raw, "SMIC"), "--out", prepared, "--gt", gt)
    for protocol in PROTOCOLS:
        run("3/8 LMDBs", "tools/make_lmdb.py", "--prepared", prepared, "--protocol", protocol,
            "--out", os.path.join(out, "lmdb", protocol), "--seed", args.seed)
    pretrained = pretrain(out, args.seed)
    runs = []
    for protocol in PROTOCOLS:
        for model in MODELS:
            run_dir = os.path.join(out, "runs", "%s-%s" % (protocol, model))
            weights = ["--weights", pretrained] if model in FROM_PRETRAINED else []
            run("5/8 train", "tools/train.py", "--model", model, "--protocol", protocol,
                "--lmdb", os.path.join(out, "lmdb", protocol), "--out", run_dir, "--jobs", args.jobs,
                "--config", write_schedule(out, model, args.seed), *weights)
            runs.append(run_dir)
    for run_dir in runs:
        run("6/8 evaluate", "tools/evaluate.py", run_dir)
    tables = run("7/8 compare", "tools/compare_paper.py", *runs, "--label", LABEL, "--out", out, capture=True)
    claims = run("8/8 claims", "tools/check_claims.py", *runs, "--out", out, capture=True)
    print("\ndemo finished in %.1f min; everything is under %s\n" % ((time.time() - started) / 60, out))
    print(tables, end="")
    print("\n" + claims, end="")
    return 0


if __name__ == "__main__":
    run_cli(main)
