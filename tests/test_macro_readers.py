"""The four macro readers on hand-written fixtures of each real layout, every oddity of
pretraining.md included; strict problems name the file, exclusions are reported."""
import os

import pytest

import macro_support as fx
from atnet.common import InputError
from atnet.macro.ckplus import read_ckplus
from atnet.macro.jaffe import read_jaffe
from atnet.macro.mug import read_mug
from atnet.macro.oulu import read_oulu


def by_key(scan):
    return {(s.subject, s.sequence): s for s in scan.sequences}


# --- CK+ ---------------------------------------------------------------------------------

@pytest.mark.parametrize("images,labels", [("cohn-kanade-images", "Emotion"),
                                           ("extended-cohn-kanade-images/cohn-kanade-images",
                                            "Emotion_labels/Emotion")])
def test_ckplus_both_nestings_labels_from_the_peak_named_file(tmp_path, images, labels):
    root = str(tmp_path)
    fx.ckplus_sequence(root, "S005", "001", 11, "disgust", images=images, labels=labels)
    fx.ckplus_sequence(root, "S005", "002", 6, None, images=images, labels=labels, empty_label_folder=True)
    fx.ckplus_sequence(root, "S010", "001", 7, None, images=images, labels=labels)
    fx.ckplus_sequence(root, "S010", "003", 9, "surprise", images=images, labels=labels)
    scan = read_ckplus(root)
    found = by_key(scan)
    assert set(found) == {("S005", "001"), ("S005", "002"), ("S010", "001"), ("S010", "003")}
    disgust = found[("S005", "001")]
    assert (disgust.emotion, disgust.code, disgust.problems) == ("disgust", "3", [])
    assert disgust.frame_numbers == tuple(range(1, 12)) and disgust.peak_index == 10
    assert disgust.source.endswith("S005_001_00000011_emotion.txt")
    # unlabelled: an empty emotion folder and no emotion folder at all
    assert found[("S005", "002")].excluded.startswith("unlabelled")
    assert found[("S010", "001")].excluded.startswith("unlabelled")
    assert found[("S010", "003")].emotion == "surprise"
    assert scan.problems == []


def test_ckplus_dot_files_skipped_landmarks_used_when_present(tmp_path):
    root = str(tmp_path)
    fx.ckplus_sequence(root, "S005", "001", 5, "happiness", landmarks=True)
    fx.ckplus_sequence(root, "S011", "001", 5, "anger")
    fx.text(os.path.join(root, "cohn-kanade-images", "S005", "001", "._S005_001_00000001.png"), "AppleDouble")
    fx.text(os.path.join(root, "cohn-kanade-images", "S005", ".DS_Store"), "x")
    fx.text(os.path.join(root, "Emotion", "S005", "001", ".DS_Store"), "x")
    found = by_key(read_ckplus(root))
    happy, anger = found[("S005", "001")], found[("S011", "001")]
    assert happy.problems == [] and len(happy.frames) == 5
    assert len(happy.landmarks) == 68 and happy.landmarks_source.endswith("S005_001_00000005_landmarks.txt")
    assert anger.landmarks is None


@pytest.mark.parametrize("kwargs,message", [
    (dict(label_frame=3), "names frame 3, but the sequence's last (peak) frame is 5"),
    (dict(label_text="   2.5000000e+00\n"), "expected one emotion code 0..7"),
    (dict(label_text="   9.0000000e+00\n"), "expected one emotion code 0..7"),
    (dict(label_text="anger\n"), "expected one emotion code 0..7"),
])
def test_ckplus_bad_emotion_files_are_problems_naming_the_file(tmp_path, kwargs, message):
    root = str(tmp_path)
    fx.ckplus_sequence(root, "S005", "001", 5, None if "label_text" in kwargs else "anger", **kwargs)
    sequence = read_ckplus(root).sequences[0]
    assert len(sequence.problems) == 1 and message in sequence.problems[0]
    assert "S005_001_0000000" in sequence.problems[0] and "_emotion.txt" in sequence.problems[0]


def test_ckplus_missing_frame_label_without_images_bad_landmarks(tmp_path):
    root = str(tmp_path)
    fx.ckplus_sequence(root, "S005", "001", 6, "fear", landmarks=True)
    os.unlink(os.path.join(root, "cohn-kanade-images", "S005", "001", "S005_001_00000003.png"))
    fx.text(os.path.join(root, "Landmarks", "S005", "001", "S005_001_00000006_landmarks.txt"), "1 2\n3 4\n")
    fx.text(os.path.join(root, "Emotion", "S099", "001", "S099_001_00000004_emotion.txt"), "1\n")
    scan = read_ckplus(root)
    problems = scan.sequences[0].problems
    assert any("frames 3 are missing" in p for p in problems)
    assert any("S005_001_00000006_landmarks.txt: expected 68 lines" in p for p in problems)
    assert [p.reason for p in scan.problems] == ["emotion label without an image sequence"]
    assert scan.problems[0].subject == "S099"


def test_ckplus_two_nestings_at_once_is_an_error(tmp_path):
    root = str(tmp_path)
    fx.ckplus_sequence(root, "S005", "001", 4, "anger")
    fx.ckplus_sequence(root, "S005", "001", 4, "anger", images="extended-cohn-kanade-images/cohn-kanade-images")
    with pytest.raises(InputError, match="both .* exist"):
        read_ckplus(root)
    with pytest.raises(InputError, match="no CK\\+ image folder"):
        read_ckplus(str(tmp_path / "empty"))


# --- Oulu-CASIA ----------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["", "Oulu-CASIA NIR&VIS facial expression database"])
def test_oulu_sensors_and_illuminations_selectable_missing_folders_reported(tmp_path, prefix):
    root = str(tmp_path)
    fx.oulu_tree(root, missing={("P002", "Fear")}, prefix=prefix)
    fx.text(os.path.join(root, prefix, "PreProcess Img", "NI_Acropped", "readme.txt"), "not read")
    scan = read_oulu(root, sensors=("VL",), illuminations=("Strong",))
    assert len(scan.sequences) == 11 and {s.info["sensor"] for s in scan.sequences} == {"VL"}
    first = scan.sequences[0]
    assert first.frame_numbers == (0, 1, 2, 3, 4) and first.peak_index == 4 and first.emotion == "anger"
    assert first.sequence == "VL_Strong_Anger"
    assert [n for n in scan.notes if "no Fear folder" in n] and scan.problems == []
    both = read_oulu(root, sensors=("VL", "NI"), illuminations=("Strong", "Dark"))
    assert len(both.sequences) == 44 and {s.subject for s in both.sequences} == {"P001", "P002"}
    with pytest.raises(InputError, match="Weak"):
        read_oulu(root, sensors=("VL",), illuminations=("Weak",))
    with pytest.raises(InputError, match="choose from"):
        read_oulu(root, sensors=("IR",))


def test_oulu_unknown_emotion_folder_and_gaps_are_problems(tmp_path):
    root = str(tmp_path)
    base = fx.oulu_tree(root, persons=("P001",), sensors=("VL",), illuminations=("Strong",), emotions=("Anger",))
    fx.image(os.path.join(base, "VL", "Strong", "P001", "Contempt", "000.jpeg"))
    os.unlink(os.path.join(base, "VL", "Strong", "P001", "Anger", "002.jpeg"))
    scan = read_oulu(root, sensors=("VL",), illuminations=("Strong",))
    assert "unknown emotion folder 'Contempt'" in scan.problems[0].reason
    assert any("frames 2 are missing" in p for p in scan.sequences[0].problems)


# --- JAFFE --------------------------------------------------------------------------------------

def test_jaffe_codes_from_names_one_and_three_channel_tiffs_ratings_joined_by_pic(tmp_path):
    names = ["KA.AN1.39.tiff", "KA.NE1.26.tiff", "KM.HA3.6.tiff", "KM.SU1.16.tiff", "NA.DI2.215.tiff"]
    folder = fx.jaffe_tree(str(tmp_path), names)
    fx.text(os.path.join(folder, "README"), "readme")
    # N runs 1.. in another order than the image numbers: only PIC identifies the image
    fx.text(os.path.join(folder, "ratings.txt"),
            "  N   HAP  SAD  SUR  ANG  DIS  FEA  PIC\n"
            "  1  1.10 1.20 1.30 4.90 2.00 1.40 KA-AN1\n"
            "  2  4.80 1.00 1.10 1.00 1.00 1.00 KM-HA3\n"
            "  3  2.00 2.00 2.00 2.00 2.00 2.00 YM-SA2\n")
    scan = read_jaffe(str(tmp_path))
    found = by_key(scan)
    assert set(found) == {("KA", "AN1"), ("KA", "NE1"), ("KM", "HA3"), ("KM", "SU1"), ("NA", "DI2")}
    anger = found[("KA", "AN1")]
    assert (anger.emotion, anger.code, anger.frame_numbers, anger.peak_rule) == ("anger", "AN", (39,), "only")
    assert found[("KA", "NE1")].emotion == "neutral"
    assert anger.info["ratings"]["ANG"] == 4.9 and found[("KM", "HA3")].info["ratings"]["HAP"] == 4.8
    assert "ratings" not in found[("KM", "SU1")].info
    assert any("YM-SA2" in note for note in scan.notes)
    import cv2
    channels = {os.path.basename(s.frames[0]): cv2.imread(s.frames[0], cv2.IMREAD_UNCHANGED).ndim
                for s in scan.sequences}
    assert set(channels.values()) == {2, 3}
    assert all(cv2.imread(s.frames[0], cv2.IMREAD_GRAYSCALE).ndim == 2 for s in scan.sequences)


def test_jaffe_flat_root_bad_names_and_codes(tmp_path):
    fx.jaffe_tree(str(tmp_path), ["KA.XX1.40.tiff", "KA.AN1.39.tiff", "KA.AN1.41.tiff", "badname.tiff"], folder="")
    scan = read_jaffe(str(tmp_path))
    assert [p.reason for p in scan.problems] == ["file name is not <poser>.<code><n>.<number>.tiff"]
    found = {os.path.basename(s.frames[0]): s for s in scan.sequences}
    assert "unknown expression code 'XX'" in found["KA.XX1.40.tiff"].problems[0]
    assert "a second image of KA AN1" in found["KA.AN1.41.tiff"].problems[0]


# --- MUG -----------------------------------------------------------------------------------

def test_mug_optional_session_peak_in_the_middle_numbers_not_from_zero(tmp_path):
    root = str(tmp_path)
    fx.mug_take(root, "001", "happiness", "take000", first=12, count=15)
    fx.mug_take(root, "002", "anger", "take001", first=0, count=11, session="session1")
    fx.mug_take(root, "002", "neutral", "take000", first=3, count=12, session="session2")
    fx.mug_take(root, "001", "surprise", "take002end", first=0, count=12)
    scan = read_mug(root)
    found = by_key(scan)
    happy = found[("001", "happiness_take000")]
    assert happy.frame_numbers[0] == 12 and happy.peak_index == 7 and happy.frame_numbers[happy.peak_index] == 19
    assert found[("002", "session1_anger_take001")].emotion == "anger"
    assert found[("002", "session2_neutral_take000")].emotion == "neutral"
    assert found[("001", "surprise_take002end")].excluded == "take name ends in 'end'"
    assert scan.problems == [] and all(not s.problems for s in scan.sequences)
    assert read_mug(os.path.join(root, "subjects3")).sequences[0].key == happy.key


def test_mug_unknown_emotion_mixed_levels_and_gaps(tmp_path):
    root = str(tmp_path)
    fx.mug_take(root, "001", "joy", "take000", first=0, count=11)
    fx.mug_take(root, "002", "anger", "take000", first=0, count=11, session="session1")
    fx.mug_take(root, "002", "fear", "take000", first=0, count=11)
    path = fx.mug_take(root, "003", "fear", "take000", first=4, count=11)
    os.unlink(os.path.join(path, "img_0008.jpg"))
    scan = read_mug(root)
    reasons = sorted(p.reason.split(" (")[0] for p in scan.problems)
    assert reasons == ["mixes session folders with other folders", "unknown emotion folder 'joy'"]
    assert any("frames 8 are missing" in p for p in scan.sequences[0].problems)
