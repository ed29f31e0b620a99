"""Label sets and frame selection, checked by counts (CK+ at the release's sequence counts),
and the seeded subject-disjoint validation split."""
import collections
import os

import pytest

import macro_support as fx
from atnet.common import InputError
from atnet.macro import labels
from atnet.macro.ckplus import read_ckplus
from atnet.macro.jaffe import read_jaffe
from atnet.macro.mug import read_mug
from atnet.macro.oulu import read_oulu
from atnet.macro.select import SelectionSettings, counts_document, format_counts, select


@pytest.fixture(scope="module")
def ckplus_scan(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ckplus"))
    fx.ckplus_release(root)
    return read_ckplus(root)


def image_classes(selection):
    return collections.Counter(pick.label for p in selection.planned for pick in p.picks)


def test_ckplus_release_last_three_frames_give_the_common_981(ckplus_scan):
    assert len(ckplus_scan.sequences) == 593 and len({s.subject for s in ckplus_scan.sequences}) == 123
    selection = select([ckplus_scan], SelectionSettings(label_set="ck8"))
    assert image_classes(selection) == {"anger": 135, "contempt": 54, "disgust": 177, "fear": 75,
                                        "happiness": 207, "sadness": 84, "surprise": 249}
    assert sum(image_classes(selection).values()) == 981
    assert collections.Counter(r for _, r in selection.excluded) == {"unlabelled (no emotion file)": 266}
    last = selection.planned[0]
    assert [p.position for p in last.picks] == [len(last.sequence.frames) - 3 + i for i in range(3)]
    assert [p.role for p in last.picks] == ["near-peak", "near-peak", "peak"]


def test_ckplus_label_sets_and_neutral_by_counts(ckplus_scan):
    basic6 = select([ckplus_scan], SelectionSettings())
    assert sum(image_classes(basic6).values()) == 981 - 54 and "contempt" not in image_classes(basic6)
    assert collections.Counter(r for _, r in basic6.excluded)["emotion contempt is not in label set basic6"] == 18
    three = select([ckplus_scan], SelectionSettings(label_set="3class"))
    assert image_classes(three) == {"negative": 135 + 54 + 177 + 75 + 84, "positive": 207, "surprise": 249}
    neutral = select([ckplus_scan], SelectionSettings(label_set="ck8", neutral=True))
    assert image_classes(neutral)["neutral"] == 327 and sum(image_classes(neutral).values()) == 981 + 327
    assert all(p.picks[0].position == 0 and p.picks[0].role == "neutral" for p in neutral.planned)
    five = select([ckplus_scan], SelectionSettings(label_set="basic7", frames=5))
    assert sum(image_classes(five).values()) == 5 * (327 - 18) and image_classes(five)["neutral"] == 0
    with pytest.raises(InputError, match="no neutral class"):
        select([ckplus_scan], SelectionSettings(label_set="basic6", neutral=True))


def test_sequences_too_short_for_k_are_problems(ckplus_scan):
    selection = select([ckplus_scan], SelectionSettings(label_set="ck8", frames=5, neutral=True))
    # the release fixture's sequences have 5, 6 or 7 frames: 5 + a separate neutral frame needs 6
    assert selection.problems and all("do not fit" in p.reason for p in selection.problems)
    assert len(selection.planned) + len(selection.problems) == 327


def test_mug_window_about_the_middle_neutral_takes_and_short_takes(tmp_path):
    root = str(tmp_path)
    fx.mug_take(root, "001", "happiness", "take000", first=12, count=15)
    fx.mug_take(root, "001", "neutral", "take000", first=0, count=11)
    fx.mug_take(root, "002", "fear", "take000", first=5, count=4)
    fx.mug_take(root, "002", "sadness", "take000", first=0, count=12, session=None)
    scan = read_mug(root)
    three = select([scan], SelectionSettings(mug_min_frames=10))
    happy = next(p for p in three.planned if p.sequence.emotion == "happiness")
    assert [happy.sequence.frame_numbers[p.position] for p in happy.picks] == [18, 19, 20]
    assert [p.role for p in happy.picks] == ["near-peak", "peak", "near-peak"]
    four = select([scan], SelectionSettings(frames=4, label_set="basic7", neutral=True))
    happy4 = next(p for p in four.planned if p.sequence.emotion == "happiness")
    assert [happy4.sequence.frame_numbers[p.position] for p in happy4.picks] == [12, 18, 19, 20, 21]
    neutral_take = next(p for p in four.planned if p.sequence.emotion == "neutral")
    assert {p.label for p in neutral_take.picks} == {"neutral"} and len(neutral_take.picks) == 4
    reasons = sorted(r for _, r in three.excluded)
    assert reasons == ["emotion neutral is not in label set basic6", "short take (4 frames < 10)"]


def test_jaffe_release_counts_by_label_set(tmp_path):
    counts = {"AN": 30, "DI": 29, "FE": 32, "HA": 31, "NE": 30, "SA": 31, "SU": 30}
    posers = ("KA", "KL", "KM", "KR", "MK", "NA", "NM", "TM", "UY", "YM")
    names, number = [], 0
    for code, count in counts.items():
        for i in range(count):
            number += 1
            names.append("%s.%s%d.%d.tiff" % (posers[i % 10], code, i // 10 + 1, number))
    fx.jaffe_tree(str(tmp_path), names)
    scan = read_jaffe(str(tmp_path))
    assert len(scan.sequences) == 213
    seven = select([scan], SelectionSettings(label_set="basic7", frames=3))
    assert sum(image_classes(seven).values()) == 213          # one image each, whatever K
    assert image_classes(seven)["neutral"] == 30 and image_classes(seven)["fear"] == 32
    six = select([scan], SelectionSettings())
    assert sum(image_classes(six).values()) == 183


def test_split_is_subject_disjoint_seeded_and_per_dataset(tmp_path, ckplus_scan):
    fx.oulu_tree(str(tmp_path), persons=tuple("P%03d" % i for i in range(1, 11)), illuminations=("Strong",))
    oulu = read_oulu(str(tmp_path), sensors=("VL", "NI"), illuminations=("Strong",))
    both = select([ckplus_scan, oulu], SelectionSettings(seed=3))
    for dataset in ("ckplus", "oulu"):
        splits = collections.defaultdict(set)
        for p in both.planned:
            if p.sequence.dataset == dataset:
                splits[p.sequence.subject].add(p.split)
        assert all(len(s) == 1 for s in splits.values())          # a subject is in one split only
        val = sum(s == {"val"} for s in splits.values())
        assert val == round(0.2 * len(splits))
    split_of = {p.sequence.key: p.split for p in both.planned}
    alone = select([oulu], SelectionSettings(seed=3))
    assert all(split_of[p.sequence.key] == p.split for p in alone.planned)    # independent of other datasets
    again = select([ckplus_scan, oulu], SelectionSettings(seed=3))
    assert [p.split for p in again.planned] == [p.split for p in both.planned]
    other = select([ckplus_scan, oulu], SelectionSettings(seed=4))
    assert [p.split for p in other.planned] != [p.split for p in both.planned]
    none = select([oulu], SelectionSettings(val_fraction=0))
    assert {p.split for p in none.planned} == {"train"}


def test_counts_document_and_table(ckplus_scan):
    selection = select([ckplus_scan], SelectionSettings(label_set="ck8"))
    document = counts_document(selection.planned, selection.excluded, selection.problems, "ck8",
                               selection.sequences_read)
    entry = document["datasets"]["ckplus"]
    assert entry["images"]["train"]["total"] + entry["images"]["val"]["total"] == 981
    assert entry["subjects"]["val"] == round(0.2 * 123) and entry["sequences_read"] == 593
    assert document["classes"] == list(labels.CANONICAL)
    table = format_counts(document)
    assert "CK+" in table and "note: no images for class(es) neutral" in table
