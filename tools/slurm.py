#!/usr/bin/env python3
"""Run the folds of a protocol on a SLURM cluster: one array task per fold (and seed), a dependent evaluation.

    python tools/slurm.py submit --model M --protocol cde|hde --lmdb DIR --out RUN_DIR [--iters N]
        [--folds ...] [--seeds 0,1,2] [--weights FILE] [--config FILE] [--set KEY=VALUE ...]
        [--partition P] [--account A] [--time T] [--mem M] [--cpus N] [--gres SPEC] [--max-parallel K]
        [--sbatch-line LINE ...] [--setup-line LINE] [--requeue] [--evaluate] [--compare]
        [--dry-run] [--wait]
    python tools/slurm.py baselines (--prepared DIR | --features DIR --labels FILE) --out DIR [...] [-- OPTIONS]
    python tools/slurm.py pretrain --prepared DIR --out RUN_DIR [...] [-- OPTIONS of tools/pretrain.py]
    python tools/slurm.py status RUN_DIR [--timing] [--json]
    python tools/slurm.py resubmit RUN_DIR [resource options] [--dry-run] [--wait]

Each task runs this repository's own tool (tools/train.py --folds FOLD, tools/baselines.py,
tools/pretrain.py) into the usual run folder; RUN_DIR/slurm/ keeps the scripts, the plan, the
submissions and each task's output. The scheduler is reached through sbatch, squeue, sacct and
scancel on PATH (and SLURM_CONF). --wait blocks until the jobs have ended and exits 1 when any
failed. See docs/cluster.md and atnet/slurm.py.
"""
import argparse
import json
import sys

from atnet import config as configuration
from atnet import slurm, slurm_plans
from atnet.common import run_cli
from atnet.folds import PROTOCOLS
from atnet.slurm_scripts import Resources
from atnet.variants import VARIANTS

RESOURCE_KEYS = ("partition", "account", "time", "mem", "cpus", "gres", "max_parallel", "requeue", "sbatch_lines",
                 "setup_line")


def add_resources(parser, keep=False):
    """The scheduler options; with ``keep`` (resubmit) an option left out keeps the recorded value."""
    group = parser.add_argument_group("resources (SLURM)" + (": given ones replace the recorded" if keep else ""))
    group.add_argument("--partition", help="partition (queue) of every job")
    group.add_argument("--account", help="account to charge")
    group.add_argument("--time", help="time limit per task, e.g. 12:00:00 or 2-00:00:00")
    group.add_argument("--mem", help="memory per task, e.g. 16G")
    group.add_argument("--cpus", type=int, help="CPUs per task (also the BLAS threads of its fold)")
    group.add_argument("--gres", help="generic resources per task, e.g. gpu:1 (the task then trains on --gpu 0)")
    group.add_argument("--max-parallel", type=int, metavar="K", help="at most K tasks at once (--array=...%%K)")
    group.add_argument("--requeue", action="store_true", help="let SLURM requeue tasks that are pre-empted")
    group.add_argument("--sbatch-line", dest="sbatch_lines", action="append", default=[], metavar="LINE",
                       help="an extra #SBATCH line, e.g. --sbatch-line=--qos=long (repeatable)")
    group.add_argument("--setup-line", metavar="LINE",
                       help="shell line run first in every job, e.g. 'module load cuda; source venv/bin/activate'")


def add_gpu(parser):
    parser.add_argument("--gpu", type=int, help="the tool's --gpu device (default: 0 when --gres asks for a GPU, "
                                                "which SLURM makes the task's device 0; else the CPU)")


def gpu_of(args):
    return args.gpu if args.gpu is not None else (0 if args.gres and "gpu" in args.gres else None)


def add_submission(parser):
    parser.add_argument("--python", help="Python on the compute nodes (default: this one, %s)" % sys.executable)
    parser.add_argument("--dry-run", action="store_true", help="print the scripts; submit and write nothing")
    parser.add_argument("--wait", action="store_true", help="wait for the jobs; exit 1 when any failed")
    parser.add_argument("--poll", type=float, default=10.0, help="seconds between queue checks with --wait")
    add_resources(parser)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    formatter = argparse.ArgumentDefaultsHelpFormatter

    submit = commands.add_parser("submit", help="train a variant's folds as an array", formatter_class=formatter)
    submit.add_argument("--model", required=True, choices=sorted(VARIANTS), help="network variant")
    submit.add_argument("--protocol", required=True, choices=PROTOCOLS, help="the protocol of the LMDBs")
    submit.add_argument("--lmdb", required=True, metavar="DIR", help="output folder of tools/make_lmdb.py")
    submit.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (one sub-folder per fold)")
    submit.add_argument("--iters", type=int, metavar="N", help="cap every fold at N iterations")
    submit.add_argument("--folds", action="append", metavar="NAME[,NAME...]", help="only these folds")
    submit.add_argument("--seeds", help="run seeds, one run folder RUN_DIR/seed-N each; default: the config's seed")
    submit.add_argument("--weights", metavar="FILE", help="initial weights (.caffemodel)")
    add_gpu(submit)
    submit.add_argument("--after", metavar="JOB[,JOB]", help="start only after these jobs succeeded (e.g. "
                                                             "pre-training; --weights may not exist yet)")
    submit.add_argument("--evaluate", action="store_true", help="then evaluate (a job that depends on the array)")
    submit.add_argument("--compare", action="store_true", help="then evaluate and compare with the paper")
    configuration.add_arguments(submit)
    add_submission(submit)

    baselines = commands.add_parser("baselines", help="the eight LBP-TOP/HOOF configurations as an array",
                                    formatter_class=formatter, epilog="options after -- go to tools/baselines.py")
    baselines.add_argument("--prepared", metavar="DIR", help="prepared directory to extract features from")
    baselines.add_argument("--features", metavar="DIR", help="release-format features (holding LBPTOP_P4_TIM10, ...)")
    baselines.add_argument("--labels", metavar="FILE", help="with --features: Apex_Cropped_images.txt")
    baselines.add_argument("--protocol", action="append", choices=PROTOCOLS, help="default: both")
    baselines.add_argument("--out", required=True, metavar="DIR", help="parent of one run folder per configuration")
    baselines.add_argument("--compare", action="store_true", help="then compare all of them with the paper")
    add_submission(baselines)

    pretrain = commands.add_parser("pretrain", help="pre-training (tools/pretrain.py) as a job",
                                   formatter_class=formatter, epilog="options after -- go to tools/pretrain.py")
    pretrain.add_argument("--prepared", required=True, metavar="DIR", help="prepared macro-expression directory")
    pretrain.add_argument("--out", required=True, metavar="RUN_DIR", help="pre-training run folder")
    add_gpu(pretrain)
    add_submission(pretrain)

    status = commands.add_parser("status", help="done / running / pending / failed per task",
                                 formatter_class=formatter)
    status.add_argument("run_dir", metavar="RUN_DIR")
    status.add_argument("--timing", action="store_true", help="also submit -> start and start -> first iteration")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")

    resubmit = commands.add_parser("resubmit", help="submit the unfinished tasks again (they resume)",
                                   formatter_class=formatter)
    resubmit.add_argument("run_dir", metavar="RUN_DIR")
    resubmit.add_argument("--dry-run", action="store_true", help="print the scripts; submit nothing")
    resubmit.add_argument("--wait", action="store_true", help="wait for the jobs; exit 1 when any failed")
    resubmit.add_argument("--poll", type=float, default=10.0, help="seconds between queue checks with --wait")
    add_resources(resubmit, keep=True)

    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.extra = extra
    if extra and args.command not in ("baselines", "pretrain"):
        parser.error("options after -- are for the baselines and pretrain commands")
    if getattr(args, "iters", None) is not None and args.iters < 1:
        parser.error("--iters must be at least 1")
    return args


def resource_options(args):
    return {key: getattr(args, key) for key in RESOURCE_KEYS}


def plan_of(args):
    if args.command == "submit":
        return slurm_plans.train_plan(
            args.model, args.protocol, args.lmdb, args.out, args.iters, args.folds, args.weights, args.config,
            args.assignments, slurm_plans.parse_seeds(args.seeds) if args.seeds else None, gpu_of(args),
            args.evaluate, args.compare, args.python, weights_later=bool(args.after))
    if args.command == "baselines":
        return slurm_plans.baselines_plan(args.out, args.prepared, args.features, args.labels,
                                          args.protocol or PROTOCOLS, args.extra, args.compare, args.python)
    return slurm_plans.pretrain_plan(args.prepared, args.out, args.extra, gpu_of(args), args.python)


def main(argv=None):
    args = parse_args(argv)
    scheduler = slurm.Scheduler()
    if args.command == "status":
        plan = slurm.read_plan(args.run_dir)
        submissions = slurm.read_submissions(args.run_dir)
        states = slurm.task_states(plan, submissions, scheduler)
        final = slurm.final_state(plan, submissions, scheduler)
        timing = slurm.timings(plan, states) if args.timing else None
        if args.json:
            print(json.dumps(dict(run_dir=plan.run_dir, tasks=states, final=final, timing=timing), indent=1))
        else:
            print(slurm.status_text(plan, states, final, timing, scheduler.accounting_note))
        return 0
    if args.command == "resubmit":
        plan = slurm.read_plan(args.run_dir)
        record = slurm.resubmit(args.run_dir, scheduler, args.dry_run, **resource_options(args))
    else:
        plan = plan_of(args)
        resources = Resources(**dict(resource_options(args), sbatch_lines=tuple(args.sbatch_lines)))
        after = tuple(args.after.split(",")) if getattr(args, "after", None) else ()
        record = slurm.submit(plan, resources, scheduler, args.dry_run, after)
    if args.wait and record is not None:
        return 0 if slurm.wait(plan, record, scheduler, args.poll) else 1
    return 0


if __name__ == "__main__":
    run_cli(main)
