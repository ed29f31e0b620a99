"""HOOF binning, on hand-made flow fields and on real optical flow of translated textures."""
import cv2
import numpy as np
import pytest

from atnet.baselines import hoof
from atnet.common import InputError
from atnet.data.flow import DEFAULT_FLOW, FLOW_ALGORITHMS, make_flow, uniform_flow


def bin_centre(bins, index):
    """The primary angle at the middle of bin ``index`` (radians, y up)."""
    return -np.pi / 2 + (index + 0.5) * np.pi / bins


def motion(angle, speed, mirrored=False):
    """(dx, dy) in image coordinates (y down) of a motion at primary angle ``angle``."""
    dx, dy = speed * np.cos(angle), -speed * np.sin(angle)
    return (-dx if mirrored else dx), dy


@pytest.mark.parametrize("bins", [4, 8])
@pytest.mark.parametrize("mirrored", [False, True])
def test_uniform_field_puts_all_mass_in_its_bin(bins, mirrored):
    """Bin 0 is straight down, bin N-1 straight up; left and right mirror images share a bin."""
    for index in range(bins):
        dx, dy = motion(bin_centre(bins, index), 1.3, mirrored)
        np.testing.assert_array_equal(hoof.hoof_histogram(uniform_flow((6, 7), dx, dy), bins),
                                      np.eye(bins)[index])


def test_magnitude_weighting_and_bin_edges():
    """Straight down and up land in the end bins; a vector counts with its length."""
    field = np.zeros((1, 3, 2))
    field[0, 0] = (0.0, 3.0)      # down, length 3 -> bin 0
    field[0, 1] = (0.0, -1.0)     # up, length 1 -> bin 3
    field[0, 2] = (-2.0, 0.0)     # left, length 2: primary angle 0 -> first bin above it, bin 2
    np.testing.assert_allclose(hoof.hoof_histogram(field, 4), [0.5, 0.0, 2 / 6, 1 / 6])


def test_no_motion_gives_the_uniform_histogram():
    np.testing.assert_array_equal(hoof.hoof_histogram(np.zeros((5, 5, 2)), 8), np.full(8, 1 / 8))


def textured_clip(dx, dy, frames=5, size=64):
    """Frames of a blurred-noise texture whose content moves by whole pixels (dx, dy) per frame.

    Whole-pixel shifts of a window over a larger texture: every frame is an
    exact crop, so no interpolation blur differs between frames.
    """
    noise = np.random.default_rng(0).random((size + 80, size + 80)).astype(np.float32)
    texture = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 2.0), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    top, left = 40, 40
    return np.stack([texture[top - dy * t: top - dy * t + size, left - dx * t: left - dx * t + size]
                     for t in range(frames)])


#: Whole-pixel motions (right, up) close to each bin's centre angle (within 1 degree).
CENTRE_MOTIONS = {4: [(2, -5), (5, -2), (5, 2), (2, 5)],
                  8: [(1, -5), (2, -3), (3, -2), (5, -1), (5, 1), (3, 2), (2, 3), (1, 5)]}


@pytest.mark.parametrize("algorithm", sorted(FLOW_ALGORITHMS))
@pytest.mark.parametrize("bins", [4, 8])
def test_translation_puts_the_mass_in_the_expected_bin_at_every_step(algorithm, bins):
    """Real dense flow of a translating texture, for every bin, moving right and mirrored left."""
    flow = make_flow(algorithm)
    for index, (right, up) in enumerate(CENTRE_MOTIONS[bins]):
        assert abs(np.arctan2(up, right) - bin_centre(bins, index)) < np.radians(1)
        for sign in (1, -1):
            feature = hoof.hoof_sequence(textured_clip(sign * right, -up), bins, flow)
            assert feature.shape == (bins, 4)
            np.testing.assert_allclose(feature.sum(axis=0), 1.0)
            # TV-L1's regularisation smears a few per cent of the small clip's border pixels
            assert feature[index].min() > (0.95 if algorithm == "tvl1" else 0.99), (index, sign, feature)


def test_sequence_has_one_column_per_flow_step():
    clip = np.random.default_rng(0).integers(0, 256, (10, 32, 32)).astype(np.uint8)
    feature = hoof.hoof_sequence(clip, 8, make_flow(DEFAULT_FLOW))
    assert feature.shape == (8, 9)
    np.testing.assert_allclose(feature.sum(axis=0), 1.0)


def test_bad_inputs_are_input_errors():
    with pytest.raises(InputError, match="H x W x 2"):
        hoof.hoof_histogram(np.zeros((4, 4)), 4)
    with pytest.raises(InputError, match="at least 2 frames"):
        hoof.hoof_sequence(np.zeros((1, 8, 8), np.uint8), 4, make_flow(DEFAULT_FLOW))
