"""Selectable dense optical flow between two grey-scale face crops.

Default ``dis``: OpenCV's DIS flow, preset MEDIUM. It is about twice as fast
as Farneback on 224 x 224 crops (library_facts.md; ``bench/bench_flow.py``
measures it here), deterministic, part of the main opencv-python wheel, and
its variational refinement gives the smooth sub-pixel fields that the small
motions of micro-expressions need. ``farneback`` is the classic polynomial
expansion method, with the parameters most micro-expression code uses.
``tvl1`` is the field's usual choice (Zach-Pock-Bischof dual TV-L1, OpenCV
contrib's ``cv2.optflow.DualTVL1OpticalFlow`` with OpenCV's defaults, as
most micro-expression code calls it); it is by far the slowest
(``bench/bench_flow.py``), so it is offered, not the default.
Every algorithm returns an H x W x 2 float32 field (dx, dy) in pixels, x to
the right and y DOWN (image coordinates).
"""
import cv2
import numpy as np

DEFAULT_FLOW = "dis"

#: name -> the parameters that define it (recorded in the manifest).
FLOW_ALGORITHMS = {
    "dis": {"method": "cv2.DISOpticalFlow", "preset": "MEDIUM"},
    "farneback": {"method": "cv2.calcOpticalFlowFarneback", "pyr_scale": 0.5, "levels": 3,
                  "winsize": 15, "iterations": 3, "poly_n": 5, "poly_sigma": 1.2, "flags": 0},
    "tvl1": {"method": "cv2.optflow.DualTVL1OpticalFlow", "settings": "OpenCV defaults"},
}

_DIS_PRESETS = {"ULTRAFAST": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                "FAST": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                "MEDIUM": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def flow_params(name):
    """Everything that defines algorithm ``name``, for the manifest.

    For DIS the preset is expanded into its concrete settings, so a change
    of OpenCV's preset would show in the manifest (and the cache fingerprint).
    """
    params = dict(FLOW_ALGORITHMS[name], name=name, opencv=cv2.__version__)
    if params["method"] != "cv2.calcOpticalFlowFarneback":
        solver = _create(params)
        for getter in sorted(m for m in dir(solver) if m.startswith("get") and m != "getDefaultName"):
            value = getattr(solver, getter)()
            params[getter[3:]] = value if isinstance(value, (bool, int)) else round(float(value), 6)
    return params


def _create(params):
    """A new DIS or TV-L1 solver object for ``params`` (one per process: not picklable)."""
    if params["method"] == "cv2.DISOpticalFlow":
        return cv2.DISOpticalFlow_create(_DIS_PRESETS[params["preset"]])
    return cv2.optflow.DualTVL1OpticalFlow_create()


def make_flow(name):
    """A function ``flow(previous, following) -> H x W x 2 float32`` for ``name``."""
    if name not in FLOW_ALGORITHMS:
        raise ValueError("unknown flow algorithm %r (choose from %s)" % (name, ", ".join(FLOW_ALGORITHMS)))
    params = FLOW_ALGORITHMS[name]
    if params["method"] != "cv2.calcOpticalFlowFarneback":
        solver = _create(params)
        # DIS and TV-L1 need contiguous images; a crop is a view into its frame
        return lambda previous, following: solver.calc(np.ascontiguousarray(previous),
                                                       np.ascontiguousarray(following), None)
    keys = ("pyr_scale", "levels", "winsize", "iterations", "poly_n", "poly_sigma", "flags")
    args = [params[key] for key in keys]
    return lambda previous, following: cv2.calcOpticalFlowFarneback(previous, following, None, *args)


def uniform_flow(shape, dx, dy):
    """A flow field that moves every pixel by (dx, dy): the tests' hand-made input."""
    field = np.empty(tuple(shape) + (2,), np.float32)
    field[..., 0], field[..., 1] = dx, dy
    return field
