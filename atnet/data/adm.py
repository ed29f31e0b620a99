"""The average direction-magnitude (ADM) feature of atnet.md section 3.

65 face crops centred on the apex (32 frames before, 32 after, native frame
rate) give 64 consecutive flow fields. Each 224 x 224 field is cut into an
8 x 8 grid of 28 x 28 blocks; per block the flow vectors become polar
(rho = magnitude, theta = direction) and both are averaged arithmetically
over the block's pixels, as the paper says (a plain mean of angles, not a
circular mean). A row of the 64 x 128 feature is one time step:
``theta_0, rho_0, theta_1, rho_1, ...`` over the blocks in row-major order
(block index = 8 * block_row + block_column). theta = atan2(dy, dx) in
[-pi, pi] with y pointing DOWN (image coordinates), so pi/2 is a downward
motion and -pi/2 an upward one. Steps whose frame pair leaves the clip are
rows of zeros, so the valid rows stay where they are, centred on the apex.
A clip that gives no flow at all (one frame, or frames that do not move) is
an error, never an all-zero feature.
"""
import numpy as np

from atnet.common import InputError

CROP_SIZE = 224
GRID = 8
BLOCK = CROP_SIZE // GRID          # 28 pixels
HALF_WINDOW = 32                   # frames on each side of the apex
STEPS = 2 * HALF_WINDOW            # 64 flow fields
MIN_FRAMES = 2                     # one flow step; a shorter clip would give an all-zero feature
FEATURE_SHAPE = (STEPS, 2 * GRID * GRID)   # 64 x 128


def block_means(field):
    """One feature row from one 224 x 224 x 2 flow field: theta, rho per block."""
    dx = field[..., 0].astype(np.float64)
    dy = field[..., 1].astype(np.float64)
    if dx.shape != (CROP_SIZE, CROP_SIZE):
        raise ValueError("flow field is %s, expected %d x %d" % (dx.shape, CROP_SIZE, CROP_SIZE))
    theta = np.arctan2(dy, dx).reshape(GRID, BLOCK, GRID, BLOCK).mean(axis=(1, 3))
    rho = np.hypot(dx, dy).reshape(GRID, BLOCK, GRID, BLOCK).mean(axis=(1, 3))
    row = np.empty(FEATURE_SHAPE[1], np.float64)
    row[0::2] = theta.ravel()
    row[1::2] = rho.ravel()
    return row


def window_steps(n_frames, apex_index):
    """``[(step, i), ...]``: feature row ``step`` is the flow from frame i to i + 1.

    Step k pairs frames apex - 32 + k and apex - 33 + k; steps whose pair
    falls outside the clip's frames 0..n_frames - 1 are left out (zero rows).
    """
    steps = []
    for step in range(STEPS):
        first = apex_index - HALF_WINDOW + step
        if first >= 0 and first + 1 < n_frames:
            steps.append((step, first))
    return steps


def adm_feature(crops, apex_index, flow):
    """The 64 x 128 float32 ADM feature of a clip's 224 x 224 grey face crops.

    ``flow(previous, following)`` is a function from ``atnet.data.flow``.
    """
    if not 0 <= apex_index < len(crops):
        raise ValueError("apex index %d outside a clip of %d frames" % (apex_index, len(crops)))
    if len(crops) < MIN_FRAMES:
        raise InputError("clip has %d frame(s); the ADM feature needs at least %d (one flow step), "
                         "so it would be all zero" % (len(crops), MIN_FRAMES))
    feature = np.zeros(FEATURE_SHAPE, np.float32)
    for step, first in window_steps(len(crops), apex_index):
        feature[step] = block_means(flow(crops[first], crops[first + 1]))
    if not valid_rows(feature).any():
        raise InputError("every flow field of the clip's %d frames is zero, so the ADM feature would be all "
                         "zero (are the frames copies of one image?)" % len(crops))
    return feature


def valid_rows(feature):
    """Boolean mask of the rows that carry flow (any non-zero value)."""
    return np.any(feature != 0, axis=1)


def move_valid_rows_to_end(feature):
    """The release's data-layer reordering: zero rows first, then the valid
    rows in their original order (atnet.md section 3). Not part of the stored
    feature; the training data path applies it behind a switch."""
    mask = valid_rows(feature)
    return np.concatenate([feature[~mask], feature[mask]], axis=0)
