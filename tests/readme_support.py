"""Helpers of the README tests (no tests here): the README's bash blocks, a sandbox that runs them as a
user would from the repository root, and a parse-only stand-in for the venv's python.

The sandbox is a temporary folder laid out like the repository root (links to .venv, tools/,
data_prep/, weights/download.py ...), so the README's relative paths (data/, runs/, configs/,
.venv/bin/python) work unchanged and nothing is written into the repository.
"""
import os
import re
import stat
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
LINKED = ("tools", "data_prep", "bench", "prototxt", "atnet", "Makefile", "docker-compose.yml", "setup")

#: The stand-in for .venv/bin/python: it loads the tool, lets argparse parse the command line
#: and stops there (exit 0), or exits 2 with argparse's message when the line does not parse.
PARSE_ONLY = r'''#!%(python)s
"""Parse-only python: run SCRIPT's main(ARGS) up to its argparse parse_args, then stop."""
import argparse, inspect, os, runpy, sys

class Parsed(Exception):
    pass

original = argparse.ArgumentParser.parse_args

def parse_args(self, args=None, namespace=None):
    result = original(self, args, namespace)
    if self.prog == os.path.basename(sys.argv[0]):   # the tool's own parser, not a nested one
        raise Parsed()
    return result

argparse.ArgumentParser.parse_args = parse_args
script, arguments = sys.argv[1], sys.argv[2:]
sys.argv = [script] + arguments
with open(os.environ["PARSE_LOG"], "a") as log:
    log.write(" ".join([script] + arguments) + "\n")
try:
    module = runpy.run_path(script, run_name="readme_parse")
    main = module["main"]
    main(arguments) if inspect.signature(main).parameters else main()
except Parsed:
    sys.exit(0)
sys.exit("%%s: parsed nothing (no argparse parse_args reached)" %% script)
'''


def bash_blocks(path=README):
    """The text of every ```bash block of a Markdown file, with the line number it starts on."""
    blocks, current, start = [], None, 0
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            if current is None and line.strip() == "```bash":
                current, start = [], number + 1
            elif current is not None and line.strip() == "```":
                blocks.append((start, "".join(current)))
                current = None
            elif current is not None:
                current.append(line)
    return blocks


def block_with(needle, path=README):
    """The one bash block of the README that contains ``needle``."""
    found = [block for _, block in bash_blocks(path) if needle in block]
    assert len(found) == 1, "%d bash blocks of %s contain %r" % (len(found), path, needle)
    return found[0]


def make_sandbox(folder, venv_python=None):
    """Lay out ``folder`` like the repository root; returns it.

    ``.venv`` is the repository's venv, or (``venv_python``) a folder whose bin/python is the given text.
    """
    for name in LINKED:
        os.symlink(os.path.join(REPO, name), os.path.join(folder, name))
    if venv_python is None:     # the real venv (a linked interpreter alone would not find its pyvenv.cfg)
        os.symlink(os.path.join(REPO, ".venv"), os.path.join(folder, ".venv"))
    else:
        bin_dir = os.path.join(folder, ".venv", "bin")
        os.makedirs(bin_dir)
        target = os.path.join(bin_dir, "python")
        with open(target, "w") as handle:
            handle.write(venv_python)
        os.chmod(target, os.stat(target).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    for name in ("configs", "weights", "data", "runs"):
        os.makedirs(os.path.join(folder, name), exist_ok=True)
    for name in ("download.py", "README.md"):     # the weights' script and its front matter, no binaries
        os.symlink(os.path.join(REPO, "weights", name), os.path.join(folder, "weights", name))
    return folder


def parse_only_python():
    """The text of the parse-only stand-in for .venv/bin/python."""
    return PARSE_ONLY % {"python": sys.executable}


def run_bash(script, cwd, env=None, timeout=3600):
    """``bash -euo pipefail`` on ``script`` in ``cwd``; returns the CompletedProcess."""
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def make_targets(text):
    """The targets of every `make TARGET` in a text (``VAR=value make target`` included)."""
    return re.findall(r"(?:^|\s)make\s+([a-z][\w-]*)", text, flags=re.M)


def expand_compose(value):
    """``${VAR:-default}`` -> default (what compose runs with nothing set)."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda match: match.group(2), value)


#: The stand-in for `docker`: `docker compose run [--rm] SERVICE` checks that SERVICE exists in
#: docker-compose.yml and parses its command, variables from the environment as compose reads
#: them (``${VAR:-default}``), with the parse-only python; other docker commands are refused.
DOCKER_SHIM = r'''#!%(python)s
import os, re, subprocess, sys
import yaml

args = sys.argv[1:]
if args[:2] != ["compose", "run"]:
    sys.exit("docker stand-in: only `docker compose run` is checked, not %%s" %% args)
rest = [a for a in args[2:] if a != "--rm"]
with open(os.path.join(os.environ["README_REPO"], "docker-compose.yml")) as handle:
    services = yaml.safe_load(handle)["services"]
if not rest or rest[0] not in services:
    sys.exit("docker compose: no service %%r in docker-compose.yml" %% (rest[:1],))

def expand(text):
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m.group(1)) or m.group(2), text)

command = [expand(str(part)) for part in services[rest[0]]["command"]]
if command[0] == "make":
    sys.exit(subprocess.call(["make", "-n", "-C", os.environ["README_REPO"]] + command[1:],
                             stdout=subprocess.DEVNULL))
sys.exit(subprocess.call(command))
'''


def docker_shim():
    """The text of the `docker` stand-in (needs README_REPO and a PATH whose python parses only)."""
    return DOCKER_SHIM % {"python": sys.executable}

