#!/usr/bin/env python3
"""The Docker route for real: build the images and run docker-compose.yml's services.

    make test-docker        # python tests/docker/run.py
    make test-docker-gpu    # python tests/docker/run.py --gpu-image

Written for a Debian machine with no Docker engine, as root: it installs
podman, runc, debootstrap and docker-compose with apt when they are missing,
runs podman with docker/podman-containers.conf (runc, no default ulimits),
and makes the debian:bookworm base image with debootstrap from the machine's
own Debian archive when no registry serves it. docker-compose (Docker's own
compose, version 1) talks to podman's Docker-compatible API, served on a
socket in the scratch folder for the length of the check (`podman system
service`). Image layers stay in podman's storage, so a second run rebuilds
only what changed.

The pipeline check (default):
1. builds atnet:cpu from docker/Dockerfile (the host's CA bundle passed in
   for pip when the host has one);
2. in a scratch project folder (a copy of docker-compose.yml, ./data, ./runs)
   writes the `tiny` synthetic releases into ./data, then runs the services
   in the order of the compose file's header: prepare, make-lmdb (CDE, HDE),
   train-cde, train-hde (a short schedule through the compose variables
   ITERS and CONFIG), evaluate and compare (both runs), with UID/GID of the
   invoking user; each must exit 0 and leave its outputs;
3. runs the same commands (read from the compose file, same variables)
   natively with this Python in a second folder, and requires the same
   prepared data (LMDB input digests), the same folds, the same predictions
   and the same metrics.json;
4. requires every file and folder under ./data and ./runs to belong to the
   invoking user, and a failing service to fail compose's exit status;
5. runs the `test` service: the suite inside the image, without the slow
   tests by default (SUITE=test-quick; --suite full for all of them).

--gpu-image builds atnet:gpu from docker/Dockerfile.gpu (CUDA from NVIDIA's
wheels on the same Debian base) and runs `caffe --version` and the
foundation tests inside it in CPU mode (no GPU needed); it prints the build
time and the image's size.
"""
import argparse
import collections
import contextlib
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

from atnet.common import InputError, read_json, run_cli, sha256_file
from atnet.folds import PROTOCOLS
from atnet.lmdb_folds import FOLDS_FILE
from atnet.predictions import read_predictions
from atnet.runs import DONE_FILE, FOLD_PREDICTIONS, METRICS_FILE, read_run_info

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPOSE_FILE = os.path.join(REPO, "docker-compose.yml")
PODMAN_CONF = os.path.join(REPO, "docker", "podman-containers.conf")
BASE_IMAGE = "docker.io/library/debian:bookworm"
BASE_SUITE = "bookworm"
#: Commands the check needs, and the Debian packages that provide them.
HOST_TOOLS = {"podman": "podman", "runc": "runc", "debootstrap": "debootstrap", "docker-compose": "docker-compose"}
PROJECT = "atnet-docker-test"
#: The short schedule's configuration file (CONFIG), besides ITERS.
SHORT_CONFIG = {"batch_size": 4}
#: Largest difference allowed between a container's and the native run's class scores.
SCORE_TOLERANCE = 1e-6


class CheckFailed(Exception):
    """A step of the check failed; the message says which and why."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--gpu-image", action="store_true",
                        help="build atnet:gpu and run caffe --version and the foundation tests inside it, "
                             "instead of the pipeline check")
    parser.add_argument("--scratch", help="folder for the compose project and the native run (kept); "
                                          "default: a temporary folder, removed when the check passes")
    parser.add_argument("--iters", type=int, default=5, help="ITERS: iterations per fold of the short schedule")
    parser.add_argument("--seed", type=int, default=0, help="SEED: seed of the synthetic data, LMDBs and training")
    parser.add_argument("--train-jobs", type=int, default=2,
                        help="JOBS: folds trained at the same time (the short schedule is mostly start-up)")
    parser.add_argument("--compose", default="docker-compose",
                        help="the compose command (split like a shell); anything but podman-compose is pointed "
                             "at podman's Docker API (DOCKER_HOST)")
    parser.add_argument("--host-ca", default="/etc/ssl/certs/ca-certificates.crt",
                        help="CA bundle handed to pip inside the build when it exists ('' for none)")
    parser.add_argument("--suite", choices=("quick", "full", "none"), default="quick",
                        help="the `test` service: SUITE=test-quick (the suite without the slow tests, which "
                             "make test ran natively), SUITE=test (the whole suite), or not run")
    parser.add_argument("--no-suite", dest="suite", action="store_const", const="none",
                        help="the same as --suite none")
    parser.add_argument("--jobs", type=int, help="JOBS build argument: Caffe compile jobs (default: all CPUs)")
    args = parser.parse_args(argv)
    if args.iters < 1:
        parser.error("--iters must be at least 1")
    return args


# --- running commands ---------------------------------------------------------------

def run(command, what, cwd=None, env=None, capture=False, check=True):
    """Run ``command`` echoed; raise CheckFailed naming ``what`` unless ``check`` is False."""
    print("\n==> [%s] %s" % (what, shlex.join(command)), flush=True)
    result = subprocess.run(command, cwd=cwd, env=env, text=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.STDOUT if capture else None)
    if check and result.returncode != 0:
        tail = "\n" + "\n".join(result.stdout.splitlines()[-40:]) if capture else ""
        raise CheckFailed("%s: exit status %d: %s%s" % (what, result.returncode, shlex.join(command), tail))
    return result


class Timer:
    """Wall time of each named step, printed as a table at the end."""

    def __init__(self):
        self.rows = []

    def step(self, name, function, *args, **kwargs):
        start = time.time()
        try:
            return function(*args, **kwargs)
        finally:
            self.rows.append((name, time.time() - start))

    def report(self):
        print("\nstep                              seconds")
        for name, seconds in self.rows:
            print("%-32s %8.1f" % (name, seconds))
        print("%-32s %8.1f" % ("total", sum(s for _, s in self.rows)))


# --- the host: tools, podman settings, base image -------------------------------------------

def ensure_host_tools(compose):
    """apt-install podman, runc, debootstrap and docker-compose where they are missing."""
    wanted = dict(HOST_TOOLS)
    if shlex.split(compose)[0] != "docker-compose":
        wanted.pop("docker-compose")
    missing = sorted({package for tool, package in wanted.items() if shutil.which(tool) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise CheckFailed("missing tools; install them as root: apt-get install %s" % " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-q"], "apt-get update", env=env, capture=True)
    run(["apt-get", "install", "-y", "-q", "--no-install-recommends"] + missing, "install host tools", env=env,
        capture=True)


def podman_environment():
    """The environment for podman and compose: docker/podman-containers.conf unless CONTAINERS_CONF is set."""
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", PODMAN_CONF)
    return env


def image_exists(env, image):
    return subprocess.run(["podman", "image", "exists", image], env=env).returncode == 0


def debian_archive_uri():
    """The Debian archive of the machine's apt sources, read by setup.sh's own function."""
    script = 'source "%s"; debian_archive_uri' % os.path.join(REPO, "setup", "setup.sh")
    uri = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    if not uri:
        raise CheckFailed("no Debian archive in this machine's apt sources: cannot make the %s base image"
                          % BASE_IMAGE)
    return uri


def ensure_base_image(env):
    """debian:bookworm: already in podman's storage, else pulled, else made with debootstrap."""
    if image_exists(env, BASE_IMAGE):
        return "present"
    if run(["podman", "pull", BASE_IMAGE], "pull the base image", env=env, check=False).returncode == 0:
        return "pulled"
    uri = debian_archive_uri()
    with tempfile.TemporaryDirectory(prefix="atnet-rootfs-") as work:
        rootfs = os.path.join(work, "rootfs")
        run(["debootstrap", "--variant=minbase", BASE_SUITE, rootfs, uri], "debootstrap the base image",
            capture=True)
        with open(os.path.join(rootfs, "etc", "apt", "sources.list"), "a") as sources:
            sources.write("deb %s %s-updates main\n" % (uri, BASE_SUITE))
        for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*"):
            for path in glob.glob(os.path.join(rootfs, pattern)):
                if os.path.isfile(path):
                    os.unlink(path)
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["podman", "import", "-", BASE_IMAGE], stdin=tar.stdout, env=env,
                                  capture_output=True, text=True)
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise CheckFailed("podman import of the debootstrap tree failed: %s" % imported.stderr.strip())
    return "made with debootstrap from the host's Debian archive"


def build_image(env, dockerfile, tag, host_ca, jobs):
    """podman build of ``dockerfile``, reusing cached layers; returns (seconds, size in bytes)."""
    command = ["podman", "build", "--pull=never", "--network", "host", "-f", os.path.join(REPO, dockerfile),
               "-t", tag]
    if host_ca and os.path.isfile(host_ca):
        command += ["-v", "%s:/tmp/host-ca.pem:ro" % host_ca, "--build-arg", "PIP_CERT=/tmp/host-ca.pem"]
    if jobs:
        command += ["--build-arg", "JOBS=%d" % jobs]
    start = time.time()
    run(command + [REPO], "build %s" % tag, env=env)
    seconds = time.time() - start
    size = run(["podman", "image", "inspect", tag, "--format", "{{.Size}}"], "image size", env=env,
               capture=True).stdout.strip()
    return seconds, int(size)


# --- compose --------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?::-([^}]*))?\}")


def interpolate(text, variables):
    """Compose's ``${VAR:-default}``, ``${VAR}`` and ``$$`` with ``variables``."""
    def substitute(match):
        if match.group(0) == "$$":
            return "$"
        return variables.get(match.group(1)) or (match.group(2) or "")
    return _VARIABLE.sub(substitute, str(text))


def service_command(compose_doc, service, variables):
    """A service's command as compose runs it, with ``variables``."""
    return [interpolate(part, variables) for part in compose_doc["services"][service]["command"]]


Step = collections.namedtuple("Step", "label service variables override outputs")


def train_outputs(run_name):
    """DONE and predictions.csv of every fold that run.json lists."""
    def outputs(folder):
        run_dir = os.path.join(folder, run_name)
        return [os.path.join(run_name, fold, name) for fold in read_run_info(run_dir).folds
                for name in (DONE_FILE, FOLD_PREDICTIONS)]
    return outputs


def pipeline_steps(args):
    """The Steps in the order of the compose file's header; outputs are relative to the project folder
    (a list, or a function of the folder)."""
    synth = ["python", "data_prep/synth.py", "--preset", "tiny", "--out", "data", "--seed", str(args.seed)]
    steps = [Step("synthetic releases", "prepare", {}, synth,
                  ["data/CASME2", "data/SAMM", "data/SMIC", "data/combined_3class_gt.csv"]),
             Step("prepare", "prepare", {}, None, ["data/prepared/index.csv"])]
    for protocol in PROTOCOLS:
        steps.append(Step("make-lmdb " + protocol, "make-lmdb", {"PROTOCOL": protocol}, None,
                          ["data/lmdb/%s/%s" % (protocol, FOLDS_FILE)]))
    for protocol in PROTOCOLS:
        steps.append(Step("train-" + protocol, "train-" + protocol, {}, None, train_outputs("runs/fusion-" + protocol)))
    for service, output in (("evaluate", METRICS_FILE), ("compare", "comparison.md")):
        for protocol in PROTOCOLS:
            steps.append(Step("%s %s" % (service, protocol), service, {"RUN": "fusion-" + protocol}, None,
                              ["runs/fusion-%s/%s" % (protocol, output)]))
    return steps


def schedule_variables(args):
    """The variables every step gets: the short schedule, the seed, folds in parallel, the invoking user."""
    return {"ITERS": str(args.iters), "CONFIG": "data/short.yaml", "SEED": str(args.seed),
            "JOBS": str(args.train_jobs), "UID": str(os.getuid()), "GID": str(os.getgid())}


def make_project(folder):
    """A compose project: a copy of docker-compose.yml, ./data holding the short schedule, ./runs."""
    os.makedirs(os.path.join(folder, "data"))
    os.makedirs(os.path.join(folder, "runs"))
    shutil.copy(COMPOSE_FILE, os.path.join(folder, "docker-compose.yml"))
    with open(os.path.join(folder, "data", "short.yaml"), "w") as handle:
        handle.write("# tests/docker/run.py's short schedule (see atnet/config.py)\n")
        yaml.safe_dump(SHORT_CONFIG, handle)


@contextlib.contextmanager
def docker_api(compose, env, folder):
    """podman's Docker-compatible API on a socket in ``folder`` while the block runs, for a
    compose that speaks Docker's API; yields the environment for the compose commands."""
    if shlex.split(compose)[0] == "podman-compose":
        yield env
        return
    socket = os.path.join(folder, "podman.sock")
    service = subprocess.Popen(["podman", "system", "service", "--time=0", "unix://" + socket], env=env,
                               stdin=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while not os.path.exists(socket):
            if service.poll() is not None or time.time() > deadline:
                raise CheckFailed("podman system service did not open %s" % socket)
            time.sleep(0.2)
        yield dict(env, DOCKER_HOST="unix://" + socket)
    finally:
        service.terminate()
        service.wait()


def compose_run(compose, project_dir, env, label, service, variables, override=None, check=True):
    command = shlex.split(compose) + ["-p", PROJECT, "-f", os.path.join(project_dir, "docker-compose.yml"),
                                      "run", "--rm", "-T", service] + (override or [])
    return run(command, "compose: %s" % label, cwd=project_dir, env=dict(env, **variables), check=check)


def native_run(project_dir, label, command):
    """A compose command run with this Python in ``project_dir`` (standing for /opt/atnet)."""
    if command[0] != "python":
        raise CheckFailed("%s: expected a python command, got %s" % (label, shlex.join(command)))
    run([sys.executable, os.path.join(REPO, command[1])] + command[2:], "native: %s" % label, cwd=project_dir)


def compose_down(compose, project_dir, env):
    """Remove whatever the compose project left (containers, pod, network)."""
    command = shlex.split(compose) + ["-p", PROJECT, "-f", os.path.join(project_dir, "docker-compose.yml"), "down"]
    subprocess.run(command, cwd=project_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL)


# --- checks ---------------------------------------------------------------------------------

def check_outputs(step, folder):
    """The files ``step`` must leave in the project folder."""
    expected = step.outputs(folder) if callable(step.outputs) else step.outputs
    absent = [path for path in expected if not os.path.exists(os.path.join(folder, path))]
    if absent:
        raise CheckFailed("%s left no %s" % (step.label, ", ".join(absent)))


def check_ownership(folder):
    """Every file and folder under ./data and ./runs belongs to the invoking user and group."""
    wrong = []
    for top in ("data", "runs"):
        for root, dirs, files in os.walk(os.path.join(folder, top)):
            for path in [root] + [os.path.join(root, name) for name in dirs + files]:
                info = os.lstat(path)
                if (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
                    wrong.append("%s (%d:%d)" % (os.path.relpath(path, folder), info.st_uid, info.st_gid))
    if wrong:
        raise CheckFailed("%d paths do not belong to %d:%d, e.g. %s"
                          % (len(wrong), os.getuid(), os.getgid(), ", ".join(wrong[:5])))


def lmdb_summary(folder, protocol):
    """folds.json without what names the machine: the prepared folder's path and the digest over
    index.csv, which records each clip's absolute source path (compare_prepared checks the data)."""
    doc = read_json(os.path.join(folder, "data", "lmdb", protocol, FOLDS_FILE))
    doc.pop("prepared", None)
    doc.get("parameters", {}).pop("inputs_sha256", None)
    return doc


def prepared_digests(folder):
    """sha256 of every apex image and flow feature under data/prepared, by relative path."""
    prepared = os.path.join(folder, "data", "prepared")
    digests = {}
    for sub in ("faces", "flow"):
        for root, _, files in os.walk(os.path.join(prepared, sub)):
            for name in files:
                path = os.path.join(root, name)
                digests[os.path.relpath(path, prepared)] = sha256_file(path)
    return digests


def compare_with_native(container, native):
    """The container's results equal the native run's: prepared data, folds, predictions, metrics."""
    problems = []
    ours, theirs = prepared_digests(container), prepared_digests(native)
    differing = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    if not ours or differing:
        problems.append("data/prepared: %d of %d apex images and features differ, e.g. %s"
                        % (len(differing), len(set(ours) | set(theirs)), ", ".join(differing[:3])))
    print("data/prepared: %d apex images and features, identical: %s" % (len(ours), not differing))
    for protocol in PROTOCOLS:
        if lmdb_summary(container, protocol) != lmdb_summary(native, protocol):
            problems.append("data/lmdb/%s/%s differs (folds, sizes or parameters)" % (protocol, FOLDS_FILE))
        run_name = os.path.join("runs", "fusion-" + protocol)
        ours = read_json(os.path.join(container, run_name, METRICS_FILE))
        theirs = read_json(os.path.join(native, run_name, METRICS_FILE))
        if ours != theirs:
            problems.append("%s/%s differs:\n  container %s\n  native    %s"
                            % (run_name, METRICS_FILE, json.dumps(ours, sort_keys=True),
                               json.dumps(theirs, sort_keys=True)))
        worst = compare_predictions(os.path.join(container, run_name), os.path.join(native, run_name), problems)
        print("%s: metrics.json equal: %s; largest class-score difference %.3g"
              % (run_name, ours == theirs, worst))
    if problems:
        raise CheckFailed("the containers' results differ from the native run's:\n" + "\n".join(problems))


def compare_predictions(container_run, native_run_dir, problems):
    """Same samples, same predicted classes, scores within SCORE_TOLERANCE; returns the largest difference."""
    worst = 0.0
    for fold in read_run_info(native_run_dir).folds:
        ours = {p.key: p for p in read_predictions(os.path.join(container_run, fold, FOLD_PREDICTIONS))}
        theirs = {p.key: p for p in read_predictions(os.path.join(native_run_dir, fold, FOLD_PREDICTIONS))}
        if set(ours) != set(theirs):
            problems.append("%s: other samples than natively" % os.path.join(container_run, fold))
            continue
        for key, p in ours.items():
            worst = max([worst] + [abs(a - b) for a, b in zip(p.scores, theirs[key].scores)])
            if p.pred != theirs[key].pred:
                problems.append("%s %s: predicted %d, natively %d" % (fold, key, p.pred, theirs[key].pred))
    if worst > SCORE_TOLERANCE:
        problems.append("%s: class scores differ by up to %.3g (tolerance %g)"
                        % (container_run, worst, SCORE_TOLERANCE))
    return worst


# --- the two checks -----------------------------------------------------------------------------

def pipeline_check(args, env, timer, scratch):
    """Steps 1-5 of the module docstring."""
    seconds, size = timer.step("build atnet:cpu", build_image, env, "docker/Dockerfile", "atnet:cpu",
                               args.host_ca, args.jobs)
    print("atnet:cpu built in %.0f s, %.2f GB" % (seconds, size / 1e9))
    container, native = os.path.join(scratch, "compose"), os.path.join(scratch, "native")
    variables = schedule_variables(args)
    make_project(container)
    with docker_api(args.compose, env, scratch) as compose_env:
        try:
            run_compose_pipeline(args, compose_env, timer, container, variables)
        finally:
            compose_down(args.compose, container, compose_env)
        make_project(native)
        run_native_pipeline(args, timer, native, variables)
        compare_with_native(container, native)
        if args.suite != "none":
            target = {"quick": "test-quick", "full": "test"}[args.suite]
            timer.step("compose test (%s)" % target, compose_run, args.compose, container, compose_env,
                       "test", "test", dict(variables, SUITE=target))


def run_compose_pipeline(args, env, timer, folder, variables):
    """Every step as a compose service, its outputs and their owner; then a failing service must fail."""
    for step in pipeline_steps(args):
        timer.step("compose " + step.label, compose_run, args.compose, folder, env, step.label,
                   step.service, dict(variables, **step.variables), step.override)
        check_outputs(step, folder)
    check_ownership(folder)
    failing = compose_run(args.compose, folder, env, "evaluate a missing run (must fail)", "evaluate",
                          dict(variables, RUN="no-such-run"), check=False)
    if failing.returncode == 0:
        raise CheckFailed("compose run evaluate RUN=no-such-run exited 0: a failing service's status is lost")


def run_native_pipeline(args, timer, folder, variables):
    """The same steps, the commands read from docker-compose.yml, run with this Python."""
    with open(COMPOSE_FILE) as handle:
        compose_doc = yaml.safe_load(handle)
    for step in pipeline_steps(args):
        command = step.override or service_command(compose_doc, step.service, dict(variables, **step.variables))
        timer.step("native " + step.label, native_run, folder, step.label, command)
        check_outputs(step, folder)


def gpu_image_check(args, env, timer):
    """Build atnet:gpu; caffe --version and the foundation tests inside it, in CPU mode."""
    seconds, size = timer.step("build atnet:gpu", build_image, env, "docker/Dockerfile.gpu", "atnet:gpu",
                               args.host_ca, args.jobs)
    tests = sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "tests", "test_foundation_*.py")))
    container = ["podman", "run", "--rm", "--network", "none", "atnet:gpu"]
    version = timer.step("caffe --version", run, container + ["caffe", "--version"], "gpu image: caffe --version",
                         env=env, capture=True)
    print(version.stdout.strip())
    timer.step("foundation tests", run, container + ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"] + tests,
               "gpu image: foundation tests (CPU mode)", env=env)
    print("atnet:gpu built in %.0f s, %.2f GB" % (seconds, size / 1e9))


def main(argv=None):
    args = parse_args(argv)
    timer = Timer()
    env = podman_environment()
    try:
        timer.step("host tools", ensure_host_tools, args.compose)
        how = timer.step("base image", ensure_base_image, env)
        print("base image %s: %s" % (BASE_IMAGE, how))
        if args.gpu_image:
            gpu_image_check(args, env, timer)
        else:
            scratch = args.scratch or tempfile.mkdtemp(prefix="atnet-docker-")
            if args.scratch:
                if os.path.exists(scratch) and os.listdir(scratch):
                    raise InputError("--scratch %s is not empty" % scratch)
                os.makedirs(scratch, exist_ok=True)
            try:
                pipeline_check(args, env, timer, scratch)
            except CheckFailed:
                print("\nthe compose project and the native run are kept in %s" % scratch, file=sys.stderr)
                raise
            if not args.scratch:
                shutil.rmtree(scratch)
    except CheckFailed as err:
        timer.report()
        print("\nFAILED: %s" % err, file=sys.stderr)
        return 1
    timer.report()
    print("\nOK: %s" % ("the GPU image builds and passes its CPU-mode checks" if args.gpu_image
                        else "the compose services ran the pipeline and match the native run"))
    return 0


if __name__ == "__main__":
    run_cli(main)
