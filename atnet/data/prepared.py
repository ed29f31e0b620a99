"""The prepared directory every later stage reads.

Layout (written by ``data_prep/prepare.py`` or ``data_prep/import_release.py``)::

    DIR/index.csv                     one row per sample (INDEX_COLUMNS)
    DIR/faces/<dataset>/<key>.png     224 x 224 8-bit grey apex face
    DIR/flow/<dataset>/<key>.npy      64 x 128 float32 ADM feature (atnet.data.adm)
    DIR/samples/<dataset>/<key>.json  per-sample cache record (prepare only)
    DIR/selection.csv                 every sheet row / clip folder and its fate
    DIR/manifest.json                 parameters, code version, counts, checksums

``<key>`` is the clip key (``casme2-sub01-EP02_01f``). Paths in the index
are relative to DIR (``load_index`` refuses one that leaves it, and names
that are not atnet.data.names.SAFE_NAME), except ``frame_source``, the
absolute folder of the clip's original frames (only ever read).

Use ``load_index(DIR)`` -> list of IndexRow (a frozen dataclass; fields
typed, see IndexRow) and ``load_face_clip(DIR, row)`` to cut the same face
clip again without re-detecting the face.
"""
import csv
import dataclasses
import hashlib
import io
import os
from typing import Optional

import cv2
import numpy as np

from atnet.common import DATASETS, InputError, clip_key, write_bytes, write_text
from atnet.data.adm import FEATURE_SHAPE
from atnet.data.face import crop_face
from atnet.data.frames import list_frames, read_clip_grey
from atnet.data.names import check_safe_names
from atnet.folds import natural_key


@dataclasses.dataclass(frozen=True)
class IndexRow:
    """One sample of a prepared directory (one line of index.csv).

    Identity and label: ``dataset`` (casme2/samm/smic), ``subject``,
    ``sample`` (ground-truth style), ``label`` (0 negative, 1 positive,
    2 surprise), ``emotion`` as written in the release.
    Outputs: ``apex_image`` and ``flow``, paths relative to the directory.
    The clip: ``fps``; ``onset``, ``apex``, ``offset`` as frame numbers of the
    release (SMIC: first, middle, last frame); ``apex_source`` 'annotated' or
    'middle'; ``n_frames`` frames onset..offset, of which ``apex_index`` is
    the apex (0-based); ``apex_frame`` its file name; ``frame_source`` the
    absolute folder of the original frames; ``box_*`` the face box in frame
    pixels (the whole frame for ``--cropped``); ``valid_rows`` the number of
    non-zero rows of the feature. Fields the authors' release does not give
    (imported directories) are None or ''.
    """
    dataset: str
    subject: str
    sample: str
    label: int
    apex_image: str
    flow: str
    emotion: str = ""
    fps: Optional[float] = None
    onset: Optional[int] = None
    apex: Optional[int] = None
    offset: Optional[int] = None
    apex_source: str = ""
    n_frames: Optional[int] = None
    apex_index: Optional[int] = None
    apex_frame: str = ""
    frame_source: str = ""
    box_x: Optional[int] = None
    box_y: Optional[int] = None
    box_w: Optional[int] = None
    box_h: Optional[int] = None
    valid_rows: Optional[int] = None

    @property
    def key(self):
        """The clip key, e.g. ``casme2-sub01-EP02_01f``."""
        return clip_key(self.dataset, self.subject, self.sample)

    @property
    def box(self):
        """The face box (x, y, w, h), or None."""
        values = (self.box_x, self.box_y, self.box_w, self.box_h)
        return None if None in values else values


INDEX_COLUMNS = tuple(field.name for field in dataclasses.fields(IndexRow))
_NUMBER_COLUMNS = dict({name: int for name in ("label", "onset", "apex", "offset", "n_frames",
                                               "apex_index", "box_x", "box_y", "box_w", "box_h",
                                               "valid_rows")}, fps=float)
INDEX_FILE = "index.csv"


def output_paths(dataset, key):
    """Relative paths of a sample's apex face, feature and cache record."""
    return {"apex_image": "faces/%s/%s.png" % (dataset, key),
            "flow": "flow/%s/%s.npy" % (dataset, key),
            "record": "samples/%s/%s.json" % (dataset, key)}


def write_sample_outputs(directory, dataset, key, apex_image, feature):
    """Write a sample's apex face (PNG) and ADM feature (.npy) atomically.

    Returns their relative paths and the sha256 of the bytes written (both
    dicts keyed ``apex_image`` and ``flow``), for index rows and manifests.
    """
    paths = output_paths(dataset, key)
    ok, png = cv2.imencode(".png", apex_image)
    if not ok:
        raise RuntimeError("PNG encoding failed for %s" % key)
    buffer = io.BytesIO()
    np.save(buffer, feature, allow_pickle=False)
    contents = {"apex_image": png.tobytes(), "flow": buffer.getvalue()}
    for name, data in contents.items():
        write_bytes(os.path.join(directory, paths[name]), data)
    return paths, {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}


def write_index(directory, rows):
    """Write index.csv (atomically), rows sorted by dataset, subject, sample."""
    order = {dataset: position for position, dataset in enumerate(DATASETS)}
    rows = sorted(rows, key=lambda r: (order[r.dataset], natural_key(r.subject), natural_key(r.sample)))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(INDEX_COLUMNS)
    for row in rows:
        writer.writerow(["" if value is None else value for value in dataclasses.astuple(row)])
    write_text(os.path.join(directory, INDEX_FILE), buffer.getvalue())
    return rows


def load_index(directory):
    """The samples of a prepared directory as a list of IndexRow, in file order.

    InputError (naming the file and line) for a missing column, a bad value,
    an unknown dataset, a label outside 0..2 or a sample listed twice.
    """
    path = os.path.join(directory, INDEX_FILE)
    if not os.path.isfile(path):
        raise InputError("%s: no index (prepare the directory with data_prep/prepare.py)" % path)
    rows, seen = [], {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        absent = [c for c in INDEX_COLUMNS if c not in (reader.fieldnames or ())]
        if absent:
            raise InputError("%s, line 1: missing columns %s" % (path, ", ".join(absent)))
        for line, record in enumerate(reader, start=2):
            row = _parse_row(record, "%s, line %d" % (path, line))
            if row.key in seen:
                raise InputError("%s, line %d: %s already on line %d" % (path, line, row.key, seen[row.key]))
            seen[row.key] = line
            rows.append(row)
    return rows


def _parse_row(record, where):
    """An IndexRow from one csv record; blank optional numbers become None."""
    values = {}
    for name in INDEX_COLUMNS:
        text = (record[name] or "").strip()
        convert = _NUMBER_COLUMNS.get(name)
        if convert is None:
            values[name] = text
            continue
        if text == "" and name != "label":
            values[name] = None
            continue
        try:
            values[name] = convert(text)
        except ValueError:
            raise InputError("%s: column %s: %r is not a number" % (where, name, text)) from None
    row = IndexRow(**values)
    if row.dataset not in DATASETS:
        raise InputError("%s: unknown dataset %r" % (where, row.dataset))
    if row.label not in (0, 1, 2):
        raise InputError("%s: label %d is not 0, 1 or 2" % (where, row.label))
    check_safe_names(where, subject=row.subject, sample=row.sample)
    for name in ("apex_image", "flow"):
        check_inside(getattr(row, name), "%s: column %s" % (where, name))
    return row


def check_inside(relative, where):
    """InputError unless ``relative`` is a path inside the prepared directory.

    The index's output paths are joined to the directory by every later
    stage; an absolute path or one climbing out with '..' would make them
    read (or a cache write) outside it.
    """
    normal = os.path.normpath(relative) if relative else ""
    if not normal or normal == "." or os.path.isabs(relative) or normal == ".." \
            or normal.startswith(".." + os.sep):
        raise InputError("%s: %r is not a path inside the prepared directory" % (where, relative))


def load_apex_image(directory, row):
    """The 224 x 224 uint8 grey apex face of a sample."""
    path = os.path.join(directory, row.apex_image)
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 2 or image.dtype != np.uint8:
        raise InputError("%s: not an 8-bit grey-scale image (sample %s)" % (path, row.key))
    return image


def load_feature(directory, row):
    """The 64 x 128 float32 ADM feature of a sample (zero rows where the clip ends)."""
    path = os.path.join(directory, row.flow)
    try:
        feature = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError("%s: cannot read the feature of %s (%s)" % (path, row.key, err)) from None
    if feature.shape != FEATURE_SHAPE or feature.dtype != np.float32:
        raise InputError("%s: feature is %s %s, expected float32 %s"
                         % (path, feature.dtype, feature.shape, FEATURE_SHAPE))
    return feature


def clip_frame_paths(directory, row):
    """The original frame files of a sample, onset..offset in numeric order."""
    if not row.frame_source or row.onset is None or row.offset is None:
        raise InputError("%s: sample %s records no source frames (imported from the authors' "
                         "release?)" % (os.path.join(directory, INDEX_FILE), row.key))
    folder = os.path.join(directory, row.frame_source)   # absolute stays absolute
    if not os.path.isdir(folder):
        raise InputError("%s: frame folder of %s is gone" % (folder, row.key))
    paths = [path for number, path in list_frames(folder) if row.onset <= number <= row.offset]
    if row.n_frames is not None and len(paths) != row.n_frames:
        raise InputError("%s: %d frames between %d and %d, the index recorded %d (sample %s)"
                         % (folder, len(paths), row.onset, row.offset, row.n_frames, row.key))
    return paths


def load_face_clip(directory, row, size=None):
    """Cut a sample's face clip again: ``(clip, apex_position)``.

    ``clip`` is a uint8 T x H x W array of grey-scale crops of every frame
    onset..offset, all cut with the recorded face box; ``size`` (an int)
    resizes each crop to size x size, None keeps the box's own size.
    ``apex_position`` is the apex's index along T. InputError if the frames
    are gone or changed in number.
    """
    paths = clip_frame_paths(directory, row)
    if row.box is None:
        raise InputError("%s: sample %s records no face box" % (os.path.join(directory, INDEX_FILE), row.key))
    clip = np.stack(read_clip_grey(paths, lambda frame: crop_face(frame, row.box, size)))
    return clip, row.apex_index

