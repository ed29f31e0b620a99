"""Synthetic CASME II, SAMM and SMIC-HS releases in the exact layouts.

The real datasets are licensed and not on our machines, so every reader is
tested on stand-ins written the way the releases are unpacked: the same
folders, file names, frame-number padding, .xlsx sheets (blank columns, text
Subject cells, SAMM's 13-row preamble) and oddities (CASME II apex '/' and
apex = onset, excluded emotions, SAMM 'Other', unpadded SMIC subjects,
6- to 7-digit SMIC frame numbers, stray files, NIR/VIS/non_micro folders).

Frames show a real face: scikit-image's bundled astronaut photograph, placed
per subject with its own scale, rotation, position, squash, contrast and
brightness. Each clip carries a class-dependent movement of a few pixels that
rises from onset to apex and falls back by offset (brows lowered and drawn in
for negative, mouth corners up and out for positive, brows up and jaw down
for surprise), plus sensor noise and sub-pixel jitter. Everything is drawn
from ``numpy.random.default_rng`` seeded by (seed, dataset, subject, clip),
so a seed gives the same release on every machine.

Presets: ``tiny`` (a few subjects per dataset, seconds to generate) and
``composite`` (the 68 subjects with the exact per-subject class counts of the
MEGC2019 composite, every excluded sheet row, small frames, short clips).
"""
import dataclasses
import glob
import math
import os
import shutil
import sys

import cv2
import numpy as np
import openpyxl
import skimage.data
from tqdm import tqdm

from atnet.common import InputError, atomic_path, write_json, write_text
from atnet.data.face import detect_face, expand_box

# --- what the presets contain -------------------------------------------------

#: Composite counts (negative, positive, surprise) per subject, datasets.md.
CASME2_COMPOSITE = {
    1: (2, 1, 0), 2: (5, 1, 3), 3: (4, 0, 1), 4: (2, 0, 0), 5: (0, 1, 5), 6: (1, 1, 2), 7: (5, 0, 0),
    8: (1, 0, 0), 9: (5, 5, 0), 11: (4, 0, 0), 12: (5, 2, 4), 13: (0, 2, 0), 14: (0, 3, 0),
    15: (1, 1, 1), 16: (1, 2, 0), 17: (23, 7, 1), 19: (3, 3, 5), 20: (2, 0, 0), 21: (1, 0, 0),
    22: (2, 0, 0), 23: (7, 1, 0), 24: (2, 0, 1), 25: (3, 0, 2), 26: (9, 2, 0)}
SAMM_COMPOSITE = {
    6: (9, 0, 2), 7: (1, 5, 2), 9: (3, 0, 1), 10: (4, 0, 0), 11: (13, 7, 0), 12: (2, 0, 1),
    13: (6, 0, 0), 14: (2, 7, 1), 15: (2, 0, 1), 16: (2, 1, 2), 17: (3, 0, 1), 18: (2, 0, 1),
    19: (0, 1, 0), 20: (2, 2, 0), 21: (2, 0, 0), 22: (3, 2, 0), 23: (1, 0, 0), 24: (1, 0, 0),
    26: (9, 0, 0), 28: (1, 0, 2), 30: (3, 0, 0), 31: (1, 0, 0), 32: (4, 0, 0), 33: (4, 1, 0),
    34: (3, 0, 0), 35: (7, 0, 1), 36: (1, 0, 0), 37: (1, 0, 0)}
SMIC_COMPOSITE = {
    1: (3, 2, 1), 2: (0, 1, 5), 3: (22, 11, 6), 4: (10, 4, 5), 5: (1, 0, 1), 6: (2, 0, 2),
    8: (9, 4, 0), 9: (0, 1, 3), 11: (3, 3, 1), 12: (0, 8, 1), 13: (0, 10, 0), 14: (3, 2, 5),
    15: (1, 1, 2), 18: (2, 0, 5), 19: (0, 1, 1), 20: (14, 3, 5)}


def composite_samples():
    """The 442 samples of the MEGC2019 composite as dicts (dataset, subject, sample, label).

    Subjects follow the official ground-truth style (sub01, 6, s01); sample
    names are placeholders. For fold sizes and benchmarks, where only the
    per-subject class counts matter.
    """
    samples = []
    for dataset, counts, subject_name in (("casme2", CASME2_COMPOSITE, "sub%02d"), ("samm", SAMM_COMPOSITE, "%d"),
                                          ("smic", SMIC_COMPOSITE, "s%02d")):
        for number, per_class in counts.items():
            for label, count in enumerate(per_class):
                samples += [{"dataset": dataset, "subject": subject_name % number,
                             "sample": "c%d_%d" % (label, i), "label": label} for i in range(count)]
    return samples


@dataclasses.dataclass(frozen=True)
class Preset:
    """The content of one synthetic release set.

    ``*_counts``: subject number -> (negative, positive, surprise) in the
    composite; ``casme2_excluded`` / ``samm_other``: excluded emotions ->
    total rows, spread over ``*_excluded_subjects`` (which come first, so
    subjects without composite rows exist); ``clip_frames`` / ``excluded_frames``:
    (min, max) frames per clip.
    """
    casme2_counts: dict
    casme2_excluded: dict
    casme2_excluded_subjects: tuple
    casme2_repression_share: float
    samm_counts: dict
    samm_other: int
    samm_other_subjects: tuple
    samm_negatives: dict
    smic_counts: dict
    smic_seven_digit_subject: int
    clip_frames: tuple
    excluded_frames: tuple
    casme2_double_nesting: bool


PRESETS = {
    "tiny": Preset(
        casme2_counts={1: (2, 2, 1), 2: (2, 1, 2), 4: (2, 0, 0), 5: (0, 1, 2)},
        casme2_excluded={"others": 4, "sadness": 1, "fear": 1},
        casme2_excluded_subjects=(10, 1, 2, 5),
        casme2_repression_share=27 / 90,
        samm_counts={6: (2, 1, 1), 7: (1, 2, 1), 11: (2, 1, 1)},
        samm_other=3, samm_other_subjects=(25, 25, 6),
        samm_negatives={"Anger": 3, "Contempt": 1, "Disgust": 1},
        smic_counts={1: (2, 1, 1), 3: (1, 2, 1), 12: (1, 1, 2)},
        smic_seven_digit_subject=12,
        clip_frames=(24, 40), excluded_frames=(8, 10), casme2_double_nesting=True),
    "composite": Preset(
        casme2_counts=CASME2_COMPOSITE,
        casme2_excluded={"others": 99, "sadness": 7, "fear": 2},
        casme2_excluded_subjects=(10, 18),
        casme2_repression_share=27 / 90,
        samm_counts=SAMM_COMPOSITE,
        samm_other=26, samm_other_subjects=(25, 25, 25),
        samm_negatives={"Anger": 57, "Contempt": 12, "Disgust": 9, "Fear": 8, "Sadness": 6},
        smic_counts=SMIC_COMPOSITE,
        smic_seven_digit_subject=20,
        clip_frames=(12, 18), excluded_frames=(6, 8), casme2_double_nesting=False),
}

#: CASME II rows the official selection leaves out (datasets.md), both negative.
CASME2_APEX_SLASH = (4, "EP12_01f")
CASME2_APEX_ONSET = (5, "EP09_05f")

#: Per dataset: frame size (w, h) -- a quarter (SAMM an eighth) of the real
#: one -- the detector's face size in pixels, and the frame format.
FRAME_LOOK = {"casme2": ((160, 120), 64, "colour"),
              "samm": ((255, 136), 60, "grey"),
              "smic": ((160, 120), 56, "colour")}

# --- the face and its movements -------------------------------------------------

#: Landmarks of the astronaut photograph (pixels of the 512 x 512 image) and
#: the direction each moves in, per class; the Haar box there is about
#: x 177, y 66, w 95, h 95.
FACE_CENTRE = (224.5, 113.5)
FACE_SIZE = 95.0
MOVEMENTS = {
    0: [((203, 90), (0.35, 1.0)), ((248, 91), (-0.35, 1.0))],          # brows down and in
    1: [((202, 140), (-0.6, -0.8)), ((245, 141), (0.6, -0.8))],        # mouth corners up, out
    2: [((203, 88), (0.0, -1.0)), ((248, 89), (0.0, -1.0)), ((224, 152), (0.0, 1.2))],  # brows up, jaw
}
MOVEMENT_SIGMA = 9.0        # spread of each landmark's movement, photograph pixels
PEAK_SHIFT = (1.6, 2.6)     # peak movement at the apex, frame pixels
NOISE_SIGMA = 1.5           # grey levels
JITTER_SIGMA = 0.08         # frame pixels, per frame


def _astronaut():
    """The real face photograph bundled with scikit-image, grey, float32."""
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY).astype(np.float32)


class SubjectFace:
    """How one synthetic subject looks: a placement of the photograph in the frame.

    The neutral face is drawn until OpenCV's detector finds it where it was
    put, so the clips stay detectable whatever the seed.
    """

    def __init__(self, dataset, rng, photo):
        (self.width, self.height), face_px, self.mode = FRAME_LOOK[dataset]
        self.photo = photo
        for _ in range(50):
            self._draw(rng, face_px)
            box = detect_face(self._to_uint8(self.render(None, 0.0, np.zeros(2), None)))
            if box is not None and self._near_face(box):
                self.box = box
                return
        raise RuntimeError("no detectable face placement found for a %s subject" % dataset)

    def _draw(self, rng, face_px):
        scale = face_px / FACE_SIZE * rng.uniform(0.92, 1.08)
        angle = math.radians(rng.uniform(-4.0, 4.0))
        squash = rng.uniform(0.95, 1.05)
        linear = scale * np.array([[math.cos(angle) * squash, -math.sin(angle)],
                                   [math.sin(angle) * squash, math.cos(angle)]])
        centre = np.array([self.width * (0.5 + rng.uniform(-0.08, 0.08)),
                           self.height * (0.5 + rng.uniform(-0.05, 0.05))])
        offset = centre - linear @ np.array(FACE_CENTRE)
        self.scale = scale
        self.contrast, self.brightness = rng.uniform(0.85, 1.15), rng.uniform(-18, 18)
        self.tint = rng.uniform(0.9, 1.1, size=3)
        inverse = np.linalg.inv(linear)
        xs, ys = np.meshgrid(np.arange(self.width, dtype=np.float64),
                             np.arange(self.height, dtype=np.float64))
        rel_x, rel_y = xs - offset[0], ys - offset[1]
        self.src_x = (inverse[0, 0] * rel_x + inverse[0, 1] * rel_y).astype(np.float32)
        self.src_y = (inverse[1, 0] * rel_x + inverse[1, 1] * rel_y).astype(np.float32)
        self.inverse = inverse
        self.expected_centre = centre
        self._movement = {}

    def _near_face(self, box):
        x, y, w, h = box
        return (abs(x + w / 2 - self.expected_centre[0]) < 0.25 * w
                and abs(y + h / 2 - self.expected_centre[1]) < 0.25 * h)

    def movement(self, label):
        """Per frame pixel, where the class's movement takes the photograph (unit peak)."""
        if label not in self._movement:
            dx, dy = np.zeros_like(self.src_x), np.zeros_like(self.src_y)
            for (cx, cy), (vx, vy) in MOVEMENTS[label]:
                weight = np.exp(-((self.src_x - cx) ** 2 + (self.src_y - cy) ** 2)
                                / (2 * MOVEMENT_SIGMA ** 2))
                dx += vx * weight
                dy += vy * weight
            self._movement[label] = (dx.astype(np.float32), dy.astype(np.float32))
        return self._movement[label]

    def render(self, label, shift, jitter, rng):
        """One float32 frame: movement ``shift`` (frame px) of class ``label``, jittered."""
        jitter_src = self.inverse @ jitter
        map_x = self.src_x - np.float32(jitter_src[0])
        map_y = self.src_y - np.float32(jitter_src[1])
        if label is not None and shift:
            dx, dy = self.movement(label)
            map_x -= np.float32(shift / self.scale) * dx
            map_y -= np.float32(shift / self.scale) * dy
        frame = cv2.remap(self.photo, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frame *= np.float32(self.contrast)
        frame += np.float32(self.brightness)
        if rng is not None:
            frame += NOISE_SIGMA * rng.standard_normal(frame.shape, dtype=np.float32)
        return frame

    def _to_uint8(self, frame):
        return np.clip(np.rint(frame), 0, 255).astype(np.uint8)

    def image(self, frame):
        """The frame as the release stores it: grey (SAMM) or 3-channel BGR."""
        grey = self._to_uint8(frame)
        if self.mode == "grey":
            return grey
        return cv2.merge([self._to_uint8(frame * np.float32(t)) for t in self.tint])


def intensity(number, onset, apex, offset):
    """Movement profile: 0 at onset, 1 at the apex, back to 0 at offset (smooth)."""
    if number <= apex:
        return 1.0 if apex == onset else math.sin(0.5 * math.pi * (number - onset) / (apex - onset)) ** 2
    return math.cos(0.5 * math.pi * (number - apex) / (offset - apex)) ** 2


# --- clip plans ----------------------------------------------------------------

@dataclasses.dataclass
class Clip:
    """One synthetic clip: identity on disk and in the sheet, timing, movement."""
    dataset: str
    subject: int
    name: str
    emotion: str
    label: object        # 0..2, or None for rows outside the composite
    selected: bool       # part of the official composite
    onset: int
    apex: int
    offset: int
    sheet_apex: object   # what the sheet says ('/' for the oddity)
    peak: float
    seed: tuple
    padding: int = 0     # SAMM: digits of the frame numbers


def _spread(counts, n_slots):
    """Assign ``counts`` (name -> n) to n_slots positions, evenly interleaved."""
    names = sorted(((i + 0.5) / n, name) for name, n in counts.items() for i in range(n))
    if len(names) != n_slots:
        raise ValueError("%d names for %d slots" % (len(names), n_slots))
    return [name for _, name in names]


def _timing(rng, frames, first):
    """(onset, apex, offset) for a clip of ``frames`` frames starting at ``first``."""
    offset = first + frames - 1
    apex = first + int(round(rng.uniform(0.35, 0.6) * (frames - 1)))
    return first, apex, offset


CASME2_NAME_SHAPES = ("EP%02d_%02df", "EP%02d_%02d", "EP%02d_%d", "EP%02d_%02d_01", "EP%02df")


def _casme2_name(index):
    """Filename shapes of the real sheet: EP02_01f, EP02_01, EP01_2, EP06_02_01, EP09f.

    The episode number is index + 1, so names are unique within a subject
    and repeat across subjects, as in the real sheet."""
    shape = CASME2_NAME_SHAPES[index % len(CASME2_NAME_SHAPES)]
    return shape % ((index + 1, 1 + index % 7) if shape.count("%") == 2 else (index + 1,))


def _casme2_rows(preset):
    """``{subject: [what, ...]}``: a class index for a composite row, 'slash' or
    'onset' for the two official exclusions, an emotion name for an excluded row."""
    rows = {}
    for subject, counts in sorted(preset.casme2_counts.items()):
        for label, n in enumerate(counts):
            rows.setdefault(subject, []).extend([label] * n)
    rows.setdefault(CASME2_APEX_SLASH[0], []).append("slash")
    rows.setdefault(CASME2_APEX_ONSET[0], []).append("onset")
    order = list(preset.casme2_excluded_subjects) + sorted(set(preset.casme2_counts)
                                                           - set(preset.casme2_excluded_subjects))
    excluded = _spread(preset.casme2_excluded, sum(preset.casme2_excluded.values()))
    for position, emotion in enumerate(excluded):
        rows.setdefault(order[position % len(order)], []).append(emotion)
    return rows


def plan_casme2(preset, seed):
    """The CASME II rows: composite rows, the two official exclusions, excluded emotions."""
    rows = _casme2_rows(preset)
    negatives = sum(1 for whats in rows.values() for what in whats if what in (0, "slash", "onset"))
    repression = int(round(preset.casme2_repression_share * negatives))
    negative_names = iter(_spread({"repression": repression, "disgust": negatives - repression}, negatives))
    clips = []
    for subject in sorted(rows):
        for index, what in enumerate(rows[subject]):
            rng = np.random.default_rng([seed, 0, subject, index])
            special = what in ("slash", "onset")
            label = 0 if special else (what if isinstance(what, int) else None)
            emotion = next(negative_names) if label == 0 else {1: "happiness", 2: "surprise"}.get(label, what)
            name = {"slash": CASME2_APEX_SLASH[1], "onset": CASME2_APEX_ONSET[1]}.get(what, _casme2_name(index))
            frames = int(rng.integers(*_frame_range(preset, label is not None)))
            # the first clip of a subject crosses 99 -> 100: text order would be wrong
            first = 100 - frames // 2 if index == 0 else int(rng.integers(1, 250))
            onset, apex, offset = _timing(rng, frames, first)
            if what == "onset":
                apex = onset
            clips.append(Clip("casme2", subject, name, emotion, label, isinstance(what, int), onset, apex,
                              offset, "/" if what == "slash" else apex, rng.uniform(*PEAK_SHIFT),
                              (seed, 0, subject, index)))
    return clips


def _frame_range(preset, composite_row):
    low, high = preset.clip_frames if composite_row else preset.excluded_frames
    return low, high + 1


def plan_samm(preset, seed):
    """The SAMM rows: composite rows (five negative emotions) and 'Other' rows."""
    rows = {}
    for subject, counts in sorted(preset.samm_counts.items()):
        for label, n in enumerate(counts):
            rows.setdefault(subject, []).extend([label] * n)
    order = list(preset.samm_other_subjects) + sorted(preset.samm_counts)
    for position in range(preset.samm_other):
        rows.setdefault(order[position % len(order)], []).append(None)
    negatives = _spread(preset.samm_negatives, sum(1 for r in rows.values() for label in r if label == 0))
    clips, next_negative = [], 0
    for subject in sorted(rows):
        padding = 5 if subject % 3 == 0 else 4        # 4- or 5-digit frame numbers per source video
        first = 1000
        for index, label in enumerate(rows[subject]):
            rng = np.random.default_rng([seed, 1, subject, index])
            if label == 0:
                emotion, next_negative = negatives[next_negative], next_negative + 1
            else:
                emotion = {1: "Happiness", 2: "Surprise", None: "Other"}[label]
            frames = int(rng.integers(*_frame_range(preset, label is not None)))
            first += int(rng.integers(100, 400))       # 4-digit videos stay below 10000
            onset, apex, offset = _timing(rng, frames, first)
            first = offset
            name = "%03d_%d_%d" % (subject, 1 + index % 7, 1 + index // 7)
            clips.append(Clip("samm", subject, name, emotion, label, label is not None, onset, apex,
                              offset, apex, rng.uniform(*PEAK_SHIFT), (seed, 1, subject, index),
                              padding))
    return clips


def plan_smic(preset, seed):
    """The SMIC-HS clips; one subject's frame numbers cross from 6 to 7 digits."""
    clips = []
    for subject, counts in sorted(preset.smic_counts.items()):
        labels = [label for label, n in enumerate(counts) for _ in range(n)]
        first = 999990 if subject == preset.smic_seven_digit_subject else 10000 + 37000 * subject
        for index, label in enumerate(labels):
            rng = np.random.default_rng([seed, 2, subject, index])
            frames = int(rng.integers(*_frame_range(preset, True)))
            if index or subject != preset.smic_seven_digit_subject:
                first += int(rng.integers(100, 2000))
            onset, apex, offset = _timing(rng, frames, first)
            first = offset
            # SMIC has no apex annotation: the reader takes the middle frame
            apex = onset + frames // 2
            code = ("ne", "po", "sur")[label]
            name = "s%d_%s_%02d" % (subject, code, index + 1)
            clips.append(Clip("smic", subject, name, ("negative", "positive", "surprise")[label], label,
                              True, onset, apex, offset, None, rng.uniform(*PEAK_SHIFT),
                              (seed, 2, subject, index)))
    return clips


# --- writing the releases -------------------------------------------------------

def render_clip(face, clip, write_frame):
    """Render a clip frame by frame; ``write_frame(number, image)`` stores each."""
    rng = np.random.default_rng(list(clip.seed) + [7])
    for number in range(clip.onset, clip.offset + 1):
        shift = clip.peak * intensity(number, clip.onset, clip.apex, clip.offset)
        frame = face.render(clip.label, shift, rng.normal(0.0, JITTER_SIGMA, 2), rng)
        write_frame(number, face.image(frame))


def _imwrite(path, image):
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.endswith(".jpg") else []
    if not cv2.imwrite(path, image, params):
        raise OSError("could not write %s" % path)


class ReleaseWriter:
    """Writes one dataset's clips as raw frames and, optionally, face crops."""

    def __init__(self, dataset, seed, cropped, clips, progress):
        self.dataset, self.seed, self.cropped = dataset, seed, cropped
        self.photo = _astronaut()
        self.faces = {}
        self.bar = tqdm(total=len(clips), desc="synth %s" % dataset, unit="clip", file=sys.stderr,
                        disable=not progress)

    def face(self, subject):
        if subject not in self.faces:
            rng = np.random.default_rng([self.seed, DATASET_CODES[self.dataset], subject, 10 ** 6])
            self.faces[subject] = SubjectFace(self.dataset, rng, self.photo)
        return self.faces[subject]

    def write(self, clip, raw_folder, raw_name, crop_folder=None, crop_name=None):
        """Write a clip's frames; ``*_name(number)`` gives each frame's file name."""
        face = self.face(clip.subject)
        os.makedirs(raw_folder, exist_ok=True)
        crop_box = None
        if self.cropped:
            os.makedirs(crop_folder, exist_ok=True)
            crop_box = expand_box(face.box, 0.1, face.width, face.height)

        def write_frame(number, image):
            _imwrite(os.path.join(raw_folder, raw_name(number)), image)
            if crop_box is not None:
                x, y, w, h = crop_box
                _imwrite(os.path.join(crop_folder, crop_name(number)), image[y:y + h, x:x + w])

        render_clip(face, clip, write_frame)
        self.bar.update(1)


DATASET_CODES = {"casme2": 0, "samm": 1, "smic": 2}


def write_casme2(root, clips, seed, preset, cropped, integer_subjects, progress=False):
    """CASME2-coding-*.xlsx plus CASME2_RAW_selected/[CASME2_RAW_selected/]subNN/... frames."""
    frames_root = os.path.join(root, "CASME2_RAW_selected")
    if preset.casme2_double_nesting:
        frames_root = os.path.join(frames_root, "CASME2_RAW_selected")
    writer = ReleaseWriter("casme2", seed, cropped, clips, progress)
    for clip in clips:
        folder = os.path.join(frames_root, "sub%02d" % clip.subject, clip.name)
        writer.write(clip, folder, lambda n: "img%d.jpg" % n,
                     os.path.join(root, "Cropped", "sub%02d" % clip.subject, clip.name),
                     lambda n: "reg_img%d.jpg" % n)
    first = clips[0]
    write_text(os.path.join(frames_root, "sub%02d" % first.subject, first.name, "Thumbs.db"), "stray\n")
    write_text(os.path.join(frames_root, "sub%02d" % first.subject, ".DS_Store"), "stray\n")
    write_text(os.path.join(root, "readme.txt"), "Synthetic CASME II stand-in (atnet data_prep/synth.py).\n")
    write_casme2_sheet(root, clips, integer_subjects)


def write_casme2_sheet(root, clips, integer_subjects=False):
    """The coding sheet: Sheet1 with blank columns C and G, empty Sheet2/Sheet3.

    Subject is text ('01', the 2014 sheet) or an integer (the 2019 sheet)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Sheet1"
    sheet.append(["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                  "Action Units", "Estimated Emotion"])
    for index, clip in enumerate(clips):
        subject = clip.subject if integer_subjects else "%02d" % clip.subject
        action_units = (4, "4+L10", "R12", 1, "1+2+25")[index % 5]      # numbers and strings
        sheet.append([subject, clip.name, None, clip.onset, clip.sheet_apex, clip.offset, None,
                      action_units, clip.emotion])
    workbook.create_sheet("Sheet2")
    workbook.create_sheet("Sheet3")
    name = "CASME2-coding-20190701.xlsx" if integer_subjects else "CASME2-coding-20140508.xlsx"
    _save(workbook, os.path.join(root, name))


def _save(workbook, path):
    with atomic_path(path) as tmp:
        workbook.save(tmp)


SAMM_PREAMBLE = (
    "SAMM - Spontaneous Actions and Micro-Movements: micro-movement FACS codes (version 2)",
    None,
    "SYNTHETIC STAND-IN written by atnet data_prep/synth.py -- not the real SAMM data.",
    "Please cite the SAMM paper (Davison et al., IEEE Trans. Affective Computing, 2018) when using SAMM.",
    None,
    "Update: the Estimated Emotion column follows the objective classes of the MEGC challenges.",
    None,
    "Key:",
    "L - Left, R - Right, A - Asymmetrical",
    "? - uncertain coding",
    "Micro - 1/2: duration at most half a second",
    None,
    None,
)
SAMM_HEADER = ("Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame",
               "Duration", "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes")


def write_samm(root, clips, seed, cropped, progress=False):
    """SAMM_Micro_FACS_Codes_v2.xlsx plus SSS/SSS_I_K/SSS_NNNN(N).jpg frames."""
    writer = ReleaseWriter("samm", seed, cropped, clips, progress)
    for clip in clips:
        subject = "%03d" % clip.subject

        def frame_name(number, subject=subject, padding=clip.padding):
            return "%s_%0*d.jpg" % (subject, padding, number)
        writer.write(clip, os.path.join(root, subject, clip.name), frame_name,
                     os.path.join(root, "SAMM_CROP", subject, clip.name), frame_name)
    write_text(os.path.join(root, "%03d" % clips[0].subject, clips[0].name, "desktop.ini"), "stray\n")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "MICRO_ONLY"
    for line in SAMM_PREAMBLE:
        sheet.append([line])
    sheet.append(SAMM_HEADER)
    for clip in clips:
        row = sheet.max_row + 1
        sheet.append(["%03d" % clip.subject, clip.name, int(clip.name.split("_")[1]), clip.onset,
                      clip.sheet_apex, clip.offset, "=F%d-D%d+1" % (row, row), "Micro - 1/2",
                      ("R14", "4+7", "12", "1+2")[row % 4], clip.emotion, 1 + row % 7, None])
    _save(workbook, os.path.join(root, "SAMM_Micro_FACS_Codes_v2.xlsx"))


def write_smic(root, clips, seed, cropped, progress=False):
    """SMIC_all_raw/HS/sN/micro/<emotion>/sN_xx_KK/imageNNNNNN.bmp, with NIR, VIS, non_micro."""
    writer = ReleaseWriter("smic", seed, cropped, clips, progress)
    hs = os.path.join(root, "SMIC_all_raw", "HS")
    for clip in clips:
        relative = os.path.join("s%d" % clip.subject, "micro", clip.emotion, clip.name)
        writer.write(clip, os.path.join(hs, relative), lambda n: "image%06d.bmp" % n,
                     os.path.join(root, "SMIC_all_cropped", "HS", relative), lambda n: "reg_image%06d.bmp" % n)
    # Not part of the composite; the reader must leave them alone.
    first = clips[0]
    neutral = writer.face(first.subject).image(writer.face(first.subject).render(None, 0, np.zeros(2), None))
    for other in ("NIR", "VIS"):
        folder = os.path.join(root, "SMIC_all_raw", other, "s%d" % first.subject, "micro", first.emotion, first.name)
        os.makedirs(folder, exist_ok=True)
        for number in (first.onset, first.onset + 1):
            _imwrite(os.path.join(folder, "image%06d.bmp" % number), cv2.cvtColor(neutral, cv2.COLOR_BGR2GRAY))
    non_micro = os.path.join(hs, "s%d" % first.subject, "non_micro", "s%d_no_01" % first.subject)
    os.makedirs(non_micro, exist_ok=True)
    _imwrite(os.path.join(non_micro, "image%06d.bmp" % (first.onset - 500)), neutral)
    write_text(os.path.join(hs, "Thumbs.db"), "stray\n")


def ground_truth_lines(clips):
    """The clips of the official composite in combined_3class_gt.csv style."""
    lines = []
    for clip in clips:
        if not clip.selected:
            continue
        if clip.dataset == "casme2":
            subject, sample = "sub%02d" % clip.subject, clip.name
        elif clip.dataset == "samm":
            subject, sample = str(clip.subject), clip.name
        else:
            subject = "s%02d" % clip.subject
            sample = subject + clip.name[clip.name.index("_"):]
        lines.append("%s,%s,%s,%d\n" % (clip.dataset, subject, sample, clip.label))
    return lines


def get_preset(preset):
    """A Preset from its name (or the Preset itself)."""
    return PRESETS[preset] if isinstance(preset, str) else preset


def plan(preset, seed):
    """All clips of a preset (name or Preset): ``{dataset: [Clip, ...]}``."""
    preset = get_preset(preset)
    return {"casme2": plan_casme2(preset, seed), "samm": plan_samm(preset, seed),
            "smic": plan_smic(preset, seed)}


def generate(out, preset="tiny", seed=0, cropped=False, casme2_integer_subjects=False,
             overwrite=False, progress=False):
    """Write ``out/CASME2``, ``out/SAMM``, ``out/SMIC`` and ``out/combined_3class_gt.csv``.

    ``preset`` is a name from PRESETS or a Preset (tests build smaller ones).
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


def expected_counts(preset):
    """The preset's composite counts: ``{dataset: (negative, positive, surprise)}``."""
    preset = get_preset(preset)
    return {dataset: tuple(sum(c[k] for c in counts.values()) for k in range(3))
            for dataset, counts in (("casme2", preset.casme2_counts), ("samm", preset.samm_counts),
                                    ("smic", preset.smic_counts))}

