"""tools/pretrain.py for real (pycaffe, LMDB): the run folder, resume, the report, the checks."""
import os

import pytest

import macro_support as fx
import train_support
from atnet.common import read_json
from atnet.macro.pretrain import PRETRAINED_MODEL, REPORT_FILE, training_plan
from atnet.macro.pretrain_config import load_pretrain_config
from atnet.weights import read_caffemodel

QUICK = ["--iters", "2", "--set", "batch_size=2", "--set", "augment_copies=1", "--set", "snapshot_interval=1",
         "--no-progress"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("macro-prepared")
    fx.make_macro_prepared(str(folder))
    return folder


@pytest.fixture(scope="module")
def pretrained(prepared, tmp_path_factory):
    run = tmp_path_factory.mktemp("pretrain") / "run"
    train_support.run_tool("pretrain", "--prepared", prepared, "--out", run, *QUICK,
                           env=train_support.single_threaded_env())
    return run


def test_run_folder_model_and_report(pretrained):
    for name in ("run.json", "config.json", "job.json", "train_val.prototxt", "deploy.prototxt",
                 "solver.prototxt", "versions.json", "command.txt", "train.log", "train_curve.csv",
                 PRETRAINED_MODEL, REPORT_FILE, "DONE"):
        assert os.path.isfile(os.path.join(pretrained, name)), name
    model = read_caffemodel(os.path.join(pretrained, PRETRAINED_MODEL))
    names = {layer.name for layer in model.layer if len(layer.blobs)}
    assert {"conv1", "data_bn", "layer_64_1_conv1", "layer_512_1_conv_expand", "last_bn", "fc_macro"} <= names
    fc = next(layer for layer in model.layer if layer.name == "fc_macro")
    assert list(fc.blobs[0].shape.dim) == [6, 512]
    report = read_json(os.path.join(pretrained, REPORT_FILE))
    assert report["classes"] == ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
    assert set(report["datasets"]) == {"ckplus", "mug", "all"} and report["validation_images"] == 12
    confusion = report["datasets"]["all"]["confusion"]
    assert len(confusion) == 6 and sum(map(sum, confusion)) == 12 and report["iterations"] == 2
    solver = open(os.path.join(pretrained, "solver.prototxt")).read()
    assert "max_iter: 2" in solver and "momentum: 0.9" in solver and "base_lr: 0.01" in solver
    assert "facia_expression" in solver
    lmdb = read_json(os.path.join(pretrained, "lmdb", "manifest.json"))
    assert lmdb["records"] == 2 * 24 and lmdb["originals"] == 24      # 24 training images, one copy each


def _blobs_by_layer(path):
    import numpy as np
    model = read_caffemodel(path)
    return {layer.name: (layer.type, [np.array(blob.data) for blob in layer.blobs])
            for layer in model.layer if len(layer.blobs)}


def test_batch_norm_statistics_recomputed_from_the_final_weights(prepared, pretrained, tmp_path):
    """bn_recompute_batches=3: the same training (same seed, one thread), then every BatchNorm's
    running sums re-estimated from 3 batches; every other blob is the final iterate's."""
    import numpy as np
    run = tmp_path / "run"
    train_support.run_tool("pretrain", "--prepared", prepared, "--out", run, *QUICK,
                           "--set", "bn_recompute_batches=3", env=train_support.single_threaded_env())
    plain, recomputed = (_blobs_by_layer(os.path.join(r, PRETRAINED_MODEL)) for r in (pretrained, run))
    assert sorted(plain) == sorted(recomputed)
    norms = [name for name, (kind, _) in plain.items() if kind == "BatchNorm"]
    assert len(norms) == 10      # data_bn, conv1_bn, last_bn and the blocks' own
    for name, (kind, blobs) in plain.items():
        if kind != "BatchNorm":
            assert all(np.array_equal(a, b) for a, b in zip(blobs, recomputed[name][1])), name
            continue
        # Caffe's count blob: 1 + 0.999 + ... over the batches that made the statistics.
        assert np.isclose(blobs[2][0], 1.999) and np.isclose(recomputed[name][1][2][0], 1 + 0.999 + 0.999 ** 2)
        assert not np.array_equal(blobs[0], recomputed[name][1][0]), name
    assert read_json(os.path.join(run, REPORT_FILE))["bn_recompute_batches"] == 3


def test_rerun_is_skipped_other_settings_refused(prepared, pretrained):
    again = train_support.run_tool("pretrain", "--prepared", prepared, "--out", pretrained, *QUICK)
    assert "already done" in again.stdout
    other = train_support.run_tool("pretrain", "--prepared", prepared, "--out", pretrained, *QUICK[:-1],
                                   "--set", "base_lr=0.1", check=False)
    assert other.returncode == 2 and "base_lr" in other.stderr and "other settings" in other.stderr


def test_bad_keys_and_weights_are_clear_errors(prepared, tmp_path):
    unknown = train_support.run_tool("pretrain", "--prepared", prepared, "--out", tmp_path / "a",
                                     "--set", "epochs=3", check=False)
    assert unknown.returncode == 2 and "unknown pre-training key 'epochs'" in unknown.stderr
    text = tmp_path / "net.prototxt"
    text.write_text("name: 'x'\n")
    bad = train_support.run_tool("pretrain", "--prepared", prepared, "--out", tmp_path / "b", "--weights", text,
                                 *QUICK, check=False)
    assert bad.returncode == 2 and "not a binary .caffemodel" in bad.stderr


def test_training_plan_copies_balance_and_seeded_order(prepared):
    from atnet.macro.index import load_macro_index
    rows, _ = load_macro_index(str(prepared))
    rows = [r for r in rows if not (r.label == "fear" and r.subject.endswith("2"))]   # fear: fewer images
    config, _ = load_pretrain_config(assignments=["augment_copies=3", "balance=oversample"])
    plan = training_plan(rows, config)
    per_class = {}
    for row, copy in plan:
        per_class[row.label] = per_class.get(row.label, 0) + 1
    assert len(set(per_class.values())) == 1 and per_class["anger"] == 4 * 4
    assert training_plan(rows, config) == plan
    reseeded, _ = load_pretrain_config(assignments=["augment_copies=3", "balance=oversample", "seed=1"])
    assert training_plan(rows, reseeded) != plan
    plain, _ = load_pretrain_config(assignments=["augment=none"])
    assert {copy for _, copy in training_plan(rows, plain)} == {0}


@pytest.mark.slow
def test_fine_tuning_copies_every_resnet_layer_not_the_head(pretrained, tmp_path):
    """A fold trained with --weights pretrained.caffemodel: its weights report shows every ResNet
    layer copied, the micro head (and Micro-Attention's own units) keeping their fillers, fc_macro ignored."""
    import caffe
    from atnet import nets
    from atnet.prototxt_io import load_net
    prepared = tmp_path / "micro"
    train_support.make_prepared(str(prepared), train_support.small_counts())
    train_support.run_tool("make_lmdb", "--prepared", prepared, "--protocol", "hde", "--out", tmp_path / "lmdb",
                           "--folds", "hde-smic")
    spatial_net = load_net(nets.deploy("spatial"), caffe.TEST)
    resnet = {name for name, blobs in spatial_net.params.items() if name != "fc_spatial"}
    assert {"conv1", "data_bn", "layer_512_1_conv2", "last_scale"} <= resnet
    for model, own in (("spatial", {"fc_spatial"}),
                       ("micro_attention", {"fc_micro_attention"} | {"mask_Concat_%d_1x1%s" % (c, s)
                                                                    for c in (64, 128, 256, 512)
                                                                    for s in ("", "_one")})):
        run = tmp_path / model
        train_support.run_tool("train", "--model", model, "--protocol", "hde", "--lmdb", tmp_path / "lmdb",
                               "--out", run, "--folds", "hde-smic", "--iters", "1", "--set", "batch_size=2",
                               "--weights", os.path.join(pretrained, PRETRAINED_MODEL), "--no-progress",
                               env=train_support.single_threaded_env())
        report = read_json(os.path.join(run, "hde-smic", "weights_report.json"))
        assert {item["layer"] for item in report["copied"]} == resnet
        assert set(report["kept_fillers"]) == own
        assert report["ignored"] == ["fc_macro"]
