"""One sample's outputs (apex face, ADM feature, index row) and the cache key of their code.

``process(task, out, settings)`` turns one selected clip into its prepared
files; ``data_prep/prepare.py`` (atnet.data.prepare) runs it per sample, in
parallel, and skips samples whose cache record still matches.

The cache key of a sample (atnet.data.prepare.make_task) covers its inputs,
the parameters of ``feature_params`` (flow algorithm and its parameters,
detector parameters, margin, cropped: the part of the settings that shapes
the bytes; ``lenient`` and ``workers`` do not) and ``outputs_code()``: the
source of OUTPUT_MODULES, the modules whose code decides the bytes written,
plus the OpenCV and NumPy versions. The prepare stage itself (reading,
selection, reports, manifest) is not in it, so editing a report does not
recompute every sample.
"""
import dataclasses
import hashlib
import importlib
import json
import os

import cv2
import numpy as np

from atnet.common import InputError, write_json
from atnet.data import adm
from atnet.data.face import FACE_DETECTORS, check_box, crop_face, detect_face, expand_box
from atnet.data.flow import flow_params, make_flow
from atnet.data.frames import read_clip_grey, read_grey
from atnet.data.prepared import IndexRow, write_sample_outputs

#: Modules whose source decides a sample's output bytes: frame reading, the
#: face box and crop, the flow algorithms, the ADM feature, the writer of the
#: prepared files (atnet.data.prepared) and this module (the per-sample steps).
#: tests/test_data_prepare.py checks that every atnet module they import is
#: listed here or in NOT_OUTPUT_MODULES.
OUTPUT_MODULE_NAMES = ("atnet.data.frames", "atnet.data.face", "atnet.data.flow", "atnet.data.adm",
                       "atnet.data.prepared", "atnet.data.sample_outputs")

#: atnet modules the output modules import that do not change the bytes, and why.
NOT_OUTPUT_MODULES = {
    "atnet.common": "errors, atomic file writes, clip keys",
    "atnet.data.names": "checks names where they are read; it refuses a name, never changes a file",
    "atnet.folds": "natural sort order of index.csv rows (prepared.write_index), not a sample's files",
}


@dataclasses.dataclass(frozen=True)
class Task:
    """Everything a worker needs for one sample (picklable)."""
    dataset: str
    subject: str
    sample: str
    label: int
    emotion: str
    fps: float
    onset: int
    apex: int
    offset: int
    apex_source: str
    apex_index: int
    folder: str
    frames: tuple
    box: tuple            # manual box, or None
    box_where: str
    fingerprint: str

    @property
    def key(self):
        return "%s-%s-%s" % (self.dataset, self.subject, self.sample)


def feature_params(settings):
    """The parameters that decide each sample's outputs (recorded in the manifest)."""
    return {"flow": flow_params(settings.flow),
            "face": dict(FACE_DETECTORS[settings.face], name=settings.face, margin=settings.margin,
                         cropped=settings.cropped,
                         resize="INTER_AREA when shrinking, INTER_LINEAR when enlarging"),
            "crop_size": adm.CROP_SIZE, "grid": adm.GRID, "half_window": adm.HALF_WINDOW,
            "apex": "annotated frame; SMIC: middle frame (index n // 2)",
            "theta": "atan2(dy, dx) in [-pi, pi], y down; block means of theta and rho"}


def output_modules():
    """The module objects named by OUTPUT_MODULE_NAMES."""
    return [importlib.import_module(name) for name in OUTPUT_MODULE_NAMES]


def outputs_code(module_names=OUTPUT_MODULE_NAMES):
    """sha256 over the source of the named modules (the code that makes a sample's bytes) and the
    OpenCV and NumPy versions; atnet.macro.outputs names its own modules."""
    digest = hashlib.sha256()
    for name in module_names:
        with open(importlib.import_module(name).__file__, "rb") as handle:
            digest.update(name.encode() + b"\0")
            digest.update(handle.read())
    digest.update(("opencv %s numpy %s" % (cv2.__version__, np.__version__)).encode())
    return digest.hexdigest()


def params_digest(params, module_names=OUTPUT_MODULE_NAMES):
    """The part of every sample's cache key shared by the run: parameters and code."""
    return hashlib.sha256(json.dumps([params, outputs_code(module_names)], sort_keys=True).encode()).hexdigest()


_flows = {}


def _flow(name):
    """The flow function of this process (DIS objects are not picklable)."""
    if name not in _flows:
        _flows[name] = make_flow(name)
    return _flows[name]


def face_box(task, apex_frame, settings):
    """The clip's face box: whole frame (--cropped), manual box, or detected + margin."""
    height, width = apex_frame.shape
    if settings.cropped:
        return (0, 0, width, height)
    if task.box is not None:
        check_box(task.box, width, height, "%s (%s)" % (task.box_where, task.key))
        return task.box
    found = detect_face(apex_frame, settings.face)
    if found is None:
        raise InputError("%s: no face found on the apex frame of %s; give its box in a --boxes file"
                         % (task.frames[task.apex_index], task.key))
    return expand_box(found, settings.margin, width, height)


def process(task, out, settings):
    """Prepare one sample: write its apex face, feature and record; return its IndexRow."""
    box = face_box(task, read_grey(task.frames[task.apex_index]), settings)
    crops = read_clip_grey(task.frames, lambda frame: crop_face(frame, box, adm.CROP_SIZE))
    feature = adm.adm_feature(crops, task.apex_index, _flow(settings.flow))
    paths, digests = write_sample_outputs(out, task.dataset, task.key, crops[task.apex_index], feature)
    row = IndexRow(task.dataset, task.subject, task.sample, task.label, paths["apex_image"], paths["flow"],
                   emotion=task.emotion, fps=task.fps, onset=task.onset, apex=task.apex,
                   offset=task.offset, apex_source=task.apex_source, n_frames=len(crops),
                   apex_index=task.apex_index, apex_frame=os.path.basename(task.frames[task.apex_index]),
                   frame_source=task.folder, box_x=box[0], box_y=box[1], box_w=box[2], box_h=box[3],
                   valid_rows=int(adm.valid_rows(feature).sum()))
    record = {"fingerprint": task.fingerprint, "row": dataclasses.asdict(row),
              "sha256": digests}
    write_json(os.path.join(out, paths["record"]), record)   # last: marks the sample finished
    return row
