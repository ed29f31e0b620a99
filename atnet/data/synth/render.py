"""How a synthetic frame looks: a real face photograph, placed per subject, moved per class.

Frames show scikit-image's bundled astronaut photograph, placed per subject
(SubjectFace) with its own scale, rotation, position, squash, contrast and
brightness. Each clip carries a class-dependent movement of a few pixels that
rises from onset to apex and falls back by offset (``intensity``; brows
lowered and drawn in for negative, mouth corners up and out for positive,
brows up and jaw down for surprise), plus sensor noise and sub-pixel jitter
(``render_clip``). A subject's placement comes from the generator it is
given (the writer seeds one per subject); a clip's noise and jitter from the
clip's own seed (atnet.data.synth.clips).
"""
import math

import cv2
import numpy as np
import skimage.data

from atnet.data.face import detect_face

#: Per dataset: frame size (w, h) -- a quarter (SAMM an eighth) of the real
#: one -- the detector's face size in pixels, and the frame format.
FRAME_LOOK = {"casme2": ((160, 120), 64, "colour"),
              "samm": ((255, 136), 60, "grey"),
              "smic": ((160, 120), 56, "colour")}

#: Landmarks of the astronaut photograph (pixels of the 512 x 512 image) and
#: the direction each moves in, per class; the Haar box there is about
#: x 177, y 66, w 95, h 95.
FACE_CENTRE = (224.5, 113.5)
FACE_SIZE = 95.0
MOVEMENTS = {
    0: [((203, 90), (0.35, 1.0)), ((248, 91), (-0.35, 1.0))],          # brows down and in
    1: [((202, 140), (-0.6, -0.8)), ((245, 141), (0.6, -0.8))],        # mouth corners up, out
    2: [((203, 88), (0.0, -1.0)), ((248, 89), (0.0, -1.0)), ((224, 152), (0.0, 1.2))],  # brows up, jaw
}
MOVEMENT_SIGMA = 9.0        # spread of each landmark's movement, photograph pixels
NOISE_SIGMA = 1.5           # grey levels
JITTER_SIGMA = 0.08         # frame pixels, per frame


def astronaut():
    """The real face photograph bundled with scikit-image, grey, float32."""
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY).astype(np.float32)


class SubjectFace:
    """How one synthetic subject looks: a placement of the photograph in the frame.

    The neutral face is drawn until OpenCV's detector finds it where it was
    put, so the clips stay detectable whatever the seed.
    """

    def __init__(self, dataset, rng, photo):
        self._place(FRAME_LOOK[dataset], rng, photo, "for a %s subject" % dataset)

    def _place(self, look, rng, photo, what):
        """Draw the face in the frame look ``((width, height), face_px, mode)`` until the detector
        finds it where it was put (50 tries, then RuntimeError naming ``what``)."""
        (self.width, self.height), face_px, self.mode = look
        self.photo = photo
        for _ in range(50):
            self._draw(rng, face_px)
            box = detect_face(self._to_uint8(self.render(None, 0.0, np.zeros(2), None)))
            if box is not None and self._near_face(box):
                self.box = box
                self.face_px = face_px
                return
        raise RuntimeError("no detectable face placement found %s" % what)

    def _draw(self, rng, face_px):
        scale = face_px / FACE_SIZE * rng.uniform(0.92, 1.08)
        angle = math.radians(rng.uniform(-4.0, 4.0))
        squash = rng.uniform(0.95, 1.05)
        linear = scale * np.array([[math.cos(angle) * squash, -math.sin(angle)],
                                   [math.sin(angle) * squash, math.cos(angle)]])
        centre = np.array([self.width * (0.5 + rng.uniform(-0.08, 0.08)),
                           self.height * (0.5 + rng.uniform(-0.05, 0.05))])
        offset = centre - linear @ np.array(FACE_CENTRE)
        self.scale = scale
        self.contrast, self.brightness = rng.uniform(0.85, 1.15), rng.uniform(-18, 18)
        self.tint = rng.uniform(0.9, 1.1, size=3)
        inverse = np.linalg.inv(linear)
        xs, ys = np.meshgrid(np.arange(self.width, dtype=np.float64),
                             np.arange(self.height, dtype=np.float64))
        rel_x, rel_y = xs - offset[0], ys - offset[1]
        self.src_x = (inverse[0, 0] * rel_x + inverse[0, 1] * rel_y).astype(np.float32)
        self.src_y = (inverse[1, 0] * rel_x + inverse[1, 1] * rel_y).astype(np.float32)
        self.inverse = inverse
        self.expected_centre = centre
        self._movement = {}

    def _near_face(self, box):
        x, y, w, h = box
        return (abs(x + w / 2 - self.expected_centre[0]) < 0.25 * w
                and abs(y + h / 2 - self.expected_centre[1]) < 0.25 * h)

    def movement(self, label):
        """Per frame pixel, where the class's movement takes the photograph (unit peak)."""
        if label not in self._movement:
            dx, dy = np.zeros_like(self.src_x), np.zeros_like(self.src_y)
            for (cx, cy), (vx, vy) in MOVEMENTS[label]:
                weight = np.exp(-((self.src_x - cx) ** 2 + (self.src_y - cy) ** 2)
                                / (2 * MOVEMENT_SIGMA ** 2))
                dx += vx * weight
                dy += vy * weight
            self._movement[label] = (dx.astype(np.float32), dy.astype(np.float32))
        return self._movement[label]

    def render(self, label, shift, jitter, rng):
        """One float32 frame: movement ``shift`` (frame px) of class ``label``, jittered."""
        jitter_src = self.inverse @ jitter
        map_x = self.src_x - np.float32(jitter_src[0])
        map_y = self.src_y - np.float32(jitter_src[1])
        if label is not None and shift:
            dx, dy = self.movement(label)
            map_x -= np.float32(shift / self.scale) * dx
            map_y -= np.float32(shift / self.scale) * dy
        frame = cv2.remap(self.photo, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frame *= np.float32(self.contrast)
        frame += np.float32(self.brightness)
        if rng is not None:
            frame += NOISE_SIGMA * rng.standard_normal(frame.shape, dtype=np.float32)
        return frame

    def _to_uint8(self, frame):
        return np.clip(np.rint(frame), 0, 255).astype(np.uint8)

    def image(self, frame):
        """The frame as the release stores it: grey (SAMM) or 3-channel BGR."""
        grey = self._to_uint8(frame)
        if self.mode == "grey":
            return grey
        return cv2.merge([self._to_uint8(frame * np.float32(t)) for t in self.tint])


def intensity(number, onset, apex, offset):
    """Movement profile: 0 at onset, 1 at the apex, back to 0 at offset (smooth)."""
    if number <= apex:
        return 1.0 if apex == onset else math.sin(0.5 * math.pi * (number - onset) / (apex - onset)) ** 2
    return math.cos(0.5 * math.pi * (number - apex) / (offset - apex)) ** 2


def render_clip(face, clip, write_frame):
    """Render a clip frame by frame; ``write_frame(number, image)`` stores each."""
    rng = np.random.default_rng(list(clip.seed) + [7])
    for number in range(clip.onset, clip.offset + 1):
        shift = clip.peak * intensity(number, clip.onset, clip.apex, clip.offset)
        frame = face.render(clip.label, shift, rng.normal(0.0, JITTER_SIGMA, 2), rng)
        write_frame(number, face.image(frame))
