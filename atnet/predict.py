"""Class scores of a trained net on a prepared directory or on one clip's frames (tools/predict.py).

The net is a deploy prototxt plus weights: a finished fold folder gives both
(deploy.prototxt, final.caffemodel) and, through its LMDB's manifest, the
row order of the flow feature the model was trained with (``flow_rows``).
The inputs are fed exactly as the LMDB records carry them (atnet.lmdb_folds,
atnet.fold.predict): the 224 x 224 grey apex face as raw 0..255 values, the
64 x 128 ADM feature, with the release's "valid rows to the end" order when
the model was trained so. Which inputs a net takes is read from its blobs.
A single clip is prepared on the fly as prepare does it: face box on the
apex frame (detector, margin), the same box on every frame, ADM feature.
"""
import csv
import dataclasses
import io
import os

import numpy as np

from atnet import runs
from atnet.common import CLASS_NAMES, InputError, read_json, write_text
from atnet.data import adm
from atnet.data.adm import move_valid_rows_to_end
from atnet.data.face import crop_face, detect_face, expand_box
from atnet.data.flow import make_flow
from atnet.data.frames import list_frames, read_clip_grey
from atnet.data.prepared import load_apex_image, load_feature, load_index

FLOW_ROWS = ("centred", "release")


@dataclasses.dataclass(frozen=True)
class Scored:
    """One input's scores: ``key``, the known label (None for a bare clip), the arg-max class."""
    key: str
    label: object
    predicted: int
    scores: tuple


def fold_inputs(fold_dir):
    """(deploy, weights, flow_rows or None) of a finished fold folder."""
    deploy = os.path.join(fold_dir, runs.DEPLOY_FILE)
    weights = os.path.join(fold_dir, runs.FINAL_MODEL)
    for path in (deploy, weights):
        if not os.path.isfile(path):
            raise InputError("%s: missing (is %s a finished fold folder of tools/train.py?)" % (path, fold_dir))
    flow_rows = None
    job_path = os.path.join(fold_dir, runs.JOB_FILE)
    if os.path.isfile(job_path):
        manifest = os.path.join(read_json(job_path).get("lmdb", ""), "manifest.json")
        if os.path.isfile(manifest):
            flow_rows = read_json(manifest).get("parameters", {}).get("flow_rows")
    return deploy, weights, flow_rows


class Predictor:
    """A deploy net with its weights, fed one sample at a time (batch 1, as the folds predict)."""

    def __init__(self, deploy, weights, flow_rows, gpu=None):
        import caffe
        from atnet.nets import APEX_BLOB, FLOW_BLOB, PROB_BLOB
        if gpu is None:
            caffe.set_mode_cpu()
        else:
            caffe.set_device(gpu)
            caffe.set_mode_gpu()
        if flow_rows not in FLOW_ROWS:
            raise InputError("flow row order %r: expected one of %s" % (flow_rows, ", ".join(FLOW_ROWS)))
        self.net = caffe.Net(deploy, caffe.TEST, weights=weights)
        self.apex_blob = APEX_BLOB if APEX_BLOB in self.net.blobs else None
        self.flow_blob = FLOW_BLOB if FLOW_BLOB in self.net.blobs else None
        self.prob_blob, self.flow_rows = PROB_BLOB, flow_rows
        if PROB_BLOB not in self.net.blobs or not (self.apex_blob or self.flow_blob):
            raise InputError("%s: not an ATNet deploy net (needs input %s and/or %s and output %s)"
                             % (deploy, APEX_BLOB, FLOW_BLOB, PROB_BLOB))

    def scores(self, apex, feature):
        """Softmax scores of one apex face (224 x 224 uint8) and ADM feature (64 x 128)."""
        if self.apex_blob:
            self.net.blobs[self.apex_blob].data[0, 0] = apex
        if self.flow_blob:
            self.net.blobs[self.flow_blob].data[0, 0] = (move_valid_rows_to_end(feature)
                                                         if self.flow_rows == "release" else feature)
        return tuple(float(s) for s in self.net.forward()[self.prob_blob][0].ravel())


def score(predictor, key, label, apex, feature):
    scores = predictor.scores(apex, feature)
    return Scored(key, label, int(np.argmax(scores)), scores)


def predict_prepared(predictor, prepared, keys=None):
    """Scores of the samples of a prepared directory (all, or those named in ``keys``)."""
    rows = load_index(prepared)
    if keys:
        known = {row.key for row in rows}
        missing = [key for key in keys if key not in known]
        if missing:
            raise InputError("%s: no sample %s in the index" % (os.path.join(prepared, "index.csv"),
                                                                ", ".join(missing)))
        rows = [row for row in rows if row.key in set(keys)]
    return [score(predictor, row.key, row.label, load_apex_image(prepared, row), load_feature(prepared, row))
            for row in rows]


def prepare_clip(folder, apex_frame=None, flow="dis", face="haar", margin=0.1):
    """(apex face, ADM feature, apex index) of one clip folder's frames, as prepare makes them.

    ``apex_frame`` is the apex's frame number; None takes the middle frame
    (n // 2, SMIC's rule).
    """
    frames = list_frames(folder)
    if not frames:
        raise InputError("%s: no frames" % folder)
    numbers = [number for number, _ in frames]
    if apex_frame is None:
        apex_index = len(frames) // 2
    elif apex_frame in numbers:
        apex_index = numbers.index(apex_frame)
    else:
        raise InputError("%s: no frame numbered %d (frames %d..%d)" % (folder, apex_frame, numbers[0], numbers[-1]))
    paths = [path for _, path in frames]
    grey = read_clip_grey([paths[apex_index]])[0]
    found = detect_face(grey, face)
    if found is None:
        raise InputError("%s: no face found on the apex frame" % paths[apex_index])
    box = expand_box(found, margin, grey.shape[1], grey.shape[0])
    crops = read_clip_grey(paths, lambda frame: crop_face(frame, box, adm.CROP_SIZE))
    return crops[apex_index], adm.adm_feature(crops, apex_index, make_flow(flow)), apex_index


def scores_csv(results):
    """key, label, predicted, predicted_class, one score column per class."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["key", "label", "predicted", "predicted_class"] + ["score_" + n for n in CLASS_NAMES])
    for r in results:
        writer.writerow([r.key, "" if r.label is None else r.label, r.predicted, CLASS_NAMES[r.predicted]]
                        + ["%.6f" % s for s in r.scores])
    return buffer.getvalue()


def scores_table(results):
    """A readable table of the scores (printed)."""
    lines = ["%-32s %5s %-9s %s" % ("key", "label", "predicted", "  ".join("%9s" % n for n in CLASS_NAMES))]
    for r in results:
        lines.append("%-32s %5s %-9s %s" % (r.key, "" if r.label is None else r.label, CLASS_NAMES[r.predicted],
                                           "  ".join("%9.4f" % s for s in r.scores)))
    known = [r for r in results if r.label is not None]
    if known:
        lines.append("accuracy on the %d labelled samples: %.3f"
                     % (len(known), sum(r.predicted == r.label for r in known) / len(known)))
    return "\n".join(lines)


def write_scores(path, results):
    write_text(path, scores_csv(results))
