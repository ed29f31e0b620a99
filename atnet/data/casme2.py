"""CASME II: ``CASME2-coding-*.xlsx`` plus ``CASME2_RAW_selected/subNN/<Filename>/imgN.jpg``
(or the face-cropped ``Cropped/subNN/<Filename>/reg_imgN.jpg``).

Samples are keyed by (subject, filename) because 53 file names repeat under
different subjects. Subject cells are text ('01') in the 2014 sheet and
integers in later ones; both become ``sub01``. Extra nesting
(``CASME2_RAW_selected/CASME2_RAW_selected/``) is followed.
"""
import os
import re

from atnet.data.samples import ReleaseScan, descend_nesting, folders_without_rows, read_sheet_samples
from atnet.data.sheets import cell_text, find_one, find_sheet

FPS = 200.0
SHEET_GLOB = "CASME2-coding-*.xlsx"
SHEET_NAME = "Sheet1"
FRAME_FOLDERS = {False: ("CASME2_RAW_selected",), True: ("Cropped", "CASME2_Cropped")}
COLUMNS = {"subject": "subject", "filename": "filename", "onsetframe": "onset",
           "apexframe": "apex", "offsetframe": "offset", "estimatedemotion": "emotion"}
_SUBJECT_DIR = re.compile(r"sub\d+")


def subject_id(value):
    """'01', 1, 1.0 or 'sub01' -> 'sub01'; ValueError for anything else."""
    text = cell_text(value)
    digits = text[3:] if text.lower().startswith("sub") else text
    if not digits.isdigit():
        raise ValueError(value)
    return "sub%02d" % int(digits)


def read_casme2(root, cropped=False):
    """Every sheet row of a CASME II release as a Sample, plus folder problems."""
    sheet = find_sheet(root, SHEET_GLOB, "CASME II coding sheet")
    frames_root = descend_nesting(find_one(root, FRAME_FOLDERS[cropped],
                                           "cropped frame folder" if cropped else "frame folder"))
    samples, seen = read_sheet_samples(
        "casme2", sheet, SHEET_NAME, COLUMNS, FPS, subject_id,
        lambda sample: os.path.join(frames_root, sample.subject, sample.sample))
    problems = folders_without_rows("casme2", frames_root, _SUBJECT_DIR, subject_id, seen, sheet)
    return ReleaseScan("casme2", samples, problems, {"sheet": sheet, "frames": frames_root})
