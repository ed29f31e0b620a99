"""Frame files: numeric order, stray files, unreadable frames."""
import os

import cv2
import numpy as np
import pytest

from atnet.common import InputError
from atnet.data.frames import frame_number, list_frames, read_clip_grey, read_grey


@pytest.mark.parametrize("name, number", [
    ("img46.jpg", 46), ("reg_img46.jpg", 46), ("006_05562.jpg", 5562), ("011_1234.jpg", 1234),
    ("image059757.bmp", 59757), ("reg_image1000003.bmp", 1000003), ("Thumbs.db", None),
])
def test_frame_number_is_the_trailing_number_of_the_stem(name, number):
    assert frame_number(name) == number


def _write(folder, names, size=(8, 6)):
    os.makedirs(folder, exist_ok=True)
    for name in names:
        cv2.imwrite(os.path.join(folder, name), np.full(size[::-1], 100, np.uint8))


def test_frames_are_ordered_by_number_not_text_and_strays_ignored(tmp_path):
    _write(tmp_path, ["img98.jpg", "img99.jpg", "img100.jpg", "img101.jpg"])
    (tmp_path / "Thumbs.db").write_text("x")
    (tmp_path / ".DS_Store").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    frames = list_frames(str(tmp_path))
    assert [n for n, _ in frames] == [98, 99, 100, 101]
    assert [os.path.basename(p) for _, p in frames] == ["img98.jpg", "img99.jpg", "img100.jpg", "img101.jpg"]


def test_six_to_seven_digit_numbers_sort_numerically(tmp_path):
    _write(tmp_path, ["image999999.bmp", "image1000000.bmp", "image999998.bmp"])
    assert [n for n, _ in list_frames(str(tmp_path))] == [999998, 999999, 1000000]


def test_two_files_with_one_number_are_an_error(tmp_path):
    _write(tmp_path, ["img5.jpg", "img05.jpg"])
    with pytest.raises(InputError, match="frame number 5"):
        list_frames(str(tmp_path))


def test_unreadable_and_missing_frames_name_the_file(tmp_path):
    bad = tmp_path / "img3.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(InputError, match=r"img3\.jpg: frame is unreadable"):
        read_grey(str(bad))
    with pytest.raises(InputError, match=r"img4\.jpg: frame is missing"):
        read_grey(str(tmp_path / "img4.jpg"))


def test_a_clip_must_have_one_frame_size(tmp_path):
    _write(tmp_path, ["img1.jpg"], size=(8, 6))
    _write(tmp_path, ["img2.jpg"], size=(9, 6))
    paths = [p for _, p in list_frames(str(tmp_path))]
    with pytest.raises(InputError, match=r"img2\.jpg: frame is 9x6"):
        read_clip_grey(paths)
    colour = tmp_path / "img3.jpg"
    cv2.imwrite(str(colour), np.zeros((6, 8, 3), np.uint8))
    assert read_grey(str(colour)).shape == (6, 8)
