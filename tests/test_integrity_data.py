"""Faults 3 and 5 of issue 12, and the short clip, reproduced through the command lines.

3. Names from sheets, the apex list and flow headers were joined into paths
   unchecked: a Filename such as ``EP01_01f/../../x`` made prepare (and
   import_release) write outside ``--out``; paths read from index.csv were not
   contained in the prepared folder either.
5. A truncated JPEG frame was accepted (exit 0, only libjpeg's warning without
   a file name), and the feature was computed from a half-grey frame.
-  A clip too short for the ADM feature gave an all-zero feature.

Each test shows the new behaviour: exit 2, one ``error:`` line naming the
file and row (or frame), no traceback, nothing written outside the output
folder, and a successful run once the input is repaired.
"""
import csv
import os
import shutil

import cv2
import numpy as np
import pytest

from atnet.data.release import ApexRecord, write_apex_list, write_optical_text

import data_support as common
from fault_support import assert_clean_failure, run_script, snapshot_tree, written_outside

SHEET = "CASME2-coding-20140508.xlsx"


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    return common.release(tmp_path_factory, common.MICRO)


@pytest.fixture
def casme2(micro, tmp_path):
    """A private copy of the micro CASME II release: {'root', 'sheet', 'clip'}."""
    roots = common.copy_release(micro, tmp_path / "raw", ("casme2",))
    root = roots["casme2"]
    return {"root": root, "sheet": os.path.join(root, SHEET),
            "clip": os.path.join(root, "CASME2_RAW_selected", "sub01", "EP01_01f")}


def _prepare(root, out, *extra):
    return run_script("data_prep/prepare.py", "--casme2", root, "--out", out, "--workers", 1, *extra)


def _set_cell(sheet, subject, filename, column, value):
    row = common.find_row(sheet, "Sheet1", subject, filename)

    def edit(worksheet):
        worksheet.cell(row=row, column=column).value = value
    common.edit_sheet(sheet, "Sheet1", edit)
    return row


def test_a_filename_climbing_out_of_the_release_is_refused_with_file_and_row(casme2, tmp_path):
    # A name that resolves to a real clip folder: the old code read its frames, then wrote the
    # sample's PNG beside the release's clip folder, outside --out (a temporary file there,
    # then a FileNotFoundError traceback); other names write their files outright.
    escape = "EP01_01f/" + "../" * 40 + casme2["clip"].lstrip("/")
    row = _set_cell(casme2["sheet"], "01", "EP01_01f", 2, escape)
    out = tmp_path / "prepared"
    before = snapshot_tree(tmp_path)
    result = _prepare(casme2["root"], out)
    assert_clean_failure(result, casme2["sheet"], "row %d" % row, "would leave the output folder")
    assert written_outside(before, snapshot_tree(tmp_path), [out]) == []

    lenient = _prepare(casme2["root"], out, "--lenient")          # the row is skipped and listed
    assert lenient.returncode == 0, lenient.stderr
    with open(out / "skipped.csv") as handle:
        skipped = list(csv.DictReader(handle))
    about_row = [entry for entry in skipped if "row %d" % row in entry["where"]]
    assert len(about_row) == 1 and "would leave the output folder" in about_row[0]["reason"]
    assert [entry["reason"] for entry in skipped if entry not in about_row] == [
        "clip folder has no row in %s" % SHEET]    # the real EP01_01f folder, now without its row
    assert written_outside(before, snapshot_tree(tmp_path), [out]) == []

    _set_cell(casme2["sheet"], "01", escape, 2, "EP01_01f")         # repaired: all three prepared
    result = _prepare(casme2["root"], out)
    assert result.returncode == 0, result.stderr
    assert len(open(out / "index.csv").read().splitlines()) == 1 + 3


@pytest.mark.parametrize("name, reason", [("EP01-01f", "characters other than"),
                                          ("Clip 7", "characters other than"),
                                          ("XY01_01", "not a casme2 name")])
def test_a_filename_that_is_not_a_release_name_is_refused(casme2, tmp_path, name, reason):
    row = _set_cell(casme2["sheet"], "01", "EP01_01f", 2, name)
    result = _prepare(casme2["root"], tmp_path / "prepared")
    assert_clean_failure(result, casme2["sheet"], "row %d" % row, reason)


def test_a_ground_truth_name_with_a_path_is_refused_with_its_line(casme2, micro, tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_text("casme2,sub01,EP01_01f,0\ncasme2,sub01,../../EP02_02,1\n")
    result = _prepare(casme2["root"], tmp_path / "prepared", "--gt", gt)
    assert_clean_failure(result, gt, "line 2")


def _release_files(tmp_path, key="casme2-sub01-EP02_01f", frame="img59.jpg"):
    """A one-sample authors' release: apex list, apex folder, optical text."""
    images = tmp_path / "apex"
    images.mkdir(exist_ok=True)
    record = ApexRecord(*key.split("-", 2), frame, 1, "%s-%s" % (key, frame), 0)
    cv2.imwrite(str(images / record.file_name.replace("/", "_")), np.full((224, 224), 128, np.uint8))
    write_apex_list(str(tmp_path / "Apex_Cropped_images.txt"), [record])
    feature = np.zeros((64, 128), np.float32)
    feature[20:40] = 1
    (tmp_path / "optical.txt").write_text("%s\n" % key + "\n".join(" ".join(["1"] * 128) if 20 <= i < 40
                                                                    else " ".join(["0"] * 128)
                                                                    for i in range(64)) + "\n")
    return [tmp_path / "Apex_Cropped_images.txt", images, tmp_path / "optical.txt"]


def _import(files, out):
    return run_script("data_prep/import_release.py", "--apex-list", files[0], "--apex-dir", files[1],
                      "--optical", files[2], "--out", out)


def test_import_release_refuses_a_sample_name_with_a_path(tmp_path):
    files = _release_files(tmp_path)
    text = files[0].read_text().replace("EP02_01f", "EP02_01f/../../../../x")
    files[0].write_text(text)
    files[2].write_text(files[2].read_text().replace("EP02_01f", "EP02_01f/../../../../x"))
    before = snapshot_tree(tmp_path)
    result = _import(files, tmp_path / "out")
    assert_clean_failure(result, files[0], "line 1", "would leave the output folder")
    assert written_outside(before, snapshot_tree(tmp_path), [tmp_path / "out"]) == []
    fixed = _release_files(tmp_path)                                 # repaired
    result = _import(fixed, tmp_path / "out")
    assert result.returncode == 0, result.stderr


def test_import_release_refuses_a_frame_file_with_a_folder(tmp_path):
    files = _release_files(tmp_path)
    files[0].write_text("casme2-sub01-EP02_01f-../../secret.jpg 1\n")
    result = _import(files, tmp_path / "out")
    assert_clean_failure(result, files[0], "line 1", "plain image file name")


def test_index_paths_outside_the_prepared_folder_are_refused(casme2, tmp_path):
    out = tmp_path / "prepared"
    assert _prepare(casme2["root"], out).returncode == 0
    index = out / "index.csv"
    lines = index.read_text().splitlines()
    lines[2] = lines[2].replace("flow/casme2/", "../../elsewhere/", 1)
    index.write_text("\n".join(lines) + "\n")
    result = run_script("tools/make_lmdb.py", "--prepared", out, "--protocol", "cde", "--out", tmp_path / "lmdb")
    assert_clean_failure(result, index, "line 3", "not a path inside the prepared directory")
    assert not (tmp_path / "lmdb").exists()
    lines[2] = lines[2].replace("../../elsewhere/", "flow/casme2/", 1)
    lines[3] = lines[3].replace("sub01", "sub01-x", 1)              # a name that would split the clip key
    index.write_text("\n".join(lines) + "\n")
    result = run_script("tools/make_lmdb.py", "--prepared", out, "--protocol", "cde", "--out", tmp_path / "lmdb")
    assert_clean_failure(result, index, "line 4", "subject 'sub01-x'")


def _truncate(path, keep=0.6):
    data = open(path, "rb").read()
    with open(path, "wb") as handle:
        handle.write(data[:int(len(data) * keep)])
    return data


def test_a_truncated_jpeg_frame_is_an_error_naming_the_frame(casme2, tmp_path):
    frame = os.path.join(casme2["clip"], "img99.jpg")     # the apex frame of sub01/EP01_01f
    original = _truncate(frame)
    out = tmp_path / "prepared"
    result = _prepare(casme2["root"], out)
    assert_clean_failure(result, frame, "incomplete", "end-of-image marker")
    assert not (out / "index.csv").exists()

    lenient = _prepare(casme2["root"], out, "--lenient")
    assert lenient.returncode == 0, lenient.stderr
    assert "EP01_01f" not in (out / "index.csv").read_text()
    assert "img99.jpg" in (out / "skipped.csv").read_text()

    with open(frame, "wb") as handle:                     # restored from the release
        handle.write(original)
    result = _prepare(casme2["root"], out)
    assert result.returncode == 0, result.stderr
    assert "EP01_01f" in (out / "index.csv").read_text()


def test_a_truncated_frame_in_the_middle_of_a_clip_is_found_too(casme2, tmp_path):
    frame = os.path.join(casme2["clip"], "img102.jpg")
    _truncate(frame, keep=0.95)
    assert_clean_failure(_prepare(casme2["root"], tmp_path / "prepared"), frame, "incomplete")


def test_a_one_frame_clip_is_an_error_not_an_all_zero_feature(casme2, tmp_path):
    _set_cell(casme2["sheet"], "01", "EP01_01f", 6, 95)            # offset = onset
    _set_cell(casme2["sheet"], "01", "EP01_01f", 5, 95)            # apex = onset
    out = tmp_path / "prepared"
    result = _prepare(casme2["root"], out)
    assert_clean_failure(result, casme2["clip"], "1 frame(s)", "all zero")
    lenient = _prepare(casme2["root"], out, "--lenient")
    assert lenient.returncode == 0, lenient.stderr
    assert "1 frame(s)" in (out / "skipped.csv").read_text()
    for name in os.listdir(out / "flow" / "casme2"):
        assert np.load(out / "flow" / "casme2" / name).any(), name
