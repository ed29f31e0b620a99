"""tools/make_lmdb.py and atnet.lmdb_folds on prepared directories with the composite's
exact per-subject counts: 68 CDE folds whose test sets are exactly one subject's samples
and whose training sets hold none of them, 3 HDE folds, balanced training sets, records
that follow the manifest, byte-identical LMDBs for a seed, resumable and refusing builds."""
import json
import os

import numpy as np
import pytest

import train_support
from atnet import augment, lmdb_folds
from atnet.common import CLASS_NAMES, InputError, sha256_file
from atnet.config import load_config
from atnet.data.adm import move_valid_rows_to_end
from atnet.data.prepared import load_apex_image, load_feature, load_index
from atnet.records import clip_key_of, decode_apex, decode_flow, read_record_pairs, read_records

COMPOSITE_TOTALS = {"casme2": 145, "samm": 133, "smic": 164}


@pytest.fixture(scope="module")
def composite(tmp_path_factory):
    """A prepared directory with the MEGC2019 composite's 442 samples (random pixels)."""
    directory = str(tmp_path_factory.mktemp("composite"))
    train_support.make_prepared(directory, train_support.composite_counts())
    return directory


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("small"))
    train_support.make_prepared(directory, train_support.small_counts(), seed=3)
    return directory


def _subject_of(key):
    dataset, subject, _ = key.split("-", 2)
    return dataset, subject


def test_cde_plans_of_the_composite(composite):
    rows = load_index(composite)
    assert len(rows) == 442
    config, _ = load_config()
    plans = lmdb_folds.plan_folds(rows, "cde", config)
    counts = train_support.composite_counts()
    assert len(plans) == 68 == len(counts)
    assert [p.name for p in plans][:2] == ["cde-casme2-sub01", "cde-casme2-sub02"]
    all_keys = {r.key for r in rows}
    for plan in plans:
        _, dataset, subject = plan.name.split("-", 2)
        held_out = {r.key for r in rows if (r.dataset, r.subject) == (dataset, subject)}
        test_keys = [r.key for r in plan.test]
        train_keys = {e.row.key for e in plan.train}
        assert set(test_keys) == held_out and len(test_keys) == sum(counts[(dataset, subject)])
        assert not train_keys & held_out, plan.name
        assert train_keys == all_keys - held_out, plan.name  # every other sample is used
        _assert_balanced(plan)


def _assert_balanced(plan):
    """Equal class counts at the majority class's size; originals once, copies only of minorities."""
    originals = [e.row for e in plan.train if not e.copy]
    per_class = np.bincount([e.row.label for e in plan.train], minlength=3)
    assert list(np.bincount([r.label for r in originals], minlength=3)) == list(plan.original_counts)
    assert len({r.key for r in originals}) == len(originals)
    assert set(per_class[per_class > 0]) == {max(plan.original_counts)}, (plan.name, per_class)
    assert all(plan.original_counts[e.row.label] < max(plan.original_counts) for e in plan.train if e.copy)
    assert not any(e.augmentation != augment.IDENTITY for e in plan.train if not e.copy)


def test_hde_plans_of_the_composite(composite):
    rows = load_index(composite)
    config, _ = load_config()
    plans = lmdb_folds.plan_folds(rows, "hde", config)
    assert [p.name for p in plans] == ["hde-casme2", "hde-samm", "hde-smic"]
    for plan in plans:
        held_out = plan.name.split("-")[1]
        assert len(plan.test) == COMPOSITE_TOTALS[held_out]
        assert {r.dataset for r in plan.test} == {held_out}
        assert held_out not in {e.row.dataset for e in plan.train}
        _assert_balanced(plan)
    # The release's first-fold arithmetic (atnet.md): 248 per class -> 744.
    cde, _ = load_config()
    first = lmdb_folds.plan_folds(rows, "cde", cde, ["cde-casme2-sub01"])[0]
    assert len(first.train) == 744 and first.original_counts == (248, 108, 83)


def test_dry_run_lists_all_68_folds_and_writes_nothing(composite, tmp_path):
    out = tmp_path / "lmdb"
    result = train_support.run_tool("make_lmdb", "--prepared", composite, "--protocol", "cde", "--out", out,
                                    "--dry-run")
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 + 68
    assert lines[1].split()[:4] == ["cde-casme2-sub01", "439", "248/108/83", "744"]
    assert not out.exists()


def test_a_composite_fold_follows_its_plan(composite, tmp_path):
    out = tmp_path / "lmdb"
    train_support.call_tool("make_lmdb", "--prepared", composite, "--protocol", "cde", "--out", out,
                           "--folds", "cde-samm-19", "--seed", 5)
    assert sorted(os.listdir(out)) == ["cde-samm-19", "folds.json", "make_lmdb.log"]
    folds = json.loads((out / "folds.json").read_text())
    assert len(folds["folds"]) == 68 and folds["parameters"]["seed"] == 5
    manifest = json.loads((out / "cde-samm-19" / "manifest.json").read_text())
    config, _ = load_config(None, ["seed=5"])
    plan = lmdb_folds.plan_folds(load_index(composite), "cde", config, ["cde-samm-19"])[0]
    assert [s["key"] for s in manifest["train"]["samples"]] == [e.row.key for e in plan.train]
    assert manifest["train"]["class_counts"] == [250, 250, 250] and manifest["test"]["records"] == 1
    assert manifest["versions"]["caffe"]["path"] and manifest["versions"]["packages"]["lmdb"]  # atnet.provenance
    _check_records_follow_manifest(composite, str(out / "cde-samm-19"), "centred")


def test_same_seed_gives_byte_identical_lmdbs(small, tmp_path):
    outs = [tmp_path / name for name in ("a", "b", "other-seed")]
    for out, seed in zip(outs, (5, 5, 6)):
        train_support.call_tool("make_lmdb", "--prepared", small, "--protocol", "cde", "--out", out,
                               "--folds", "cde-casme2-sub01,cde-smic-s12", "--seed", seed)
    for fold in ("cde-casme2-sub01", "cde-smic-s12"):
        manifests = [json.loads((out / fold / "manifest.json").read_text()) for out in outs]
        assert manifests[0] == manifests[1] and manifests[0]["checksums"] != manifests[2]["checksums"]
        for stream in lmdb_folds.STREAMS:
            first, second = [(out / fold / stream / "data.mdb").read_bytes() for out in outs[:2]]
            assert first == second, (fold, stream)


def _check_records_follow_manifest(prepared, fold_dir, flow_rows):
    """Every record is the manifest's sample at that position: its (augmented) apex, its feature, its label."""
    rows = {r.key: r for r in load_index(prepared)}
    images, features = {}, {}
    manifest = json.loads(open(os.path.join(fold_dir, "manifest.json")).read())
    for split in ("train", "test"):
        samples = manifest[split]["samples"]
        pairs = list(read_record_pairs(os.path.join(fold_dir, split + "_apex"),
                                       os.path.join(fold_dir, split + "_flow")))
        assert len(pairs) == len(samples) == manifest[split]["records"]
        for (key, label, apex, flow), sample in zip(pairs, samples):
            row = rows[clip_key_of(key)]
            assert row.key == sample["key"] and label == row.label == sample["label"]
            if row.key not in images:
                images[row.key] = load_apex_image(prepared, row)
                feature = load_feature(prepared, row)
                features[row.key] = move_valid_rows_to_end(feature) if flow_rows == "release" else feature
            change = augment.Augmentation(**sample["augmentation"]) if sample.get("augmentation") else augment.IDENTITY
            np.testing.assert_array_equal(apex, augment.apply(images[row.key], change))
            np.testing.assert_array_equal(flow, features[row.key])
        assert manifest[split]["class_counts"] == list(np.bincount([s["label"] for s in samples], minlength=3))
    for stream, digest in manifest["checksums"].items():
        assert sha256_file(os.path.join(fold_dir, stream, "data.mdb")) == digest


def test_rerun_skips_refuses_other_parameters_and_force_rebuilds(small, tmp_path, capsys):
    out = tmp_path / "lmdb"
    args = ("--prepared", small, "--protocol", "hde", "--out", out)
    train_support.call_tool("make_lmdb", *args)
    assert "3 fold(s) built" in capsys.readouterr().out
    manifest = out / "hde-samm" / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    train_support.call_tool("make_lmdb", *args)
    assert "0 fold(s) built, 3 already complete" in capsys.readouterr().out
    assert manifest.stat().st_mtime_ns == stamp
    with pytest.raises(InputError, match="augment: 'paper' -> 'none'"):
        train_support.call_tool("make_lmdb", *args, "--augment", "none")
    assert manifest.stat().st_mtime_ns == stamp
    # Tampering with one fold is caught per fold, by name.
    data = json.loads(manifest.read_text())
    data["parameters"]["seed"] = 99
    manifest.write_text(json.dumps(data))
    with pytest.raises(InputError, match="fold hde-samm"):
        train_support.call_tool("make_lmdb", *args)
    train_support.call_tool("make_lmdb", *args, "--force")
    assert "1 fold(s) built, 2 already complete" in capsys.readouterr().out
    _check_records_follow_manifest(small, str(out / "hde-samm"), "centred")
    for plan_name in ("hde-casme2", "hde-smic"):
        counts = json.loads((out / plan_name / "manifest.json").read_text())["train"]["class_counts"]
        assert len(set(counts)) == 1, counts


def test_release_layout_and_no_augmentation(small, tmp_path):
    out = tmp_path / "lmdb"
    train_support.call_tool("make_lmdb", "--prepared", small, "--protocol", "cde", "--out", out,
                            "--folds", "cde-smic-s03", "--augment", "none", "--flow-rows", "release")
    fold = out / "cde-smic-s03"
    manifest = json.loads((fold / "manifest.json").read_text())
    assert manifest["train"]["copies"] > 0
    assert all(s["augmentation"] is None for s in manifest["train"]["samples"])
    assert manifest["parameters"]["flow_rows"] == "release"
    _check_records_follow_manifest(small, str(fold), "release")
    # Release layout: zero rows first, then the valid ones.
    _, feature, _ = next(read_records(str(fold / "test_flow"), decode_flow))
    nonzero = np.flatnonzero(np.any(feature != 0, axis=1))
    assert nonzero[-1] == 63 and np.all(np.diff(nonzero) == 1)


def test_paper_augmentation_makes_copies_differ(small, tmp_path):
    out = tmp_path / "lmdb"
    train_support.call_tool("make_lmdb", "--prepared", small, "--protocol", "cde", "--out", out,
                            "--folds", "cde-casme2-sub01")
    fold = out / "cde-casme2-sub01"
    manifest = json.loads((fold / "manifest.json").read_text())
    samples = manifest["train"]["samples"]
    images = [image for _, image, _ in read_records(str(fold / "train_apex"), decode_apex)]
    by_key = {}
    for sample, image in zip(samples, images):
        by_key.setdefault(sample["key"], []).append((sample, image.tobytes()))
    changed = [s for s in samples if s["copy"] and s["augmentation"]]
    assert changed, "no copy was augmented"
    for entries in by_key.values():
        original = [img for s, img in entries if not s["copy"]]
        for sample, image in entries:
            if sample["copy"] and sample["augmentation"]:
                assert image != original[0]
    _check_records_follow_manifest(small, str(fold), "centred")


def test_missing_file_is_named_and_nothing_is_written(small, tmp_path):
    broken = tmp_path / "prepared"
    os.makedirs(broken)
    rows = load_index(small)
    for row in rows:
        for relative in (row.apex_image, row.flow):
            os.makedirs(os.path.dirname(broken / relative), exist_ok=True)
            os.symlink(os.path.join(small, relative), broken / relative)
    (broken / "index.csv").write_text(open(os.path.join(small, "index.csv")).read())
    os.unlink(broken / rows[5].flow)
    out = tmp_path / "lmdb"
    result = train_support.run_tool("make_lmdb", "--prepared", broken, "--protocol", "cde", "--out", out, check=False)
    assert result.returncode == 2 and rows[5].flow in result.stderr and rows[5].key in result.stderr
    assert not out.exists()
    with pytest.raises(InputError, match="cde-casme2-sub99"):
        train_support.call_tool("make_lmdb", "--prepared", small, "--protocol", "cde", "--out", out,
                                "--folds", "cde-casme2-sub99")
    assert not out.exists()


def test_class_names_match_labels():
    assert CLASS_NAMES == ("negative", "positive", "surprise")  # manifests count in this order


def test_a_fold_without_training_samples_is_refused():
    config, _ = load_config()
    rows = [type("Row", (), dict(dataset="casme2", subject="sub01", sample="s%d" % i, label=i % 3,
                                 key="casme2-sub01-s%d" % i))() for i in range(3)]
    with pytest.raises(InputError, match="no training sample"):
        lmdb_folds.plan_folds(rows, "cde", config)
