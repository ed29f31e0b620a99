"""SAMM: ``SAMM_Micro_FACS_Codes_v2.xlsx`` (sheet MICRO_ONLY, a 13-row preamble
above the header) plus ``<SSS>/<SSS>_<I>_<K>/<SSS>_<frame>.jpg`` (cropped
release: the same tree under ``SAMM_CROP/``).

Frame numbers are absolute indices of the source video, zero-padded to 4 or
5 digits; they are parsed, never compared as text. The ground-truth subject
is unpadded (folder ``006`` -> subject ``6``).
"""
import os
import re

from atnet.common import InputError
from atnet.data.samples import (ReleaseScan, descend_nesting, folders_without_rows, list_subdirs,
                                read_sheet_samples)
from atnet.data.sheets import cell_text, find_sheet

FPS = 200.0
SHEET_GLOB = "SAMM_Micro_FACS_Codes*.xlsx"
SHEET_NAME = "MICRO_ONLY"
#: Where the subject folders may sit, relative to the dataset root.
FRAME_FOLDERS = {False: ("SAMM", "."), True: ("SAMM_CROP",)}
COLUMNS = {"subject": "subject", "filename": "filename", "onsetframe": "onset",
           "apexframe": "apex", "offsetframe": "offset", "estimatedemotion": "emotion"}
_SUBJECT_DIR = re.compile(r"\d{3}")


def subject_id(value):
    """'006', 6 or 6.0 -> '6' (the ground truth's unpadded style)."""
    text = cell_text(value)
    if not text.isdigit():
        raise ValueError(value)
    return str(int(text))


def find_frames_root(root, cropped):
    """The folder holding the 3-digit subject folders."""
    for candidate in FRAME_FOLDERS[cropped]:
        folder = descend_nesting(os.path.normpath(os.path.join(root, candidate)))
        if os.path.isdir(folder) and list_subdirs(folder, _SUBJECT_DIR):
            return folder
    raise InputError("%s: no SAMM %sframe folders (3-digit subject folders under %s)"
                     % (root, "cropped " if cropped else "", " or ".join(FRAME_FOLDERS[cropped])))


def read_samm(root, cropped=False):
    """Every sheet row of a SAMM release as a Sample, plus folder problems."""
    sheet = find_sheet(root, SHEET_GLOB, "SAMM annotation sheet")
    frames_root = find_frames_root(root, cropped)
    samples, seen = read_sheet_samples(
        "samm", sheet, SHEET_NAME, COLUMNS, FPS, subject_id,
        lambda sample: os.path.join(frames_root, "%03d" % int(sample.subject), sample.sample))
    problems = folders_without_rows("samm", frames_root, _SUBJECT_DIR, subject_id, seen, sheet)
    return ReleaseScan("samm", samples, problems, {"sheet": sheet, "frames": frames_root})
