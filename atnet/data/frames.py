"""Frame files of a clip: numeric ordering and reading.

Frame numbers in the releases are not consistently zero-padded (CASME II
``img9.jpg`` < ``img10.jpg``; SAMM pads to 4 or 5 digits; SMIC numbers run
from 6 to 8 digits), so frames are always ordered by the number in the file
name, never by text.
"""
import os
import re

import cv2
import numpy as np

from atnet.common import InputError

#: File extensions read as frames; everything else in a clip folder
#: (Thumbs.db, .DS_Store, notes) is a stray file and ignored.
IMAGE_EXTENSIONS = frozenset((".jpg", ".jpeg", ".bmp", ".png", ".tif", ".tiff"))

_TRAILING_NUMBER = re.compile(r"(\d+)$")


def is_image_file(name):
    """True for a visible file whose extension is a frame format."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def frame_number(name):
    """The frame index written in a frame's file name, or None.

    It is the digits at the end of the stem, which covers every release:
    ``img46.jpg`` and ``reg_img46.jpg`` -> 46, ``006_05562.jpg`` -> 5562,
    ``image059757.bmp`` -> 59757.
    """
    match = _TRAILING_NUMBER.search(os.path.splitext(os.path.basename(name))[0])
    return int(match.group(1)) if match else None


def list_frames(folder):
    """The frames of a clip folder as ``[(number, path), ...]`` in numeric order.

    Raises InputError for a frame file without a number or two files with the
    same number (``img5.jpg`` and ``img05.jpg``): both make the order ambiguous.
    """
    numbered = {}
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if not is_image_file(name) or not os.path.isfile(path):
            continue
        number = frame_number(name)
        if number is None:
            raise InputError("%s: frame file name has no frame number" % path)
        if number in numbered:
            raise InputError("%s: frame number %d also used by %s"
                             % (path, number, os.path.basename(numbered[number])))
        numbered[number] = path
    return sorted(numbered.items())


def missing_numbers(numbers, first, last):
    """Frame numbers in ``first..last`` that are absent from ``numbers``."""
    present = set(numbers)
    return [n for n in range(first, last + 1) if n not in present]


def describe_numbers(numbers, limit=8):
    """Short human text for a list of frame numbers (for error messages)."""
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (" ... (%d in all)" % len(numbers) if len(numbers) > limit else "")


def read_grey(path):
    """Read one frame as 8-bit grey-scale; InputError naming the frame if it cannot,
    or if the file is incomplete (libjpeg decodes a truncated JPEG, grey below
    the cut, with only a warning that names no file)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise InputError("%s: frame is missing" % path) from None
    except OSError as err:
        raise InputError("%s: cannot read the frame (%s)" % (path, err.strerror)) from None
    reason = incomplete_image(data)
    if reason:
        raise InputError("%s: frame is incomplete (%s); restore the file from the release" % (path, reason))
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise InputError("%s: frame is unreadable (not a valid image)" % path)
    return image


def incomplete_image(data):
    """Why the bytes of an image file are cut short, or None.

    A JPEG's entropy-coded data never holds an end-of-image marker (0xFF is
    always followed by 0x00 or a restart code there), so a complete file has
    an EOI marker after its last start-of-scan marker, however much padding
    or trailer follows; a truncated one has none. Other formats' decoders
    refuse truncated files themselves (cv2.imdecode returns None).
    """
    if data[:2] != b"\xff\xd8":
        return None if data else "the file is empty"
    start_of_scan = data.rfind(b"\xff\xda")
    if start_of_scan < 0:
        return "JPEG without image data (no start-of-scan marker)"
    if data.rfind(b"\xff\xd9") < start_of_scan:
        return "JPEG ends after %d bytes, before its end-of-image marker" % len(data)
    return None


def read_clip_grey(paths, transform=None):
    """Read a clip's frames as grey-scale; all frames must share one size.

    ``transform(frame)`` (e.g. cutting the face box) is applied as each frame
    is read, so full-size frames (SAMM: 2040 x 1088) are not all held at once.
    """
    frames, first_shape = [], None
    for path in paths:
        frame = read_grey(path)
        if first_shape is None:
            first_shape = frame.shape
        elif frame.shape != first_shape:
            raise InputError("%s: frame is %dx%d, the clip's first frame %s is %dx%d"
                             % (path, frame.shape[1], frame.shape[0], os.path.basename(paths[0]),
                                first_shape[1], first_shape[0]))
        frames.append(frame if transform is None else transform(frame))
    return frames
