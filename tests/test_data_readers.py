"""The three release readers and the composite selection, on synthetic
releases written in the real layouts (datasets.md), oddities and bad input
included. Nothing here computes optical flow: the checks run through the
readers and ``prepare(dry_run=True)``."""
import csv
import os
import re
import shutil

import pytest

from atnet.common import InputError
from atnet.data.casme2 import read_casme2
from atnet.data.composite import compare_with_gt, read_gt
from atnet.data.prepare import Settings, prepare, scan
from atnet.data.samm import read_samm
from atnet.data.smic import read_smic
from atnet.data.synth.clips import plan
from atnet.data.synth.write import write_casme2_sheet

import data_support as common


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return common.release(tmp_path_factory, "tiny")


def _by_id(scan_result):
    return {(s.subject, s.sample): s for s in scan_result.samples}


def _dry(release_roots, lenient=False, **kwargs):
    return prepare(release_roots, None, Settings(lenient=lenient), dry_run=True, log=lambda *a: None,
                   **kwargs)


# --- CASME II ---------------------------------------------------------------------

def test_casme2_sheet_layout_is_the_real_one(tiny):
    sheet = os.path.join(tiny, "CASME2", "CASME2-coding-20140508.xlsx")
    rows = common.sheet_rows(sheet, "Sheet1")
    assert rows[0] == ("Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                       "Action Units", "Estimated Emotion")
    assert all(isinstance(row[0], str) for row in rows[1:])           # text Subject cells
    assert {type(row[7]) for row in rows[1:]} == {int, str}          # AUs mix numbers and strings
    assert common.sheet_rows(sheet, "Sheet2") == [] or common.sheet_rows(sheet, "Sheet2") == [(None,)]


def test_casme2_reader_follows_nesting_and_keys_by_subject_and_filename(tiny):
    result = read_casme2(os.path.join(tiny, "CASME2"))
    assert result.sources["frames"].endswith(os.path.join("CASME2_RAW_selected", "CASME2_RAW_selected"))
    assert result.problems == []
    samples = _by_id(result)
    assert len(samples) == len(result.samples) == 23                 # a repeated filename is no clash
    assert ("sub01", "EP01_01f") in samples and ("sub02", "EP01_01f") in samples
    first = samples[("sub01", "EP01_01f")]
    assert first.fps == 200 and first.emotion in ("disgust", "repression") and first.label == 0
    # img98 .. img1xx in numeric order, exactly onset..offset
    assert list(first.frame_numbers) == list(range(first.onset, first.offset + 1))
    assert first.onset < 100 <= first.offset
    assert [os.path.basename(p) for p in first.frames[:2]] == ["img%d.jpg" % first.onset,
                                                               "img%d.jpg" % (first.onset + 1)]
    assert first.frames[first.apex_index].endswith("img%d.jpg" % first.apex)


def test_casme2_oddities_and_exclusions(tiny):
    samples = _by_id(read_casme2(os.path.join(tiny, "CASME2")))
    slash = samples[("sub04", "EP12_01f")]
    assert slash.apex is None and slash.label == 0
    onset = samples[("sub05", "EP09_05f")]
    assert onset.apex == onset.onset
    selection = scan({"casme2": os.path.join(tiny, "CASME2")})
    reasons = {(s.subject, s.sample): reason for s, reason in selection.excluded}
    assert "apex '/'" in reasons[("sub04", "EP12_01f")]
    assert "apex = onset" in reasons[("sub05", "EP09_05f")]
    excluded_emotions = sorted(s.emotion for s, reason in selection.excluded if "emotion" in reason)
    assert excluded_emotions == ["fear", "others", "others", "others", "others", "sadness"]
    assert "sub10" not in {s.subject for s in selection.selected}    # only excluded rows
    assert len(selection.selected) + len(selection.excluded) == selection.rows["casme2"] == 23


def test_casme2_later_sheet_with_integer_subjects_gives_the_same_samples(tiny, tmp_path):
    release_roots = common.copy_release(tiny, tmp_path, ("casme2",))
    write_casme2_sheet(release_roots["casme2"], plan("tiny", 0)["casme2"], integer_subjects=True)
    later = os.path.join(release_roots["casme2"], "CASME2-coding-20190701.xlsx")
    assert all(isinstance(row[0], int) for row in common.sheet_rows(later, "Sheet1")[1:])
    result = read_casme2(release_roots["casme2"])
    assert result.sources["sheet"] == later                     # the newer of the two sheets
    ids = lambda samples: sorted((s.subject, s.sample, s.label, s.onset, s.apex) for s in samples)
    assert ids(result.samples) == ids(read_casme2(os.path.join(tiny, "CASME2")).samples)


# --- SAMM -------------------------------------------------------------------------

def test_samm_sheet_has_the_13_row_preamble(tiny):
    rows = common.sheet_rows(os.path.join(tiny, "SAMM", "SAMM_Micro_FACS_Codes_v2.xlsx"), "MICRO_ONLY")
    assert rows[13][:6] == ("Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame")
    assert rows[0][0].startswith("SAMM") and all(row[0] != "Subject" for row in rows[:13])
    assert rows[14][0] == "006" and str(rows[14][6]).startswith("=")   # text subject, Duration formula


def test_samm_reader_unpads_subjects_and_parses_4_and_5_digit_frames(tiny):
    result = read_samm(os.path.join(tiny, "SAMM"))
    assert result.problems == []
    samples = _by_id(result)
    five = samples[("6", "006_1_1")]
    four = samples[("7", "007_1_1")]
    assert os.path.basename(five.frames[0]) == "006_%05d.jpg" % five.onset
    assert os.path.basename(four.frames[0]) == "007_%04d.jpg" % four.onset
    for sample in (five, four):
        assert list(sample.frame_numbers) == list(range(sample.onset, sample.offset + 1))
    selection = scan({"samm": os.path.join(tiny, "SAMM")})
    others = [s for s, reason in selection.excluded]
    assert {s.emotion for s in others} == {"Other"} and len(others) == 3
    assert "25" not in {s.subject for s in selection.selected}


# --- SMIC -------------------------------------------------------------------------

def test_smic_reader_pads_ids_takes_labels_from_folders_and_the_middle_apex(tiny):
    result = read_smic(os.path.join(tiny, "SMIC"))
    assert result.problems == []
    samples = _by_id(result)
    assert len(samples) == 12                                   # NIR, VIS, non_micro ignored
    clip = samples[("s01", "s01_ne_01")]
    assert clip.label == 0 and clip.emotion == "negative" and clip.fps == 100
    assert clip.folder.endswith(os.path.join("HS", "s1", "micro", "negative", "s1_ne_01"))
    assert clip.apex_source == "middle" and clip.apex_index == len(clip.frames) // 2
    crossing = samples[("s12", "s12_ne_01")]                    # image999990 .. image1000xxx
    assert crossing.frame_numbers[0] < 1000000 <= crossing.frame_numbers[-1]
    assert list(crossing.frame_numbers) == list(range(crossing.onset, crossing.offset + 1))
    assert os.path.basename(crossing.frames[-1]).startswith("image1000")


# --- the composite and the ground truth ---------------------------------------------

def test_tiny_composite_counts_and_gt(tiny):
    outcome = _dry(common.roots(tiny), gt_path=os.path.join(tiny, "combined_3class_gt.csv"))
    counts = {}
    for sample in outcome.selection.selected:
        counts.setdefault(sample.dataset, [0, 0, 0])[sample.label] += 1
    assert counts == {"casme2": [6, 4, 5], "samm": [5, 4, 3], "smic": [4, 4, 4]}
    assert outcome.differences == []


def test_gt_check_reports_every_difference(tiny, tmp_path):
    truth = read_gt(os.path.join(tiny, "combined_3class_gt.csv"))
    items = [(d, s, n, label) for (d, s, n), label in truth.items()]
    changed = [("casme2", "sub01", "EP01_01f", 2)] + [i for i in items if i[:3] != ("casme2", "sub01", "EP01_01f")]
    changed = [i for i in changed if i[:3] != ("samm", "6", "006_1_1")] + [("smic", "s99", "s99_po_01", 1)]
    differences = compare_with_gt(changed, truth)
    assert len(differences) == 3
    assert any("casme2,sub01,EP01_01f: label 2, ground truth says 0" in d for d in differences)
    assert any(d.startswith("samm,6,006_1_1: in the ground truth") for d in differences)
    assert any(d.startswith("smic,s99,s99_po_01: selected") for d in differences)
    bad = tmp_path / "gt.csv"
    bad.write_text("casme2,sub01,EP01_01f,0\nsamm,6,006_1_1\n")
    with pytest.raises(InputError, match=r"gt\.csv, line 2"):
        read_gt(str(bad))


def test_gt_check_through_the_cli(tiny, tmp_path):
    gt = tmp_path / "gt.csv"
    lines = open(os.path.join(tiny, "combined_3class_gt.csv")).read().splitlines()
    gt.write_text("\n".join(lines[1:]) + "\n")                   # one sample missing from the list
    result = common.run_tool("prepare.py", "--casme2", os.path.join(tiny, "CASME2"), "--out", tmp_path / "p",
                             "--dry-run", "--gt", gt)
    assert result.returncode == 1, result.stderr
    assert "1 difference(s)" in result.stdout and lines[0].rsplit(",", 1)[0] in result.stdout
    assert not os.path.exists(tmp_path / "p")                   # a dry run writes nothing


# --- bad input: strict stops naming file and row, lenient skips and reports ----------

def _casme2_copy(tiny, tmp_path):
    release_roots = common.copy_release(tiny, tmp_path, ("casme2",))
    return release_roots, os.path.join(release_roots["casme2"], "CASME2-coding-20140508.xlsx")


def _strict_then_lenient(release_roots, tmp_path, pattern):
    """The strict run fails with ``pattern``; the lenient run lists it in skipped.csv."""
    with pytest.raises(InputError, match=pattern):
        _dry(release_roots)
    outcome = _dry(release_roots, lenient=True)
    assert any(re.search(pattern, str(problem)) for problem in outcome.skipped), outcome.skipped
    return outcome


def test_apex_slash_on_another_row_is_a_problem(tiny, tmp_path):
    release_roots, sheet = _casme2_copy(tiny, tmp_path)
    row = common.find_row(sheet, "Sheet1", "01", "EP02_02")
    common.edit_sheet(sheet, "Sheet1", lambda ws: ws.cell(row, 5, "/"))
    outcome = _strict_then_lenient(release_roots, tmp_path,
                                   r"CASME2-coding-20140508\.xlsx, sheet Sheet1, row %d: sub01/EP02_02: "
                                   r"apex frame not annotated" % row)
    assert len(outcome.selection.selected) == 14


def test_apex_outside_onset_offset_is_a_problem(tiny, tmp_path):
    release_roots = common.copy_release(tiny, tmp_path, ("samm",))
    sheet = os.path.join(release_roots["samm"], "SAMM_Micro_FACS_Codes_v2.xlsx")
    row = common.find_row(sheet, "MICRO_ONLY", "007", "007_2_1")
    common.edit_sheet(sheet, "MICRO_ONLY", lambda ws: ws.cell(row, 5, ws.cell(row, 6).value + 40))
    _strict_then_lenient(release_roots, tmp_path, r"MICRO_ONLY, row %d: 7/007_2_1: apex frame \d+ outside" % row)


def test_sheet_row_without_folder_and_folder_without_row(tiny, tmp_path):
    release_roots, sheet = _casme2_copy(tiny, tmp_path)
    frames = read_casme2(release_roots["casme2"]).sources["frames"]
    shutil.rmtree(os.path.join(frames, "sub02", "EP03_3"))
    shutil.copytree(os.path.join(frames, "sub01", "EP01_01f"), os.path.join(frames, "sub01", "EP77_01"))
    row = common.find_row(sheet, "Sheet1", "02", "EP03_3")
    outcome = _strict_then_lenient(release_roots, tmp_path,
                                   r"row %d: sub02/EP03_3: no clip folder .*sub02.EP03_3" % row)
    assert any("EP77_01: sub01/EP77_01: clip folder has no row in CASME2-coding-20140508.xlsx" in str(p)
               for p in outcome.skipped)
    lines = []
    prepare(release_roots, None, Settings(lenient=True), dry_run=True, log=lines.append)
    assert "CASME II: 23 sheet rows = 14 selected + 8 excluded" in lines[0]
    assert lines[0].endswith("+ 1 skipped; 1 folder problem(s)")


def test_missing_frame_inside_onset_offset(tiny, tmp_path):
    release_roots, _ = _casme2_copy(tiny, tmp_path)
    sample = _by_id(read_casme2(release_roots["casme2"]))[("sub01", "EP01_01f")]
    os.unlink(sample.frames[5])
    _strict_then_lenient(release_roots, tmp_path, r"EP01_01f: frames %d of onset\.\.offset .* are missing"
                         % sample.frame_numbers[5])


def test_smic_gap_misfiled_clip_and_empty_folder(tiny, tmp_path):
    release_roots = common.copy_release(tiny, tmp_path, ("smic",))
    hs = os.path.join(release_roots["smic"], "SMIC_all_raw", "HS")
    clip = os.path.join(hs, "s1", "micro", "negative", "s1_ne_01")
    os.unlink(os.path.join(clip, sorted(os.listdir(clip))[3]))
    shutil.move(os.path.join(hs, "s3", "micro", "positive", "s3_po_02"),
                os.path.join(hs, "s3", "micro", "negative", "s3_po_02"))
    os.makedirs(os.path.join(hs, "s12", "micro", "surprise", "s12_sur_09"))
    outcome = _strict_then_lenient(release_roots, tmp_path, r"s1_ne_01: s01/s01_ne_01: frames \d+ are missing")
    reasons = " | ".join(str(p) for p in outcome.skipped)
    assert "s03/s03_po_02: clip named 'positive' inside the negative folder" in reasons
    assert "s12/s12_sur_09: clip folder holds no frames" in reasons
    assert len(outcome.selection.selected) == 10               # 12 clips, 2 with problems


def test_unknown_emotion_is_a_problem_not_an_exclusion(tiny, tmp_path):
    release_roots, sheet = _casme2_copy(tiny, tmp_path)
    row = common.find_row(sheet, "Sheet1", "01", "EP03_3")
    common.edit_sheet(sheet, "Sheet1", lambda ws: ws.cell(row, 9, "hapiness"))
    _strict_then_lenient(release_roots, tmp_path, r"row %d: sub01/EP03_3: unknown emotion 'hapiness'" % row)


def test_cli_strict_error_exits_nonzero_naming_file_and_row(tiny, tmp_path):
    release_roots, sheet = _casme2_copy(tiny, tmp_path)
    row = common.find_row(sheet, "Sheet1", "02", "EP02_02")
    common.edit_sheet(sheet, "Sheet1", lambda ws: ws.cell(row, 4, "abc"))
    result = common.run_tool("prepare.py", *common.root_args(release_roots), "--out", tmp_path / "out")
    assert result.returncode == 2
    assert "error:" in result.stderr and "CASME2-coding-20140508.xlsx, sheet Sheet1, row %d" % row in result.stderr
    assert "onset frame 'abc' is not a frame number" in result.stderr
    assert not os.path.exists(tmp_path / "out" / "index.csv")


def test_lenient_cli_writes_the_skip_report(tiny, tmp_path):
    release_roots, sheet = _casme2_copy(tiny, tmp_path)
    row = common.find_row(sheet, "Sheet1", "02", "EP02_02")
    common.edit_sheet(sheet, "Sheet1", lambda ws: ws.cell(row, 5, "/"))
    # keep the run short: only sub02's clips stay (the others' rows become folderless -> skipped)
    frames = read_casme2(release_roots["casme2"]).sources["frames"]
    for subject in ("sub01", "sub04", "sub05"):
        shutil.rmtree(os.path.join(frames, subject))
    result = common.run_tool("prepare.py", *common.root_args(release_roots), "--out", tmp_path / "out",
                             "--lenient", "--workers", "1")
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "out" / "skipped.csv") as handle:
        skipped = list(csv.DictReader(handle))
    assert any(s["sample"] == "EP02_02" and "row %d" % row in s["where"] and "apex frame not annotated" in s["reason"]
               for s in skipped)
    assert sum(1 for s in skipped if "no clip folder" in s["reason"]) == 10    # sub01, sub04, sub05
    with open(tmp_path / "out" / "index.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 4          # sub02: 5 composite rows minus EP02_02
    assert "CASME II: 23 sheet rows = 4 prepared + 8 excluded" in result.stdout
    assert "+ 11 skipped\n" in result.stdout
