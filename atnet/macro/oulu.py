"""Oulu-CASIA NIR&VIS: ``OriginalImg/{NI,VL}/{Strong,Weak,Dark}/P001/<Emotion>/000.jpeg``.

80 persons, six emotion folders each (Anger, Disgust, Fear, Happiness,
Sadness, Surprise; no neutral class), each sequence running from neutral to
peak (the last frame), frames numbered from 000. Some copies put a prefix
folder above ``OriginalImg``; the cropped ``PreProcess Img`` set is not read.
Sensors (VL visible, NI near-infrared) and illuminations are selectable; a
person's image sequences under the different sensors and illuminations are
the same subject (the validation split keeps them together). Persons that
lack an emotion folder are reported, not an error.
"""
import os
import re

from atnet.common import InputError
from atnet.data.samples import Problem
from atnet.macro.labels import OULU_FOLDERS
from atnet.macro.sequences import MacroScan, Sequence, attach_frames, visible_dirs

SENSORS = ("VL", "NI")
ILLUMINATIONS = ("Strong", "Weak", "Dark")
DEFAULT_SENSORS = ("VL", "NI")
DEFAULT_ILLUMINATIONS = ("Strong",)
ORIGINAL = "OriginalImg"
_PERSON = re.compile(r"P\d{3}")


def find_original(root):
    """``root/OriginalImg`` or ``root/<prefix>/OriginalImg`` (exactly one)."""
    if os.path.isdir(os.path.join(root, ORIGINAL)):
        return os.path.join(root, ORIGINAL)
    found = [os.path.join(root, d, ORIGINAL) for d in visible_dirs(root)
             if os.path.isdir(os.path.join(root, d, ORIGINAL))]
    if len(found) != 1:
        raise InputError("%s: %s Oulu-CASIA %s folders (looked in the root and one folder below it)"
                         % (root, "no" if not found else "several (%s)" % ", ".join(found), ORIGINAL))
    return found[0]


def read_oulu(root, sensors=DEFAULT_SENSORS, illuminations=DEFAULT_ILLUMINATIONS):
    """Every sequence of the selected sensors and illuminations as a Sequence."""
    for value, known, what in ((sensors, SENSORS, "sensor"), (illuminations, ILLUMINATIONS, "illumination")):
        unknown = [v for v in value if v not in known]
        if unknown or not value:
            raise InputError("Oulu-CASIA %s %s: choose from %s" % (what, ",".join(unknown) or "(none)",
                                                                  ",".join(known)))
    original = find_original(root)
    sequences, problems, notes = [], [], []
    for sensor in sensors:
        for illumination in illuminations:
            folder = os.path.join(original, sensor, illumination)
            if not os.path.isdir(folder):
                raise InputError("%s: no such folder (sensor %s, illumination %s selected)"
                                 % (folder, sensor, illumination))
            for person in visible_dirs(folder):
                if not _PERSON.fullmatch(person):
                    notes.append("%s: not a person folder (P<NNN>), ignored" % os.path.join(folder, person))
                    continue
                found = _read_person(os.path.join(folder, person), sensor, illumination, person,
                                     sequences, problems)
                missing = sorted(set(OULU_FOLDERS) - found)
                if missing:
                    notes.append("%s: no %s folder" % (os.path.join(folder, person), ", ".join(missing)))
    return MacroScan("oulu", sequences, problems, notes, {"original": original, "sensors": list(sensors),
                                                          "illuminations": list(illuminations)})


def _read_person(folder, sensor, illumination, person, sequences, problems):
    """Append the person's sequences; return the emotion folder names found."""
    found = set()
    for name in visible_dirs(folder):
        if name not in OULU_FOLDERS:
            problems.append(Problem("oulu", person, name, os.path.join(folder, name),
                                    "unknown emotion folder %r (expected %s)" % (name, ", ".join(OULU_FOLDERS)),
                                    False))
            continue
        found.add(name)
        sequence = Sequence("oulu", person, "%s_%s_%s" % (sensor, illumination, name), OULU_FOLDERS[name], name,
                            "last", os.path.join(folder, name),
                            info={"sensor": sensor, "illumination": illumination})
        attach_frames(sequence, sequence.source, first_number=0)
        sequences.append(sequence)
    return found
