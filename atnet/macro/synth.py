"""Synthetic CK+, Oulu-CASIA, JAFFE and MUG releases in their exact layouts, with their oddities.

The real datasets are licensed, so every reader is tested on stand-ins
written the way the releases unpack (atnet/macro/<dataset>.py describe the
layouts): CK+ with 8-digit frame numbers from 1, emotion files named after
the last frame holding one float (``   3.0000000e+00``), unlabelled
sequences (no emotion folder, or an empty one), 68-point landmark files for
some subjects, colour frames for some, FACS files, dot-files and either
nesting; Oulu-CASIA with VL and NI sensors, three illuminations, frames
from 000.jpeg, persons lacking an emotion folder, an optional prefix folder
and an unread PreProcess Img set; JAFFE as one folder of 1- and 3-channel
TIFFs named ``KA.AN1.39.tiff`` with a ratings table whose running N is not
the image number; MUG with an optional session level, frame numbers that do
not start at 0, takes that start and end neutral, takes ending in 'end' and
very short takes. Frames show the micro synth's face (atnet.macro.faces)
with an emotion-dependent movement. A seed gives the same files on every
machine. Presets: ``tiny`` (tests, the demo), ``pretrain`` (the
pre-training comparison, docs/pretraining.md) and ``release`` (the
releases' sequence and image counts, small frames, short sequences).
"""
import dataclasses
import os
import sys

import cv2
import numpy as np
from tqdm import tqdm

from atnet.common import InputError, atomic_path, write_json, write_text
from atnet.data.synth.render import JITTER_SIGMA, astronaut, intensity
from atnet.macro.faces import PEAK_RANGE, MacroFace
from atnet.macro.labels import BASIC6, JAFFE_CODES
from atnet.macro.sequences import MACRO_DATASETS, MACRO_FOLDERS

ROOT_NAMES = MACRO_FOLDERS
DATASET_CODES = {"ckplus": 10, "oulu": 11, "jaffe": 12, "mug": 13}
#: Frame size (w, h), detector face size, stored colour: about a quarter of the real sizes.
LOOKS = {"ckplus": ((160, 122), 64, "grey"), "oulu": ((160, 120), 64, "colour"),
         "jaffe": ((128, 128), 72, "grey"), "mug": ((192, 192), 80, "colour")}
#: Oulu-CASIA illumination as (gain, bias) of the grey levels; NI frames are grey.
ILLUMINATION = {"Strong": (1.0, 0.0), "Weak": (0.8, -10.0), "Dark": (0.6, -20.0)}
CK_EMOTIONS = ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")
CK_CODES = {"neutral": 0, "anger": 1, "contempt": 2, "disgust": 3, "fear": 4, "happiness": 5, "sadness": 6,
            "surprise": 7}


@dataclasses.dataclass(frozen=True)
class MacroPreset:
    """The content of one synthetic macro release set (see the presets below)."""
    ckplus_subjects: int
    ckplus_labelled: dict          # emotion -> labelled sequences
    ckplus_unlabelled: int
    ckplus_frames: tuple           # (min, max) frames a sequence
    ckplus_nested: bool            # extended-cohn-kanade-images/cohn-kanade-images, Emotion_labels/Emotion
    ckplus_landmark_every: int     # every n-th subject has landmark files (0: none)
    oulu_subjects: int
    oulu_sensors: tuple
    oulu_illuminations: tuple
    oulu_missing: int              # (person, emotion) folders left out
    oulu_frames: tuple
    oulu_prefix: bool              # a prefix folder above OriginalImg
    jaffe_posers: int
    jaffe_counts: dict             # code -> images
    jaffe_folder: str              # '' (flat root) or 'jaffedbase'
    mug_subjects: int
    mug_takes: tuple               # (min, max) takes per emotion
    mug_frames: tuple
    mug_session_every: int         # every n-th subject has a session level
    mug_end_takes: int
    mug_short_takes: int


#: The releases' counts (pretraining.md): CK+'s 327 labelled sequences per emotion, JAFFE's 213 images per code.
CKPLUS_RELEASE_LABELLED = {"anger": 45, "contempt": 18, "disgust": 59, "fear": 25, "happiness": 69, "sadness": 28,
                           "surprise": 83}
JAFFE_RELEASE_COUNTS = {"AN": 30, "DI": 29, "FE": 32, "HA": 31, "NE": 30, "SA": 31, "SU": 30}

PRESETS = {
    "tiny": MacroPreset(
        ckplus_subjects=4, ckplus_labelled={"anger": 2, "contempt": 1, "disgust": 1, "fear": 1, "happiness": 2,
                                            "sadness": 1, "surprise": 2},
        ckplus_unlabelled=3, ckplus_frames=(5, 8), ckplus_nested=True, ckplus_landmark_every=2,
        oulu_subjects=3, oulu_sensors=("VL", "NI"), oulu_illuminations=("Strong", "Dark"), oulu_missing=1,
        oulu_frames=(5, 7), oulu_prefix=True,
        jaffe_posers=3, jaffe_counts={code: 3 for code in JAFFE_CODES}, jaffe_folder="jaffedbase",
        mug_subjects=3, mug_takes=(1, 1), mug_frames=(11, 14), mug_session_every=3, mug_end_takes=1,
        mug_short_takes=1),
    "pretrain": MacroPreset(
        ckplus_subjects=40, ckplus_labelled={"anger": 15, "contempt": 6, "disgust": 20, "fear": 9,
                                             "happiness": 23, "sadness": 10, "surprise": 27},
        ckplus_unlabelled=20, ckplus_frames=(5, 8), ckplus_nested=False, ckplus_landmark_every=2,
        oulu_subjects=24, oulu_sensors=("VL", "NI"), oulu_illuminations=("Strong",), oulu_missing=4,
        oulu_frames=(5, 7), oulu_prefix=False,
        jaffe_posers=10, jaffe_counts=JAFFE_RELEASE_COUNTS,
        jaffe_folder="jaffedbase",
        mug_subjects=16, mug_takes=(1, 2), mug_frames=(11, 14), mug_session_every=4, mug_end_takes=3,
        mug_short_takes=2),
    "release": MacroPreset(
        ckplus_subjects=123, ckplus_labelled=CKPLUS_RELEASE_LABELLED,
        ckplus_unlabelled=266, ckplus_frames=(4, 7), ckplus_nested=False, ckplus_landmark_every=1,
        oulu_subjects=80, oulu_sensors=("VL", "NI"), oulu_illuminations=("Strong", "Weak", "Dark"),
        oulu_missing=6, oulu_frames=(4, 6), oulu_prefix=True,
        jaffe_posers=10, jaffe_counts=JAFFE_RELEASE_COUNTS,
        jaffe_folder="jaffedbase",
        mug_subjects=52, mug_takes=(1, 2), mug_frames=(10, 14), mug_session_every=3, mug_end_takes=8,
        mug_short_takes=5),
}


def get_preset(preset):
    """A MacroPreset from its name (or the preset itself)."""
    if isinstance(preset, MacroPreset):
        return preset
    if preset not in PRESETS:
        raise InputError("unknown macro synth preset %r (choose from %s)" % (preset, ", ".join(PRESETS)))
    return PRESETS[preset]


class Faces:
    """One MacroFace per (dataset, subject), each from its own seeded generator."""

    def __init__(self, dataset, seed):
        self.dataset, self.seed, self.photo, self.faces = dataset, seed, astronaut(), {}

    def __call__(self, subject_index):
        if subject_index not in self.faces:
            rng = np.random.default_rng([self.seed, DATASET_CODES[self.dataset], subject_index, 10 ** 6])
            self.faces[subject_index] = MacroFace(LOOKS[self.dataset], rng, self.photo)
        return self.faces[subject_index]


def render_sequence(face, emotion, numbers, apex, rng):
    """Float frames of one sequence: the emotion's movement rises from the first frame to ``apex``
    (and falls back to the last frame when the apex is inside), jittered and noisy."""
    peak = rng.uniform(*PEAK_RANGE) * face.face_px
    onset, offset = numbers[0], numbers[-1]
    frames = []
    for number in numbers:
        shift = peak * intensity(number, onset, apex, max(offset, apex + 1))
        frames.append(face.render(emotion if emotion != "neutral" else None, shift,
                                  rng.normal(0.0, JITTER_SIGMA, 2), rng))
    return frames


def _imwrite(path, image):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.endswith((".jpg", ".jpeg")) else []
    if not cv2.imwrite(path, image, params):
        raise OSError("could not write %s" % path)


def _spread(rng, items, slots):
    """Deal ``items`` over ``slots`` positions: every slot gets one first (if enough), the rest at random."""
    items = list(items)
    rng.shuffle(items)
    order = list(range(slots))
    assignment = {}
    for index, item in enumerate(items):
        slot = order[index] if index < slots else int(rng.integers(slots))
        assignment.setdefault(slot, []).append(item)
    return assignment


# --- CK+ ------------------------------------------------------------------------------

def write_ckplus(root, preset, seed, progress=False):
    """cohn-kanade-images/S###/###/S###_###_########.png, Emotion/, Landmarks/, FACS/."""
    rng = np.random.default_rng([seed, DATASET_CODES["ckplus"]])
    images = os.path.join(root, "extended-cohn-kanade-images" if preset.ckplus_nested else "", "cohn-kanade-images")
    emotions = os.path.join(root, "Emotion_labels" if preset.ckplus_nested else "", "Emotion")
    numbers = sorted(rng.choice(np.arange(5, 1000), preset.ckplus_subjects, replace=False).tolist())
    kinds = [e for e, n in sorted(preset.ckplus_labelled.items()) for _ in range(n)] + [None] * preset.ckplus_unlabelled
    dealt = _spread(rng, kinds, preset.ckplus_subjects)
    faces = Faces("ckplus", seed)
    unlabelled_seen = 0
    bar = tqdm(total=len(kinds), desc="synth CK+", unit="seq", file=sys.stderr, disable=not progress)
    for index, number in enumerate(numbers):
        subject = "S%03d" % number
        face = faces(index)
        colour = index % 3 == 1                      # some subjects were filmed in colour
        with_landmarks = preset.ckplus_landmark_every and index % preset.ckplus_landmark_every == 0
        for position, emotion in enumerate(dealt.get(index, [])):
            name = "%03d" % (position + 1 + (position >= 2))      # sequence numbers have gaps: 001 002 004
            seq_rng = np.random.default_rng([seed, DATASET_CODES["ckplus"], index, position])
            count = int(seq_rng.integers(preset.ckplus_frames[0], preset.ckplus_frames[1] + 1))
            frame_numbers = list(range(1, count + 1))
            frames = render_sequence(face, emotion or BASIC6[int(seq_rng.integers(6))], frame_numbers, count, seq_rng)
            folder = os.path.join(images, subject, name)
            for frame_number, frame in zip(frame_numbers, frames):
                stem = "%s_%s_%08d" % (subject, name, frame_number)
                _imwrite(os.path.join(folder, stem + ".png"), face.to_image(frame, colour))
                if with_landmarks:
                    points = face.landmarks()
                    write_text(os.path.join(root, "Landmarks", subject, name, stem + "_landmarks.txt"),
                               "".join("   %.7e   %.7e\n" % (x, y) for x, y in points))
            last = "%s_%s_%08d" % (subject, name, count)
            if emotion is not None:
                write_text(os.path.join(emotions, subject, name, last + "_emotion.txt"),
                           "   %.7e\n" % CK_CODES[emotion])
                write_text(os.path.join(root, "FACS", subject, name, last + "_facs.txt"),
                           "   1.0000000e+00   0.0000000e+00\n")
            else:
                unlabelled_seen += 1
                if unlabelled_seen % 2:                  # real copies: an empty folder, or none
                    os.makedirs(os.path.join(emotions, subject, name), exist_ok=True)
            bar.update(1)
        if index == 0 and dealt.get(index):
            write_text(os.path.join(images, subject, ".DS_Store"), "stray\n")
            write_text(os.path.join(images, subject, "001", "._%s_001_00000001.png" % subject), "AppleDouble\n")
    bar.close()
    write_text(os.path.join(root, "ReadMeCohnKanadeDatabase_website.txt"),
               "Synthetic CK+ stand-in (atnet data_prep/synth_macro.py), not the real data.\n")
    return {"sequences": len(kinds), "labelled": sum(preset.ckplus_labelled.values()), "subjects": len(numbers)}


# --- Oulu-CASIA ------------------------------------------------------------------------

OULU_EMOTIONS = ("Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise")


def write_oulu(root, preset, seed, progress=False):
    """[prefix/]OriginalImg/{VL,NI}/{Strong,Weak,Dark}/P###/<Emotion>/###.jpeg, with missing folders."""
    rng = np.random.default_rng([seed, DATASET_CODES["oulu"]])
    base = os.path.join(root, "Oulu-CASIA NIR&VIS facial expression database" if preset.oulu_prefix else "")
    original = os.path.join(base, "OriginalImg")
    pairs = [(p, e) for p in range(preset.oulu_subjects) for e in OULU_EMOTIONS]
    missing = {pairs[i] for i in rng.choice(len(pairs), preset.oulu_missing, replace=False)}
    faces = Faces("oulu", seed)
    total = (len(pairs) - len(missing)) * len(preset.oulu_sensors) * len(preset.oulu_illuminations)
    bar = tqdm(total=total, desc="synth Oulu-CASIA", unit="seq", file=sys.stderr, disable=not progress)
    for person, emotion in pairs:
        if (person, emotion) in missing:
            continue
        face = faces(person)
        seq_rng = np.random.default_rng([seed, DATASET_CODES["oulu"], person, OULU_EMOTIONS.index(emotion)])
        count = int(seq_rng.integers(preset.oulu_frames[0], preset.oulu_frames[1] + 1))
        frames = render_sequence(face, emotion.lower(), list(range(count)), count - 1, seq_rng)
        for sensor in preset.oulu_sensors:
            for illumination in preset.oulu_illuminations:
                gain, bias = ILLUMINATION[illumination]
                if sensor == "NI":
                    gain, bias = gain * 0.9, bias + 12.0       # infrared: flatter, brighter skin
                folder = os.path.join(original, sensor, illumination, "P%03d" % (person + 1), emotion)
                for number, frame in enumerate(frames):
                    _imwrite(os.path.join(folder, "%03d.jpeg" % number),
                             face.to_image(frame, sensor == "VL", gain, bias))
                bar.update(1)
    bar.close()
    write_text(os.path.join(base, "PreProcess Img", "README.txt"), "cropped set (not read)\n")
    write_text(os.path.join(original, "VL", "Thumbs.db"), "stray\n")
    return {"sequences": total, "subjects": preset.oulu_subjects, "missing_folders": len(missing)}


# --- JAFFE -------------------------------------------------------------------------------

RATING_HEADER = "  N   HAP  SAD  SUR  ANG  DIS  FEA  PIC\n"
RATED_EMOTION = {"HAP": "HA", "SAD": "SA", "SUR": "SU", "ANG": "AN", "DIS": "DI", "FEA": "FE"}


def write_jaffe(root, preset, seed, progress=False):
    """Flat KA.AN1.39.tiff images (1- and 3-channel), a README and the semantic-ratings table."""
    rng = np.random.default_rng([seed, DATASET_CODES["jaffe"]])
    folder = os.path.join(root, preset.jaffe_folder)
    posers = ("KA", "KL", "KM", "KR", "MK", "NA", "NM", "TM", "UY", "YM")[:preset.jaffe_posers]
    images = []                                   # (poser, code, repetition)
    for code, count in sorted(preset.jaffe_counts.items()):
        per_poser = _spread(rng, range(count), len(posers))
        for poser_index, items in per_poser.items():
            images += [(posers[poser_index], code, repetition + 1) for repetition in range(len(items))]
    images.sort(key=lambda item: (item[0], item[1], item[2]))
    faces = Faces("jaffe", seed)
    ratings = []
    for number, (poser, code, repetition) in enumerate(tqdm(images, desc="synth JAFFE", unit="img",
                                                             file=sys.stderr, disable=not progress), start=1):
        face = faces(posers.index(poser))
        img_rng = np.random.default_rng([seed, DATASET_CODES["jaffe"], number])
        frame = render_sequence(face, JAFFE_CODES[code], [0, 1], 1, img_rng)[-1]
        grey = face.to_image(frame, False)
        image = cv2.merge([grey, grey, grey]) if number % 2 else grey    # 3-channel grey or 1-channel
        _imwrite(os.path.join(folder, "%s.%s%d.%d.tiff" % (poser, code, repetition, number)), image)
        scores = {column: (4.6 if RATED_EMOTION[column] == code else 1.8) + img_rng.uniform(-0.3, 0.3)
                  for column in RATED_EMOTION}
        ratings.append(("%s-%s%d" % (poser, code, repetition), scores))
    order = rng.permutation(len(ratings))         # N is a running number in another order than the images
    lines = [RATING_HEADER] + ["%3d %s %s\n" % (n + 1, " ".join("%.2f" % ratings[i][1][c] for c in RATED_EMOTION),
                                                ratings[i][0]) for n, i in enumerate(order)]
    write_text(os.path.join(folder, "semantic_ratings.txt"), "".join(lines))
    write_text(os.path.join(folder, "README"), "Synthetic JAFFE stand-in (atnet data_prep/synth_macro.py).\n")
    write_text(os.path.join(folder, ".DS_Store"), "stray\n")
    return {"images": len(images), "posers": len(posers)}


# --- MUG ---------------------------------------------------------------------------------

MUG_EMOTIONS = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")


def write_mug(root, preset, seed, progress=False):
    """subjects3/###/[sessionN/]<emotion>/takeNNN/img_NNNN.jpg: neutral -> peak -> neutral takes."""
    rng = np.random.default_rng([seed, DATASET_CODES["mug"]])
    subjects = os.path.join(root, "subjects3")
    plan = []                                     # (subject, session, emotion, take, frames)
    for subject in range(preset.mug_subjects):
        session = "session1" if preset.mug_session_every and subject % preset.mug_session_every == 1 else None
        for emotion in MUG_EMOTIONS:
            for take in range(int(rng.integers(preset.mug_takes[0], preset.mug_takes[1] + 1))):
                plan.append([subject, session, emotion, "take%03d" % take,
                             int(rng.integers(preset.mug_frames[0], preset.mug_frames[1] + 1))])
    odd = rng.choice(len(plan), preset.mug_end_takes + preset.mug_short_takes, replace=False).tolist()
    for index in odd[:preset.mug_end_takes]:
        plan[index][3] += "end"                   # common loaders skip these
    for index in odd[preset.mug_end_takes:]:
        plan[index][4] = 3                        # a very short take
    faces = Faces("mug", seed)
    for position, (subject, session, emotion, take, count) in enumerate(
            tqdm(plan, desc="synth MUG", unit="take", file=sys.stderr, disable=not progress)):
        face = faces(subject)
        take_rng = np.random.default_rng([seed, DATASET_CODES["mug"], position])
        first = int(take_rng.integers(0, 40))      # frame numbers need not start at 0
        numbers = list(range(first, first + count))
        frames = render_sequence(face, emotion, numbers, numbers[count // 2], take_rng)
        folder = os.path.join(subjects, "%03d" % (subject + 1), *([session] if session else []), emotion, take)
        for number, frame in zip(numbers, frames):
            _imwrite(os.path.join(folder, "img_%04d.jpg" % number), face.to_image(frame, True))
    return {"takes": len(plan), "subjects": preset.mug_subjects}


WRITERS = {"ckplus": write_ckplus, "oulu": write_oulu, "jaffe": write_jaffe, "mug": write_mug}


def generate(out, preset="tiny", seed=0, datasets=MACRO_DATASETS, overwrite=False, progress=False):
    """Write ``out/CK+``, ``out/Oulu-CASIA``, ``out/JAFFE``, ``out/MUG`` (those of ``datasets``)
    and ``out/synth_macro.json``; each root is built under a temporary name and renamed when
    complete. An existing root is an InputError unless ``overwrite``. Returns the summary."""
    preset_name, preset = preset, get_preset(preset)
    summary = {}
    for dataset in datasets:
        root = os.path.join(out, ROOT_NAMES[dataset])
        if os.path.exists(root) and not overwrite:
            raise InputError("%s already exists (remove it, or pass --overwrite)" % root)
    for dataset in datasets:
        root = os.path.join(out, ROOT_NAMES[dataset])
        with atomic_path(root) as tmp:
            os.makedirs(tmp)
            summary[dataset] = WRITERS[dataset](tmp, preset, seed, progress)
            if os.path.exists(root):
                import shutil
                shutil.rmtree(root)
    write_json(os.path.join(out, "synth_macro.json"), {
        "preset": preset_name if isinstance(preset_name, str) else dataclasses.asdict(preset),
        "seed": seed, "datasets": summary})
    return summary
