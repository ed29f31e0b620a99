"""The face box: OpenCV's bundled Haar cascade on a real photograph and on the
synthetic frames, the margin, and the manual box file."""
import os

import cv2
import numpy as np
import pytest
import skimage.data

from atnet.common import InputError
from atnet.data.face import check_box, crop_face, detect_face, expand_box, read_boxes
from atnet.data.frames import read_grey
from atnet.data.prepare import scan

import data_support as common


def test_detector_finds_the_face_on_the_bundled_photograph():
    grey = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)
    x, y, w, h = detect_face(grey)
    assert abs(x - 177) <= 8 and abs(y - 66) <= 8 and abs(w - 95) <= 10 and abs(h - 95) <= 10


def test_detector_finds_no_face_in_noise():
    noise = np.random.default_rng(0).integers(0, 256, (240, 320), dtype=np.uint8)
    assert detect_face(noise) is None


def test_large_frames_are_detected_at_reduced_size():
    grey = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)
    big = cv2.resize(grey, (2040, 2040), interpolation=cv2.INTER_LINEAR)      # SAMM-sized
    x, y, w, h = detect_face(big)
    scale = 2040 / 512
    assert abs(x / scale - 177) <= 10 and abs(w / scale - 95) <= 12


def test_detector_finds_the_face_on_synthetic_apex_frames(tmp_path_factory):
    selection = scan(common.roots(common.release(tmp_path_factory, "tiny")))
    for sample in selection.selected:
        box = detect_face(read_grey(sample.frames[sample.apex_index]))
        assert box is not None, sample.key
        x, y, w, h = box
        height, width = read_grey(sample.frames[0]).shape
        assert 0.3 * height < h < 0.8 * height, (sample.key, box)
        assert abs(x + w / 2 - width / 2) < 0.2 * width, (sample.key, box)


def test_expand_box_adds_the_margin_and_stays_in_the_frame():
    assert expand_box((50, 40, 100, 100), 0.1, 640, 480) == (40, 30, 120, 120)
    assert expand_box((0, 0, 100, 100), 0.1, 640, 480) == (0, 0, 120, 120)           # shifted inside
    assert expand_box((560, 400, 80, 80), 0.1, 640, 480) == (544, 384, 96, 96)
    assert expand_box((10, 10, 100, 100), 0.5, 150, 120) == (0, 0, 150, 120)          # clipped to the frame


def test_crop_face_resizes_to_224():
    frame = np.arange(120 * 160, dtype=np.uint32).reshape(120, 160).astype(np.uint8)
    assert crop_face(frame, (10, 20, 50, 60), 224).shape == (224, 224)
    assert crop_face(frame, (10, 20, 50, 60), None).shape == (60, 50)
    np.testing.assert_array_equal(crop_face(frame, (10, 20, 50, 60), None), frame[20:80, 10:60])


def test_box_file_is_read_and_checked(tmp_path):
    good = tmp_path / "boxes.csv"
    good.write_text("dataset,subject,sample,x,y,w,h\ncasme2,sub01,EP01_01f,10,12,80,90\nsamm,6,006_1_1,1,2,3,4\n")
    boxes = read_boxes(str(good))
    assert boxes[("casme2", "sub01", "EP01_01f")] == ((10, 12, 80, 90), "%s, line 2" % good)
    for text, message in [("dataset,subject,sample,x,y,w\n", "line 1: header"),
                          ("dataset,subject,sample,x,y,w,h\nfoo,1,2,3,4,5,6\n", "line 2: unknown dataset"),
                          ("dataset,subject,sample,x,y,w,h\nsmic,s01,s01_ne_01,1,2,x,4\n", "line 2: x, y, w, h"),
                          ("dataset,subject,sample,x,y,w,h\nsmic,s01,a,1,2,0,4\n", "line 2: w and h"),
                          ("dataset,subject,sample,x,y,w,h\nsmic,s01,a,1,2,3,4\nsmic,s01,a,1,2,3,4\n",
                           "line 3: a second box")]:
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(InputError, match=message):
            read_boxes(str(bad))
    with pytest.raises(InputError, match="where: box x=100 y=0 w=80 h=80 is not inside the 160x120 frame"):
        check_box((100, 0, 80, 80), 160, 120, "where")
    assert os.path.exists(good)


def test_landmark_box_frames_the_face_on_the_bundled_photograph():
    from atnet.data.face import box_iou
    grey = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)
    haar, landmarks = detect_face(grey), detect_face(grey, "landmarks")
    x, y, w, h = landmarks
    # the 68 landmarks span jaw to brows: below the Haar box's forehead, about as wide
    assert abs(x - 179) <= 8 and abs(y - 87) <= 8 and abs(w - 94) <= 10 and abs(h - 92) <= 10
    assert 0.5 < box_iou(haar, landmarks) < 0.9
    assert detect_face(np.random.default_rng(0).integers(0, 256, (240, 320), dtype=np.uint8), "landmarks") is None
    with pytest.raises(ValueError, match="unknown face detector"):
        detect_face(grey, "asm")


def test_landmark_box_finds_the_synthetic_faces(tmp_path_factory):
    from atnet.data.face import box_iou
    selection = scan(common.roots(common.release(tmp_path_factory, "tiny")))
    ious = []
    for sample in selection.selected[::4]:
        grey = read_grey(sample.frames[sample.apex_index])
        landmarks = detect_face(grey, "landmarks")
        assert landmarks is not None, sample.key
        ious.append(box_iou(detect_face(grey), landmarks))
    assert min(ious) > 0.4, ious
