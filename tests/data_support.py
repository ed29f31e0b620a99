"""Shared helpers of the data-preparation tests (no tests here).

Synthetic releases are generated once per session and cached here, because
pytest would build a session fixture imported into several modules more than
once; modules wrap these helpers in their own fixtures. Tests that change a
release work on a copy (``copy_release``).
"""
import os
import shutil
import subprocess
import sys

import openpyxl

from atnet.data import synth
from atnet.data.synth.clips import Preset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT_NAMES = {"casme2": "CASME2", "samm": "SAMM", "smic": "SMIC"}

#: A very small release set (a few short clips per dataset, every layout
#: oddity of the real ones) for tests that run the whole pipeline many times.
MICRO = Preset(
    casme2_counts={1: (1, 1, 1)}, casme2_excluded={"others": 1}, casme2_excluded_subjects=(10,),
    casme2_repression_share=27 / 90,
    samm_counts={6: (1, 1, 0)}, samm_other=1, samm_other_subjects=(25,), samm_negatives={"Anger": 1},
    smic_counts={1: (1, 0, 1)}, smic_seven_digit_subject=1,
    clip_frames=(8, 10), excluded_frames=(4, 5), casme2_double_nesting=False)

_cache = {}


def release(factory, preset="tiny", **options):
    """A synthetic release set generated once per session; returns its folder."""
    key = (preset if isinstance(preset, str) else id(preset), tuple(sorted(options.items())))
    if key not in _cache:
        out = str(factory.mktemp("release"))
        synth.generate(out, preset, seed=0, **options)
        _cache[key] = out
    return _cache[key]


def roots(folder, datasets=("casme2", "samm", "smic")):
    """``{dataset: root}`` of a generated release set."""
    return {dataset: os.path.join(folder, ROOT_NAMES[dataset]) for dataset in datasets}


def copy_release(source, target, datasets=("casme2", "samm", "smic")):
    """Copy dataset roots (and the GT file) so a test can damage them."""
    for dataset in datasets:
        shutil.copytree(os.path.join(source, ROOT_NAMES[dataset]), os.path.join(target, ROOT_NAMES[dataset]))
    shutil.copy(os.path.join(source, "combined_3class_gt.csv"), target)
    return roots(str(target), datasets)


def run_tool(script, *args, timeout=300):
    """Run a data_prep entry point as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, os.path.join(REPO, "data_prep", script)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout, cwd="/")


def root_args(release_roots):
    """``--casme2 ROOT --samm ROOT ...`` for prepare.py."""
    args = []
    for dataset, root in release_roots.items():
        args += ["--" + dataset, root]
    return args


def sheet_rows(path, sheet):
    """All rows of an .xlsx sheet as value tuples (row 1 first)."""
    workbook = openpyxl.load_workbook(path)
    try:
        return [tuple(cell.value for cell in row) for row in workbook[sheet].iter_rows()]
    finally:
        workbook.close()


def edit_sheet(path, sheet, edit):
    """Load a sheet, let ``edit(worksheet)`` change it, save it back."""
    workbook = openpyxl.load_workbook(path)
    edit(workbook[sheet])
    workbook.save(path)


def find_row(path, sheet, subject, filename):
    """Excel row number of a sheet row by its Subject and Filename cells."""
    for number, row in enumerate(sheet_rows(path, sheet), start=1):
        if len(row) > 1 and str(row[0]) == str(subject) and row[1] == filename:
            return number
    raise KeyError((subject, filename))
