"""The committed prototxt/ tree is exactly what the code generates, uses only
stock BVLC Caffe layer types, follows the BatchNorm phase rule, and each
variant reads only the LMDBs it needs."""
import os
import subprocess
import sys

import pytest
from caffe.proto import caffe_pb2
from google.protobuf import text_format

from atnet import nets, paper
from atnet.reference import reference_files
from atnet.variants import VARIANTS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTOTXT = os.path.join(REPO, "prototxt")

#: The layer types registered by BVLC Caffe's own sources (master 99bd997),
#: minus Python, whose behaviour lives in user code outside Caffe.
STOCK_BVLC_LAYERS = {
    "AbsVal", "Accuracy", "ArgMax", "BNLL", "BatchNorm", "BatchReindex", "Bias", "Clip", "Concat",
    "ContrastiveLoss", "Convolution", "Crop", "Data", "Deconvolution", "Dropout", "DummyData",
    "ELU", "Eltwise", "Embed", "EuclideanLoss", "Exp", "Filter", "Flatten", "HDF5Data",
    "HDF5Output", "HingeLoss", "Im2col", "ImageData", "InfogainLoss", "InnerProduct", "Input",
    "LRN", "LSTM", "LSTMUnit", "Log", "MVN", "MemoryData", "MultinomialLogisticLoss", "PReLU",
    "Parameter", "Pooling", "Power", "RNN", "ReLU", "Reduction", "Reshape", "SPP", "Scale",
    "Sigmoid", "SigmoidCrossEntropyLoss", "Silence", "Slice", "Softmax", "SoftmaxWithLoss",
    "Split", "Swish", "TanH", "Threshold", "Tile", "WindowData",
}


def committed_nets():
    for variant in VARIANTS:
        for kind in ("train_val", "deploy"):
            path = os.path.join(PROTOTXT, variant, kind + ".prototxt")
            with open(path) as handle:
                yield path, text_format.Parse(handle.read(), caffe_pb2.NetParameter())


def test_regenerating_prototxt_gives_the_committed_files(tmp_path):
    subprocess.run([sys.executable, os.path.join(REPO, "tools", "make_prototxt.py"),
                    "--out", str(tmp_path)], check=True, capture_output=True, cwd="/")
    generated = {os.path.relpath(os.path.join(root, name), tmp_path)
                 for root, _, names in os.walk(tmp_path) for name in names}
    assert generated == set(reference_files())
    for relative in sorted(generated):
        with open(os.path.join(tmp_path, relative)) as new, open(os.path.join(PROTOTXT, relative)) as old:
            assert new.read() == old.read(), "prototxt/%s is stale: run tools/make_prototxt.py" % relative


def test_every_committed_prototxt_uses_only_stock_bvlc_layers(caffe):
    built = set(caffe.layer_type_list())
    for path, net in committed_nets():
        types = nets.layer_types(net)
        assert types <= STOCK_BVLC_LAYERS, "%s: %s" % (path, types - STOCK_BVLC_LAYERS)
        assert types <= built, "%s: %s not in this Caffe build" % (path, types - built)


def test_batch_norm_phase_rule():
    """train_val: Caffe's phase default (batch stats in TRAIN, stored in TEST); deploy: stored stats."""
    for path, net in committed_nets():
        norms = [layer for layer in net.layer if layer.type == "BatchNorm"]
        for layer in norms:
            if path.endswith("deploy.prototxt"):
                assert layer.batch_norm_param.use_global_stats, (path, layer.name)
            else:
                assert not layer.batch_norm_param.HasField("use_global_stats"), (path, layer.name)


def test_each_variant_reads_only_the_lmdbs_it_needs():
    temporal = nets.train_val("temporal", train_flow_lmdb="f", test_flow_lmdb="tf")
    assert [layer.data_param.source for layer in temporal.layer if layer.type == "Data"] == ["f", "tf"]
    assert list(temporal.layer[0].top) == [nets.FLOW_BLOB, nets.LABEL_BLOB]
    for variant in ("spatial", "micro_attention"):
        net = nets.train_val(variant, train_apex_lmdb="a", test_apex_lmdb="ta", batch_size=4)
        data = [layer for layer in net.layer if layer.type == "Data"]
        assert [(layer.data_param.source, layer.data_param.batch_size) for layer in data] == [("a", 4), ("ta", 1)]
    fusion = nets.train_val("fusion", "a", "f")
    assert [list(layer.top) for layer in fusion.layer if layer.type == "Data"] == [["data", "label"], ["flow"]]
    with pytest.raises(ValueError, match="flow"):
        nets.train_val("fusion", train_apex_lmdb="a")
    with pytest.raises(ValueError, match="unknown network variant"):
        nets.deploy("lstm_only")


def test_layer_names_follow_resnet10_cvgj():
    names = {layer.name for layer in nets.deploy("spatial").layer}
    expected = {"data_bn", "data_scale", "conv1", "conv1_bn", "conv1_scale", "conv1_relu", "conv1_pool",
                "layer_64_1_conv1", "layer_64_1_bn2", "layer_64_1_conv2", "layer_64_1_sum",
                "last_bn", "last_scale", "last_relu", "global_pool"}
    for width in (128, 256, 512):
        expected |= {"layer_%d_1_%s" % (width, part) for part in (
            "bn1", "scale1", "relu1", "conv1", "bn2", "scale2", "relu2", "conv2", "conv_expand", "sum")}
    assert expected <= names


def _layer(net, name):
    return next(layer for layer in net.layer if layer.name == name)


def test_fillers_and_learning_rate_multipliers():
    net = nets.train_val("fusion", "a", "f")
    conv1 = _layer(net, "conv1")
    assert conv1.convolution_param.weight_filler.variance_norm == caffe_pb2.FillerParameter.FAN_OUT
    assert conv1.convolution_param.bias_term and conv1.convolution_param.bias_filler.value == 0
    assert [(p.lr_mult, p.decay_mult) for p in conv1.param] == [(1, 1), (2, 1)]
    for layer in net.layer:
        if layer.type == "Convolution" and layer.name != "conv1":
            assert layer.convolution_param.weight_filler.type == "msra", layer.name
            assert not layer.convolution_param.bias_term, layer.name
        if layer.type == "Scale" and len(layer.bottom) == 1:
            assert [(p.lr_mult, p.decay_mult) for p in layer.param] == [(1, 1), (2, 1)], layer.name
        if layer.type == "BatchNorm":
            assert not layer.param, "BVLC Caffe fixes lr_mult 0 on BatchNorm blobs itself"
    for name in ("lstm1", "lstm2"):
        recurrent = _layer(net, name).recurrent_param
        assert (recurrent.num_output, recurrent.weight_filler.type, recurrent.bias_filler.value) == (512, "gaussian", 0)
        assert abs(recurrent.weight_filler.std - 0.1) < 1e-7
    head = _layer(net, "fc_fusion")
    assert head.inner_product_param.weight_filler.type == "xavier"
    assert abs(head.inner_product_param.bias_filler.value - 0.2) < 1e-7
    assert [(p.lr_mult, p.decay_mult) for p in head.param] == [(1, 1), (2, 0)]
    assert abs(_layer(net, "drop").dropout_param.dropout_ratio - 0.5) < 1e-7
    assert "drop" not in {layer.name for layer in nets.deploy("micro_attention").layer}


def test_solver_template_is_the_paper_schedule_for_744_samples():
    with open(os.path.join(PROTOTXT, "solver.prototxt")) as handle:
        template = text_format.Parse(handle.read(), caffe_pb2.SolverParameter())
    assert (template.stepsize, template.max_iter, template.snapshot) == (465, 2325, 2325)
    assert template.net == "fusion/train_val.prototxt" and template.HasField("random_seed")


def test_every_variant_names_its_rows_of_both_paper_tables():
    """run.json's method/setting come from the variant's table_row: each must be a printed row."""
    rows = paper.load_paper_rows()
    for variant in VARIANTS.values():
        for table in ("II", "III"):
            assert paper.paper_results(rows, table, *variant.table_row), (variant.name, table)
    assert paper.MODEL_ROWS == {name: variant.table_row for name, variant in VARIANTS.items()}
