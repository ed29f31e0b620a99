"""The paper's augmentation of the apex images (atnet.md section 4).

The paper rotates by up to 5 degrees and shifts by up to 10 pixels, each with
probability 0.5. Caffe's Data layer cannot do either, so the augmentation is
baked into the training LMDB when it is written: every oversampled copy gets
its own draw (so copies of one sample differ from each other and from the
original), the originals stay as they are. The flow feature of a copy is the
original clip's: the augmentation is a property of the apex image.

With ``augment: none`` nothing is changed, which is what the authors' release
effectively does (atnet.md: its data layer reads a probability key whose
default is 0).
"""
import dataclasses

import cv2
import numpy as np


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """One copy's transform: rotation in degrees (counter-clockwise) about the
    image centre, then a shift of (dx, dy) pixels."""
    angle: float = 0.0
    dx: int = 0
    dy: int = 0

    @property
    def is_identity(self):
        return self.angle == 0 and self.dx == 0 and self.dy == 0

    def to_json(self):
        """Compact form for manifests; None for the identity."""
        return None if self.is_identity else {"angle": self.angle, "dx": self.dx, "dy": self.dy}


IDENTITY = Augmentation()


def draw(rng, max_degrees, max_shift, probability):
    """A random Augmentation as the paper describes it.

    Five numbers are drawn whatever the outcome, so one copy's draw never
    shifts the random stream of the next. The angle is uniform in
    [-max_degrees, max_degrees]; dx and dy are whole pixels, uniform in
    [-max_shift, max_shift]. With the paper's probability 0.5 for each, a
    quarter of the copies are left unchanged.
    """
    rotate, shift = rng.random(2) < probability
    angle = float(rng.uniform(-max_degrees, max_degrees))
    dx, dy = (int(v) for v in rng.integers(-max_shift, max_shift + 1, size=2))
    return Augmentation(angle if rotate else 0.0, dx if shift else 0, dy if shift else 0)


def draw_for_config(rng, config):
    """``draw`` with the magnitudes of a Config; IDENTITY when augmentation is off."""
    if config.augment == "none":
        return IDENTITY
    return draw(rng, config.rotation_degrees, config.shift_pixels, config.augment_probability)


def matrix(augmentation, shape):
    """The 2 x 3 affine matrix (OpenCV convention) of ``augmentation`` for an image of ``shape``."""
    height, width = shape[:2]
    centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    transform = cv2.getRotationMatrix2D(centre, augmentation.angle, 1.0)
    transform[:, 2] += (augmentation.dx, augmentation.dy)
    return transform


def apply(image, augmentation):
    """The augmented copy of a grey-scale uint8 image (same size).

    Bilinear interpolation; pixels moved in from outside repeat the border
    (BORDER_REPLICATE), so a copy shows no black wedge the network could use
    to tell copies from originals.
    """
    if augmentation.is_identity:
        return np.array(image, copy=True)
    return cv2.warpAffine(image, matrix(augmentation, image.shape), (image.shape[1], image.shape[0]),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
