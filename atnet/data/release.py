"""The authors' release formats (atnet.md section 3) and their import.

- ``Apex_Cropped_images.txt``: one line a sample,
  ``<dataset>-<subject>-<sample>-<frame file> <label>``, e.g.
  ``casme2-sub01-EP02_01f-img59.jpg 1``; the grey apex face crops carry the
  first token as their file name.
- The optical-flow text file (the authors' ``Data/OpticalFlowFeatureData.txt``,
  or a per-fold file): for each clip a header line with the clip key
  (``samm-6-006_1_2``) or the Windows path the authors wrote
  (``Data\\samm\\6\\006_1_2``, CRLF lines; see ``header_key``), then 64
  lines of 128 space-separated numbers (direction, magnitude alternating);
  the next header follows directly.

``import_release`` turns both into a prepared directory (atnet.data.prepared)
with the feature values kept exactly as float32.
"""
import dataclasses
import io
import os

import cv2
import numpy as np

from atnet.common import DATASETS, InputError, clip_key, sha256_file, write_json, write_text
from atnet.data import casme2, samm, smic
from atnet.data.adm import CROP_SIZE, FEATURE_SHAPE, valid_rows
from atnet.data.composite import format_counts
from atnet.data.frames import frame_number
from atnet.locks import folder_lock
from atnet.data.names import check_frame_file, check_release_names
from atnet.data.prepare import start_run
from atnet.data.prepared import INDEX_FILE, IndexRow, write_index, write_sample_outputs

FPS = {"casme2": casme2.FPS, "samm": samm.FPS, "smic": smic.FPS}
#: Enough significant digits that every float32 survives text and back.
FLOAT32_FORMAT = "%.9g"


@dataclasses.dataclass(frozen=True)
class ApexRecord:
    """One line of ``Apex_Cropped_images.txt``."""
    dataset: str
    subject: str
    sample: str
    frame_file: str
    label: int
    file_name: str     # the whole first token: the apex image's file name
    line: int

    @property
    def key(self):
        return clip_key(self.dataset, self.subject, self.sample)


def read_apex_list(path):
    """The records of an apex list, in file order; InputError naming file and line."""
    records, seen = [], {}
    with open(path) as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            where = "%s, line %d" % (path, number)
            fields = text.split()
            if len(fields) != 2:
                raise InputError("%s: expected '<dataset>-<subject>-<sample>-<frame file> <label>', got %r"
                                 % (where, text.rstrip("\n")))
            parts = fields[0].split("-", 3)
            if len(parts) != 4 or not all(parts):
                raise InputError("%s: %r is not <dataset>-<subject>-<sample>-<frame file>" % (where, fields[0]))
            check_release_names(parts[0], parts[1], parts[2], where)
            check_frame_file(parts[3], where)
            if fields[1] not in ("0", "1", "2"):
                raise InputError("%s: label %r is not 0, 1 or 2" % (where, fields[1]))
            record = ApexRecord(parts[0], parts[1], parts[2], parts[3], int(fields[1]), fields[0], number)
            if record.key in seen:
                raise InputError("%s: %s already listed on line %d" % (where, record.key, seen[record.key]))
            seen[record.key] = number
            records.append(record)
    return records


def write_apex_list(path, records):
    """Write records (anything with file_name and label) in the release's format."""
    write_text(path, "".join("%s %d\n" % (r.file_name, r.label) for r in records))


def _parse_key(key, where):
    """(dataset, subject, sample) of a clip key, checked to be a release's names."""
    parts = key.split("-", 2)
    if len(parts) != 3 or not all(parts) or parts[0] not in DATASETS:
        raise InputError("%s: clip header %r is not <dataset>-<subject>-<sample>" % (where, key))
    check_release_names(*parts, where)
    return parts


def header_key(text, where):
    """The clip key of a header line of the optical-flow text, in either style the release uses.

    The per-fold files carry the key itself (``casme2-sub01-EP02_01f``); the
    authors' ``Data/OpticalFlowFeatureData.txt`` carries a Windows path
    (``Data\\casme2\\sub01\\EP02_01f``). Their fold script
    (get_samples_Train_Test_TXT.py) turns a path into a key by replacing
    ``\\`` with ``/``, dropping ``Data/`` and joining the first three parts
    with ``-``; so do we, then check the names like any key.
    """
    key = text
    if "\\" in text or "/" in text:
        parts = [part for part in text.replace("\\", "/").split("/") if part]
        if parts and parts[0] == "Data":
            parts = parts[1:]
        if len(parts) < 3:
            raise InputError("%s: clip header %r is not Data\\<dataset>\\<subject>\\<sample>" % (where, text))
        key = "-".join(parts[:3])
    _parse_key(key, where)
    return key


def read_optical_text_with_lines(path):
    """``[(key, 64 x 128 float32 array, header line number), ...]`` in file order."""
    clips, seen = [], {}
    key, header, rows = None, 0, []

    def close(end_line):
        if key is None:
            return
        if len(rows) != FEATURE_SHAPE[0]:
            raise InputError("%s, line %d: clip %s has %d rows, expected %d"
                             % (path, end_line, key, len(rows), FEATURE_SHAPE[0]))
        clips.append((key, np.array(rows, dtype=np.float64).astype(np.float32), header))

    number = 0
    with open(path) as handle:
        for number, text in enumerate(handle, start=1):
            fields = text.split()
            if not fields:
                continue
            if len(fields) == 1 and not _is_number(fields[0]):
                close(number)
                key, header, rows = header_key(fields[0], "%s, line %d" % (path, number)), number, []
                if key in seen:
                    raise InputError("%s, line %d: clip %s already on line %d" % (path, number, key, seen[key]))
                seen[key] = number
                continue
            if key is None:
                raise InputError("%s, line %d: numbers before the first clip header" % (path, number))
            if len(fields) != FEATURE_SHAPE[1]:
                raise InputError("%s, line %d: %d values, expected %d (clip %s)"
                                 % (path, number, len(fields), FEATURE_SHAPE[1], key))
            try:
                rows.append([float(field) for field in fields])
            except ValueError:
                raise InputError("%s, line %d: not a number in clip %s" % (path, number, key)) from None
    close(number)
    return clips


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def read_optical_text(path):
    """The concatenated optical-flow text file: ``{clip key: 64 x 128 float32}``."""
    return {key: feature for key, feature, _ in read_optical_text_with_lines(path)}


def write_optical_text(path, items):
    """Write ``{key: 64 x 128 array}`` (or (key, array) pairs) in the release's format.

    Values are written as float32 with 9 significant digits, so reading the
    file back gives exactly the same float32 arrays.
    """
    pairs = items.items() if isinstance(items, dict) else items
    buffer = io.StringIO()
    for key, feature in pairs:
        _parse_key(key, path)
        feature = np.asarray(feature, dtype=np.float32)
        if feature.shape != FEATURE_SHAPE:
            raise ValueError("feature of %s is %s, expected %s" % (key, feature.shape, FEATURE_SHAPE))
        buffer.write(key + "\n")
        np.savetxt(buffer, feature, fmt=FLOAT32_FORMAT, delimiter=" ")
    write_text(path, buffer.getvalue())


def import_release(apex_list, apex_dir, optical, out, command=None, log=print):
    """Write a prepared directory from the release's apex list, images and optical text.

    Apex images are read grey and resized to 224 x 224 with bilinear
    interpolation (what the release's ImageData layer did at load time);
    features are stored exactly. Returns the IndexRows.
    """
    records = read_apex_list(apex_list)
    features = read_optical_text_with_lines(optical)
    by_key = {key: (feature, line) for key, feature, line in features}
    for record in records:
        if record.key not in by_key:
            raise InputError("%s, line %d: %s has no feature in %s" % (apex_list, record.line, record.key, optical))
    listed = {record.key for record in records}
    for key, _, line in features:
        if key not in listed:
            raise InputError("%s, line %d: clip %s is not in %s" % (optical, line, key, apex_list))
    with folder_lock(out, "prepared folder"):
        return _write_import(records, by_key, apex_list, apex_dir, optical, out, command, log)


def _write_import(records, by_key, apex_list, apex_dir, optical, out, command, log):
    """The writing part of ``import_release``, run while holding the folder's lock."""
    start_run(out)
    rows = [_import_one(record, by_key[record.key][0], apex_list, apex_dir, out) for record in records]
    rows = write_index(out, rows)
    log("imported:\n" + format_counts(rows))
    write_json(os.path.join(out, "manifest.json"), {
        "command": command, "source": "authors' release",
        "inputs": {name: {"path": os.path.abspath(path), "sha256": sha256_file(path)}
                   for name, path in (("apex_list", apex_list), ("optical", optical))},
        "apex_dir": os.path.abspath(apex_dir),
        "parameters": {"apex_image": "grey, resized to %d x %d with INTER_LINEAR if needed" % (CROP_SIZE, CROP_SIZE),
                       "feature": "float32, values as in the text file"},
        "counts": {d: len([r for r in rows if r.dataset == d]) for d in DATASETS},
        "outputs": {"index.csv": sha256_file(os.path.join(out, INDEX_FILE)),
                    "files": {path: sha256_file(os.path.join(out, path))
                              for row in rows for path in (row.apex_image, row.flow)}},
    })
    return rows


def _import_one(record, feature, apex_list, apex_dir, out):
    """Write one sample's apex face and feature; return its IndexRow."""
    image_path = os.path.join(apex_dir, record.file_name)
    image = cv2.imread(image_path, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise InputError("%s, line %d: apex image %s is missing or unreadable"
                         % (apex_list, record.line, image_path))
    if image.shape != (CROP_SIZE, CROP_SIZE):
        image = cv2.resize(image, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR)
    paths, _ = write_sample_outputs(out, record.dataset, record.key, image, feature)
    return IndexRow(record.dataset, record.subject, record.sample, record.label, paths["apex_image"],
                    paths["flow"], fps=FPS[record.dataset], apex=frame_number(record.frame_file),
                    apex_source="release", apex_frame=record.frame_file,
                    valid_rows=int(valid_rows(feature).sum()))
