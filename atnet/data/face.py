"""The face box of a clip and the face crops cut with it.

The paper located the face with ASM on the apex frame (manual crops where
ASM failed) and cut the same box from every frame. Two detectors, both
shipped inside registry packages (no download at run time):

- ``haar`` (default): OpenCV's frontal-face Haar cascade, bundled in the
  OpenCV wheel. Kept as the default: it is what every earlier prepared
  directory used, it is fast, and it finds every synthetic face.
- ``landmarks``: the box around 68 facial landmarks (jaw, brows, eyes,
  nose, mouth), closest to the paper's ASM crop: dlib's HOG face detector,
  then dlib's 68-point shape predictor from the face_recognition_models
  package (its ``shape_predictor_68_face_landmarks.dat``).

A manual box file overrides either.
"""
import csv
import os

import cv2
import numpy as np

from atnet.common import DATASETS, InputError

CASCADE_FILE = "haarcascade_frontalface_default.xml"
#: Recorded in the manifest; the detector runs on the apex frame scaled so its
#: longer side is at most ``max_side`` (SAMM frames are 2040 px wide).
DETECTOR_PARAMS = {"cascade": CASCADE_FILE, "scale_factor": 1.1, "min_neighbors": 5,
                   "min_size": 24, "max_side": 640}
BOX_COLUMNS = ("dataset", "subject", "sample", "x", "y", "w", "h")

#: name -> the parameters recorded in the manifest.
FACE_DETECTORS = {
    "haar": DETECTOR_PARAMS,
    "landmarks": {"detector": "dlib.get_frontal_face_detector (HOG), upsample 1",
                  "landmarks": "dlib.shape_predictor, face_recognition_models "
                               "shape_predictor_68_face_landmarks.dat",
                  "box": "bounding box of the 68 landmarks", "max_side": DETECTOR_PARAMS["max_side"]},
}
DEFAULT_FACE = "haar"

_cascade = None
_dlib_models = None


def _detector():
    """The cascade, loaded once per process (it cannot be pickled to workers)."""
    global _cascade
    if _cascade is None:
        path = os.path.join(cv2.data.haarcascades, CASCADE_FILE)
        _cascade = cv2.CascadeClassifier(path)
        if _cascade.empty():
            raise RuntimeError("OpenCV could not load its bundled cascade %s" % path)
    return _cascade


def _landmark_models():
    """dlib's face detector and 68-point predictor, loaded once per process.

    The model file is found through the package's spec, without importing
    face_recognition_models (its __init__ imports the deprecated pkg_resources).
    """
    global _dlib_models
    if _dlib_models is None:
        import importlib.util
        import dlib
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None:
            raise RuntimeError("--face landmarks needs the face-recognition-models package (requirements.txt)")
        path = os.path.join(spec.submodule_search_locations[0], "models",
                            "shape_predictor_68_face_landmarks.dat")
        _dlib_models = (dlib.get_frontal_face_detector(), dlib.shape_predictor(path))
    return _dlib_models


def _downscaled(grey):
    """The image scaled so its longer side is at most max_side, and the scale used."""
    scale = min(1.0, DETECTOR_PARAMS["max_side"] / max(grey.shape))
    small = grey if scale == 1.0 else cv2.resize(grey, None, fx=scale, fy=scale,
                                                 interpolation=cv2.INTER_AREA)
    return small, scale


def detect_face(grey, method=DEFAULT_FACE):
    """The face in a grey-scale image as (x, y, w, h) in its pixels, or None.

    ``haar``: the largest cascade detection; ``landmarks``: the bounding box
    of the 68 landmarks of the largest dlib detection.
    """
    if method not in FACE_DETECTORS:
        raise ValueError("unknown face detector %r (choose from %s)" % (method, ", ".join(FACE_DETECTORS)))
    small, scale = _downscaled(grey)
    box = _haar_box(small) if method == "haar" else _landmark_box(small)
    return None if box is None else tuple(int(round(v / scale)) for v in box)


def _haar_box(small):
    min_size = DETECTOR_PARAMS["min_size"]
    faces = _detector().detectMultiScale(small, scaleFactor=DETECTOR_PARAMS["scale_factor"],
                                         minNeighbors=DETECTOR_PARAMS["min_neighbors"],
                                         minSize=(min_size, min_size))
    if len(faces) == 0:
        return None
    return tuple(max(faces, key=lambda box: box[2] * box[3]))


def _landmark_box(small):
    detector, predictor = _landmark_models()
    image = np.ascontiguousarray(small)
    faces = detector(image, 1)
    if len(faces) == 0:
        return None
    face = max(faces, key=lambda rect: rect.area())
    shape = predictor(image, face)
    points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts)], np.float64)
    x0, y0 = np.maximum(points.min(axis=0), 0)
    x1, y1 = np.minimum(points.max(axis=0), (small.shape[1] - 1, small.shape[0] - 1))
    return (x0, y0, x1 - x0 + 1, y1 - y0 + 1)


def box_iou(first, second):
    """Intersection over union of two (x, y, w, h) boxes (detector agreement)."""
    ax, ay, aw, ah = first
    bx, by, bw, bh = second
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / float(aw * ah + bw * bh - inter)


def expand_box(box, margin, width, height):
    """Grow a box by ``margin`` x its size on every side, then fit it in the frame.

    The detector's box stops at the chin and brows; the margin keeps them in
    the crop. A box that would leave the frame is shifted back inside (and
    shrunk only if it is larger than the frame), so its size stays fixed.
    """
    x, y, w, h = box
    grow_w, grow_h = int(round(w * margin)), int(round(h * margin))
    w, h = min(w + 2 * grow_w, width), min(h + 2 * grow_h, height)
    x = min(max(x - grow_w, 0), width - w)
    y = min(max(y - grow_h, 0), height - h)
    return (x, y, w, h)


def crop_face(frame, box, size):
    """Cut ``box`` from a frame and resize it to ``size`` x ``size``.

    Shrinking uses area averaging (no aliasing), enlarging bilinear.
    ``size=None`` returns the crop at its native size.
    """
    x, y, w, h = box
    crop = frame[y:y + h, x:x + w]
    if size is None or (w, h) == (size, size):
        return crop.copy()        # not a view: the frame need not stay in memory
    interpolation = cv2.INTER_AREA if w > size or h > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation)


def check_box(box, width, height, where):
    """InputError unless the box lies inside a width x height frame."""
    x, y, w, h = box
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise InputError("%s: box x=%d y=%d w=%d h=%d is not inside the %dx%d frame"
                         % (where, x, y, w, h, width, height))


def read_boxes(path):
    """A manual box file: ``{(dataset, subject, sample): ((x, y, w, h), where)}``.

    CSV with the header ``dataset,subject,sample,x,y,w,h``; identities in the
    ground-truth style (``casme2,sub01,EP02_01f``); pixels of the raw frames.
    """
    boxes = {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != list(BOX_COLUMNS):
            raise InputError("%s, line 1: header must be %s" % (path, ",".join(BOX_COLUMNS)))
        for line, row in enumerate(reader, start=2):
            where = "%s, line %d" % (path, line)
            row = {key.strip(): (value or "").strip() for key, value in row.items() if key}
            if row["dataset"] not in DATASETS:
                raise InputError("%s: unknown dataset %r" % (where, row["dataset"]))
            try:
                box = tuple(int(row[name]) for name in ("x", "y", "w", "h"))
            except ValueError:
                raise InputError("%s: x, y, w, h must be whole pixel numbers" % where) from None
            if box[2] <= 0 or box[3] <= 0:
                raise InputError("%s: w and h must be positive" % where)
            identity = (row["dataset"], row["subject"], row["sample"])
            if identity in boxes:
                raise InputError("%s: a second box for %s" % (where, "/".join(identity)))
            boxes[identity] = (box, where)
    return boxes
