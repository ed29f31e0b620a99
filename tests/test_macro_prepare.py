"""data_prep/prepare_macro.py end to end on the synthetic tiny releases: the command-line
contract, the prepared format, resuming, strict and lenient handling of bad input."""
import csv
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from atnet.common import InputError, read_json
from atnet.macro import synth
from atnet.macro.index import load_macro_index

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTRACT_COLUMNS = ["dataset", "subject", "sequence", "frame", "label", "split", "image"]


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("macro-synth"))
    synth.generate(out, "tiny", seed=0)
    return {dataset: os.path.join(out, name) for dataset, name in synth.ROOT_NAMES.items()}


def prepare(roots, out, *extra):
    command = [sys.executable, os.path.join(REPO, "data_prep", "prepare_macro.py"), "--out", str(out)]
    for dataset, root in roots.items():
        command += ["--" + dataset, root]
    return subprocess.run(command + list(extra), capture_output=True, text=True)


def read_index(out):
    with open(os.path.join(out, "index.csv"), newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def prepared(releases, tmp_path_factory):
    out = tmp_path_factory.mktemp("macro-prepared")
    result = prepare(releases, out, "--workers", "2")
    assert result.returncode == 0, result.stderr
    return out, result


def test_index_contract_images_and_counts(prepared):
    out, result = prepared
    rows = read_index(out)
    with open(os.path.join(out, "index.csv")) as handle:
        header = handle.readline().strip().split(",")
    assert header[:len(CONTRACT_COLUMNS)] == CONTRACT_COLUMNS
    assert {r["dataset"] for r in rows} == {"ckplus", "oulu", "jaffe", "mug"}
    assert {r["label"] for r in rows} == {"anger", "disgust", "fear", "happiness", "sadness", "surprise"}
    assert {r["split"] for r in rows} == {"train", "val"}
    for row in rows[::7]:
        image = cv2.imread(os.path.join(out, row["image"]), cv2.IMREAD_UNCHANGED)
        assert image.shape == (224, 224) and image.dtype == np.uint8
        assert not os.path.isabs(row["image"])
    counts = read_json(os.path.join(out, "counts.json"))
    for dataset, entry in counts["datasets"].items():
        for split in ("train", "val"):
            assert entry["images"][split]["total"] == sum(r["dataset"] == dataset and r["split"] == split
                                                          for r in rows)
    assert "images per class" in result.stdout and "CK+" in result.stdout
    manifest = read_json(os.path.join(out, "manifest.json"))
    assert set(manifest["outputs"]["images"]) == {r["image"] for r in rows}
    assert manifest["settings"]["label_set"] == "basic6" and manifest["settings"]["frames"] == 3


def test_one_face_box_per_sequence_subjects_in_one_split(prepared):
    out, _ = prepared
    rows = read_index(out)
    boxes, splits = {}, {}
    for row in rows:
        key = (row["dataset"], row["subject"], row["sequence"])
        boxes.setdefault(key, set()).add(tuple(row[c] for c in ("box_x", "box_y", "box_w", "box_h")))
        splits.setdefault((row["dataset"], row["subject"]), set()).add(row["split"])
    assert all(len(b) == 1 for b in boxes.values())
    assert all(len(s) == 1 for s in splits.values())
    sources = {(r["dataset"], r["box_source"]) for r in rows}
    assert ("ckplus", "landmarks") in sources and ("ckplus", "detector") in sources
    per_sequence = {}
    for row in rows:
        per_sequence.setdefault((row["dataset"], row["subject"], row["sequence"]), []).append(row)
    assert {len(v) for k, v in per_sequence.items() if k[0] != "jaffe"} == {3}
    loaded, classes = load_macro_index(str(out))
    assert len(loaded) == len(rows) and classes[loaded[0].label_index] == loaded[0].label


def test_rerun_reuses_finished_sequences_and_relabels_without_recomputing(prepared, releases, tmp_path):
    out, _ = prepared
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    again = prepare(releases, copy, "--workers", "1")
    assert again.returncode == 0 and " 0 to prepare" in again.stdout
    assert read_index(copy) == read_index(out)
    reseeded = prepare(releases, copy, "--seed", "5", "--label-set", "3class", "--workers", "1")
    # only the CK+ contempt sequence is new (3class keeps it as negative); nothing else is redone
    assert reseeded.returncode == 0 and " 1 to prepare" in reseeded.stdout
    rows = read_index(copy)
    assert {r["label"] for r in rows} == {"negative", "positive", "surprise"}
    assert [r["split"] for r in rows] != [r["split"] for r in read_index(out)]


def test_strict_stops_naming_the_frame_lenient_skips_and_reports(releases, tmp_path):
    broken = tmp_path / "MUG"
    shutil.copytree(releases["mug"], broken)
    take = os.path.join(broken, "subjects3", "001", "anger")
    take = os.path.join(take, sorted(os.listdir(take))[0])
    frames = sorted(os.listdir(take))
    bad = os.path.join(take, frames[len(frames) // 2])
    with open(bad, "wb") as handle:
        handle.write(b"not a jpeg")
    out = tmp_path / "strict"
    result = prepare({"mug": str(broken)}, out, "--workers", "1")
    assert result.returncode == 2 and bad in result.stderr and "unreadable" in result.stderr
    assert not os.path.exists(os.path.join(out, "index.csv"))
    lenient = prepare({"mug": str(broken)}, tmp_path / "lenient", "--lenient", "--workers", "1")
    assert lenient.returncode == 0, lenient.stderr
    with open(os.path.join(tmp_path, "lenient", "skipped.csv")) as handle:
        skipped = list(csv.DictReader(handle))
    assert len(skipped) == 1 and bad in skipped[0]["reason"]
    assert not any(r["source"] == take for r in read_index(tmp_path / "lenient"))


def test_reader_problems_stop_the_run_before_anything_is_written(releases, tmp_path):
    broken = tmp_path / "JAFFE"
    shutil.copytree(releases["jaffe"], broken)
    with open(os.path.join(broken, "jaffedbase", "KA.ZZ1.999.tiff"), "wb") as handle:
        handle.write(b"x")
    result = prepare({"jaffe": str(broken)}, tmp_path / "out")
    assert result.returncode == 2 and "unknown expression code 'ZZ'" in result.stderr
    assert "KA.ZZ1.999.tiff" in result.stderr and not os.path.exists(tmp_path / "out")
    dry = prepare({"jaffe": str(broken)}, tmp_path / "dry", "--dry-run", "--lenient")
    assert dry.returncode == 0 and "dry run" in dry.stdout and not os.path.exists(tmp_path / "dry")


def test_options_are_checked(releases, tmp_path):
    result = prepare({"jaffe": releases["jaffe"]}, tmp_path / "x", "--neutral")
    assert result.returncode == 2 and "no neutral class" in result.stderr
    seven = prepare({"jaffe": releases["jaffe"]}, tmp_path / "seven", "--label-set", "basic7")
    assert seven.returncode == 0 and "neutral" in {r["label"] for r in read_index(tmp_path / "seven")}
    index = os.path.join(tmp_path, "seven", "index.csv")
    with open(index) as handle:
        lines = handle.readlines()
    fields = lines[1].split(",")
    fields[7] = str((int(fields[7]) + 1) % 7)          # label_index no longer names the label
    with open(index, "w") as handle:
        handle.write(lines[0] + ",".join(fields))
    with pytest.raises(InputError, match="line 2: label .* with label_index"):
        load_macro_index(str(tmp_path / "seven"))
    with open(index, "w") as handle:
        handle.write(lines[0])
    with pytest.raises(InputError, match="no images"):
        load_macro_index(str(tmp_path / "seven"))
