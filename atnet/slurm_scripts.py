"""What a SLURM submission of a run consists of: the tasks (a ``Plan``), the
resources asked for, and the two sbatch scripts written from them.

Pure text, no scheduler: atnet.slurm submits the scripts, atnet.slurm_plans
builds the plans of training, the baselines and pre-training. An array
script holds every task of its plan as one ``case`` branch keyed by the
array index, so the script a user reads is the mapping from index to fold;
the ``--array`` line selects which of them this submission runs.
"""
import dataclasses
import os
import re
import shlex

from atnet.common import InputError

RECORD_DIR = "slurm"
PLAN_FILE = "plan.json"
#: A command word that the script leaves to the shell: the task's CPU count.
CPUS_WORD = '"$ATNET_CPUS"'
_TIME = re.compile(r"^(INFINITE|UNLIMITED|\d+(:\d{1,2}){0,2}|\d+-\d{1,2}(:\d{1,2}){0,2})$")


@dataclasses.dataclass(frozen=True)
class Resources:
    """What a job asks the scheduler for; None leaves the cluster's default."""
    partition: str = None
    account: str = None
    time: str = None
    mem: str = None
    cpus: int = None
    gres: str = None
    max_parallel: int = None
    requeue: bool = False
    sbatch_lines: tuple = ()
    setup_line: str = None

    def __post_init__(self):
        checks = (("time", self.time, _TIME, "a SLURM time limit, e.g. 90, 12:00:00 or 2-00:00:00"),
                  ("mem", self.mem, re.compile(r"^\d+[KMGT]?$"), "a size such as 16G"),
                  ("gres", self.gres, re.compile(r"^[\w.:,=-]+$"), "e.g. gpu:1 or gpu:a100:2"))
        for name, value, pattern, wanted in checks:
            if value is not None and not pattern.match(value):
                raise InputError("--%s %r: expected %s" % (name, value, wanted))
        for name in ("cpus", "max_parallel"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InputError("--%s must be at least 1" % name.replace("_", "-"))
        for line in tuple(self.sbatch_lines) + ((self.setup_line,) if self.setup_line is not None else ()):
            if "\n" in line or not line.strip():
                raise InputError("%r: a script line must be one non-empty line" % line)
        for line in self.sbatch_lines:
            if not re.sub(r"^#SBATCH\s+", "", line.strip()).startswith("-"):
                raise InputError("--sbatch-line %r: expected an sbatch option such as --qos=long" % line)

    def directives(self, array):
        """``#SBATCH`` lines; the final job gets partition, account, time and extra lines only."""
        options = [("partition", self.partition), ("account", self.account), ("time", self.time)]
        if array:
            options += [("mem", self.mem), ("cpus-per-task", self.cpus), ("gres", self.gres)]
        lines = ["#SBATCH --%s=%s" % (name, value) for name, value in options if value is not None]
        if array and self.requeue:
            lines.append("#SBATCH --requeue")
        extra = [re.sub(r"^#SBATCH\s+", "", line.strip()) for line in self.sbatch_lines]
        return lines + ["#SBATCH " + line for line in extra]

    def merged(self, **overrides):
        """These resources with every override that is set (not None, not empty)."""
        given = {k: v for k, v in overrides.items() if v not in (None, (), [], False)}
        if "sbatch_lines" in given:
            given["sbatch_lines"] = tuple(given["sbatch_lines"])
        return dataclasses.replace(self, **given)


@dataclasses.dataclass(frozen=True)
class Task:
    """One array task: its commands, the files that mark it done, the logs that explain a failure."""
    index: int
    label: str
    commands: tuple
    done: tuple
    logs: tuple = ()
    progress_log: str = None  # a glog log whose first "Iteration" line marks the start of training


@dataclasses.dataclass(frozen=True)
class Plan:
    """Every task of a run and the job that follows them (``final``: evaluate/compare)."""
    kind: str
    name: str
    run_dir: str
    tasks: tuple
    final_commands: tuple = ()
    final_done: tuple = ()

    def __post_init__(self):
        if re.search(r"[\s%]", self.run_dir):
            raise InputError("%s: a run folder for SLURM must not contain blanks or '%%' (sbatch's "
                             "#SBATCH lines and file-name patterns cannot carry them)" % self.run_dir)

    @property
    def record_dir(self):
        return os.path.join(self.run_dir, RECORD_DIR)

    def as_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, doc):
        tasks = tuple(Task(**dict(t, commands=tuple(tuple(c) for c in t["commands"]), done=tuple(t["done"]),
                                  logs=tuple(t["logs"]))) for t in doc["tasks"])
        return cls(doc["kind"], doc["name"], doc["run_dir"], tasks,
                   tuple(tuple(c) for c in doc["final_commands"]), tuple(doc["final_done"]))

    def task(self, index):
        return next(t for t in self.tasks if t.index == index)


# ============================================================================
# Scripts
# ============================================================================

def array_spec(indices, max_parallel=None):
    """SLURM's ``--array`` value: sorted indices with runs joined (``0-9``, ``3,5-7``), ``%K`` caps
    how many run at once."""
    indices = sorted(set(indices))
    if not indices:
        raise ValueError("an array needs at least one index")
    runs_of = []
    for index in indices:
        if runs_of and index == runs_of[-1][1] + 1:
            runs_of[-1][1] = index
        else:
            runs_of.append([index, index])
    parts = [str(a) if a == b else "%d-%d" % (a, b) for a, b in runs_of]
    return ",".join(parts) + ("%%%d" % max_parallel if max_parallel else "")


def _words(command):
    return " ".join(word if word == CPUS_WORD else shlex.quote(word) for word in command)


def _common_prefix(commands):
    """The longest leading words shared by all commands, ending where an option starts."""
    prefix = list(commands[0])
    for command in commands[1:]:
        n = 0
        while n < min(len(prefix), len(command)) and prefix[n] == command[n]:
            n += 1
        prefix = prefix[:n]
    while prefix and any(len(c) > len(prefix) and not c[len(prefix)].startswith("-") for c in commands):
        prefix.pop()
    return prefix


def _preamble(resources):
    lines = ["set -e"]
    if resources.setup_line:
        lines.append(resources.setup_line)
    return lines + ["set -o pipefail", "export PYTHONUNBUFFERED=1",
                    "ATNET_CPUS=${SLURM_CPUS_PER_TASK:-1}  # BLAS threads follow the allocation",
                    "export OPENBLAS_NUM_THREADS=$ATNET_CPUS OMP_NUM_THREADS=$ATNET_CPUS"]


def array_script(plan, indices, resources, after=()):
    """The sbatch script of the tasks ``indices``: one ``case`` branch per task of the plan."""
    commands = [c for t in plan.tasks for c in t.commands]
    prefix = _common_prefix(commands)
    lines = ["#!/bin/bash",
             "# %s: one array task per %s; written by tools/slurm.py (atnet/slurm.py)."
             % (plan.name, "fold" if plan.kind == "train" else "task"),
             "# The array index selects the task (the case below); %s lists every task." % PLAN_FILE,
             "#SBATCH --job-name=%s" % plan.name,
             "#SBATCH --array=%s" % array_spec(indices, resources.max_parallel),
             "#SBATCH --output=%s" % os.path.join(plan.record_dir, "logs", plan.name + "-%A_%a.out"),
             "#SBATCH --open-mode=append",
             "#SBATCH --chdir=%s" % plan.run_dir]
    lines += resources.directives(array=True)
    if after:
        lines.append("#SBATCH --dependency=afterok:%s" % ":".join(after))
    lines += _preamble(resources)
    lines += ["COMMON=(%s)" % _words(prefix),
              'echo "atnet-slurm: task ${SLURM_ARRAY_TASK_ID:-?} of array job ${SLURM_ARRAY_JOB_ID:-?} '
              '(job ${SLURM_JOB_ID:-?}) on $(hostname) at $(date +%Y-%m-%dT%H:%M:%S)"',
              'case "${SLURM_ARRAY_TASK_ID:-}" in']
    for task in plan.tasks:
        lines.append("  %d)  # %s" % (task.index, task.label))
        lines += [('    "${COMMON[@]}" %s' % _words(c[len(prefix):])).rstrip() for c in task.commands]
        lines.append("    ;;")
    lines += ["  *)", '    echo "error: array index ${SLURM_ARRAY_TASK_ID:-(none)} is not a task of %s" >&2'
              % plan.name, "    exit 2", "    ;;", "esac", ""]
    return "\n".join(lines)


def final_script(plan, resources, dependencies):
    """The sbatch script of the job after the array: it starts only if every task succeeded."""
    lines = ["#!/bin/bash",
             "# %s: %s once every array task has succeeded; written by tools/slurm.py."
             % (plan.name, "evaluation" if plan.kind == "train" else "comparison"),
             "#SBATCH --job-name=%s-final" % plan.name]
    if dependencies:
        lines += ["#SBATCH --dependency=afterok:%s" % ":".join(dependencies), "#SBATCH --kill-on-invalid-dep=yes"]
    lines += ["#SBATCH --output=%s" % os.path.join(plan.record_dir, "logs", plan.name + "-final-%j.out"),
              "#SBATCH --open-mode=append", "#SBATCH --chdir=%s" % plan.run_dir]
    lines += resources.directives(array=False) + _preamble(resources)
    return "\n".join(lines + [_words(c) for c in plan.final_commands] + [""])
