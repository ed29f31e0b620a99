"""The record every macro reader yields (one Sequence per expression sequence or image)
and the small layout helpers the four readers share.

Problems reuse the micro readers' ``atnet.data.samples.Problem`` (its
``sample`` field holds the sequence name), so one report format covers both.
"""
import dataclasses
import os
from typing import Optional

from atnet.common import InputError
from atnet.data.frames import describe_numbers, list_frames, missing_numbers
from atnet.data.samples import Problem

#: The macro datasets, in report order, and their titles.
MACRO_DATASETS = ("ckplus", "oulu", "jaffe", "mug")
MACRO_TITLES = {"ckplus": "CK+", "oulu": "Oulu-CASIA NIR&VIS", "jaffe": "JAFFE", "mug": "MUG"}
#: The folder names a data folder holds the releases under (data_prep/prepare_macro.py --data,
#: data_prep/synth_macro.py, docker-compose.yml).
MACRO_FOLDERS = {"ckplus": "CK+", "oulu": "Oulu-CASIA", "jaffe": "JAFFE", "mug": "MUG"}
#: Where the peak (apex-like) frame of a sequence is: CK+ and Oulu-CASIA run
#: neutral -> peak ('last'); MUG runs neutral -> peak -> neutral ('middle');
#: a JAFFE image is its own one-frame sequence ('only').
PEAK_RULES = ("last", "middle", "only")


@dataclasses.dataclass
class Sequence:
    """One expression sequence (or JAFFE image) as the release stores it.

    ``emotion`` is the canonical name (atnet.macro.labels.CANONICAL) or None
    when the release gives no label (CK+ sequences without an emotion file);
    ``code`` is the label as the release writes it. ``frames`` and
    ``frame_numbers`` are the frame files in numeric order. ``excluded``
    names a rule that leaves the sequence out (e.g. 'no emotion file'); an
    excluded sequence is reported, not a problem. ``problems`` lists what is
    wrong with it; ``landmarks`` holds the 68 (x, y) points of its peak frame
    where the release has them (CK+), for the face box; ``info`` holds
    release details (sensor, illumination, session, take, ratings).
    """
    dataset: str
    subject: str
    sequence: str
    emotion: Optional[str]
    code: str
    peak_rule: str
    source: str
    frames: tuple = ()
    frame_numbers: tuple = ()
    landmarks: Optional[tuple] = None
    landmarks_source: str = ""
    excluded: str = ""
    problems: list = dataclasses.field(default_factory=list)
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def key(self):
        return "%s-%s-%s" % (self.dataset, self.subject, self.sequence)

    @property
    def peak_index(self):
        """Position of the peak frame in ``frames`` (see PEAK_RULES)."""
        if not self.frames:
            return None
        if self.peak_rule == "middle":
            return len(self.frames) // 2
        return len(self.frames) - 1

    def problem(self, reason):
        """A Problem about this sequence, located at its source."""
        return Problem(self.dataset, self.subject, self.sequence, self.source, reason)


@dataclasses.dataclass
class MacroScan:
    """What a reader found in one dataset root.

    ``sequences``: every sequence read, usable or not; ``problems``: what
    belongs to no sequence (an emotion file without images, an unknown
    folder); ``notes``: things reported but not wrong (Oulu-CASIA persons
    without some emotion folder, folders that are not part of the layout);
    ``sources``: the folders and files read.
    """
    dataset: str
    sequences: list
    problems: list
    notes: list
    sources: dict


def find_layout_folder(root, candidates, what, required=True):
    """The one folder of ``candidates`` (paths relative to ``root``) that exists.

    Releases are unpacked with different nestings; exactly one must be
    present (two would make the choice a guess). None when not ``required``
    and none exists.
    """
    found = [os.path.join(root, c) for c in candidates if os.path.isdir(os.path.join(root, c))]
    if len(found) > 1:
        raise InputError("%s: both %s exist; keep one %s" % (root, " and ".join(found), what))
    if not found:
        if required:
            raise InputError("%s: no %s (looked for %s)" % (root, what, ", ".join(candidates)))
        return None
    return found[0]


def visible_dirs(folder):
    """Sub-folder names of ``folder`` that are not dot-folders, sorted."""
    return sorted(name for name in os.listdir(folder)
                  if not name.startswith(".") and os.path.isdir(os.path.join(folder, name)))


def attach_frames(sequence, folder, first_number=None):
    """Give a sequence the frames of ``folder`` (numeric order), or problems.

    A gap in the numbering is a missing frame; ``first_number`` (when given)
    is where the numbering must start.
    """
    try:
        numbered = list_frames(folder)
    except InputError as err:
        sequence.problems.append(str(err))
        return
    if not numbered:
        sequence.problems.append("%s: sequence folder holds no frames" % folder)
        return
    numbers = [number for number, _ in numbered]
    gaps = missing_numbers(numbers, numbers[0] if first_number is None else first_number, numbers[-1])
    if gaps:
        sequence.problems.append("%s: frames %s are missing" % (folder, describe_numbers(gaps)))
    sequence.frame_numbers = tuple(numbers)
    sequence.frames = tuple(path for _, path in numbered)
