"""How a synthetic macro frame looks: the micro synth's face, with macro-sized expressions.

The face is the micro synth's (atnet.data.synth.render.SubjectFace: scikit-
image's astronaut photograph, placed per subject, detectable by OpenCV's
Haar cascade), in the frame size of each macro release. Each emotion is a
set of landmark movements in photograph pixels (MACRO_MOVEMENTS); the
micro classes' cues are reused on purpose, so that what pre-training learns
carries over: anger = the micro negative class's brows down and in (plus
pressed lips), happiness = the micro positive class's mouth corners up and
out (plus raised cheeks), surprise = the micro surprise class's brows up and
jaw down. Disgust, fear, sadness and contempt have cues of their own; neutral
has none. Peak movements are ``PEAK_RANGE`` x the face size, about 1.5 to 3
times the micro synth's (atnet.data.synth.clips.PEAK_SHIFT), the low end
overlapping it.
"""
import math

import cv2
import numpy as np

from atnet.data.synth.render import FACE_CENTRE, MOVEMENT_SIGMA, MOVEMENTS, SubjectFace

MACRO_MOVEMENTS = {
    "neutral": [],
    "anger": MOVEMENTS[0] + [((202, 140), (0.4, 0.0)), ((245, 141), (-0.4, 0.0))],
    "disgust": [((203, 90), (0.2, 0.7)), ((248, 91), (-0.2, 0.7)), ((224, 128), (0.0, -1.0)),
                ((212, 118), (0.0, -0.6)), ((236, 118), (0.0, -0.6))],
    "fear": [((212, 88), (0.3, -0.9)), ((238, 88), (-0.3, -0.9)), ((202, 140), (-0.8, 0.3)),
             ((245, 141), (0.8, 0.3))],
    "happiness": MOVEMENTS[1] + [((198, 125), (0.0, -0.5)), ((250, 125), (0.0, -0.5))],
    "sadness": [((212, 88), (0.2, -0.8)), ((238, 88), (-0.2, -0.8)), ((202, 140), (0.0, 1.0)),
                ((245, 141), (0.0, 1.0))],
    "surprise": MOVEMENTS[2],
    "contempt": [((245, 141), (0.6, -0.8))],
}
#: Peak movement as a fraction of the face size in the frame.
PEAK_RANGE = (0.035, 0.09)


def landmark_template():
    """68 points in the photograph (iBUG order: jaw, brows, nose, eyes, mouth), for CK+ landmark files."""
    points = []
    for t in np.linspace(0.0, math.pi, 17):                       # jaw, left ear to chin to right ear
        points.append((224.5 - 46 * math.cos(t), 105 + 58 * math.sin(t)))
    for start in (190, 234):                                      # brows
        points += [(start + 6.25 * i, 88 - 4 * math.sin(math.pi * i / 4)) for i in range(5)]
    points += [(224.5, 95 + 9 * i) for i in range(4)]             # nose bridge
    points += [(212 + 6 * i, 127 - 2 * math.sin(math.pi * i / 4)) for i in range(5)]   # nose bottom
    for cx in (203, 247):                                         # eyes
        points += [(cx + 8 * math.cos(a), 100 + 3 * math.sin(a)) for a in np.linspace(math.pi, -math.pi, 7)[:6]]
    points += [(224 + 22 * math.cos(a), 141 + 8 * math.sin(a)) for a in np.linspace(math.pi, -math.pi, 13)[:12]]
    points += [(224 + 14 * math.cos(a), 141 + 4 * math.sin(a)) for a in np.linspace(math.pi, -math.pi, 9)[:8]]
    return np.array(points, dtype=np.float64)


class MacroFace(SubjectFace):
    """A SubjectFace in a given frame look ``((width, height), face_px, mode)`` with MACRO_MOVEMENTS
    (SubjectFace takes its look from the micro datasets' table)."""

    def __init__(self, look, rng, photo):
        self._place(look, rng, photo, "in a %dx%d frame" % look[0])

    def movement(self, emotion):
        """Per frame pixel, where the emotion's movement takes the photograph (unit peak)."""
        if emotion not in self._movement:
            dx, dy = np.zeros_like(self.src_x), np.zeros_like(self.src_y)
            for (cx, cy), (vx, vy) in MACRO_MOVEMENTS[emotion]:
                weight = np.exp(-((self.src_x - cx) ** 2 + (self.src_y - cy) ** 2) / (2 * MOVEMENT_SIGMA ** 2))
                dx += vx * weight
                dy += vy * weight
            self._movement[emotion] = (dx.astype(np.float32), dy.astype(np.float32))
        return self._movement[emotion]

    def landmarks(self):
        """The 68 template points placed in this subject's frame (x, y pixels)."""
        linear = np.linalg.inv(self.inverse)
        offset = self.expected_centre - linear @ np.array(FACE_CENTRE)
        return landmark_template() @ linear.T + offset

    def to_image(self, frame, colour, gain=1.0, bias=0.0):
        """A rendered float frame as the release stores it: grey uint8, or BGR with the subject's tint;
        ``gain`` and ``bias`` model the illumination."""
        frame = frame * np.float32(gain) + np.float32(bias)
        if not colour:
            return self._to_uint8(frame)
        return cv2.merge([self._to_uint8(frame * np.float32(t)) for t in self.tint])
