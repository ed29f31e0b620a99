"""The synthetic releases: determinism, the real layouts' oddities, and the
exact composite counts of datasets.md read back through the real readers."""
import collections
import glob
import hashlib
import os

import pytest

from atnet.common import InputError
from atnet.data import synth
from atnet.data.composite import CASME2_COMPOSITE, SAMM_COMPOSITE, SMIC_COMPOSITE, composite_samples
from atnet.data.prepare import Settings, prepare
from atnet.data.synth.clips import expected_counts, plan
from atnet.data.synth.render import intensity

import data_support as common


def _digest(folder):
    """sha256 of every frame file (name and bytes) under a release set."""
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(folder, "**", "*.*"), recursive=True)):
        if path.endswith((".jpg", ".bmp")):
            digest.update(os.path.relpath(path, folder).encode())
            with open(path, "rb") as handle:
                digest.update(handle.read())
    return digest.hexdigest()


def test_same_seed_same_release_other_seed_other_frames(tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        synth.generate(str(tmp_path / name), common.MICRO, seed=seed)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    sheet = os.path.join("CASME2", "CASME2-coding-20140508.xlsx")
    assert common.sheet_rows(str(tmp_path / "a" / sheet), "Sheet1") == \
        common.sheet_rows(str(tmp_path / "b" / sheet), "Sheet1")
    with pytest.raises(InputError, match="already exists"):
        synth.generate(str(tmp_path / "a"), common.MICRO)
    synth.generate(str(tmp_path / "a"), common.MICRO, seed=1, overwrite=True)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "c")


def test_tiny_layout_has_the_oddities(tmp_path_factory):
    tiny = common.release(tmp_path_factory, "tiny")
    casme2 = os.path.join(tiny, "CASME2", "CASME2_RAW_selected", "CASME2_RAW_selected")
    assert os.path.isdir(os.path.join(casme2, "sub04", "EP12_01f"))
    assert os.path.exists(os.path.join(casme2, "sub01", ".DS_Store"))
    assert glob.glob(os.path.join(casme2, "sub01", "*", "Thumbs.db"))
    assert glob.glob(os.path.join(tiny, "SAMM", "006", "006_1_1", "006_0????.jpg"))      # 5 digits
    assert glob.glob(os.path.join(tiny, "SAMM", "007", "007_1_1", "007_????.jpg"))       # 4 digits
    hs = os.path.join(tiny, "SMIC", "SMIC_all_raw")
    assert os.path.isdir(os.path.join(hs, "NIR")) and os.path.isdir(os.path.join(hs, "VIS"))
    assert glob.glob(os.path.join(hs, "HS", "s1", "non_micro", "*", "*.bmp"))
    assert glob.glob(os.path.join(hs, "HS", "s12", "micro", "*", "*", "image1??????.bmp"))  # 7 digits
    assert not glob.glob(os.path.join(hs, "HS", "s01"))                                   # unpadded on disk


def test_motion_profile_rises_to_the_apex_and_falls_back():
    assert intensity(10, 10, 15, 30) == 0.0
    assert intensity(15, 10, 15, 30) == 1.0
    assert intensity(30, 10, 15, 30) == pytest.approx(0.0, abs=1e-12)
    assert 0 < intensity(12, 10, 15, 30) < intensity(14, 10, 15, 30) < 1
    assert intensity(10, 10, 10, 20) == 1.0                                         # apex = onset


def test_composite_plan_has_the_sheet_totals_of_datasets_md():
    clips = plan("composite", 0)
    emotions = {d: collections.Counter(c.emotion for c in clips[d]) for d in clips}
    assert emotions["casme2"] == {"others": 99, "disgust": 63, "happiness": 32, "repression": 27,
                                  "surprise": 25, "sadness": 7, "fear": 2}
    assert emotions["samm"] == {"Anger": 57, "Other": 26, "Happiness": 26, "Surprise": 15, "Contempt": 12,
                                "Disgust": 9, "Fear": 8, "Sadness": 6}
    assert len({c.subject for c in clips["casme2"]}) == 26 and len({c.subject for c in clips["samm"]}) == 29
    assert expected_counts("composite") == {"casme2": (88, 32, 25), "samm": (92, 26, 15),
                                            "smic": (70, 51, 43)}


def test_composite_samples_are_the_442_of_datasets_md():
    samples = composite_samples()
    assert len(samples) == 442
    assert collections.Counter(s["label"] for s in samples) == {0: 250, 1: 109, 2: 83}
    subjects = {(s["dataset"], s["subject"]) for s in samples}
    assert len(subjects) == 68 and ("casme2", "sub01") in subjects and ("samm", "6") in subjects \
        and ("smic", "s01") in subjects
    assert len({(s["dataset"], s["subject"], s["sample"]) for s in samples}) == 442


@pytest.mark.slow
def test_composite_release_reads_back_as_the_exact_composite(tmp_path):
    synth.generate(str(tmp_path), "composite", seed=0)
    lines = []
    outcome = prepare(common.roots(str(tmp_path)), None, Settings(), dry_run=True, log=lines.append,
                      gt_path=str(tmp_path / "combined_3class_gt.csv"))
    text = "\n".join(lines)
    assert "all              250       109        83     442        68" in text
    assert "CASME II          88        32        25     145        24" in text
    assert "SAMM              92        26        15     133        28" in text
    assert "SMIC              70        51        43     164        16" in text
    assert "CASME II: 255 sheet rows = 145 selected + 110 excluded" in text
    assert "SAMM: 159 sheet rows = 133 selected + 26 excluded" in text
    assert outcome.differences == [] and outcome.skipped == []
    per_subject = collections.Counter((s.dataset, s.subject, s.label) for s in outcome.selection.selected)
    for number, counts in CASME2_COMPOSITE.items():
        assert tuple(per_subject[("casme2", "sub%02d" % number, c)] for c in range(3)) == counts
    for number, counts in SAMM_COMPOSITE.items():
        assert tuple(per_subject[("samm", str(number), c)] for c in range(3)) == counts
    for number, counts in SMIC_COMPOSITE.items():
        assert tuple(per_subject[("smic", "s%02d" % number, c)] for c in range(3)) == counts
