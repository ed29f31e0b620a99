"""The ADM feature (atnet.md section 3) against hand-computed values."""
import math

import numpy as np
import pytest
import skimage.data
import cv2

from atnet.common import InputError
from atnet.data import adm
from atnet.data.flow import FLOW_ALGORITHMS, flow_params, make_flow, uniform_flow

SIZE = adm.CROP_SIZE


@pytest.mark.parametrize("dx, dy, theta, rho", [
    (1.0, 0.0, 0.0, 1.0),
    (0.0, 2.0, math.pi / 2, 2.0),          # y points down: a downward motion is +pi/2
    (0.0, -0.5, -math.pi / 2, 0.5),
    (-1.0, 0.0, math.pi, 1.0),             # atan2(+0, -1) = pi
    (3.0, 4.0, math.atan2(4.0, 3.0), 5.0),
])
def test_uniform_translation_gives_its_direction_and_magnitude_in_every_block(dx, dy, theta, rho):
    row = adm.block_means(uniform_flow((SIZE, SIZE), dx, dy))
    assert row.shape == (128,)
    np.testing.assert_allclose(row[0::2], theta, atol=1e-6)    # direction first
    np.testing.assert_allclose(row[1::2], rho, atol=1e-6)      # then magnitude


def test_blocks_are_28_pixels_in_row_major_order():
    field = np.zeros((SIZE, SIZE, 2), np.float32)
    for i in range(8):
        for j in range(8):
            field[28 * i:28 * (i + 1), 28 * j:28 * (j + 1)] = (i + 1, j)
    row = adm.block_means(field)
    for i in range(8):
        for j in range(8):
            block = 8 * i + j
            assert row[2 * block] == pytest.approx(math.atan2(j, i + 1))
            assert row[2 * block + 1] == pytest.approx(math.hypot(i + 1, j))


def test_block_values_are_arithmetic_means_of_theta_and_rho():
    field = np.zeros((SIZE, SIZE, 2), np.float32)
    field[:, 0::2] = (1.0, 0.0)          # even pixel columns move right by 1
    field[:, 1::2] = (0.0, 3.0)          # odd pixel columns move down by 3
    row = adm.block_means(field)
    np.testing.assert_allclose(row[0::2], (0.0 + math.pi / 2) / 2, atol=1e-9)
    np.testing.assert_allclose(row[1::2], (1.0 + 3.0) / 2, atol=1e-9)
    # a direction average, not the direction of the average vector (atan2(3, 1))
    assert abs(row[0] - math.atan2(3.0, 1.0)) > 0.1


def _index_flow(previous, following):
    """Fake flow: dx = index of the first frame + 1, dy = 0.5 (frames carry their index)."""
    assert int(following[0, 0]) == int(previous[0, 0]) + 1
    return uniform_flow(previous.shape, float(previous[0, 0]) + 1.0, 0.5)


def _clip(n):
    return [np.full((SIZE, SIZE), i, np.uint8) for i in range(n)]


def _check_rows(feature, n, apex):
    valid = adm.valid_rows(feature)
    for step in range(64):
        first = apex - 32 + step
        if 0 <= first and first + 1 < n:
            assert valid[step], step
            np.testing.assert_allclose(feature[step, 1::2], math.hypot(first + 1, 0.5), rtol=1e-6)
            np.testing.assert_allclose(feature[step, 0::2], math.atan2(0.5, first + 1), rtol=1e-6)
        else:
            assert not feature[step].any(), step
    return valid


def test_window_is_centred_on_the_apex_with_zero_rows_outside_the_clip():
    feature = adm.adm_feature(_clip(20), 8, _index_flow)
    assert feature.shape == (64, 128) and feature.dtype == np.float32
    valid = _check_rows(feature, 20, 8)
    # steps 24..42 pair frames 0..19; row 32 is apex -> apex + 1
    assert np.flatnonzero(valid).tolist() == list(range(24, 43))


def test_long_clip_fills_all_64_rows_from_apex_minus_32():
    feature = adm.adm_feature(_clip(120), 50, _index_flow)
    assert _check_rows(feature, 120, 50).all()
    assert feature[0, 1] == pytest.approx(math.hypot(18 + 1, 0.5))    # frames 18 -> 19


@pytest.mark.parametrize("n, apex", [(10, 0), (10, 9), (65, 32), (2, 1), (2, 0)])
def test_window_edges(n, apex):
    _check_rows(adm.adm_feature(_clip(n), apex, _index_flow), n, apex)


def test_a_clip_without_flow_is_an_error_not_an_all_zero_feature():
    with pytest.raises(InputError, match="1 frame.*at least 2"):
        adm.adm_feature(_clip(1), 0, _index_flow)
    with pytest.raises(InputError, match="every flow field .* is zero"):
        adm.adm_feature(_clip(10), 4, lambda a, b: np.zeros((SIZE, SIZE, 2), np.float32))


def test_apex_outside_the_clip_is_refused():
    with pytest.raises(ValueError):
        adm.adm_feature(_clip(5), 5, _index_flow)


def test_move_valid_rows_to_end_keeps_their_order():
    feature = np.zeros((64, 128), np.float32)
    for step in range(20, 40):
        feature[step, 1] = step          # direction 0, magnitude = step
    feature[30, 0::2] = 0.0              # a valid row whose directions are all 0 stays valid
    moved = adm.move_valid_rows_to_end(feature)
    assert moved.shape == feature.shape and moved.dtype == feature.dtype
    assert not moved[:44].any()
    assert moved[44:, 1].tolist() == list(range(20, 40))
    # the stored feature itself is untouched
    assert feature[20, 1] == 20 and not feature[0].any()


def test_move_valid_rows_to_end_on_full_and_empty_features():
    full = np.arange(64 * 128, dtype=np.float32).reshape(64, 128) + 1
    np.testing.assert_array_equal(adm.move_valid_rows_to_end(full), full)
    empty = np.zeros((64, 128), np.float32)
    np.testing.assert_array_equal(adm.move_valid_rows_to_end(empty), empty)


def _textured_pair(dx):
    """A real photograph crop and the same crop shifted right by dx pixels."""
    grey = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)[40:264, 140:364]
    shift = np.float32([[1, 0, dx], [0, 1, 0]])
    return grey, cv2.warpAffine(grey, shift, (SIZE, SIZE), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("name", sorted(FLOW_ALGORITHMS))
def test_flow_algorithms_measure_a_real_shift(name):
    first, second = _textured_pair(1.5)
    row = adm.block_means(make_flow(name)(first, second))
    inner = [8 * i + j for i in range(2, 6) for j in range(2, 6)]
    assert np.median(row[1::2][inner]) == pytest.approx(1.5, abs=0.2)
    assert np.median(np.abs(row[0::2][inner])) < 0.15


def test_flow_parameters_are_recorded():
    params = flow_params("dis")
    assert params["preset"] == "MEDIUM" and "PatchSize" in params and params["opencv"] == cv2.__version__
    assert flow_params("farneback")["winsize"] == 15
    tvl1 = flow_params("tvl1")
    assert tvl1["method"] == "cv2.optflow.DualTVL1OpticalFlow" and tvl1["ScalesNumber"] == 5 and tvl1["Lambda"] == 0.15
    with pytest.raises(ValueError):
        make_flow("nope")
