"""Protocol folds and class balancing on a synthetic composite with the real per-subject counts."""
import collections
import types

import numpy as np
import pytest

from atnet.common import InputError
from atnet.folds import (balance_by_oversampling, class_counts, make_folds, parse_shard, sample_key,
                         select_folds, shard)

# datasets.md: (negative, positive, surprise) per subject of the MEGC2019 composite.
COMPOSITE = {
    "casme2": {"sub01": (2, 1, 0), "sub02": (5, 1, 3), "sub03": (4, 0, 1), "sub04": (2, 0, 0),
               "sub05": (0, 1, 5), "sub06": (1, 1, 2), "sub07": (5, 0, 0), "sub08": (1, 0, 0),
               "sub09": (5, 5, 0), "sub11": (4, 0, 0), "sub12": (5, 2, 4), "sub13": (0, 2, 0),
               "sub14": (0, 3, 0), "sub15": (1, 1, 1), "sub16": (1, 2, 0), "sub17": (23, 7, 1),
               "sub19": (3, 3, 5), "sub20": (2, 0, 0), "sub21": (1, 0, 0), "sub22": (2, 0, 0),
               "sub23": (7, 1, 0), "sub24": (2, 0, 1), "sub25": (3, 0, 2), "sub26": (9, 2, 0)},
    "samm": {"6": (9, 0, 2), "7": (1, 5, 2), "9": (3, 0, 1), "10": (4, 0, 0), "11": (13, 7, 0),
             "12": (2, 0, 1), "13": (6, 0, 0), "14": (2, 7, 1), "15": (2, 0, 1), "16": (2, 1, 2),
             "17": (3, 0, 1), "18": (2, 0, 1), "19": (0, 1, 0), "20": (2, 2, 0), "21": (2, 0, 0),
             "22": (3, 2, 0), "23": (1, 0, 0), "24": (1, 0, 0), "26": (9, 0, 0), "28": (1, 0, 2),
             "30": (3, 0, 0), "31": (1, 0, 0), "32": (4, 0, 0), "33": (4, 1, 0), "34": (3, 0, 0),
             "35": (7, 0, 1), "36": (1, 0, 0), "37": (1, 0, 0)},
    "smic": {"s01": (3, 2, 1), "s02": (0, 1, 5), "s03": (22, 11, 6), "s04": (10, 4, 5), "s05": (1, 0, 1),
             "s06": (2, 0, 2), "s08": (9, 4, 0), "s09": (0, 1, 3), "s11": (3, 3, 1), "s12": (0, 8, 1),
             "s13": (0, 10, 0), "s14": (3, 2, 5), "s15": (1, 1, 2), "s18": (2, 0, 5), "s19": (0, 1, 1),
             "s20": (14, 3, 5)},
}


def composite_samples():
    """442 index-row-like dicts; shuffled so that 'input order' is not sorted order."""
    rows = []
    for dataset, subjects in COMPOSITE.items():
        for subject, counts in subjects.items():
            for label, count in enumerate(counts):
                for i in range(count):
                    rows.append({"dataset": dataset, "subject": subject,
                                 "sample": "%s_c%d_%02d" % (subject, label, i), "label": str(label)})
    order = np.random.default_rng(7).permutation(len(rows))
    return [rows[i] for i in order]


@pytest.fixture(scope="module")
def samples():
    return composite_samples()


def test_composite_fixture_matches_datasets_md(samples):
    assert len(samples) == 442
    assert class_counts(samples) == [250, 109, 83]


def test_cde_has_68_folds_in_dataset_then_natural_subject_order(samples):
    folds = make_folds(samples, "cde")
    names = [f.name for f in folds]
    expected = ["cde-%s-%s" % (d, s) for d, subjects in COMPOSITE.items() for s in subjects]
    assert len(folds) == 68
    assert names == expected  # COMPOSITE lists subjects in natural order: samm 6, 7, 9, 10, ...
    assert names.index("cde-samm-9") < names.index("cde-samm-10")


def test_cde_test_sets_are_exactly_each_subject_and_train_sets_exclude_it(samples):
    keys = [sample_key(s) for s in samples]
    for fold in make_folds(samples, "cde"):
        _, dataset, subject = fold.name.split("-", 2)
        subject_rows = [s for s in samples if (s["dataset"], s["subject"]) == (dataset, subject)]
        assert fold.test == subject_rows  # the same objects, in input order
        assert class_counts(fold.test) == list(COMPOSITE[dataset][subject])
        assert not any((s["dataset"], s["subject"]) == (dataset, subject) for s in fold.train)
        assert [sample_key(s) for s in fold.train] == [k for k, s in zip(keys, samples) if s not in subject_rows]


def test_every_sample_is_tested_exactly_once(samples):
    for protocol in ("cde", "hde"):
        tested = collections.Counter(sample_key(s) for f in make_folds(samples, protocol) for s in f.test)
        assert sorted(tested) == sorted(sample_key(s) for s in samples)
        assert set(tested.values()) == {1}


def test_hde_holds_out_one_dataset_per_fold(samples):
    folds = make_folds(samples, "hde")
    assert [f.name for f in folds] == ["hde-casme2", "hde-samm", "hde-smic"]
    assert [len(f.test) for f in folds] == [145, 133, 164]
    assert [len(f.train) for f in folds] == [297, 309, 278]
    for fold in folds:
        held_out = fold.name.split("-")[1]
        assert {s["dataset"] for s in fold.test} == {held_out}
        assert held_out not in {s["dataset"] for s in fold.train}


def test_balanced_training_sets_have_equal_class_counts(samples):
    for protocol in ("cde", "hde"):
        for fold in make_folds(samples, protocol):
            balanced = balance_by_oversampling(fold.train, np.random.default_rng(0))
            counts = class_counts(balanced)
            assert counts == [max(class_counts(fold.train))] * 3, fold.name
            assert balanced[:len(fold.train)] == fold.train  # originals kept, in order
            train_keys = {sample_key(s) for s in fold.train}
            assert {sample_key(s) for s in balanced} == train_keys  # copies only of training samples


def test_first_casme2_fold_balances_to_the_release_size(samples):
    first = make_folds(samples, "cde")[0]
    assert first.name == "cde-casme2-sub01"
    balanced = balance_by_oversampling(first.train, np.random.default_rng(0))
    assert class_counts(balanced) == [248, 248, 248] and len(balanced) == 744


def test_oversampling_is_determined_by_the_seed(samples):
    train = make_folds(samples, "cde")[0].train
    runs = [[sample_key(s) for s in balance_by_oversampling(train, np.random.default_rng(seed))]
            for seed in (3, 3, 4)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_oversampling_follows_the_documented_draw():
    rows = [{"dataset": "smic", "subject": "s01", "sample": "x%d" % i, "label": label}
            for i, label in enumerate([0, 0, 0, 0, 1, 2, 1])]
    balanced = balance_by_oversampling(rows, np.random.default_rng(11))
    rng = np.random.default_rng(11)
    positives, surprises = [rows[4], rows[6]], [rows[5]]
    expected = (rows + [positives[i] for i in rng.integers(0, 2, size=2)]
                + [surprises[i] for i in rng.integers(0, 1, size=3)])
    assert balanced == expected


def test_objects_with_attributes_work_like_dicts():
    objects = [types.SimpleNamespace(dataset=d, subject=s, sample=s + "_a", label=0)
               for d, s in [("smic", "s02"), ("casme2", "sub10"), ("casme2", "sub9"), ("samm", "6")]]
    assert [f.name for f in make_folds(objects, "cde")] == [
        "cde-casme2-sub9", "cde-casme2-sub10", "cde-samm-6", "cde-smic-s02"]
    assert sample_key(objects[3]) == "samm-6-6_a"


@pytest.mark.parametrize("rows, message", [
    ([{"dataset": "casme", "subject": "sub01", "sample": "a", "label": 0}], "unknown dataset 'casme'"),
    ([{"dataset": "samm", "subject": "6", "sample": "a", "label": 0}] * 2, "samm-6-a occurs more than once"),
])
def test_bad_samples_are_refused(rows, message):
    with pytest.raises(InputError, match=message):
        make_folds(rows, "cde")


def test_unknown_protocol_and_bad_labels_are_refused(samples):
    with pytest.raises(InputError, match="unknown protocol 'loso'"):
        make_folds(samples, "loso")
    with pytest.raises(InputError, match="smic-s01-a: label '7'"):
        balance_by_oversampling([{"dataset": "smic", "subject": "s01", "sample": "a", "label": "7"}],
                                np.random.default_rng(0))


def test_select_folds_keeps_protocol_order_and_names_unknown_folds(samples):
    folds = make_folds(samples, "cde")
    chosen = select_folds(folds, ["cde-smic-s20", "cde-casme2-sub02,cde-samm-6"])
    assert [f.name for f in chosen] == ["cde-casme2-sub02", "cde-samm-6", "cde-smic-s20"]
    assert select_folds(folds, None) == folds
    with pytest.raises(InputError, match="cde-samm-006"):
        select_folds(folds, ["cde-samm-6", "cde-samm-006"])


def test_shards_are_disjoint_round_robin_and_cover_all_folds(samples):
    folds = make_folds(samples, "cde")
    shards = [shard(folds, k, 5) for k in range(1, 6)]
    assert [f.name for f in shards[1][:2]] == [folds[1].name, folds[6].name]
    assert sorted((f.name for s in shards for f in s)) == sorted(f.name for f in folds)
    assert sum(len(s) for s in shards) == 68
    assert parse_shard("2/4") == (2, 4)
    for text in ("0/4", "5/4", "2-4", "a/b"):
        with pytest.raises(InputError, match="--shard"):
            parse_shard(text)
