"""HOOF: histograms of oriented optical flow (Chaudhry et al., CVPR 2009).

Per flow field (one per pair of consecutive normalised frames), every flow
vector v = (dx, dy) votes with its magnitude |v| into one of N bins of its
*primary angle*: the signed angle between v and the horizontal axis taken
as a line, theta = atan2(up, |dx|) in [-pi/2, pi/2], where up = -dy because
image rows grow downwards. Bin b (0-based) covers
[-pi/2 + b pi/N, -pi/2 + (b+1) pi/N), so bin 0 is motion straight down,
bin N-1 straight up, and a vector and its mirror image about the vertical
axis (dx -> -dx) share a bin: the binning is symmetric about the vertical
axis, which makes the histogram independent of left/right facing. The
histogram is divided by its sum; a field without any motion (sum 0) has no
direction and gets the uniform histogram 1/N, so every column of the feature
still sums to 1 as in the release's files.
"""
import numpy as np

from atnet.common import InputError


def hoof_histogram(flow, bins):
    """The normalised N-bin HOOF of one flow field (H x W x 2, channels dx, dy)."""
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise InputError("a flow field must be H x W x 2, got shape %s" % (flow.shape,))
    dx, dy = flow[..., 0].ravel(), flow[..., 1].ravel()
    magnitude = np.hypot(dx, dy)
    primary_angle = np.arctan2(-dy, np.abs(dx))
    index = np.clip(np.floor((primary_angle + np.pi / 2) / (np.pi / bins)).astype(np.int64), 0, bins - 1)
    histogram = np.bincount(index, weights=magnitude, minlength=bins)
    total = histogram.sum()
    if not np.isfinite(total):
        raise InputError("the flow field holds non-finite values")
    return histogram / total if total > 0 else np.full(bins, 1.0 / bins)


def hoof_sequence(frames, bins, flow):
    """The HOOF feature of a clip: a (bins x steps) array, one column per flow step.

    ``frames`` are the temporally normalised uint8 frames (T x H x W);
    ``flow(previous, following)`` is the dense optical flow between two of
    them (H x W x 2), so a clip of T frames gives T - 1 columns.
    """
    frames = np.asarray(frames)
    if frames.shape[0] < 2:
        raise InputError("HOOF needs at least 2 frames, got %d" % frames.shape[0])
    columns = [hoof_histogram(flow(frames[t], frames[t + 1]), bins) for t in range(frames.shape[0] - 1)]
    return np.stack(columns, axis=1)
