"""The authors' release formats and data_prep/import_release.py."""
import os

import cv2
import numpy as np
import pytest

from atnet.common import InputError
from atnet.data.prepared import load_apex_image, load_feature, load_index
from atnet.data.release import (ApexRecord, import_release, read_apex_list, read_optical_text,
                                write_apex_list, write_optical_text)

import data_support as common

KEYS = ["casme2-sub01-EP02_01f", "samm-6-006_1_2", "smic-s01-s01_ne_01"]


def _features(seed=0):
    """Known arrays with awkward values: tiny, huge, negative, exact zeros, zero rows."""
    rng = np.random.default_rng(seed)
    features = {}
    for number, key in enumerate(KEYS):
        feature = np.zeros((64, 128), np.float32)
        feature[20 + number:50] = rng.normal(0, 1, (30 - number, 128)).astype(np.float32)
        feature[25, :4] = [np.pi, -np.pi, 1e-30, 3.4e38]
        feature[26, 0] = np.nextafter(np.float32(1), np.float32(2))
        features[key] = feature
    return features


def test_optical_text_round_trips_exactly(tmp_path):
    features = _features()
    path = tmp_path / "optical.txt"
    write_optical_text(str(path), features)
    lines = path.read_text().splitlines()
    assert len(lines) == 3 * 65 and lines[0] == KEYS[0] and lines[65] == KEYS[1]
    assert len(lines[1].split()) == 128
    back = read_optical_text(str(path))
    assert list(back) == KEYS
    for key in KEYS:
        assert back[key].dtype == np.float32
        np.testing.assert_array_equal(back[key], features[key])


@pytest.mark.parametrize("damage, message", [
    (lambda lines: lines[:30] + lines[31:], "line 65: clip casme2-sub01-EP02_01f has 63 rows"),
    (lambda lines: [lines[0], lines[1] + " 7"] + lines[2:], "line 2: 129 values"),
    (lambda lines: [lines[0], lines[1].replace(lines[1].split()[3], "x", 1)] + lines[2:], "line 2: not a number"),
    (lambda lines: lines[1:], "line 1: numbers before the first clip header"),
    (lambda lines: lines + lines[:65], "line 196: clip casme2-sub01-EP02_01f already on line 1"),
    (lambda lines: ["foo-bar"] + lines[1:], "line 1: clip header 'foo-bar'"),
])
def test_optical_text_errors_name_the_line(tmp_path, damage, message):
    path = tmp_path / "optical.txt"
    write_optical_text(str(path), _features())
    path.write_text("\n".join(damage(path.read_text().splitlines())) + "\n")
    with pytest.raises(InputError, match=message):
        read_optical_text(str(path))


def test_apex_list_is_parsed(tmp_path):
    path = tmp_path / "Apex_Cropped_images.txt"
    path.write_text("casme2-sub01-EP02_01f-img59.jpg 1\n\nsamm-6-006_1_2-006_05588.jpg 0\n"
                    "smic-s01-s01_ne_01-reg_image059760.bmp 0\n")
    records = read_apex_list(str(path))
    assert records[0] == ApexRecord("casme2", "sub01", "EP02_01f", "img59.jpg", 1,
                                    "casme2-sub01-EP02_01f-img59.jpg", 1)
    assert [r.key for r in records] == KEYS and records[2].line == 4 and records[1].subject == "6"
    for text, message in [("casme2-sub01-EP02_01f-img59.jpg\n", "line 1: expected"),
                          ("casme2-sub01-img59.jpg 1\n", "line 1: 'casme2-sub01-img59.jpg' is not"),
                          ("mmi-1-2-a.jpg 1\n", "line 1: unknown dataset 'mmi'"),
                          ("casme2-sub01-EP02_01f-img59.jpg 3\n", "line 1: label '3'"),
                          ("casme2-sub01-EP02_01f-a.jpg 1\ncasme2-sub01-EP02_01f-b.jpg 1\n", "line 2: .* already")]:
        path.write_text(text)
        with pytest.raises(InputError, match=message):
            read_apex_list(str(path))


def _release(tmp_path, image_size=(180, 150)):
    """A release-format folder written from known arrays and images."""
    features = _features(1)
    records = [ApexRecord(*key.split("-"), frame, label, "%s-%s" % (key, frame), 0)
               for key, frame, label in zip(KEYS, ["img59.jpg", "006_05588.jpg", "reg_image059760.bmp"], [1, 0, 2])]
    images = tmp_path / "apex"
    images.mkdir()
    rng = np.random.default_rng(2)
    pictures = {}
    for record in records:
        picture = rng.integers(0, 256, image_size[::-1], dtype=np.uint8)
        pictures[record.key] = picture
        cv2.imwrite(str(images / record.file_name), picture)
    write_apex_list(str(tmp_path / "Apex_Cropped_images.txt"), records)
    write_optical_text(str(tmp_path / "optical.txt"), features)
    return features, pictures, records


def test_import_release_round_trips_into_a_prepared_directory(tmp_path):
    features, pictures, records = _release(tmp_path, image_size=(224, 224))
    out = tmp_path / "prepared"
    result = common.run_tool("import_release.py", "--apex-list", tmp_path / "Apex_Cropped_images.txt",
                             "--apex-dir", tmp_path / "apex", "--optical", tmp_path / "optical.txt", "--out", out)
    assert result.returncode == 0, result.stderr
    rows = load_index(str(out))
    assert [r.key for r in rows] == KEYS and [r.label for r in rows] == [1, 0, 2]
    for row in rows:
        np.testing.assert_array_equal(load_feature(str(out), row), features[row.key])
        assert row.valid_rows == int(np.any(features[row.key] != 0, axis=1).sum())
        assert load_apex_image(str(out), row).shape == (224, 224)
    smic = rows[2]
    np.testing.assert_array_equal(load_apex_image(str(out), smic), pictures[smic.key])   # bmp: lossless
    assert smic.apex_frame == "reg_image059760.bmp" and smic.apex == 59760 and smic.fps == 100
    assert os.path.exists(out / "manifest.json")


def test_import_release_resizes_apex_images_and_reports_mismatches(tmp_path):
    features, pictures, records = _release(tmp_path)
    rows = import_release(str(tmp_path / "Apex_Cropped_images.txt"), str(tmp_path / "apex"),
                          str(tmp_path / "optical.txt"), str(tmp_path / "out"), log=lambda *a: None)
    expected = cv2.resize(pictures[KEYS[2]], (224, 224), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(load_apex_image(str(tmp_path / "out"), rows[2]), expected)
    write_optical_text(str(tmp_path / "optical.txt"), {k: features[k] for k in KEYS[:2]})
    with pytest.raises(InputError, match=r"Apex_Cropped_images\.txt, line 3: smic-s01-s01_ne_01 has no feature"):
        import_release(str(tmp_path / "Apex_Cropped_images.txt"), str(tmp_path / "apex"),
                       str(tmp_path / "optical.txt"), str(tmp_path / "out"), log=lambda *a: None)
    write_apex_list(str(tmp_path / "Apex_Cropped_images.txt"), records[:1])
    with pytest.raises(InputError, match=r"optical\.txt, line 66: clip samm-6-006_1_2 is not in"):
        import_release(str(tmp_path / "Apex_Cropped_images.txt"), str(tmp_path / "apex"),
                       str(tmp_path / "optical.txt"), str(tmp_path / "out"), log=lambda *a: None)
    write_optical_text(str(tmp_path / "optical.txt"), {KEYS[0]: features[KEYS[0]]})
    os.unlink(tmp_path / "apex" / records[0].file_name)
    with pytest.raises(InputError, match=r"line 1: apex image .*img59\.jpg is missing"):
        import_release(str(tmp_path / "Apex_Cropped_images.txt"), str(tmp_path / "apex"),
                       str(tmp_path / "optical.txt"), str(tmp_path / "out"), log=lambda *a: None)


def _authors_text(features, header, newline):
    """The optical text as the authors' files write it: ``header(key)`` lines, ``newline`` endings."""
    lines = []
    for key, feature in features.items():
        lines.append(header(key))
        lines += [" ".join("%.9g" % value for value in row) for row in feature]
    return newline.join(lines) + newline


@pytest.mark.parametrize("style, header, newline", [
    ("per-fold key", lambda key: key, "\n"),
    ("Windows path, CRLF (Data/OpticalFlowFeatureData.txt)", lambda key: "Data\\" + key.replace("-", "\\", 2), "\r\n"),
    ("Windows path with a frame part", lambda key: "Data\\" + key.replace("-", "\\", 2) + "\\img46.jpg", "\r\n"),
    ("forward-slash path", lambda key: "Data/" + key.replace("-", "/", 2), "\n"),
])
def test_optical_text_header_styles_of_the_authors(tmp_path, style, header, newline):
    features = _features()
    path = tmp_path / "Data" / "OpticalFlowFeatureData.txt"
    path.parent.mkdir()
    path.write_bytes(_authors_text(features, header, newline).encode())
    if newline == "\r\n":
        assert path.read_bytes().startswith(b"Data\\casme2\\sub01\\EP02_01f") and b"\r\n" in path.read_bytes()
    back = read_optical_text(str(path))
    assert list(back) == KEYS, style
    for key in KEYS:
        np.testing.assert_array_equal(back[key], features[key])


@pytest.mark.parametrize("header, message", [
    ("Data\\casme2\\sub01", r"line 1: clip header 'Data\\\\casme2\\\\sub01' is not Data"),
    ("Data\\mmi\\sub01\\EP02_01f", "line 1: clip header 'mmi-sub01-EP02_01f' is not"),
])
def test_bad_windows_headers_name_the_line(tmp_path, header, message):
    path = tmp_path / "OpticalFlowFeatureData.txt"
    path.write_bytes(_authors_text({"x": _features()[KEYS[0]]}, lambda key: header, "\r\n").encode())
    with pytest.raises(InputError, match=message):
        read_optical_text(str(path))
