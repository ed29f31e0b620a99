"""Baseline features per clip: extracted from a prepared directory, or read
from per-clip ``.mat`` files in the authors' release format.

Release format (atnet.md section 5): ``<method folder>/Features/<clip key>.mat``,
one MATLAB file per clip named by its clip key (``casme2-sub01-EP02_01f``),
holding the variable ``Histogram`` (LBP-TOP, 3 x 59: one normalised histogram
per plane XY, XT, YT) or ``HOOF`` (bins x flow steps, every column a
normalised histogram). Extraction writes its cache in exactly that format,
so a cache folder is itself a valid ``--features`` directory and both paths
share one reader.

Method folders of the eight paper configurations are named ``LBPTOP_P4_TIM10``,
``HOOF_N8_TIM64`` and so on (``folder_name``); ``tools/baselines.py --all
--features ROOT`` looks for them under ROOT.
"""
import dataclasses
import hashlib
import json
import multiprocessing
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import scipy.io
from tqdm import tqdm

from atnet.common import InputError, atomic_path, sha256_file, write_json
from atnet.baselines import hoof, lbptop, tim
from atnet.config import setting
from atnet.data.adm import CROP_SIZE, HALF_WINDOW
from atnet.data.flow import DEFAULT_FLOW, FLOW_ALGORITHMS, flow_params, make_flow
from atnet.data.prepared import INDEX_FILE, load_face_clip
from atnet.data.release import read_apex_list
from atnet.folds import sample_key

METHODS = ("lbptop", "hoof")
#: The MATLAB variable of each method in the release's files.
VARIABLE = {"lbptop": "Histogram", "hoof": "HOOF"}
#: Title of each method in the paper's tables (run.json's ``method``).
METHOD_TITLE = {"lbptop": "LBP-TOP", "hoof": "HOOF"}
FEATURES_SUBDIR = "Features"
_FOLDER_PATTERN = re.compile(r"^(?:LBPTOP_P(?P<P>\d+)|HOOF_N(?P<bins>\d+))_TIM(?P<tim>\d+)(?:-[0-9a-f]+)?$")


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Everything that determines a clip's baseline feature (and its cache name).

    ``half_window``: frames on each side of the apex that feed TIM (None:
    the whole onset..offset clip). ``release_hoof_steps``: interpolate HOOF
    clips to ``tim + 1`` frames when that gives the release's step count
    (64 flow steps for TIM 64; the release's TIM 10 files already have the
    paper's 9 steps). Declared with atnet.config.setting: tools/baselines.py's
    options take their defaults, choices and help from here.
    """
    method: str
    tim: int
    neighbours: int = setting(8, "LBP-TOP neighbours per plane")
    radius: float = setting(3, "LBP-TOP radius in x, y and t")
    mapping: str = setting("u2-59", "LBP code -> bin mapping; u2-59 gives the release's 59 bins for P 4 and 8",
                           choices=lbptop.MAPPINGS)
    grid: tuple = setting((1, 1), "LBP-TOP block grid over the face")
    bins: int = setting(8, "HOOF orientation bins")
    interpolation: str = setting("tim", "temporal normalisation: TIM (the paper) or linear",
                                 choices=tim.INTERPOLATIONS)
    half_window: int = setting(HALF_WINDOW, "frames before and after the apex that feed the temporal "
                                            "normalisation")
    face_size: int = setting(CROP_SIZE, "side of the square face crops, pixels")
    flow: str = setting(DEFAULT_FLOW, "dense optical flow for HOOF (atnet.data.flow, as for the ADM feature)",
                        choices=sorted(FLOW_ALGORITHMS))
    release_hoof_steps: bool = setting(False, "HOOF at TIM 64 on 65 frames, giving the 64 flow steps of the "
                                              "released files (the paper's TIM 64 gives 63)")

    def relevant(self):
        """The fields that matter for this method (the others do not change the feature)."""
        shared = dict(method=self.method, tim=self.tim, interpolation=self.interpolation,
                      half_window=self.half_window, face_size=self.face_size)
        if self.method == "lbptop":
            return dict(shared, neighbours=self.neighbours, radius=self.radius, mapping=self.mapping,
                        grid=list(self.grid))
        return dict(shared, bins=self.bins, flow=flow_params(self.flow), release_hoof_steps=self.release_hoof_steps)

    @property
    def frames(self):
        """How many frames TIM produces."""
        if self.method == "hoof" and self.release_hoof_steps and self.tim == 64:
            return self.tim + 1
        return self.tim


def folder_name(method, tim, neighbours=None, bins=None):
    """The method folder of a configuration, e.g. ``LBPTOP_P4_TIM10`` or ``HOOF_N8_TIM64``."""
    if method == "lbptop":
        return "LBPTOP_P%d_TIM%d" % (neighbours, tim)
    return "HOOF_N%d_TIM%d" % (bins, tim)


def parse_folder_name(path):
    """``{'P' or 'bins': int, 'tim': int}`` from a method folder's name, or {} if it follows no convention."""
    name = os.path.basename(os.path.normpath(path))
    if name == FEATURES_SUBDIR:
        name = os.path.basename(os.path.dirname(os.path.normpath(path)))
    match = _FOLDER_PATTERN.match(name)
    if not match:
        return {}
    return {k: int(v) for k, v in match.groupdict().items() if v is not None}


def setting_name(method, tim, neighbours=None, bins=None, radius=3):
    """The paper's setting string (a paper_tables.csv key), e.g. ``{3,3,3,4} TIM=10``."""
    if method == "lbptop":
        r = "%g" % radius
        return "{%s,%s,%s,%d} TIM=%d" % (r, r, r, neighbours, tim)
    return "N=%d TIM=%d" % (bins, tim)


def release_configuration(method, path, shape, tim=None, size=None):
    """(TIM, P or bins) of release-format features, None where unknown.

    Given values win; then the method folder's name (``HOOF_N4_TIM10``);
    for HOOF the array shape: bins are its rows, and the release's files
    have 9 steps for TIM 10 and 64 steps for TIM 64.
    """
    named = parse_folder_name(path)
    tim = tim or named.get("tim")
    if method == "hoof":
        size = shape[0]
        if tim is None:
            tim = 64 if shape[1] == 64 else shape[1] + 1
    else:
        size = size or named.get("P")
    return tim, size


# --- extraction -------------------------------------------------------------

def clip_feature(clip, apex, config, flow=None):
    """The feature array of one face clip (T x H x W uint8) with its apex position.

    The frames around the apex are temporally normalised to ``config.frames``
    frames and rounded back to 8 bits, then described by LBP-TOP or HOOF.
    ``flow`` (two frames -> H x W x 2) is required for HOOF.
    """
    start, stop = tim.apex_window(len(clip), apex, config.half_window)
    frames = tim.to_uint8(tim.temporal_normalise(clip[start:stop], config.frames, config.interpolation))
    if config.method == "lbptop":
        return lbptop.lbp_top(frames, config.neighbours, config.radius, config.mapping, config.grid)
    return hoof.hoof_sequence(frames, config.bins, flow)


def cache_folder(cache_root, prepared_dir, config):
    """The cache folder of a configuration on one prepared directory.

    Named by content: the method folder name plus a hash of the configuration
    and of the prepared index, so a re-prepared directory or a changed option
    never reuses stale features.
    """
    digest = hashlib.sha256(json.dumps({"config": config.relevant(),
                                        "index": sha256_file(os.path.join(prepared_dir, INDEX_FILE))},
                                       sort_keys=True).encode()).hexdigest()[:10]
    name = folder_name(config.method, config.tim, config.neighbours, config.bins)
    return os.path.join(cache_root, "%s-%s" % (name, digest))


def extract_prepared(prepared_dir, rows, config, cache_root, jobs=1):
    """Extract (or find cached) features of every index row; returns (folder, stats).

    Each clip's feature is written atomically to ``<folder>/Features/<clip
    key>.mat`` in the release format, so an interrupted run resumes where it
    stopped. ``stats`` has the number of clips extracted now and the seconds
    it took (for throughput reports).
    """
    folder = cache_folder(cache_root, prepared_dir, config)
    write_json(os.path.join(folder, "config.json"), dict(config.relevant(), prepared=os.path.abspath(prepared_dir)))
    todo = [row for row in rows if not os.path.isfile(feature_path(folder, sample_key(row)))]
    started = time.perf_counter()
    tasks = [(prepared_dir, row, config, feature_path(folder, sample_key(row))) for row in todo]
    progress = dict(total=len(tasks), desc="%s features" % os.path.basename(folder), unit="clip",
                    disable=not tasks)
    if jobs > 1 and len(tasks) > 1:
        # forkserver: a forked copy of a process whose OpenCV threads already ran can deadlock.
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_setup) as pool:
            for _ in tqdm(pool.map(_extract_task, tasks, chunksize=1), **progress):
                pass
    else:
        for task in tqdm(tasks, **progress):
            _extract_task(task)
    return folder, {"extracted": len(tasks), "cached": len(rows) - len(tasks),
                    "seconds": time.perf_counter() - started}


def _worker_setup():
    """One OpenCV thread per worker process: the pool already uses every core."""
    import cv2
    cv2.setNumThreads(1)


def _extract_task(task):
    """Load one prepared clip, compute its feature, save it in the release format."""
    prepared_dir, row, config, path = task
    clip, apex = load_face_clip(prepared_dir, row, size=config.face_size)
    try:
        feature = clip_feature(clip, apex, config, make_flow(config.flow) if config.method == "hoof" else None)
    except InputError as err:
        raise InputError("clip %s of %s: %s" % (sample_key(row), prepared_dir, err)) from None
    save_feature(path, config.method, feature)


def feature_path(folder, key):
    return os.path.join(folder, FEATURES_SUBDIR, key + ".mat")


def save_feature(path, method, feature):
    """Write one clip's feature as a release-format MATLAB file, atomically."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            scipy.io.savemat(handle, {VARIABLE[method]: np.asarray(feature, dtype=np.float64)})


# --- reading release-format files -------------------------------------------

def features_dir(path):
    """The folder holding the ``.mat`` files: ``path/Features`` if present, else ``path``."""
    inner = os.path.join(path, FEATURES_SUBDIR)
    if os.path.isdir(inner):
        return inner
    if os.path.isdir(path):
        return path
    raise InputError("feature directory %s does not exist" % path)


def read_features(path, samples, method, expected_shape=None):
    """The features of ``samples`` (in order) as an (n, rows, columns) float64 array.

    ``expected_shape`` is a tuple whose None entries are free; by default
    LBP-TOP must be 3 x 59 and HOOF (bins, steps) of any size. Every clip
    must have the same shape. Errors name the clip and the file: a missing
    file, an unreadable file, a missing variable, a wrong shape, a
    non-finite value.
    """
    folder = features_dir(path)
    variable = VARIABLE[method]
    expected = list(expected_shape or ((3, 59) if method == "lbptop" else (None, None)))
    arrays = []
    for sample in samples:
        key = sample_key(sample)
        array = _load_variable(os.path.join(folder, key + ".mat"), key, variable)
        if array.ndim != len(expected) or any(e is not None and e != s for e, s in zip(expected, array.shape)):
            raise InputError("%s: %r of clip %s has shape %s, expected %s"
                             % (os.path.join(folder, key + ".mat"), variable, key, "x".join(map(str, array.shape)),
                                "x".join("?" if e is None else str(e) for e in expected)))
        expected = list(array.shape)  # every later clip must match the first
        arrays.append(array)
    if not arrays:
        raise InputError("no samples to read features for from %s" % folder)
    return np.stack(arrays)


def _load_variable(path, key, variable):
    """One variable of a MATLAB file as a float64 array, with errors naming the clip."""
    if not os.path.isfile(path):
        raise InputError("no feature file for clip %s: %s does not exist" % (key, path))
    try:
        contents = scipy.io.loadmat(path)
    except Exception as err:  # scipy raises many types (IndexError, MatReadError, ...) for a damaged file
        raise InputError("%s (clip %s): not a readable MATLAB file (%s)" % (path, key, err)) from None
    if variable not in contents:
        found = sorted(k for k in contents if not k.startswith("__"))
        raise InputError("%s (clip %s): no variable %r (found %s)" % (path, key, variable, ", ".join(found) or "none"))
    try:
        array = np.asarray(contents[variable], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("%s (clip %s): %r is not a numeric array" % (path, key, variable)) from None
    if not np.all(np.isfinite(array)):
        raise InputError("%s (clip %s): %r holds non-finite values" % (path, key, variable))
    return array


def read_labels(path):
    """The samples of a release-style labels list (``Apex_Cropped_images.txt``)."""
    if not os.path.isfile(path):
        raise InputError("labels list %s does not exist" % path)
    return list(read_apex_list(path))
