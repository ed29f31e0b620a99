"""Synthetic CASME II, SAMM and SMIC-HS releases in the exact layouts.

The real datasets are licensed and not on our machines, so every reader is
tested on stand-ins written the way the releases are unpacked: the same
folders, file names, frame-number padding, .xlsx sheets (blank columns, text
Subject cells, SAMM's 13-row preamble) and oddities (CASME II apex '/' and
apex = onset, excluded emotions, SAMM 'Other', unpadded SMIC subjects,
6- to 7-digit SMIC frame numbers, stray files, NIR/VIS/non_micro folders).
A seed gives the same frames, sheet contents and ground-truth list, byte
for byte, on every machine (an .xlsx file also records when it was written).

Modules, in the order ``generate`` uses them:

- ``clips``   the presets (``tiny``, ``composite``) and the clip plan they give
- ``render``  the frames: the astronaut photograph, placed and moved per class
- ``write``   the dataset writers: frames, sheets and folders of each release
"""
import dataclasses
import glob
import os
import shutil

from atnet.common import InputError, atomic_path, write_json, write_text
from atnet.data.synth.clips import get_preset, plan
from atnet.data.synth.write import ground_truth_lines, write_casme2, write_samm, write_smic


def generate(out, preset="tiny", seed=0, cropped=False, casme2_integer_subjects=False,
             overwrite=False, progress=False):
    """Write ``out/CASME2``, ``out/SAMM``, ``out/SMIC`` and ``out/combined_3class_gt.csv``.

    ``preset`` is a name from clips.PRESETS or a clips.Preset (tests build smaller ones).
    Each dataset root is built under a temporary name and renamed when
    complete. An existing root is an InputError unless ``overwrite``.
    ``progress`` shows a progress bar per dataset. Returns the plan.
    """
    preset_name, preset = preset, get_preset(preset)
    clips = plan(preset, seed)
    roots = {"casme2": "CASME2", "samm": "SAMM", "smic": "SMIC"}
    for dataset, name in roots.items():
        root = os.path.join(out, name)
        if os.path.exists(root) and not overwrite:
            raise InputError("%s already exists (remove it, or pass --overwrite)" % root)
        for stale in glob.glob(os.path.join(glob.escape(out), ".%s.*.tmp" % name)):
            shutil.rmtree(stale)      # left by an interrupted run
    for dataset, name in roots.items():
        root = os.path.join(out, name)
        with atomic_path(root) as tmp:
            os.makedirs(tmp)
            if dataset == "casme2":
                write_casme2(tmp, clips[dataset], seed, preset, cropped, casme2_integer_subjects, progress)
            elif dataset == "samm":
                write_samm(tmp, clips[dataset], seed, cropped, progress)
            else:
                write_smic(tmp, clips[dataset], seed, cropped, progress)
            if os.path.exists(root):
                shutil.rmtree(root)
    all_clips = [clip for dataset in roots for clip in clips[dataset]]
    write_text(os.path.join(out, "combined_3class_gt.csv"), "".join(ground_truth_lines(all_clips)))
    write_json(os.path.join(out, "synth.json"), {
        "preset": preset_name if isinstance(preset_name, str) else dataclasses.asdict(preset),
        "seed": seed, "cropped": cropped, "casme2_integer_subjects": casme2_integer_subjects,
        "clips": {dataset: len(items) for dataset, items in clips.items()},
        "composite": {dataset: sum(clip.selected for clip in items) for dataset, items in clips.items()}})
    return clips
