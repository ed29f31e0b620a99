"""LBP-TOP histograms of constant clips and of known patterns, and the bin mappings."""
import numpy as np
import pytest
import skimage.feature

from atnet.baselines import lbptop
from atnet.common import InputError

T, H, W = 10, 24, 32


def x_ramp():
    """Brightness grows to the right, the same in every row and frame."""
    return np.broadcast_to((np.arange(W) * 5)[None, None, :], (T, H, W)).astype(np.uint8).copy()


def t_ramp():
    """Brightness grows over time, uniform within a frame."""
    return np.broadcast_to((np.arange(T) * 20)[:, None, None], (T, H, W)).astype(np.uint8).copy()


def one_hot(bins, index):
    row = np.zeros(bins)
    row[index] = 1.0
    return row


# Codes worked out by hand from skimage's neighbour layout (neighbour p at angle
# 2 pi p / P counter-clockwise from +x, bit p set when neighbour >= centre):
# x-ramp in XY and XT: the neighbours at cos >= 0 are set (P=4: 0b1011 = 11;
# P=8: bits 0,1,2,6,7 = 199); t-ramp in XT and YT: the later-frame (lower row)
# neighbours and the equal horizontal ones are set (P=4: 0b1101 = 13;
# P=8: bits 0,4,5,6,7 = 241); a flat plane sets every bit (2**P - 1).
KNOWN_CODES = {
    (4, "x"): (11, 11, 15), (8, "x"): (199, 199, 255),
    (4, "t"): (15, 13, 13), (8, "t"): (255, 241, 241),
}


@pytest.mark.parametrize("neighbours", [4, 8])
@pytest.mark.parametrize("pattern", ["x", "t"])
def test_plane_codes_of_known_patterns(neighbours, pattern):
    clip = x_ramp() if pattern == "x" else t_ramp()
    codes = lbptop.plane_codes(clip, neighbours, 3)
    for plane, expected in zip(lbptop.PLANES, KNOWN_CODES[neighbours, pattern]):
        assert codes[plane].shape == (T - 6, H - 6, W - 6)
        assert np.all(codes[plane] == expected), plane


@pytest.mark.parametrize("neighbours,mapping,bins,expected_bins", [
    # u2-59: 4-bit 11 and 13 are not uniform as 8-bit patterns -> bin 58; 15 -> bin 10.
    (4, "u2-59", 59, {"x": (58, 58, 10), "t": (10, 58, 58)}),
    (8, "u2-59", 59, {"x": (39, 39, 57), "t": (57, 48, 48)}),
    # u2 with 4 neighbours: 11 and 13 are uniform 4-bit patterns (bins 9 and 11 of 15).
    (4, "u2", 15, {"x": (9, 9, 13), "t": (13, 11, 11)}),
    (4, "none", 16, {"x": (11, 11, 15), "t": (15, 13, 13)}),
])
@pytest.mark.parametrize("pattern", ["x", "t"])
def test_histograms_of_known_patterns(neighbours, mapping, bins, expected_bins, pattern):
    clip = x_ramp() if pattern == "x" else t_ramp()
    histogram = lbptop.lbp_top(clip, neighbours, 3, mapping)
    assert histogram.shape == (3, bins)
    for row, index in zip(histogram, expected_bins[pattern]):
        np.testing.assert_array_equal(row, one_hot(bins, index))


@pytest.mark.parametrize("neighbours,flat_bin", [(4, 10), (8, 57)])
def test_constant_clip_puts_every_plane_in_the_all_ones_bin(neighbours, flat_bin):
    histogram = lbptop.lbp_top(np.full((T, H, W), 97, np.uint8), neighbours)
    assert histogram.shape == (3, 59)
    for row in histogram:
        np.testing.assert_array_equal(row, one_hot(59, flat_bin))


def test_release_mapping_has_59_bins_and_p4_reaches_only_12():
    table, bins = lbptop.bin_table(8, "u2-59")
    assert bins == 59 and sorted(set(table)) == list(range(59))
    table4, bins4 = lbptop.bin_table(4, "u2-59")
    assert bins4 == 59 and sorted(set(table4)) == list(range(11)) + [58]
    clip = np.random.default_rng(0).integers(0, 256, (T, H, W)).astype(np.uint8)
    histogram = lbptop.lbp_top(clip, 4)
    assert set(np.flatnonzero(histogram.sum(axis=0))) <= set(range(11)) | {58}


@pytest.mark.parametrize("neighbours", [4, 8])
def test_u2_mapping_partitions_codes_like_scikit_image(neighbours):
    """Our getmapping(P, 'u2') and skimage's 'nri_uniform' group pixels identically."""
    image = np.random.default_rng(1).integers(0, 256, (40, 40)).astype(np.uint8)
    ours = lbptop.uniform_table(neighbours)[
        skimage.feature.local_binary_pattern(image, neighbours, 3, "default").astype(int)]
    theirs = skimage.feature.local_binary_pattern(image, neighbours, 3, "nri_uniform").astype(int)
    pairs = set(zip(ours.ravel(), theirs.ravel()))
    assert len(pairs) == len(set(ours.ravel())) == len(set(theirs.ravel())) == neighbours * (neighbours - 1) + 3


def test_random_clip_histograms_are_normalised():
    clip = np.random.default_rng(2).integers(0, 256, (12, 30, 30)).astype(np.uint8)
    histogram = lbptop.lbp_top(clip, 8)
    np.testing.assert_allclose(histogram.sum(axis=1), 1.0)
    assert (histogram > 0).sum() > 100


def test_block_grid_gives_one_normalised_histogram_per_block():
    """Left half an x-ramp, right half flat: the blocks see different patterns."""
    clip = x_ramp()
    clip[:, :, W // 2:] = 50
    histogram = lbptop.lbp_top(clip, 8, grid=(2, 2))
    assert histogram.shape == (3, 4 * 59)
    blocks = histogram.reshape(3, 4, 59)
    np.testing.assert_allclose(blocks.sum(axis=2), 1.0)
    assert blocks[0, 0, 39] > 0.5 and blocks[0, 1, 57] > 0.5   # XY: ramp on the left, flat on the right
    np.testing.assert_array_equal(blocks[:, 0], blocks[:, 2])    # rows of the face are alike


def test_bad_inputs_are_input_errors():
    with pytest.raises(InputError, match="more than 6 frames"):
        lbptop.lbp_top(np.zeros((6, H, W), np.uint8), 8)
    with pytest.raises(InputError, match="8-bit"):
        lbptop.lbp_top(np.zeros((T, H, W)), 8)
    with pytest.raises(InputError, match="at most 8"):
        lbptop.lbp_top(np.zeros((T, H, W), np.uint8), 16)
    with pytest.raises(InputError, match="grid"):
        lbptop.lbp_top(np.zeros((T, H, W), np.uint8), 8, grid=(0, 2))
