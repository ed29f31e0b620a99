"""SMIC-HS: ``SMIC_all_raw/HS/s<N>/micro/<emotion>/s<N>_<ne|po|sur>_<KK>/image<frame>.bmp``
(cropped release: ``SMIC_all_cropped/HS/.../reg_image<frame>.bmp``).

There is no sheet: the label comes from the emotion folder, each clip runs
onset to offset, and the apex is not annotated (the paper uses the middle
frame). NIR, VIS and ``non_micro`` folders are not part of the composite and
are ignored. The ground truth pads subjects (``s1`` on disk -> ``s01``,
``s1_ne_01`` -> ``s01_ne_01``).
"""
import os
import re

from atnet.common import InputError
from atnet.data.composite import emotion_label
from atnet.data.frames import describe_numbers, list_frames, missing_numbers
from atnet.data.samples import Problem, ReleaseScan, Sample, list_subdirs

FPS = 100.0
FRAME_FOLDERS = {False: ("SMIC_all_raw/HS", "HS", "."), True: ("SMIC_all_cropped/HS",)}
EMOTION_CODES = {"ne": "negative", "po": "positive", "sur": "surprise"}
_SUBJECT_DIR = re.compile(r"s\d+")
_CLIP = re.compile(r"s(\d+)_(ne|po|sur)_(\d+)")


def subject_id(number):
    """Subject number -> the ground truth's padded ``s01``."""
    return "s%02d" % int(number)


def find_frames_root(root, cropped):
    """The HS folder holding the ``s<N>`` subject folders."""
    for candidate in FRAME_FOLDERS[cropped]:
        folder = os.path.normpath(os.path.join(root, candidate))
        if os.path.isdir(folder) and list_subdirs(folder, _SUBJECT_DIR):
            return folder
    raise InputError("%s: no SMIC-HS %sframe folders (s<N> subject folders under %s)"
                     % (root, "cropped " if cropped else "", " or ".join(FRAME_FOLDERS[cropped])))


def read_smic(root, cropped=False):
    """Every HS micro clip folder as a Sample, plus folder problems."""
    frames_root = find_frames_root(root, cropped)
    samples, problems = [], []
    for subject_dir in list_subdirs(frames_root, _SUBJECT_DIR):
        micro = os.path.join(frames_root, subject_dir, "micro")
        if not os.path.isdir(micro):
            problems.append(Problem("smic", subject_id(subject_dir[1:]), "", micro, "no micro folder", False))
            continue
        for emotion in sorted(os.listdir(micro)):
            emotion_dir = os.path.join(micro, emotion)
            if not os.path.isdir(emotion_dir):
                continue
            if emotion_label("smic", emotion)[1] is None:
                problems.append(Problem("smic", subject_id(subject_dir[1:]), "", emotion_dir,
                                        "unknown emotion folder %r" % emotion, False))
                continue
            for clip in sorted(os.listdir(emotion_dir)):
                if os.path.isdir(os.path.join(emotion_dir, clip)):
                    samples.append(_clip_sample(subject_dir, emotion, emotion_dir, clip))
    return ReleaseScan("smic", samples, problems, {"frames": frames_root})


def _clip_sample(subject_dir, emotion, emotion_dir, clip):
    """A Sample for one clip folder; name or frame trouble becomes problems."""
    folder = os.path.join(emotion_dir, clip)
    match = _CLIP.fullmatch(clip)
    subject = subject_id(subject_dir[1:])
    name = clip if match is None else "%s_%s_%s" % (subject_id(match.group(1)), match.group(2),
                                                   match.group(3))
    sample = Sample("smic", subject, name, emotion, emotion_label("smic", emotion)[1],
                    None, None, None, FPS, folder, folder=folder, apex_source="middle")
    if match is None:
        sample.problems.append("clip folder name is not s<N>_<ne|po|sur>_<K>")
    elif int(match.group(1)) != int(subject_dir[1:]):
        sample.problems.append("clip of subject %s inside folder %s" % (match.group(1), subject_dir))
    elif EMOTION_CODES[match.group(2)] != emotion.lower():
        sample.problems.append("clip named %r inside the %s folder"
                               % (EMOTION_CODES[match.group(2)], emotion))
    try:
        numbered = list_frames(folder)
    except InputError as err:
        sample.problems.append(str(err))
        return sample
    if not numbered:
        sample.problems.append("clip folder holds no frames")
        return sample
    numbers = [number for number, _ in numbered]
    gaps = missing_numbers(numbers, numbers[0], numbers[-1])
    if gaps:
        sample.problems.append("frames %s are missing" % describe_numbers(gaps))
    sample.frame_numbers = tuple(numbers)
    sample.frames = tuple(path for _, path in numbered)
    sample.onset, sample.offset = numbers[0], numbers[-1]
    sample.apex = numbers[len(numbers) // 2]
    return sample
