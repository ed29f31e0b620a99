"""Subject and sample names read from dataset files: what the releases contain,
and what can be carried safely.

A name read from a sheet, a clip folder, the ground-truth list, the authors'
apex list or optical-flow headers, or index.csv becomes part of a clip key
(``casme2-sub01-EP02_01f``), of output file names
(``faces/<dataset>/<key>.png``), of ASCII LMDB keys and of CSV cells, and clip
keys are split at ``-``. So a name is checked once, where it is read:

* every name must be SAFE_NAME (letters, digits, ``_``; no path separator,
  no ``..``, no ``-``, no space, ASCII), or it could leave the output folder
  or split wrongly;
* names from the releases themselves (sheets, the ground truth, the authors'
  lists) must also have the shape the releases use (datasets.md): CASME II
  ``sub01`` / ``EP02_01f``, ``EP02_01``, ``EP01_2``, ``EP06_02_01``,
  ``EP09f``; SAMM ``6`` / ``006_1_2``; SMIC ``s01`` / ``s01_ne_01``.

Index files written by this project only need safe names (tests and
synthetic sets use other shapes).
"""
import re

from atnet.common import DATASETS, InputError

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{0,63}")

#: Ground-truth-style subject and sample names of each release.
RELEASE_SUBJECT = {"casme2": re.compile(r"sub\d{2,3}"), "samm": re.compile(r"[1-9]\d{0,2}"),
                   "smic": re.compile(r"s\d{2,3}")}
RELEASE_SAMPLE = {"casme2": re.compile(r"EP\d{1,3}(?:_\d{1,3}){0,2}f?"),
                  "samm": re.compile(r"\d{3}_\d{1,2}_\d{1,3}"),
                  "smic": re.compile(r"s\d{2,3}_(?:ne|po|sur)_\d{1,3}")}
SHAPES = {"casme2": "sub01 / EP02_01f, EP02_01, EP01_2, EP06_02_01 or EP09f",
          "samm": "6 / 006_1_2", "smic": "s01 / s01_ne_01"}
#: A frame file name as the releases write them (img46.jpg, 006_05562.jpg, reg_image059757.bmp).
FRAME_FILE = re.compile(r"[A-Za-z0-9_]{1,64}\.(?:jpg|jpeg|bmp|png|tif|tiff)", re.IGNORECASE)


def unsafe(name):
    """Why ``name`` cannot be carried into keys and paths, or None when it can."""
    if not isinstance(name, str) or not name:
        return "is empty"
    if SAFE_NAME.fullmatch(name):
        return None
    if "/" in name or "\\" in name or ".." in name:
        return "would leave the output folder (holds a path separator or '..')"
    return "holds characters other than letters, digits and '_' (or is over 64 characters)"


def release_name_problem(dataset, subject, sample):
    """Why (subject, sample) is not a name of ``dataset``'s release, or None."""
    for what, name, patterns in (("subject", subject, RELEASE_SUBJECT), ("sample", sample, RELEASE_SAMPLE)):
        reason = unsafe(name)
        if reason:
            return "%s name %r %s" % (what, name, reason)
        if not patterns[dataset].fullmatch(name):
            return "%s name %r is not a %s name (%s)" % (what, name, dataset, SHAPES[dataset])
    return None


def check_release_names(dataset, subject, sample, where):
    """InputError naming ``where`` (file and line) unless both names are the release's."""
    if dataset not in DATASETS:
        raise InputError("%s: unknown dataset %r (expected one of %s)" % (where, dataset, ", ".join(DATASETS)))
    problem = release_name_problem(dataset, subject, sample)
    if problem:
        raise InputError("%s: %s" % (where, problem))


def check_safe_names(where, **names):
    """InputError naming ``where`` unless every given name is SAFE_NAME."""
    for what, name in names.items():
        reason = unsafe(name)
        if reason:
            raise InputError("%s: %s %r %s" % (where, what, name, reason))


def check_frame_file(name, where):
    """InputError unless ``name`` is a plain frame file name (no folder part)."""
    if not isinstance(name, str) or not FRAME_FILE.fullmatch(name):
        raise InputError("%s: frame file %r is not a plain image file name such as img46.jpg" % (where, name))
