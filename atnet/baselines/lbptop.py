"""LBP-TOP: local binary patterns on three orthogonal planes (Zhao and
Pietikainen, TPAMI 2007) of a temporally normalised face clip.

For every pixel whose whole neighbourhood lies inside the clip (at least
``radius`` away from every border, in x, y and t alike) a P-neighbour LBP
code is computed in its XY, XT and YT plane; the codes of each plane are
mapped to bins and counted, and each plane's histogram is divided by its sum.
The 2-D LBP codes come from scikit-image (``local_binary_pattern``, method
'default': neighbour p at angle 2 pi p / P counter-clockwise from the +column
axis, bilinear interpolation, bit p set when neighbour >= centre).

Bin mappings (``MAPPINGS``):
- ``u2-59`` (default): the 8-neighbour uniform mapping of Ojala et al.
  (``getmapping(8, 'u2')``): the 58 uniform 8-bit patterns get bins 0..57 in
  increasing code order, every other pattern bin 58. It is applied to the
  P-bit codes whatever P is, which is what gives the release's 3 x 59
  histograms for P = 4 and P = 8 alike: a 4-bit code c is read as the 8-bit
  pattern 0000cccc, so only the 11 codes whose ones are contiguous without
  wrapping (0, 1, 2, 3, 4, 6, 7, 8, 12, 14, 15 -> bins 0..10) get their own
  bin and the five others (5, 9, 10, 11, 13) share bin 58; at most 12 of
  the 59 bins are ever non-zero for P = 4.
- ``u2``: the proper P-neighbour uniform mapping, P (P - 1) + 3 bins.
- ``none``: the raw codes, 2**P bins.
"""
import functools

import numpy as np
import skimage.feature

from atnet.common import InputError

MAPPINGS = ("u2-59", "u2", "none")
PLANES = ("XY", "XT", "YT")


def transitions(code, bits):
    """Number of 0/1 changes in the circular ``bits``-bit pattern ``code``."""
    rotated = ((code << 1) | (code >> (bits - 1))) & ((1 << bits) - 1)
    return bin(code ^ rotated).count("1")


@functools.lru_cache(maxsize=None)
def uniform_table(bits):
    """getmapping(bits, 'u2'): code -> bin, uniform patterns first in code order."""
    table = np.empty(1 << bits, dtype=np.int64)
    next_bin = 0
    non_uniform_bin = bits * (bits - 1) + 2
    for code in range(1 << bits):
        if transitions(code, bits) <= 2:
            table[code] = next_bin
            next_bin += 1
        else:
            table[code] = non_uniform_bin
    return table


def bin_table(neighbours, mapping="u2-59"):
    """(table, number of bins) mapping the ``neighbours``-bit codes to histogram bins."""
    if mapping == "u2-59":
        if neighbours > 8:
            raise InputError("the 59-bin mapping takes at most 8 neighbours, got P=%d" % neighbours)
        return uniform_table(8)[: 1 << neighbours], 59
    if mapping == "u2":
        return uniform_table(neighbours), neighbours * (neighbours - 1) + 3
    if mapping == "none":
        return np.arange(1 << neighbours), 1 << neighbours
    raise InputError("unknown LBP mapping %r (expected one of %s)" % (mapping, ", ".join(MAPPINGS)))


def plane_codes(clip, neighbours, radius):
    """The LBP codes of the interior pixels in each plane, each shaped (T', H', W').

    All three planes share the same centre pixels. Slices of a plane are
    stacked into one tall image so scikit-image runs once per plane; an
    interior pixel's neighbours stay inside its own slice, so the stacking
    never mixes slices.
    """
    clip = np.asarray(clip)
    frames, height, width = clip.shape
    r = int(np.ceil(radius))
    if min(frames, height, width) <= 2 * r:
        raise InputError("LBP-TOP with radius %s needs more than %d frames, rows and columns; the clip is %s"
                         % (radius, 2 * r, "x".join(map(str, clip.shape))))
    inner_t, inner_y, inner_x = (slice(r, n - r) for n in clip.shape)
    xy = _lbp_stacked(clip[inner_t], neighbours, radius)                   # t, y, x (inner frames only)
    xt = _lbp_stacked(clip.transpose(1, 0, 2), neighbours, radius)         # y, t, x
    yt = _lbp_stacked(clip.transpose(2, 0, 1), neighbours, radius)         # x, t, y
    return {
        "XY": xy[:, inner_y, inner_x],
        "XT": xt[inner_y, inner_t, inner_x].transpose(1, 0, 2),
        "YT": yt[inner_x, inner_t, inner_y].transpose(1, 2, 0),
    }


def _lbp_stacked(slices, neighbours, radius):
    """2-D LBP codes of every slice ``slices[i]`` at once."""
    count, rows, cols = slices.shape
    tall = np.ascontiguousarray(slices).reshape(count * rows, cols)
    codes = skimage.feature.local_binary_pattern(tall, neighbours, radius, method="default")
    return codes.astype(np.int64).reshape(count, rows, cols)


def lbp_top(clip, neighbours=8, radius=3, mapping="u2-59", grid=(1, 1)):
    """The LBP-TOP feature of a uint8 clip (T x H x W).

    Returns a float64 array of shape (3, blocks * bins): one row per plane
    (XY, XT, YT), and per row the histograms of the ``grid`` blocks (rows x
    columns of the face, row-major), each normalised to sum 1. With the
    default 1 x 1 grid and mapping this is the release's 3 x 59 ``Histogram``.
    """
    clip = np.asarray(clip)
    if clip.dtype != np.uint8:
        raise InputError("LBP-TOP expects 8-bit frames, got %s" % clip.dtype)
    table, bins = bin_table(neighbours, mapping)
    codes = plane_codes(clip, neighbours, radius)
    rows = []
    for plane in PLANES:
        binned = table[codes[plane]]
        rows.append(np.concatenate([_normalised_histogram(block, bins) for block in _blocks(binned, grid)]))
    return np.stack(rows)


def _blocks(volume, grid):
    """The (T', h, w) sub-volumes of a grid over the face's rows and columns."""
    grid_rows, grid_cols = grid
    if grid_rows < 1 or grid_cols < 1 or grid_rows > volume.shape[1] or grid_cols > volume.shape[2]:
        raise InputError("block grid %dx%d does not fit the %dx%d interior of the face"
                         % (grid_rows, grid_cols, volume.shape[1], volume.shape[2]))
    for band in np.array_split(volume, grid_rows, axis=1):
        yield from np.array_split(band, grid_cols, axis=2)


def _normalised_histogram(binned, bins):
    """Counts of each bin divided by the number of pixels (sums to 1)."""
    counts = np.bincount(binned.ravel(), minlength=bins).astype(np.float64)
    return counts / counts.sum()
