"""One sequence's outputs: the face box on its peak frame and the grey 224 x 224 crops
of its picked frames, all cut with that box, plus the sequence's cache record.

``process(task, out, margin)`` runs in a worker process (atnet.macro.prepare).
The face box comes from the release's landmarks when it has them (CK+: the
68 points of the peak frame; their bounding box, made square about its
centre) or else from OpenCV's Haar cascade on the peak frame
(atnet.data.face, as the micro pipeline); either is then grown by the margin
and fitted into the frame. Every picked frame (the neutral first frame
too) is cut with that one box.

The cache key of a sequence covers its picked frame files (names, sizes,
modification times), its landmarks, the parameters of ``face_params`` and
``outputs_code()`` (the source of OUTPUT_MODULE_NAMES and the OpenCV and
NumPy versions): labels and splits are applied when the index is written,
so changing them rewrites no image.
"""
import dataclasses
import hashlib
import os

import cv2
import numpy as np

from atnet.common import InputError, write_bytes, write_json
from atnet.data import sample_outputs
from atnet.data.face import DETECTOR_PARAMS, crop_face, detect_face, expand_box
from atnet.data.frames import read_grey

IMAGE_SIZE = 224
OUTPUT_MODULE_NAMES = ("atnet.data.frames", "atnet.data.face", "atnet.macro.outputs")


@dataclasses.dataclass(frozen=True)
class SequenceTask:
    """What a worker needs for one sequence (picklable)."""
    dataset: str
    subject: str
    sequence: str
    peak_path: str
    paths: tuple          # picked frames, in pick order
    numbers: tuple        # their frame numbers
    landmarks: tuple      # 68 (x, y) of the peak frame, or None
    fingerprint: str

    @property
    def key(self):
        return "%s-%s-%s" % (self.dataset, self.subject, self.sequence)


def face_params(margin):
    """The parameters that decide every crop (recorded in the manifest)."""
    return dict(DETECTOR_PARAMS, margin=margin, size=IMAGE_SIZE,
                landmarks="bounding box of the peak frame's 68 points, made square about its centre",
                resize="INTER_AREA when shrinking, INTER_LINEAR when enlarging", colour="grey (IMREAD_GRAYSCALE)")


def outputs_code():
    """sha256 over the source of OUTPUT_MODULE_NAMES and the OpenCV and NumPy versions."""
    return sample_outputs.outputs_code(OUTPUT_MODULE_NAMES)


def params_digest(params):
    """The part of every sequence's cache key shared by the run."""
    return sample_outputs.params_digest(params, OUTPUT_MODULE_NAMES)


def image_path(dataset, subject, sequence, number):
    """Relative path of one picked frame's crop."""
    return "images/%s/%s/%s/%d.png" % (dataset, subject, sequence, number)


def record_path(dataset, subject, sequence):
    """Relative path of a sequence's cache record."""
    return "sequences/%s/%s/%s.json" % (dataset, subject, sequence)


def landmark_box(points, width, height):
    """The square box about the landmarks' bounding box, inside a width x height frame."""
    points = np.asarray(points, dtype=np.float64)
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    side = int(round(max(x1 - x0, y1 - y0)))
    if side < 8:
        raise ValueError("landmarks span only %d pixels" % side)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    side = min(side, width, height)
    x = min(max(int(round(cx - side / 2.0)), 0), width - side)
    y = min(max(int(round(cy - side / 2.0)), 0), height - side)
    return (x, y, side, side)


def sequence_box(task, peak, margin):
    """(box, source) of a sequence: from its landmarks, else detected on the peak frame."""
    height, width = peak.shape
    if task.landmarks is not None:
        try:
            return expand_box(landmark_box(task.landmarks, width, height), margin, width, height), "landmarks"
        except ValueError as err:
            raise InputError("%s: landmarks of %s unusable (%s)" % (task.peak_path, task.key, err)) from None
    found = detect_face(peak)
    if found is None:
        raise InputError("%s: no face found on the peak frame of %s" % (task.peak_path, task.key))
    return expand_box(found, margin, width, height), "detector"


def encode_png(image, where):
    ok, png = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError("PNG encoding failed for %s" % where)
    return png.tobytes()


def process(task, out, margin):
    """Write one sequence's crops and its record (last); return the record."""
    peak = read_grey(task.peak_path)
    box, source = sequence_box(task, peak, margin)
    images = []
    for path, number in zip(task.paths, task.numbers):
        frame = peak if path == task.peak_path else read_grey(path)
        if frame.shape != peak.shape:
            raise InputError("%s: frame is %dx%d, the peak frame %s is %dx%d" % (
                path, frame.shape[1], frame.shape[0], os.path.basename(task.peak_path), peak.shape[1], peak.shape[0]))
        data = encode_png(crop_face(frame, box, IMAGE_SIZE), path)
        relative = image_path(task.dataset, task.subject, task.sequence, number)
        write_bytes(os.path.join(out, relative), data)
        images.append({"frame": number, "image": relative, "sha256": hashlib.sha256(data).hexdigest()})
    record = {"fingerprint": task.fingerprint, "box": list(box), "box_source": source,
              "frame_size": [peak.shape[1], peak.shape[0]], "images": images}
    write_json(os.path.join(out, record_path(task.dataset, task.subject, task.sequence)), record)
    return record
