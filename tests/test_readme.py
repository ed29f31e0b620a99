"""The README is true: every command in it and in docker-compose.yml parses, and its native
command sequence for the full tables runs as written on the tiny synthetic releases."""
import glob
import json
import os
import re
import subprocess

import pytest
import yaml

import readme_support as support
from atnet.data import synth

PYTHON_LINE = re.compile(r"(\$PY|\.venv/bin/python)\s+(\S+\.py)")


def _python_blocks():
    return [(start, block) for start, block in support.bash_blocks() if PYTHON_LINE.search(block)]


def _compose():
    with open(os.path.join(support.REPO, "docker-compose.yml")) as handle:
        return yaml.safe_load(handle)


@pytest.mark.parametrize("start, block", _python_blocks(), ids=lambda value: str(value)[:12])
def test_every_python_command_of_the_readme_parses(start, block, tmp_path):
    """Each block runs in bash with a .venv/bin/python that only parses each command line."""
    sandbox = support.make_sandbox(str(tmp_path), venv_python=support.parse_only_python())
    log = tmp_path / "parsed.txt"
    env = dict(os.environ, PARSE_LOG=str(log))
    result = support.run_bash(block, sandbox, env=env, timeout=600)
    assert result.returncode == 0, "README.md line %d:\n%s%s" % (start, result.stdout, result.stderr)
    parsed = log.read_text().splitlines()
    for _, script in PYTHON_LINE.findall(block):
        assert any(line.split()[0] == script for line in parsed), (script, parsed)


def test_every_make_target_and_compose_service_of_the_readme_exists():
    text = open(support.README).read()
    for target in sorted(set(support.make_targets(text))):
        result = subprocess.run(["make", "-n", "-C", support.REPO, target], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, (target, result.stderr)


def _docker_blocks():
    return [(start, block) for start, block in support.bash_blocks() if "docker compose run" in block]


@pytest.mark.parametrize("start, block", _docker_blocks(), ids=lambda value: str(value)[:12])
def test_every_compose_command_of_the_readme_names_a_service_whose_command_parses(start, block, tmp_path):
    """The block runs in bash with a `docker` that checks the service and parses its command."""
    sandbox = support.make_sandbox(str(tmp_path), venv_python=support.parse_only_python())
    bin_dir = os.path.join(sandbox, ".venv", "bin")
    docker = os.path.join(bin_dir, "docker")
    with open(docker, "w") as handle:
        handle.write(support.docker_shim())
    os.chmod(docker, 0o755)
    log = tmp_path / "parsed.txt"
    env = dict(os.environ, PARSE_LOG=str(log), README_REPO=support.REPO,
               PATH=bin_dir + os.pathsep + os.environ["PATH"])
    result = support.run_bash(block, sandbox, env=env, timeout=900)
    assert result.returncode == 0, "README.md line %d:\n%s%s" % (start, result.stdout, result.stderr)
    runs = len(re.findall(r"docker compose run", block))
    assert len(log.read_text().splitlines()) >= runs


def test_every_command_of_docker_compose_parses(tmp_path):
    services = _compose()["services"]
    sandbox = support.make_sandbox(str(tmp_path), venv_python=support.parse_only_python())
    log = tmp_path / "parsed.txt"
    # `python` in the containers is the venv's: here the parse-only stand-in
    env = dict(os.environ, PARSE_LOG=str(log), PATH=os.path.join(sandbox, ".venv", "bin") + os.pathsep
               + os.environ["PATH"])
    for name, service in sorted(services.items()):
        command = [support.expand_compose(str(part)) for part in service["command"]]
        if command[0] in ("python", "sh"):
            before = len(log.read_text().splitlines()) if log.exists() else 0
            result = subprocess.run(command, cwd=sandbox, env=env, capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, (name, command, result.stderr)
            assert len(log.read_text().splitlines()) == before + 1, (name, "no tool command parsed")
        else:
            assert command[0] == "make", (name, command)
            result = subprocess.run(["make", "-n", "-C", support.REPO] + command[1:], capture_output=True,
                                    text=True, timeout=120)
            assert result.returncode == 0, (name, command, result.stderr)




def _untrained_1ch_weights(path):
    """A real 1-channel ResNet-10 caffemodel (the spatial deploy net, Caffe's own initialisation)."""
    code = ("import caffe, sys; caffe.set_mode_cpu(); "
            "caffe.Net(sys.argv[1], caffe.TEST).save(sys.argv[2])")
    subprocess.run([os.path.join(support.REPO, ".venv", "bin", "python"), "-c", code,
                    os.path.join(support.REPO, "prototxt", "spatial", "deploy.prototxt"), path],
                   check=True, capture_output=True, timeout=300)


@pytest.mark.slow
@pytest.mark.timeout(5400)
def test_readme_native_sequence_runs_on_the_tiny_preset(tmp_path):
    os.makedirs(str(tmp_path / "repo"))
    sandbox = support.make_sandbox(str(tmp_path / "repo"))
    releases = str(tmp_path / "releases")
    synth.generate(releases, "tiny", seed=0)
    for name in ("CASME2", "SAMM", "SMIC"):
        os.symlink(os.path.join(releases, name), os.path.join(sandbox, "data", name))
    with open(os.path.join(sandbox, "configs", "paper.yaml"), "w") as handle:
        handle.write("# the README test's short schedule\nseed: 0\nbatch_size: 2\nmax_iter: 2\n")
    _untrained_1ch_weights(os.path.join(sandbox, "weights", "resnet10_cvgj_iter_320000_1ch.caffemodel"))
    block = support.block_with("tools/make_lmdb.py --config configs/paper.yaml")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    result = support.run_bash(block, sandbox, env=env, timeout=5000)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = os.path.join(sandbox, "runs")
    deep = sorted(os.path.basename(p) for p in glob.glob(os.path.join(runs, "*-[ch]de")))
    assert deep == sorted("%s-%s" % (m, p) for m in ("fusion", "micro_attention", "spatial", "temporal")
                          for p in ("cde", "hde"))
    for run in deep:
        with open(os.path.join(runs, run, "metrics.json")) as handle:
            assert json.load(handle)
    assert len(glob.glob(os.path.join(runs, "baselines", "*-[ch]de", "metrics.json"))) == 16
    assert len(glob.glob(os.path.join(sandbox, "data", "prepared", "inspect", "*.png"))) == 10
    comparison = open(os.path.join(runs, "comparison.md")).read()
    assert comparison in result.stdout
    for row in ("LBP-TOP", "HOOF", "Micro-Attention", "Fusion", "Spatial", "Temporal"):
        assert row in comparison, row
