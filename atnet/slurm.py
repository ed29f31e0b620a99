"""The folds of a run as a SLURM job array, a dependent evaluation, status and resubmission.

One fold (per seed) is one array task running the same command a user
would run by hand (``tools/train.py ... --folds FOLD``), so a task uses the
run folder exactly as local training does, and an interrupted task resumes
from its fold's newest snapshot when it runs again. The evaluation (and the
comparison with the paper) is one job that starts only when every task
succeeded (``afterok``). The baselines (one task per paper configuration) and
pre-training (one task) are submitted the same way. docs/cluster.md has the
user's side; the record a submission leaves::

    RUN_DIR/slurm/plan.json          the tasks: index, label, command lines, files that mark each done
    RUN_DIR/slurm/submissions.json   every submission: array job, indices, final job, resources
    RUN_DIR/slurm/array-N.sbatch, final-N.sbatch    the scripts of submission N, as submitted
    RUN_DIR/slurm/logs/NAME-JOB_INDEX.out           each task's own output (appended on requeue)

Only the submitting process (on the login node) writes these; an array task
writes only into its own fold folder (and tools/train.py's run.json, see
docs/cluster.md). A task's state comes from the run folder first (its done
files) and then from the scheduler: ``squeue`` while it is queued or running,
``sacct`` once it has ended.
"""
import dataclasses
import datetime
import os
import re
import shlex
import subprocess
import sys
import time

from atnet import runs
from atnet.common import InputError, read_json, write_json, write_text
from atnet.locks import folder_lock
from atnet.slurm_scripts import PLAN_FILE, RECORD_DIR, Plan, Resources, array_script, array_spec, final_script

SUBMISSIONS_FILE = "submissions.json"
#: squeue/sacct states, grouped by what they mean for a task that has not finished.
PENDING_STATES = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED", "STOPPED"}
RUNNING_STATES = {"RUNNING", "CONFIGURING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESV_DEL_HOLD"}
_CAUSES = (re.compile(r"\*\*\* .*(CANCELLED|TIME LIMIT|PREEMPT|NODE FAIL).*\*\*\*"),
           re.compile(r"^error: "), re.compile(r"^F\d{4} |Check failed"), re.compile(r"Error|error"))
_GLOG_ITERATION = re.compile(r"^I(\d\d)(\d\d) (\d\d:\d\d:\d\d\.\d+)\s+\d+ solver\.cpp:\d+\] Iteration \d+")


# ============================================================================
# The scheduler's commands
# ============================================================================

class Scheduler:
    """sbatch, squeue, sacct and scancel from PATH (they read SLURM_CONF themselves)."""

    def __init__(self):
        self.accounting_note = None

    def _run(self, args, check=True):
        try:
            result = subprocess.run(args, capture_output=True, text=True)
        except FileNotFoundError:
            raise InputError("%s not found: run this where SLURM's commands are (a login node), or put "
                             "them on PATH" % args[0]) from None
        if check and result.returncode != 0:
            raise InputError("%s failed (exit code %d): %s" % (shlex.join(args), result.returncode,
                                                              result.stderr.strip()[-1500:]))
        return result

    def submit(self, script_path):
        """Submit a script; its job id."""
        job = self._run(["sbatch", "--parsable", script_path]).stdout.strip().split(";")[0]
        if not job.isdigit():
            raise InputError("sbatch %s: unexpected reply %r (expected a job id)" % (script_path, job))
        return job

    def queue(self, jobs):
        """``{job id: (state, reason)}`` of whatever is queued or running of ``jobs`` (``123`` or array
        tasks ``123_4``; an array is asked for as a whole and listed per task)."""
        if not jobs:
            return {}
        result = self._run(["squeue", "-h", "-r", "-o", "%i|%T|%r", "-j", _whole_jobs(jobs)], check=False)
        if result.returncode != 0:
            if "Invalid job id" in result.stderr:
                return {}  # none of them is known any more
            raise InputError("squeue failed (exit code %d): %s" % (result.returncode, result.stderr.strip()))
        rows = (line.split("|") for line in result.stdout.splitlines() if line.count("|") == 2)
        return {job: (state, reason) for job, state, reason in rows}

    def accounting(self, jobs):
        """``{job id: {State, ExitCode, Reason, Submit, Start, End}}`` from sacct, or None without accounting."""
        if not jobs:
            return {}
        fields = ("JobID", "State", "ExitCode", "Reason", "Submit", "Start", "End")
        result = self._run(["sacct", "-n", "-P", "-X", "-j", _whole_jobs(jobs), "-o", ",".join(fields)], check=False)
        if result.returncode != 0:
            self.accounting_note = "sacct gave no accounting (%s)" % (result.stderr.strip().splitlines() or ["?"])[-1]
            return None
        rows = [dict(zip(fields, line.split("|"))) for line in result.stdout.splitlines()]
        return {row["JobID"]: row for row in rows if len(row) == len(fields) and "[" not in row["JobID"]}

    def cancel(self, jobs):
        """Cancel jobs; one that has ended meanwhile is no error."""
        result = self._run(["scancel"] + list(jobs), check=False)
        if result.returncode != 0 and "already completing or completed" not in result.stderr:
            raise InputError("scancel %s failed: %s" % (" ".join(jobs), result.stderr.strip()))


def _whole_jobs(jobs):
    """``123_4,123_5,124`` -> ``123,124``: one short -j list however many tasks an array has."""
    return ",".join(sorted({job.split("_")[0] for job in jobs}, key=int))


# ============================================================================
# The record in RUN_DIR/slurm
# ============================================================================

def read_plan(run_dir):
    """The plan of a run folder submitted with tools/slurm.py; InputError otherwise."""
    path = os.path.join(run_dir, RECORD_DIR, PLAN_FILE)
    if not os.path.isfile(path):
        raise InputError("%s not found: %s was not submitted with tools/slurm.py" % (path, run_dir))
    try:
        return Plan.from_dict(read_json(path))
    except (KeyError, TypeError) as err:
        raise InputError("%s: not a plan written by tools/slurm.py (%s)" % (path, err)) from None


def read_submissions(run_dir):
    path = os.path.join(run_dir, RECORD_DIR, SUBMISSIONS_FILE)
    return read_json(path) if os.path.isfile(path) else []


def check_same_plan(plan):
    """A run folder keeps one plan: submitting other commands into it would mix two runs."""
    path = os.path.join(plan.record_dir, PLAN_FILE)
    if not os.path.isfile(path):
        return
    recorded = read_plan(plan.run_dir).as_dict()
    runs.check_same_settings(path, recorded, plan.as_dict(), keys=("kind", "name", "tasks", "final_commands"),
                             what="this run folder was submitted with other commands",
                             advice="use another --out, or tools/slurm.py resubmit %s" % plan.run_dir)


# ============================================================================
# State of the tasks
# ============================================================================

def task_job(submission, index):
    return "%s_%d" % (submission["array_job"], index)


def task_log(plan, submission, index):
    return os.path.join(plan.record_dir, "logs", "%s-%s.out" % (plan.name, task_job(submission, index)))


def is_done(paths):
    return bool(paths) and all(os.path.isfile(p) for p in paths)


def tail_cause(paths):
    """The most telling line of the logs: SLURM's own verdict, an ``error:`` line, a Caffe check, the last line."""
    texts = []
    for path in paths:
        if os.path.isfile(path):
            with open(path, errors="replace") as handle:
                texts.append([line.strip() for line in handle.readlines()[-200:] if line.strip()])
    for pattern in _CAUSES:
        for lines in texts:
            found = [line for line in lines if pattern.search(line)]
            if found:
                return found[-1][:300]
    return next((lines[-1][:300] for lines in texts if lines), "no log")


def task_states(plan, submissions, scheduler):
    """Per task: state (done, running, pending, failed, not submitted), job, detail and times."""
    latest = {}
    for submission in submissions:
        for index in submission["indices"]:
            latest[index] = submission
    jobs = {index: task_job(submission, index) for index, submission in latest.items()}
    queue = scheduler.queue([job for index, job in jobs.items() if not is_done(plan.task(index).done)])
    ended = [job for job in jobs.values() if job not in queue]
    accounting = scheduler.accounting(ended) if ended else {}
    states = []
    for task in plan.tasks:
        submission = latest.get(task.index)
        job = task_job(submission, task.index) if submission else None
        row = dict(index=task.index, label=task.label, job=job, detail="")
        record = (accounting or {}).get(job, {})
        row.update(submitted=record.get("Submit"), started=record.get("Start"), ended=record.get("End"))
        if is_done(task.done):
            row["state"] = "done"
        elif job in queue:
            state, reason = queue[job]
            row["state"] = "running" if state in RUNNING_STATES else "pending"
            row["detail"] = state if state in RUNNING_STATES else "%s (%s)" % (state, reason)
        elif submission is None:
            row["state"] = "not submitted"
        elif record and (record["State"] in PENDING_STATES or record["State"] in RUNNING_STATES):
            row["state"] = "running" if record["State"] in RUNNING_STATES else "pending"
            row["detail"] = record["State"]
        else:
            row["state"] = "failed"
            verdict = "%s, exit %s" % (record["State"], record["ExitCode"]) if record else \
                "not in the queue, no DONE"
            row["detail"] = "%s: %s" % (verdict, tail_cause([task_log(plan, submission, task.index)] + list(task.logs)))
        states.append(row)
    return states


def final_state(plan, submissions, scheduler):
    """State of the newest final job: done, pending, running, failed, or None when there is none."""
    if not plan.final_commands or not submissions or not submissions[-1].get("final_job"):
        return None
    job = submissions[-1]["final_job"]
    queued = scheduler.queue([job]).get(job)
    if queued:
        return dict(job=job, state="running" if queued[0] in RUNNING_STATES else "pending",
                    detail="%s (%s)" % queued)
    record = (scheduler.accounting([job]) or {}).get(job)
    if record and (record["State"] in RUNNING_STATES or record["State"] in PENDING_STATES):
        return dict(job=job, state="running" if record["State"] in RUNNING_STATES else "pending",
                    detail=record["State"])
    log = os.path.join(plan.record_dir, "logs", "%s-final-%s.out" % (plan.name, job))
    fresh = is_done(plan.final_done) and all(os.path.getmtime(p) >= submissions[-1]["submitted_epoch"]
                                             for p in plan.final_done)
    if (record and record["State"] == "COMPLETED") or (record is None and fresh):
        return dict(job=job, state="done", detail="")
    verdict = "%s, exit %s" % (record["State"], record["ExitCode"]) if record else "not in the queue"
    return dict(job=job, state="failed", detail="%s: %s" % (verdict, tail_cause([log])))


def first_iteration_seconds(log_path, start):
    """Seconds from ``start`` (a datetime) to the first glog "Iteration" line at or after it, or None."""
    if not log_path or not os.path.isfile(log_path):
        return None
    with open(log_path, errors="replace") as handle:
        for line in handle:
            match = _GLOG_ITERATION.match(line)
            if match:
                stamp = datetime.datetime.strptime("%d%s%s %s" % (start.year, match.group(1), match.group(2),
                                                                  match.group(3)), "%Y%m%d %H:%M:%S.%f")
                if stamp >= start.replace(microsecond=0):
                    return round((stamp - start).total_seconds(), 2)
    return None


def timings(plan, states):
    """Per task with accounting times: seconds queued (submit -> start) and start -> first iteration."""
    rows = []
    for row in states:
        try:
            submitted, started = (datetime.datetime.fromisoformat(row[k]) for k in ("submitted", "started"))
        except (TypeError, ValueError):
            continue
        rows.append(dict(index=row["index"], label=row["label"], queued_s=(started - submitted).total_seconds(),
                         to_first_iteration_s=first_iteration_seconds(plan.task(row["index"]).progress_log,
                                                                      started)))
    return rows


def status_text(plan, states, final, timing=None, note=None):
    """The table of ``tools/slurm.py status``: one line per task, then the final job."""
    counts = {}
    for row in states:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    lines = ["%s (%s): %d task(s): %s" % (plan.run_dir, plan.name, len(states),
                                         ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items())))]
    times = {row["index"]: row for row in timing or ()}
    width = max(len(row["label"]) for row in states)
    for row in states:
        extra = ""
        if row["index"] in times:
            first = times[row["index"]]["to_first_iteration_s"]
            extra = "  queued %.0f s, first iteration after %s" % (
                times[row["index"]]["queued_s"], "-" if first is None else "%.1f s" % first)
        lines.append("  %4d  %-*s  %-13s %-10s %s%s" % (row["index"], width, row["label"], row["state"],
                                                       row["job"] or "-", row["detail"], extra))
    if final:
        lines.append("final job %s: %s %s" % (final["job"], final["state"], final["detail"]))
    if note:
        lines.append("note: %s; finished tasks are judged by their run folder" % note)
    return "\n".join(lines)


# ============================================================================
# Submitting, waiting
# ============================================================================

def submit(plan, resources, scheduler, dry_run=False, after=(), out=print):
    """Submit the plan's unfinished tasks (all of them the first time) and its final job.

    Tasks that are done, queued or running are left alone; the final job
    waits for the new array and for the still active tasks of earlier
    submissions. Returns the submission record (None for a dry run or when
    nothing was left to do).
    """
    check_same_plan(plan)
    submissions = read_submissions(plan.run_dir)
    states = task_states(plan, submissions, scheduler) if submissions else \
        [dict(index=t.index, state="done" if is_done(t.done) else "not submitted") for t in plan.tasks]
    todo = [s["index"] for s in states if s["state"] in ("failed", "not submitted")]
    active = [s["job"] for s in states if s["state"] in ("pending", "running")]
    final = final_state(plan, submissions, scheduler) if submissions else None
    if not todo and not plan.final_commands:
        out("%s: nothing to submit (%d task(s) done, %d active)" % (plan.run_dir, len(states) - len(active),
                                                                    len(active)))
        return None
    if not todo and (final or {}).get("state") in ("done", "pending", "running"):
        out("%s: nothing to submit (every task done or active; final job %s %s)"
            % (plan.run_dir, final["job"], final["state"]))
        return None
    number = len(submissions) + 1
    array_path = os.path.join(plan.record_dir, "array-%d.sbatch" % number)
    final_path = os.path.join(plan.record_dir, "final-%d.sbatch" % number)
    array_text = array_script(plan, todo, resources, after) if todo else None
    if dry_run:
        if array_text:
            out("# ---- %s (not submitted)\n%s" % (array_path, array_text))
        if plan.final_commands:
            placeholder = ["<array job id>"] * bool(todo) + active
            out("# ---- %s (not submitted)\n%s" % (final_path, final_script(plan, resources, placeholder)))
        return None
    with folder_lock(plan.record_dir, "SLURM record folder"):
        os.makedirs(os.path.join(plan.record_dir, "logs"), exist_ok=True)
        write_json(os.path.join(plan.record_dir, PLAN_FILE), plan.as_dict())
        record = dict(number=number, indices=todo, array_job=None, final_job=None, submitted_epoch=time.time(),
                      submitted=time.strftime("%Y-%m-%dT%H:%M:%S"), resources=dataclasses.asdict(resources),
                      command=shlex.join(sys.argv))
        if todo:
            write_text(array_path, array_text)
            record["array_job"] = scheduler.submit(array_path)
            _save_submission(plan, submissions, record)
        if plan.final_commands:
            if final and final["state"] == "pending":
                scheduler.cancel([final["job"]])  # waits on tasks that failed: superseded by this one
            dependencies = [record["array_job"]] * bool(todo) + active
            write_text(final_path, final_script(plan, resources, dependencies))
            record["final_job"] = scheduler.submit(final_path)
            _save_submission(plan, submissions, record)
    out("%s: submitted %s%s; see tools/slurm.py status %s" % (
        plan.run_dir, "array job %s (tasks %s)" % (record["array_job"], array_spec(todo)) if todo else "no tasks",
        ", final job %s" % record["final_job"] if record["final_job"] else "", plan.run_dir))
    return record


def _save_submission(plan, submissions, record):
    previous = [s for s in submissions if s["number"] != record["number"]]
    write_json(os.path.join(plan.record_dir, SUBMISSIONS_FILE), previous + [dict(record)])


def wait(plan, record, scheduler, poll=10.0, out=print):
    """Block until the submission's tasks and final job have left the queue; True when all succeeded."""
    jobs = [task_job(record, i) for i in record["indices"] if record["array_job"]]
    jobs += [record["final_job"]] if record.get("final_job") else []
    last = None
    while True:
        queue = scheduler.queue(jobs)
        tasks_left = [j for j in queue if j != record.get("final_job")]
        if not tasks_left and record.get("final_job") in queue and \
                queue[record["final_job"]][1] == "DependencyNeverSatisfied":
            scheduler.cancel([record["final_job"]])  # a task failed: the final job can never start
            continue
        if not queue:
            break
        summary = "%d task(s) queued or running%s" % (len(tasks_left), ", final job waiting" if
                                                      record.get("final_job") in queue else "")
        if summary != last:
            out("%s: %s" % (plan.name, summary))
            last = summary
        time.sleep(poll)
    deadline = time.time() + 30  # sacct hears of a job's end from the controller a moment later
    while True:
        states = [s for s in task_states(plan, [record], scheduler) if s["index"] in record["indices"]]
        final = final_state(plan, [record], scheduler)
        ended = [s["state"] for s in states] + ([final["state"]] if final else [])
        if all(state in ("done", "failed") for state in ended) or time.time() > deadline:
            break
        time.sleep(1)
    failed = [s for s in states if s["state"] != "done"] + ([final] if final and final["state"] != "done" else [])
    for row in failed:
        out("failed: %s %s: %s" % (row.get("label", "final job"), row["job"], row["detail"]))
    return not failed


def resubmit(run_dir, scheduler, dry_run=False, out=print, **overrides):
    """Submit again what has not finished, with the last submission's resources and ``overrides``."""
    plan = read_plan(run_dir)
    submissions = read_submissions(run_dir)
    recorded = dict(submissions[-1]["resources"]) if submissions else {}
    recorded["sbatch_lines"] = tuple(recorded.get("sbatch_lines", ()))
    return submit(plan, Resources(**recorded).merged(**overrides), scheduler, dry_run, out=out)
