"""atnet.augment: the paper's rotation (<= 5 degrees) and shift (<= 10 px), each with
probability 0.5, through OpenCV's warpAffine; 'none' changes nothing."""
import numpy as np
import pytest

from atnet import augment
from atnet.config import load_config


def test_draws_follow_the_paper():
    rng = np.random.default_rng(1)
    draws = [augment.draw(rng, 5.0, 10, 0.5) for _ in range(4000)]
    angles = np.array([d.angle for d in draws])
    shifts = np.array([(d.dx, d.dy) for d in draws])
    rotated, shifted = angles != 0, np.any(shifts != 0, axis=1)
    assert np.all(np.abs(angles) <= 5.0) and np.all(np.abs(shifts) <= 10)
    assert shifts.dtype.kind == "i" and set(np.unique(shifts)) == set(range(-10, 11))
    assert abs(rotated.mean() - 0.5) < 0.03
    assert abs(shifted.mean() - 0.5) < 0.03  # (0, 0) drawn as a shift counts as no shift: 1/441 of them
    assert abs((rotated & shifted).mean() - 0.25) < 0.03  # independent


def test_same_seed_same_draws_and_none_is_identity():
    config, _ = load_config()
    first = [augment.draw_for_config(np.random.default_rng(7), config) for _ in range(3)]
    again = [augment.draw_for_config(np.random.default_rng(7), config) for _ in range(3)]
    assert first == again
    off, _ = load_config(None, ["augment=none"])
    rng = np.random.default_rng(7)
    assert all(augment.draw_for_config(rng, off) is augment.IDENTITY for _ in range(20))


def test_shift_moves_the_image_by_whole_pixels():
    image = np.random.default_rng(0).integers(0, 256, (224, 224), dtype=np.uint8)
    moved = augment.apply(image, augment.Augmentation(0.0, 7, -4))
    # Content moves right by 7 and up by 4; the border rows/columns repeat the edge.
    np.testing.assert_array_equal(moved[:-4, 7:], image[4:, :-7])
    np.testing.assert_array_equal(moved[:, :7], np.repeat(moved[:, 7:8], 7, axis=1))


@pytest.mark.parametrize("angle", [5.0, -3.5])
def test_rotation_turns_about_the_centre(angle):
    image = np.zeros((224, 224), np.uint8)
    image[40:46, 150:156] = 255  # a bright square away from the centre
    turned = augment.apply(image, augment.Augmentation(angle, 0, 0))
    ys, xs = np.nonzero(image)
    expected = augment.matrix(augment.Augmentation(angle, 0, 0), image.shape) @ [xs.mean(), ys.mean(), 1.0]
    weights = turned.astype(float)
    ys2, xs2 = np.indices(turned.shape)
    centroid = [(xs2 * weights).sum() / weights.sum(), (ys2 * weights).sum() / weights.sum()]
    np.testing.assert_allclose(centroid, expected, atol=0.3)
    # Counter-clockwise on screen (y down): a point right of and above the centre moves up.
    assert (centroid[1] < ys.mean()) == (angle > 0)
    assert abs(int(turned.sum()) - int(image.sum())) < 0.05 * image.sum()


def test_identity_returns_an_equal_copy():
    image = np.arange(224 * 224, dtype=np.uint32).reshape(224, 224).astype(np.uint8)
    copy = augment.apply(image, augment.IDENTITY)
    np.testing.assert_array_equal(copy, image)
    assert copy is not image
    assert augment.IDENTITY.to_json() is None
    assert augment.Augmentation(1.5, 2, 0).to_json() == {"angle": 1.5, "dx": 2, "dy": 0}
