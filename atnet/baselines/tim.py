"""Temporal normalisation of a clip to a fixed number of frames.

The baselines of the paper describe each clip after temporally normalising it
to 10 or 64 frames with the Temporal Interpolation Model (TIM) of Zhou, Zhao
and Pietikainen ("Towards a practical lipreading system", CVPR 2011), as
Pfister et al. did for micro-expressions (ICCV 2011).

TIM, from its definition:
1. The n frames are the vertices of the path graph P_n (frame i joined to
   frame i+1). The eigenvectors of its Laplacian L = D - W with non-zero
   eigenvalue are, in closed form, y_k(i) = cos(pi k (i - 1/2) / n) for
   k = 1..n-1 (Zhou et al. write sin(pi k i/n + pi (n-k)/(2n)), the same
   function). Frame i is embedded at the point (y_1(i), ..., y_{n-1}(i)), and
   the continuous curve F(s) = (y_1(s), ..., y_{n-1}(s)), s in [1, n],
   passes through all n points.
2. A linear map M takes the curve back to image space such that
   x_i = mean + M F(i) for every frame (Zhou et al. learn it through PCA
   of the mean-removed frames; with orthonormal eigenvectors Y it is
   M = X~ Y, exactly, because the embedded points are centred and Y Y^T is
   the projector that removes the mean).
3. New frames are mean + M F(s) at N positions s spread evenly over [1, n],
   so the first and last frames are kept.

Every output frame is therefore a fixed linear combination of the input
frames: the whole model is one N x n matrix, computed once per (n, N) and
applied to all pixels at once. It is a cosine (DCT-II) interpolation; at
the original positions it reproduces the frames exactly, in between it can
overshoot slightly on sharp changes, which is why outputs are clipped to the
8-bit range before LBP or optical flow.
"""
import functools

import numpy as np

from atnet.common import InputError

#: Interpolation methods of ``--interpolation``: the paper's TIM, or linear.
INTERPOLATIONS = ("tim", "linear")


@functools.lru_cache(maxsize=64)
def interpolation_matrix(n_in, n_out, method="tim"):
    """The n_out x n_in matrix whose rows mix input frames into output frames.

    Cached: a dataset has few distinct clip lengths, and the matrix depends
    only on the lengths.
    """
    if n_in < 2 or n_out < 2:
        raise InputError("temporal normalisation needs at least 2 frames in and out, got %d -> %d"
                         % (n_in, n_out))
    positions = np.linspace(1.0, float(n_in), n_out)
    if method == "tim":
        matrix = _tim_matrix(n_in, positions)
    elif method == "linear":
        matrix = _linear_matrix(n_in, positions)
    else:
        raise InputError("unknown interpolation %r (expected one of %s)" % (method, ", ".join(INTERPOLATIONS)))
    matrix.setflags(write=False)
    return matrix


def _path_graph_curve(n, positions):
    """F(s): the orthonormal Laplacian eigenvectors of P_n evaluated at ``positions`` (1-based)."""
    k = np.arange(1, n)
    return np.sqrt(2.0 / n) * np.cos(np.pi * np.outer(np.asarray(positions) - 0.5, k) / n)


def _tim_matrix(n, positions):
    """mean + X~ Y F(s), written as one matrix acting on the frames X."""
    on_frames = _path_graph_curve(n, np.arange(1, n + 1))   # Y: n x (n-1)
    at_positions = _path_graph_curve(n, positions)            # F: N x (n-1)
    remove_mean = np.eye(n) - 1.0 / n
    return 1.0 / n + at_positions @ on_frames.T @ remove_mean


def _linear_matrix(n, positions):
    """Plain linear interpolation between the two nearest frames."""
    matrix = np.zeros((len(positions), n))
    left = np.minimum(np.floor(positions).astype(int), n - 1)   # 1-based
    weight = positions - left
    rows = np.arange(len(positions))
    matrix[rows, left - 1] = 1.0 - weight
    matrix[rows, left] += weight
    return matrix


def temporal_normalise(clip, n_out, method="tim"):
    """``clip`` (T x H x W, any real dtype) resampled to n_out frames, as float64."""
    clip = np.asarray(clip)
    matrix = interpolation_matrix(clip.shape[0], int(n_out), method)
    flat = clip.reshape(clip.shape[0], -1).astype(np.float64)
    return (matrix @ flat).reshape((int(n_out),) + clip.shape[1:])


def to_uint8(frames):
    """Round and clip interpolated frames back to 8-bit grey levels.

    LBP compares neighbours with ``>=`` and optical flow expects 8-bit
    images; interpolation can overshoot 0..255 by a little.
    """
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def apex_window(n_frames, apex, half_width):
    """The (start, stop) slice of the frames around the apex.

    ``half_width`` frames before and after the apex (the paper's temporal
    stream uses 32 and 32), cut at the clip's ends; ``None`` keeps the whole
    clip (onset to offset).
    """
    if not 0 <= apex < n_frames:
        raise InputError("apex position %d is outside the clip's %d frames" % (apex, n_frames))
    if half_width is None:
        return 0, n_frames
    return max(0, apex - half_width), min(n_frames, apex + half_width + 1)
