#!/usr/bin/env python3
"""Does macro pre-training help the spatial stream? The same fine-tuning from several starts, over seeds.

    python tools/pretrain_comparison.py --out runs/pretrain-comparison [--seeds 0,1,2]
        [--macro-preset pretrain] [--pretrain-iters 400] [--pretrain-set KEY=VALUE ...]
        [--imagenet FILE] [--micro-preset tiny] [--protocol hde] [--epochs 20] [--batch 8] [--jobs auto]

On synthetic data, end to end with the repository's own tools:
1. data_prep/synth_macro.py + data_prep/prepare_macro.py: the macro stand-ins;
2. tools/pretrain.py: pre-training the spatial stream on them (from the fillers);
3. data_prep/synth.py (--micro-preset) + data_prep/prepare.py + tools/make_lmdb.py:
   the micro stand-ins and their folds (LMDBs per seed);
4. tools/train.py --model spatial with the SAME schedule from each start --
   'macro' (--weights the pre-trained model), 'random' (the fillers) and,
   with --imagenet, 'imagenet' (a converted ImageNet model, tools/convert_weights.py)
   -- for every seed; tools/evaluate.py on each run;
5. prints Acc, UF1 and UAR (Full column) per start and seed, their means and
   standard deviations, and writes OUT/comparison.json.
Every stage skips what an earlier run finished.
"""
import argparse
import os
import shlex
import statistics
import subprocess
import sys

from atnet.common import InputError, read_json, run_cli, write_json, write_text

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRICS = ("acc", "uf1", "uar")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for everything the comparison writes")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated fine-tuning seeds (micro LMDBs and training)")
    parser.add_argument("--macro-preset", default="pretrain", help="data_prep/synth_macro.py preset")
    parser.add_argument("--pretrain-iters", type=int, default=400, help="pre-training iterations")
    parser.add_argument("--pretrain-set", action="append", metavar="KEY=VALUE",
                        default=["batch_size=16", "augment_copies=2", "head=plain", "bn_recompute_batches=100"],
                        help="pre-training settings (tools/pretrain.py --set; given ones are applied after these)")
    parser.add_argument("--imagenet", metavar="FILE", help="a converted 1-channel ImageNet model: adds that start")
    parser.add_argument("--micro-preset", choices=("tiny", "composite"), default="tiny",
                        help="data_prep/synth.py preset of the micro stand-ins (tiny: 39 HDE test samples; "
                             "composite: the MEGC2019 composite's 442)")
    parser.add_argument("--protocol", choices=("cde", "hde"), default="hde", help="micro protocol")
    parser.add_argument("--epochs", type=int, default=20, help="fine-tuning epochs (lr /10 after 2/3 of them)")
    parser.add_argument("--batch", type=int, default=8, help="fine-tuning batch size")
    parser.add_argument("--jobs", default="auto", help="tools/train.py --jobs: folds trained at the same time")
    args = parser.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    return args


def run(script, *args, capture=False):
    """Run one of the repository's tools with this Python, echoing it; stop if it fails."""
    command = [sys.executable, os.path.join(REPO, script)] + [str(a) for a in args]
    print("\n==> %s" % shlex.join([script] + command[2:]), flush=True)
    result = subprocess.run(command, stdout=subprocess.PIPE if capture else None, text=True)
    if result.returncode != 0:
        raise InputError("stage failed (exit code %d): %s" % (result.returncode, shlex.join(command)))
    return result.stdout


def pretrain(args, out):
    """The macro stand-ins, prepared, and the pre-trained model (stages 1-2)."""
    raw, prepared, run_dir = (os.path.join(out, "macro", name) for name in ("raw", "prepared", "pretrain"))
    if not os.path.isfile(os.path.join(raw, "synth_macro.json")):
        run("data_prep/synth_macro.py", "--preset", args.macro_preset, "--out", raw, "--seed", 0, "--overwrite")
    run("data_prep/prepare_macro.py", *sum((["--" + d, os.path.join(raw, name)] for d, name in
                                            (("ckplus", "CK+"), ("oulu", "Oulu-CASIA"), ("jaffe", "JAFFE"),
                                             ("mug", "MUG"))), []), "--out", prepared)
    settings = sum((["--set", item] for item in args.pretrain_set), [])
    run("tools/pretrain.py", "--prepared", prepared, "--out", run_dir, "--set", "max_iter=%d" % args.pretrain_iters,
        "--set", "stepsize=%d" % max(1, args.pretrain_iters * 2 // 3), *settings, "--no-progress")
    return os.path.join(run_dir, "pretrained.caffemodel"), read_json(os.path.join(run_dir, "report.json"))


def micro_lmdbs(args, out, seed):
    """The micro stand-ins (one release set), prepared, and this seed's LMDBs (stage 3)."""
    micro = os.path.join(out, "micro-" + args.micro_preset)
    raw, prepared = os.path.join(micro, "raw"), os.path.join(micro, "prepared")
    if not os.path.isfile(os.path.join(raw, "combined_3class_gt.csv")):
        run("data_prep/synth.py", "--preset", args.micro_preset, "--out", raw, "--seed", 0, "--overwrite")
    if not os.path.isfile(os.path.join(prepared, "manifest.json")):
        run("data_prep/prepare.py", "--casme2", os.path.join(raw, "CASME2"), "--samm", os.path.join(raw, "SAMM"),
            "--smic", os.path.join(raw, "SMIC"), "--out", prepared)
    lmdb = os.path.join(micro, "lmdb-%s-seed%d" % (args.protocol, seed))
    run("tools/make_lmdb.py", "--prepared", prepared, "--protocol", args.protocol, "--out", lmdb, "--seed", seed)
    return lmdb


def finetune(args, out, lmdb, seed, start, weights):
    """One spatial run with the comparison's schedule; returns its Full-column metrics."""
    run_dir = os.path.join(out, "micro-" + args.micro_preset, "runs", "%s-seed%d" % (start, seed))
    config = os.path.join(out, "finetune.yaml")
    write_text(config, "# tools/pretrain_comparison.py: the one fine-tuning schedule of every start\n"
               "epochs: %d\nstep_epochs: %d\nbatch_size: %d\n" % (args.epochs, max(1, args.epochs * 2 // 3), args.batch))
    run("tools/train.py", "--model", "spatial", "--protocol", args.protocol, "--lmdb", lmdb, "--out", run_dir,
        "--config", config, "--set", "seed=%d" % seed, "--jobs", args.jobs, "--no-progress",
        *(["--weights", weights] if weights else []))
    run("tools/evaluate.py", run_dir, capture=True)
    metrics = read_json(os.path.join(run_dir, "metrics.json"))
    return {m: metrics["Full"][m] for m in METRICS}


def summary_lines(results):
    lines = ["%-9s %s   %s" % ("start", "  ".join("seed %-5d" % s for s in sorted(next(iter(results.values())))),
                                "mean +- sd (Acc / UF1 / UAR)")]
    for start, per_seed in results.items():
        cells = ["%.2f/%.2f" % (v["acc"], v["uf1"]) for _, v in sorted(per_seed.items())]
        stats = []
        for metric in METRICS:
            values = [v[metric] for v in per_seed.values()]
            stats.append("%.3f +- %.3f" % (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0))
        lines.append("%-9s %s   %s" % (start, "  ".join("%-10s" % c for c in cells), " / ".join(stats)))
    return lines


def main(argv=None):
    args = parse_args(argv)
    out = os.path.abspath(args.out)
    model, report = pretrain(args, out)
    starts = {"macro": model, "random": None}
    if args.imagenet:
        starts["imagenet"] = os.path.abspath(args.imagenet)
    results = {start: {} for start in starts}
    for seed in args.seeds:
        lmdb = micro_lmdbs(args, out, seed)
        for start, weights in starts.items():
            results[start][seed] = finetune(args, out, lmdb, seed, start, weights)
    lines = summary_lines(results)
    document = {"results": {s: {str(k): v for k, v in r.items()} for s, r in results.items()},
                "pretraining_validation_accuracy": report["datasets"].get("all", {}).get("accuracy"),
                "settings": {k: v for k, v in vars(args).items() if k != "out"}, "table": lines}
    write_json(os.path.join(out, "comparison.json"), document)
    print("\nspatial stream on the synthetic micro folds (%s), Full column; pre-training validation accuracy %s"
          % (args.protocol, document["pretraining_validation_accuracy"]))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    run_cli(main)
