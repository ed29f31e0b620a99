"""CK+ (extended Cohn-Kanade): ``cohn-kanade-images/S005/001/S005_001_00000011.png``.

Some copies nest the images as ``extended-cohn-kanade-images/cohn-kanade-images/``
and the labels as ``Emotion_labels/Emotion/``. A labelled sequence has one
``Emotion/S005/001/S005_001_00000011_emotion.txt`` holding one float code
(0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness,
7 surprise), named after the peak frame, which is the sequence's last frame
(each sequence runs from neutral to peak). Only 327 of the 593 sequences
have one; the others are read, reported as unlabelled and left out.
``Landmarks/S005/001/S005_001_00000011_landmarks.txt`` (68 points) gives the
face box of the peak frame when present. FACS folders are not read;
dot-files (``.DS_Store``, ``._S005_001_00000001.png``) are skipped.
"""
import os
import re

import numpy as np

from atnet.data.samples import Problem
from atnet.macro.labels import CKPLUS_CODES
from atnet.macro.sequences import MacroScan, Sequence, attach_frames, find_layout_folder, visible_dirs

IMAGE_FOLDERS = ("cohn-kanade-images", "extended-cohn-kanade-images/cohn-kanade-images")
EMOTION_FOLDERS = ("Emotion", "Emotion_labels/Emotion")
LANDMARK_FOLDERS = ("Landmarks", "Landmarks/Landmarks")
LANDMARK_POINTS = 68
_SUBJECT = re.compile(r"S\d{3}")
_SEQUENCE = re.compile(r"\d{3}")
_EMOTION_FILE = re.compile(r"(S\d{3})_(\d{3})_(\d+)_emotion\.txt")


def read_ckplus(root):
    """Every image sequence of a CK+ root as a Sequence, plus layout problems and notes."""
    images = find_layout_folder(root, IMAGE_FOLDERS, "CK+ image folder")
    emotions = find_layout_folder(root, EMOTION_FOLDERS, "CK+ emotion label folder")
    landmarks = find_layout_folder(root, LANDMARK_FOLDERS, "CK+ landmark folder", required=False)
    sequences, problems, notes = [], [], []
    for subject in visible_dirs(images):
        if not _SUBJECT.fullmatch(subject):
            notes.append("%s: not a subject folder (S<NNN>), ignored" % os.path.join(images, subject))
            continue
        for name in visible_dirs(os.path.join(images, subject)):
            if not _SEQUENCE.fullmatch(name):
                notes.append("%s: not a sequence folder (<NNN>), ignored" % os.path.join(images, subject, name))
                continue
            sequences.append(_read_sequence(images, emotions, landmarks, subject, name))
    problems += _labels_without_images(emotions, {(s.subject, s.sequence) for s in sequences})
    return MacroScan("ckplus", sequences, problems, notes,
                     {"images": images, "emotions": emotions, "landmarks": landmarks})


def _read_sequence(images, emotions, landmarks, subject, name):
    folder = os.path.join(images, subject, name)
    sequence = Sequence("ckplus", subject, name, None, "", "last", folder)
    attach_frames(sequence, folder, first_number=1)
    prefix = "%s_%s_" % (subject, name)
    for path in sequence.frames:
        if not os.path.basename(path).startswith(prefix):
            sequence.problems.append("%s: frame of another sequence (name does not start with %s)" % (path, prefix))
    label_folder = os.path.join(emotions, subject, name)
    files = [f for f in sorted(os.listdir(label_folder)) if not f.startswith(".")] \
        if os.path.isdir(label_folder) else []
    if not files:
        sequence.excluded = "unlabelled (no emotion file)"
        return sequence
    if len(files) > 1:
        sequence.problems.append("%s: %d files in the emotion folder, expected one" % (label_folder, len(files)))
        return sequence
    label_path = os.path.join(label_folder, files[0])
    sequence.source = label_path
    match = _EMOTION_FILE.fullmatch(files[0])
    if match is None or match.group(1) != subject or match.group(2) != name:
        sequence.problems.append("%s: emotion file name is not %s<frame>_emotion.txt" % (label_path, prefix))
        return sequence
    code = _read_code(label_path, sequence)
    if code is None:
        return sequence
    sequence.code, sequence.emotion = str(code), CKPLUS_CODES[code]
    peak = int(match.group(3))
    if sequence.frame_numbers and peak != sequence.frame_numbers[-1]:
        sequence.problems.append("%s: names frame %d, but the sequence's last (peak) frame is %d"
                                 % (label_path, peak, sequence.frame_numbers[-1]))
    if landmarks:
        path = os.path.join(landmarks, subject, name, "%s%08d_landmarks.txt" % (prefix, peak))
        if os.path.isfile(path):
            sequence.landmarks = _read_landmarks(path, sequence)
            sequence.landmarks_source = path
    return sequence


def _read_code(path, sequence):
    """The emotion code of an emotion file (one float that is a whole number 0..7), or None + a problem."""
    with open(path, errors="replace") as handle:
        tokens = handle.read().split()
    try:
        value = float(tokens[0]) if len(tokens) == 1 else None
    except ValueError:
        value = None
    if value is None or value != int(value) or int(value) not in CKPLUS_CODES:
        sequence.problems.append("%s: expected one emotion code 0..7, found %r" % (path, " ".join(tokens)[:40]))
        return None
    return int(value)


def _read_landmarks(path, sequence):
    """The 68 (x, y) points of a landmarks file, or None + a problem."""
    try:
        points = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as err:
        sequence.problems.append("%s: not a table of numbers (%s)" % (path, err))
        return None
    if points.shape != (LANDMARK_POINTS, 2) or not np.all(np.isfinite(points)):
        sequence.problems.append("%s: expected %d lines of x y, found shape %s"
                                 % (path, LANDMARK_POINTS, "x".join(map(str, points.shape))))
        return None
    return tuple(map(tuple, points.tolist()))


def _labels_without_images(emotions, sequences_read):
    """A Problem for each emotion file whose sequence has no image folder."""
    problems = []
    for subject in visible_dirs(emotions):
        for name in visible_dirs(os.path.join(emotions, subject)):
            folder = os.path.join(emotions, subject, name)
            if (subject, name) not in sequences_read and any(not f.startswith(".") for f in os.listdir(folder)):
                problems.append(Problem("ckplus", subject, name, folder,
                                        "emotion label without an image sequence", False))
    return problems
