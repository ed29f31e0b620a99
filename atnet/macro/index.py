"""The prepared macro directory that tools/pretrain.py reads.

Layout (written by ``data_prep/prepare_macro.py``)::

    DIR/index.csv                                  one row per image (MacroRow)
    DIR/images/<dataset>/<subject>/<sequence>/<frame>.png   224 x 224 8-bit grey face
    DIR/sequences/<dataset>/<subject>/<sequence>.json       per-sequence cache record
    DIR/sequences.csv                              every sequence read and its fate
    DIR/counts.json                                images per dataset, split and class
    DIR/manifest.json                              settings, parameters, versions, checksums
    DIR/skipped.csv                                (--lenient) what was skipped, and why

Use ``load_macro_index(DIR)`` -> (rows, classes): rows are MacroRow, classes
the label set's class names in head-output order (from the manifest).
"""
import csv
import dataclasses
import io
import os
from typing import Optional

from atnet.common import InputError, read_json, write_text
from atnet.folds import natural_key
from atnet.macro import labels
from atnet.macro.sequences import MACRO_DATASETS

INDEX_FILE = "index.csv"
MANIFEST_FILE = "manifest.json"


@dataclasses.dataclass(frozen=True)
class MacroRow:
    """One image of a prepared macro directory (one line of index.csv).

    ``label`` is the label set's class name (``happiness``; ``negative`` for
    3class), ``label_index`` its head-output index; ``emotion`` the canonical
    emotion, ``code`` the release's own label (CK+ '5', JAFFE 'HA').
    ``split`` is train or val (subject-disjoint). ``image`` is relative to
    the directory. ``frame`` is the release's frame number, ``frame_file``
    its file, ``role`` peak / near-peak / neutral; ``n_frames`` the
    sequence's length and ``peak_frame`` its peak's number; ``box_*`` the
    sequence's face box in frame pixels from ``box_source`` (landmarks or
    detector); ``source`` the sequence's folder (JAFFE: the image).
    """
    dataset: str
    subject: str
    sequence: str
    frame: int
    label: str
    split: str
    image: str
    label_index: int
    emotion: str = ""
    code: str = ""
    role: str = ""
    frame_file: str = ""
    n_frames: Optional[int] = None
    peak_frame: Optional[int] = None
    box_x: Optional[int] = None
    box_y: Optional[int] = None
    box_w: Optional[int] = None
    box_h: Optional[int] = None
    box_source: str = ""
    source: str = ""


INDEX_COLUMNS = tuple(field.name for field in dataclasses.fields(MacroRow))
_INTEGER_COLUMNS = ("frame", "label_index", "n_frames", "peak_frame", "box_x", "box_y", "box_w", "box_h")


def sort_rows(rows):
    """Rows in dataset, subject, sequence, frame order (the index's order)."""
    order = {dataset: i for i, dataset in enumerate(MACRO_DATASETS)}
    return sorted(rows, key=lambda r: (order[r.dataset], natural_key(r.subject), natural_key(r.sequence),
                                       r.role != "neutral", r.frame))


def index_text(rows):
    """index.csv's text for ``rows`` (already sorted)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(INDEX_COLUMNS)
    for row in rows:
        writer.writerow(["" if value is None else value for value in dataclasses.astuple(row)])
    return buffer.getvalue()


def write_macro_index(directory, rows):
    """Write index.csv atomically; returns the rows in index order."""
    rows = sort_rows(rows)
    write_text(os.path.join(directory, INDEX_FILE), index_text(rows))
    return rows


def load_macro_index(directory):
    """``(rows, classes)`` of a prepared macro directory, checked.

    InputError (naming the file and line) for a missing index or manifest,
    a missing column, a bad number, an unknown dataset or split, a label
    that is not the label set's class at ``label_index``, an image listed
    twice, or an image file that is missing.
    """
    path = os.path.join(directory, INDEX_FILE)
    manifest_path = os.path.join(directory, MANIFEST_FILE)
    for needed in (path, manifest_path):
        if not os.path.isfile(needed):
            raise InputError("%s: not found (prepare the directory with data_prep/prepare_macro.py)" % needed)
    label_set = read_json(manifest_path).get("settings", {}).get("label_set")
    if label_set not in labels.LABEL_SETS:
        raise InputError("%s: settings.label_set %r is not a label set" % (manifest_path, label_set))
    classes = labels.classes(label_set)
    rows, seen = [], {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        absent = [c for c in INDEX_COLUMNS if c not in (reader.fieldnames or ())]
        if absent:
            raise InputError("%s, line 1: missing columns %s" % (path, ", ".join(absent)))
        for line, record in enumerate(reader, start=2):
            where = "%s, line %d" % (path, line)
            row = _parse_row(record, where, classes)
            if row.image in seen:
                raise InputError("%s: image %s already on line %d" % (where, row.image, seen[row.image]))
            if not os.path.isfile(os.path.join(directory, row.image)):
                raise InputError("%s: image %s is missing" % (where, os.path.join(directory, row.image)))
            seen[row.image] = line
            rows.append(row)
    if not rows:
        raise InputError("%s: no images" % path)
    return rows, classes


def _parse_row(record, where, classes):
    values = {}
    for name in INDEX_COLUMNS:
        text = (record[name] or "").strip()
        if name in _INTEGER_COLUMNS:
            if text == "" and name not in ("frame", "label_index"):
                values[name] = None
                continue
            try:
                values[name] = int(text)
            except ValueError:
                raise InputError("%s: column %s: %r is not a whole number" % (where, name, text)) from None
        else:
            values[name] = text
    row = MacroRow(**values)
    if row.dataset not in MACRO_DATASETS:
        raise InputError("%s: unknown dataset %r" % (where, row.dataset))
    if row.split not in ("train", "val"):
        raise InputError("%s: split %r is not train or val" % (where, row.split))
    if not 0 <= row.label_index < len(classes) or classes[row.label_index] != row.label:
        raise InputError("%s: label %r with label_index %d does not match the classes %s"
                         % (where, row.label, row.label_index, ", ".join(classes)))
    return row
