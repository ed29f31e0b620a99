"""MUG: ``subjects3/001/[session1/]<emotion>/take000/img_0000.jpg``.

The session level is optional (some subjects have one, some not; one
subject never mixes both). Emotion folders: anger, disgust, fear,
happiness, neutral, sadness, surprise. Frame numbers need not start at 0
(they must not have gaps). Each take starts AND ends neutral, so the peak is
the middle frame (index n // 2), not the last. Takes whose name ends in
``end`` are left out, as common loaders do (reported); so are very short
takes (fewer than ``min_frames`` frames, atnet.macro.select). The root may
be the folder holding ``subjects3/`` or ``subjects3/`` itself.
"""
import os
import re

from atnet.common import InputError
from atnet.data.samples import Problem
from atnet.macro.labels import MUG_FOLDERS
from atnet.macro.sequences import MacroScan, Sequence, attach_frames, visible_dirs

SUBJECTS_FOLDER = "subjects3"
_SUBJECT = re.compile(r"\d{3}")
_SESSION = re.compile(r"session\d+")
_TAKE = re.compile(r"take\d+\w*")


def subjects_folder(root):
    """``root/subjects3``, or the root itself when it holds the 3-digit subject folders."""
    if os.path.isdir(os.path.join(root, SUBJECTS_FOLDER)):
        return os.path.join(root, SUBJECTS_FOLDER)
    if any(_SUBJECT.fullmatch(name) for name in visible_dirs(root)):
        return root
    raise InputError("%s: no MUG %s/ folder and no 3-digit subject folders" % (root, SUBJECTS_FOLDER))


def read_mug(root):
    """Every take of a MUG root as a Sequence (peak = middle frame)."""
    folder = subjects_folder(root)
    sequences, problems, notes = [], [], []
    for subject in visible_dirs(folder):
        if not _SUBJECT.fullmatch(subject):
            notes.append("%s: not a subject folder (<NNN>), ignored" % os.path.join(folder, subject))
            continue
        subject_dir = os.path.join(folder, subject)
        children = visible_dirs(subject_dir)
        sessions = [c for c in children if _SESSION.fullmatch(c)]
        if sessions and len(sessions) != len(children):
            problems.append(Problem("mug", subject, "", subject_dir,
                                    "mixes session folders with other folders (%s)"
                                    % ", ".join(c for c in children if c not in sessions), False))
            continue
        for session in sessions or [None]:
            emotions_dir = subject_dir if session is None else os.path.join(subject_dir, session)
            _read_emotions(emotions_dir, subject, session, sequences, problems)
    return MacroScan("mug", sequences, problems, notes, {"subjects": folder})


def _read_emotions(folder, subject, session, sequences, problems):
    for emotion in visible_dirs(folder):
        emotion_dir = os.path.join(folder, emotion)
        if emotion not in MUG_FOLDERS:
            problems.append(Problem("mug", subject, emotion, emotion_dir,
                                    "unknown emotion folder %r (expected %s)" % (emotion, ", ".join(MUG_FOLDERS)),
                                    False))
            continue
        for take in visible_dirs(emotion_dir):
            take_dir = os.path.join(emotion_dir, take)
            name = "_".join(part for part in (session, emotion, take) if part)
            sequence = Sequence("mug", subject, name, MUG_FOLDERS[emotion], emotion, "middle", take_dir,
                                info={"session": session or "", "take": take})
            if not _TAKE.fullmatch(take):
                sequence.problems.append("take folder name is not take<NNN>")
            elif take.endswith("end"):
                sequence.excluded = "take name ends in 'end'"
            attach_frames(sequence, take_dir)
            sequences.append(sequence)
