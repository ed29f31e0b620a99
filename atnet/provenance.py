"""What produced a stage's output: Python and the pinned packages, this
repository's git state, and the identity of the Caffe build.

Every stage records ``versions()`` beside what it writes (training:
RUN_DIR/<fold>/versions.json; LMDB building: each fold's manifest.json;
preparation: the prepared directory's manifest.json; baselines: run.json).

The Caffe build is identified by what the build itself wrote, never by the
folder it lives in: setup/setup.sh installs Caffe into a prefix
(``<cache>/caffe/{cpu,gpu}-<key>``, pycaffe in PREFIX/python/caffe) and writes
PREFIX/build-info.txt, the exact inputs of the build (``source <sha256>`` of the
source tarball, the patches, the cmake options, the Python and NumPy versions);
``<key>`` is the first 16 hex digits of that file's sha256, and setup/bundle.sh
copies the file into its tarballs. The source tarball's checksum is matched
against the one setup/setup.sh names for BVLC commit 99bd997. A Caffe without
build-info.txt (CAFFE_ROOT=...) is identified by its own git checkout when it
is one, otherwise its commit is recorded as ``"unknown"``.
"""
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIREMENTS = os.path.join(REPO, "requirements.txt")
SETUP_SCRIPT = os.path.join(REPO, "setup", "setup.sh")
BUILD_INFO = "build-info.txt"
UNKNOWN = "unknown"


def versions(caffe=True):
    """The provenance record of a stage: Python, the pinned packages, this repository's
    git state and (``caffe``) the Caffe build."""
    record = {"python": sys.version.split()[0], "packages": package_versions(), "repository": git_state()}
    if caffe:
        record["caffe"] = caffe_build()
    return record


def package_versions(requirements=REQUIREMENTS):
    """{name: installed version or None} of every package pinned in requirements.txt."""
    packages = {}
    if not os.path.isfile(requirements):  # an installed copy of the package, without the repository
        return packages
    with open(requirements, encoding="utf-8") as handle:
        for line in handle:
            name = re.split(r"[=<>~!\[ ;#]", line.strip(), maxsplit=1)[0]
            if name:
                try:
                    packages[name] = importlib.metadata.version(name)
                except importlib.metadata.PackageNotFoundError:
                    packages[name] = None
    return packages


def _git(directory, *args):
    """stdout of a git command in ``directory``; None when git or the repository is missing."""
    try:
        result = subprocess.run(["git", "-C", directory] + list(args), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):  # no git installed (e.g. a slim image)
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def git_state(directory=REPO):
    """{"commit", "describe", "dirty"} of the checkout (each None outside a git checkout).

    ``dirty`` counts tracked files only: an untracked output folder inside the
    clone does not make the code differ from its commit.
    """
    commit = _git(directory, "rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "describe": None, "dirty": None}
    status = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "describe": _git(directory, "describe", "--always", "--dirty"),
            "dirty": None if status is None else bool(status)}


def caffe_location():
    """The prefix pycaffe comes from (the folder holding python/caffe), found without
    importing pycaffe; None when there is no pycaffe."""
    spec = importlib.util.find_spec("caffe")
    if spec is None or not spec.origin:
        return None
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(spec.origin))))


def caffe_build():
    """The Caffe build's identity: version, prefix, source commit, build variant and key."""
    root = caffe_location()
    record = {"version": None, "path": root, "commit": UNKNOWN, "source_sha256": None, "build": None,
              "build_key": None, "build_info_sha256": None}
    if root is None:
        return record
    import caffe
    record["version"] = getattr(caffe, "__version__", None)
    info_path = os.path.join(root, BUILD_INFO)
    if os.path.isfile(info_path):
        record.update(read_build_info(info_path))
    else:
        record["commit"] = _git(root, "rev-parse", "HEAD") or UNKNOWN
    return record


def read_build_info(path):
    """Source checksum, commit, variant (cpu/gpu) and key of a setup/setup.sh build-info.txt."""
    with open(path, "rb") as handle:
        data = handle.read()
    lines = data.decode("utf-8", errors="replace").splitlines()
    first = lines[0].split() if lines else []
    source = first[1] if len(first) == 2 and first[0] == "source" else None
    digest = hashlib.sha256(data).hexdigest()
    return {"source_sha256": source, "commit": known_source_commits().get(source, UNKNOWN),
            "build": "cpu" if "-DCPU_ONLY=ON" in lines else "gpu", "build_key": digest[:16],
            "build_info_sha256": digest}


def known_source_commits(setup_script=SETUP_SCRIPT):
    """{source tarball sha256: Caffe commit} as setup/setup.sh names them (its one home)."""
    if not os.path.isfile(setup_script):
        return {}
    with open(setup_script, encoding="utf-8") as handle:
        text = handle.read()
    sha = re.search(r"^ORIG_SHA256=([0-9a-f]{64})$", text, re.M)
    commit = re.search(r"^DEBIAN_SOURCE_VERSION=\S*\.([0-9a-f]{7,40})-\d+$", text, re.M)
    return {sha.group(1): commit.group(1)} if sha and commit else {}
