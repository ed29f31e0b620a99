"""The synthetic macro releases: exact layouts with the oddities, read by the real readers,
deterministic by seed, and classes that differ where the micro classes do."""
import hashlib
import os

import cv2
import numpy as np
import pytest

from atnet.common import InputError
from atnet.data.face import crop_face
from atnet.data.frames import read_grey
from atnet.macro import synth
from atnet.macro.ckplus import read_ckplus
from atnet.macro.jaffe import read_jaffe
from atnet.macro.mug import read_mug
from atnet.macro.oulu import read_oulu


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("synth"))
    synth.generate(out, "tiny", seed=1)
    return out


def tree_digest(folder):
    digest = hashlib.sha256()
    for base, dirs, files in sorted(os.walk(folder)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(base, name)
            digest.update(os.path.relpath(path, folder).encode())
            with open(path, "rb") as handle:
                digest.update(handle.read())
    return digest.hexdigest()


def test_layouts_and_oddities_read_without_problems(tiny):
    ck = read_ckplus(os.path.join(tiny, "CK+"))
    assert ck.sources["images"].endswith("extended-cohn-kanade-images/cohn-kanade-images")
    assert ck.sources["emotions"].endswith("Emotion_labels/Emotion")
    assert ck.problems == [] and all(not s.problems for s in ck.sequences)
    assert sum(s.excluded.startswith("unlabelled") for s in ck.sequences) == 3
    assert {s.emotion for s in ck.sequences if s.emotion} == {"anger", "contempt", "disgust", "fear", "happiness",
                                                             "sadness", "surprise"}
    assert any(s.landmarks for s in ck.sequences) and any(s.emotion and not s.landmarks for s in ck.sequences)
    colour = [cv2.imread(s.frames[0], cv2.IMREAD_UNCHANGED).ndim for s in ck.sequences]
    assert set(colour) == {2, 3}
    stray = [n for b, _, f in os.walk(os.path.join(tiny, "CK+")) for n in f if n.startswith("._")]
    assert stray                                            # AppleDouble files exist, the reader skipped them
    oulu = read_oulu(os.path.join(tiny, "Oulu-CASIA"), ("VL", "NI"), ("Strong", "Dark"))
    assert "facial expression database" in oulu.sources["original"]
    assert oulu.problems == [] and len(oulu.sequences) == 2 * 2 * (3 * 6 - 1)
    assert len([n for n in oulu.notes if "folder" in n]) == 4
    ni = next(s for s in oulu.sequences if s.info["sensor"] == "NI")
    assert cv2.imread(ni.frames[0], cv2.IMREAD_UNCHANGED).ndim == 2
    jaffe = read_jaffe(os.path.join(tiny, "JAFFE"))
    assert jaffe.problems == [] and len(jaffe.sequences) == 21
    assert all("ratings" in s.info for s in jaffe.sequences)
    assert {cv2.imread(s.frames[0], cv2.IMREAD_UNCHANGED).ndim for s in jaffe.sequences} == {2, 3}
    mug = read_mug(os.path.join(tiny, "MUG"))
    assert mug.problems == [] and any(s.info["session"] for s in mug.sequences)
    assert any(s.excluded for s in mug.sequences) and min(len(s.frames) for s in mug.sequences) == 3
    assert any(s.frame_numbers[0] > 0 for s in mug.sequences)


def _movement(sequence, position, reference=0):
    """Largest grey change between a frame and the sequence's first frame, both blurred
    (sigma 2 px) so that sensor noise and jitter do not count: the expression's movement."""
    first, frame = (cv2.GaussianBlur(read_grey(sequence.frames[i]).astype(np.float32), (0, 0), 2)
                    for i in (reference, position))
    return float(np.abs(frame - first).max())


def test_expressions_peak_where_the_readers_say(tiny):
    mug = [s for s in read_mug(os.path.join(tiny, "MUG")).sequences
           if not s.excluded and s.emotion != "neutral" and len(s.frames) >= 10]
    for sequence in mug:
        moves = [_movement(sequence, i) for i in range(len(sequence.frames))]
        assert abs(int(np.argmax(moves)) - sequence.peak_index) <= 1
        assert moves[sequence.peak_index] > 2 * moves[-1]      # back to neutral at the end
    ck = [s for s in read_ckplus(os.path.join(tiny, "CK+")).sequences if s.emotion]
    for sequence in ck:
        moves = [_movement(sequence, i) for i in range(len(sequence.frames))]
        assert int(np.argmax(moves)) >= len(moves) - 2


def test_emotions_differ_in_the_face_crop(tiny):
    """Peak crops of one subject differ more between emotions than between two frames of one
    peak: the class is visible in one apex-like frame."""
    scan = read_oulu(os.path.join(tiny, "Oulu-CASIA"), ("VL",), ("Strong",))
    person = [s for s in scan.sequences if s.subject == "P002"]
    box = (30, 15, 100, 100)
    crops = {s.emotion: crop_face(read_grey(s.frames[-1]), box, 112).astype(np.float32) for s in person}
    near = {s.emotion: crop_face(read_grey(s.frames[-2]), box, 112).astype(np.float32) for s in person}
    between = [np.abs(crops[a] - crops[b]).mean() for a in crops for b in crops if a < b]
    within = [np.abs(crops[e] - near[e]).mean() for e in crops]
    assert min(between) > 1.2 * np.mean(within)


def test_deterministic_by_seed(tmp_path):
    small = synth.dataclasses.replace(synth.PRESETS["tiny"], jaffe_posers=2,
                                      jaffe_counts={"AN": 2, "HA": 2, "NE": 1}, mug_subjects=1)
    for name in ("a", "b", "c"):
        synth.generate(str(tmp_path / name), small, seed=7 if name != "c" else 8, datasets=("jaffe", "mug"))
    assert tree_digest(tmp_path / "a" / "JAFFE") == tree_digest(tmp_path / "b" / "JAFFE")
    assert tree_digest(tmp_path / "a" / "MUG") == tree_digest(tmp_path / "b" / "MUG")
    assert tree_digest(tmp_path / "a" / "MUG") != tree_digest(tmp_path / "c" / "MUG")
    with pytest.raises(InputError, match="already exists"):
        synth.generate(str(tmp_path / "a"), small, seed=7, datasets=("jaffe",))


@pytest.mark.slow
def test_release_preset_ckplus_has_the_releases_counts(tmp_path):
    """593 sequences of 123 subjects, 327 labelled: the last 3 frames give the common 981 images."""
    import collections
    from atnet.macro.select import SelectionSettings, select
    synth.generate(str(tmp_path), "release", seed=0, datasets=("ckplus",))
    scan = read_ckplus(os.path.join(tmp_path, "CK+"))
    assert len(scan.sequences) == 593 and len({s.subject for s in scan.sequences}) == 123
    selection = select([scan], SelectionSettings(label_set="ck8"))
    assert not selection.problems
    assert collections.Counter(p.label for item in selection.planned for p in item.picks) == {
        "anger": 135, "contempt": 54, "disgust": 177, "fear": 75, "happiness": 207, "sadness": 84, "surprise": 249}
