"""tools/pretrain_comparison.py end to end on its smallest settings: every stage is the repository's
own tool run for real (synthetic releases, prepare, pre-training, LMDBs, training, evaluation)."""
import os

import pytest

import train_support
from atnet.common import read_json

SMALLEST = ["--seeds", "0,1", "--macro-preset", "tiny", "--pretrain-iters", "2",
            "--pretrain-set", "batch_size=2", "--pretrain-set", "augment_copies=1",
            "--pretrain-set", "bn_recompute_batches=2", "--epochs", "1", "--batch", "4", "--jobs", "2"]
FOLDS = ("hde-casme2", "hde-samm", "hde-smic")


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("comparison") / "out"
    run = train_support.run_tool("pretrain_comparison", "--out", out, *SMALLEST,
                                 env=train_support.single_threaded_env(), timeout=1500)
    return out, run


@pytest.mark.slow
def test_every_start_and_seed_is_trained_evaluated_and_summarised(comparison):
    out, run = comparison
    document = read_json(os.path.join(out, "comparison.json"))
    assert sorted(document["results"]) == ["macro", "random"]
    for per_seed in document["results"].values():
        assert sorted(per_seed) == ["0", "1"]
        for metrics in per_seed.values():
            assert sorted(metrics) == ["acc", "uar", "uf1"] and all(0 <= v <= 1 for v in metrics.values())
    assert 0 <= document["pretraining_validation_accuracy"] <= 1
    assert document["settings"]["seeds"] == [0, 1] and document["settings"]["epochs"] == 1
    assert len(document["table"]) == 3 and "mean +- sd" in document["table"][0]
    assert "\n".join(document["table"]) in run.stdout
    report = read_json(os.path.join(out, "macro", "pretrain", "report.json"))
    assert report["iterations"] == 2 and report["bn_recompute_batches"] == 2


@pytest.mark.slow
def test_same_schedule_and_only_the_start_differs(comparison):
    """Per seed both starts train the same folds on the same LMDBs with the same net and
    solver settings; the macro start copies every ResNet layer, the random one copies nothing."""
    out, _ = comparison
    runs = os.path.join(out, "micro-tiny", "runs")
    for seed in (0, 1):
        macro, random = (os.path.join(runs, "%s-seed%d" % (start, seed)) for start in ("macro", "random"))
        for fold in FOLDS:
            with open(os.path.join(macro, fold, "train_val.prototxt")) as a, \
                    open(os.path.join(random, fold, "train_val.prototxt")) as b:
                assert a.read() == b.read(), (seed, fold)
            copied = read_json(os.path.join(macro, fold, "weights_report.json"))
            assert {"conv1", "data_bn", "layer_512_1_conv2", "last_scale"} <= {
                item["layer"] for item in copied["copied"]}
            assert copied["kept_fillers"] == ["fc_spatial"] and copied["ignored"] == ["fc_macro"]
            assert not os.path.exists(os.path.join(random, fold, "weights_report.json"))


@pytest.mark.slow
def test_rerun_trains_nothing_and_gives_the_same_table(comparison):
    out, first = comparison
    before = read_json(os.path.join(out, "comparison.json"))
    again = train_support.run_tool("pretrain_comparison", "--out", out, *SMALLEST,
                                   env=train_support.single_threaded_env(), timeout=600)
    assert "already done" in again.stdout and again.stdout.count("0 fold(s) trained") == 4
    assert read_json(os.path.join(out, "comparison.json"))["results"] == before["results"]
