"""Helpers of the training-path tests (test_train_*.py): small prepared
directories written directly with atnet.data.prepared's writer, fast to build."""
import importlib.util
import os
import subprocess
import sys

import cv2
import numpy as np

from atnet.data import composite
from atnet.data.prepared import IndexRow, output_paths, write_index

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(REPO, "tools")


def composite_counts():
    """{(dataset, subject): (negative, positive, surprise)} of the MEGC2019 composite (datasets.md)."""
    counts = {("casme2", "sub%02d" % n): c for n, c in composite.CASME2_COMPOSITE.items()}
    counts.update({("samm", str(n)): c for n, c in composite.SAMM_COMPOSITE.items()})
    counts.update({("smic", "s%02d" % n): c for n, c in composite.SMIC_COMPOSITE.items()})
    return counts


def small_counts():
    """Three subjects per dataset, a few samples each: 9 CDE folds, 3 HDE folds."""
    return {("casme2", "sub01"): (2, 1, 1), ("casme2", "sub02"): (1, 1, 1), ("casme2", "sub05"): (1, 0, 2),
            ("samm", "6"): (2, 1, 0), ("samm", "7"): (1, 1, 1), ("samm", "11"): (1, 0, 1),
            ("smic", "s01"): (1, 1, 1), ("smic", "s03"): (2, 1, 1), ("smic", "s12"): (0, 2, 1)}


def make_prepared(directory, counts, seed=0, separable=False):
    """A prepared directory with random apex faces and ADM features; returns the IndexRows.

    Features have zero rows at both ends (valid rows centred, as prepared
    clips do), so the 'release' flow-row layout differs from 'centred'.
    ``separable`` puts the class into the features (a constant per class
    added to the magnitudes), so a trained temporal net can tell them apart.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for (dataset, subject), per_class in counts.items():
        number = 0
        for label, n in enumerate(per_class):
            for _ in range(n):
                number += 1
                sample = "%s_%s_%02d" % (subject, ("ne", "po", "sur")[label], number)
                key = "%s-%s-%s" % (dataset, subject, sample)
                paths = output_paths(dataset, key)
                for relative in (paths["apex_image"], paths["flow"]):
                    os.makedirs(os.path.dirname(os.path.join(directory, relative)), exist_ok=True)
                image = rng.integers(0, 256, size=(224, 224), dtype=np.uint8)
                cv2.imwrite(os.path.join(directory, paths["apex_image"]), image)
                feature = np.zeros((64, 128), np.float32)
                first, last = int(rng.integers(0, 16)), int(rng.integers(48, 64))
                feature[first:last] = rng.normal(0, 1, size=(last - first, 128))
                if separable:
                    feature[first:last, 1::2] = np.abs(feature[first:last, 1::2]) * 0.1 + label
                np.save(os.path.join(directory, paths["flow"]), feature)
                rows.append(IndexRow(dataset, subject, sample, label, paths["apex_image"], paths["flow"],
                                     valid_rows=last - first))
    return write_index(directory, rows)


def single_threaded_env():
    """The environment for training processes in tests: one BLAS thread each. Tiny test
    batches gain nothing from more, and spinning OpenBLAS threads slow a busy machine down."""
    return dict(os.environ, OPENBLAS_NUM_THREADS="1")


def run_tool(name, *args, check=True, env=None, timeout=600):
    """Run tools/<name>.py with the venv's Python; returns the CompletedProcess."""
    result = subprocess.run([sys.executable, os.path.join(TOOLS, name + ".py")] + [str(a) for a in args],
                            capture_output=True, text=True, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError("tools/%s.py %s failed (%d):\n%s\n%s" % (name, " ".join(map(str, args)),
                                                                      result.returncode, result.stdout,
                                                                      result.stderr[-4000:]))
    return result


def load_script(relative_path):
    """A script of this repository (e.g. tools/train.py) as a module, without running its main()."""
    name = "script_" + relative_path.replace("/", "_")[:-3]
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, relative_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_tool(name):
    """tools/<name>.py as a module (its parse_args and main)."""
    return load_script("tools/%s.py" % name)


def call_tool(name, *args):
    """Run tools/<name>.py's main() in this process (no interpreter start-up, no second pycaffe import)."""
    return load_tool(name).main([str(a) for a in args])


def make_small_lmdb(root, folds):
    """CDE LMDBs of ``folds`` built by tools/make_lmdb.py from a small separable prepared folder
    under ``root`` (the module fixtures of the training tests); returns the LMDB folder."""
    prepared, out = os.path.join(str(root), "prepared"), os.path.join(str(root), "lmdb")
    make_prepared(prepared, small_counts(), seed=5, separable=True)
    call_tool("make_lmdb", "--prepared", prepared, "--protocol", "cde", "--out", out, "--folds", ",".join(folds))
    return out

