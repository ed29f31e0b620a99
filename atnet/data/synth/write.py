"""The dataset writers: a planned clip list -> one release root in its real layout.

Folders, file names, frame-number padding, .xlsx sheets (blank columns, text
Subject cells, SAMM's 13-row preamble) and stray files as the releases
unpack: CASME II (``write_casme2``), SAMM (``write_samm``), SMIC-HS with its
NIR, VIS and non_micro folders (``write_smic``), and the official-style
ground-truth lines of the composite clips (``ground_truth_lines``).
"""
import os
import sys

import cv2
import numpy as np
import openpyxl
from tqdm import tqdm

from atnet.common import atomic_path, write_text
from atnet.data.face import expand_box
from atnet.data.synth.render import SubjectFace, astronaut, render_clip


def _imwrite(path, image):
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.endswith(".jpg") else []
    if not cv2.imwrite(path, image, params):
        raise OSError("could not write %s" % path)


class ReleaseWriter:
    """Writes one dataset's clips as raw frames and, optionally, face crops."""

    def __init__(self, dataset, seed, cropped, clips, progress):
        self.dataset, self.seed, self.cropped = dataset, seed, cropped
        self.photo = astronaut()
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
