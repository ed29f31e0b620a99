"""Fault 2 of issue 12: a wrong ``--weights`` was silently ignored.

An empty file, a text file, or a valid caffemodel none of whose layer names
match gave exit 0 and a model byte-identical to training without weights.
atnet.weights.check_initial_weights checks a file the way Caffe's
CopyTrainedLayersFrom copies it, against the real pycaffe net, and refuses
what Caffe would ignore or abort on.
"""
import os

import numpy as np
import pytest

from atnet import nets, weights
from atnet.common import InputError
from atnet.prototxt_io import load_net


@pytest.fixture(scope="module")
def temporal(caffe, tmp_path_factory):
    """The temporal deploy net, its blob shapes and a caffemodel saved from it."""
    net = load_net(nets.deploy("temporal"), caffe.TEST)
    path = str(tmp_path_factory.mktemp("weights") / "temporal.caffemodel")
    net.save(path)
    return net, weights.net_blob_shapes(net), path


def _model(caffe, path, layers):
    """A binary caffemodel with the given ``{layer name: [blob shapes]}`` (random values)."""
    from caffe.proto import caffe_pb2
    model = caffe_pb2.NetParameter(name="test")
    rng = np.random.default_rng(0)
    for name, shapes in layers.items():
        layer = model.layer.add(name=name, type="Convolution")
        for shape in shapes:
            blob = layer.blobs.add()
            blob.shape.dim.extend(shape)
            blob.data.extend(rng.normal(0, 1, int(np.prod(shape))).astype(np.float32))
    with open(path, "wb") as handle:
        handle.write(model.SerializeToString())
    return path


def test_a_matching_model_reports_every_layer_copied(temporal):
    net, shapes, path = temporal
    report = weights.check_initial_weights(path, shapes)
    assert {item["layer"] for item in report["copied"]} == set(net.params)
    assert report["kept_fillers"] == [] and report["ignored"] == []
    assert report["sha256"] and report["weights"] == os.path.abspath(path)


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"layer { name: 'conv1' type: 'Convolution' }\n", "a text file, not a binary .caffemodel"),
])
def test_an_empty_or_text_file_is_refused(temporal, tmp_path, content, message):
    path = tmp_path / "bad.caffemodel"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        weights.check_initial_weights(str(path), temporal[1])
    assert str(path) in str(caught.value)


def test_random_bytes_are_refused(temporal, tmp_path):
    path = tmp_path / "noise.caffemodel"
    path.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8)))
    with pytest.raises(InputError, match=str(path)):
        weights.check_initial_weights(str(path), temporal[1])


def test_a_model_without_a_common_layer_name_is_refused(caffe, temporal, tmp_path):
    path = _model(caffe, str(tmp_path / "other.caffemodel"), {"fc_other": [(3, 4)], "conv_x": [(2, 1, 3, 3)]})
    with pytest.raises(InputError, match="no layer of the net is in this model.*fc_other") as caught:
        weights.check_initial_weights(path, temporal[1])
    assert path in str(caught.value)


def test_a_partial_match_lists_the_layers_that_keep_their_fillers(caffe, temporal, tmp_path):
    net, shapes, _ = temporal
    layer = next(name for name in net.params)
    path = _model(caffe, str(tmp_path / "one.caffemodel"), {layer: shapes[layer], "unrelated": [(2, 2)]})
    report = weights.check_initial_weights(path, shapes)
    assert [item["layer"] for item in report["copied"]] == [layer]
    assert set(report["kept_fillers"]) == set(net.params) - {layer}
    assert report["ignored"] == ["unrelated"]
    lines = weights.weights_report_lines(report)
    assert "copied       %s" % layer in lines and "ignored      unrelated (not in the net)" in lines


def test_a_shape_caffe_would_abort_on_is_refused_with_the_layer(caffe, temporal, tmp_path):
    net, shapes, _ = temporal
    layer = next(name for name in net.params)
    wrong = [tuple(d + 1 for d in shapes[layer][0])] + list(shapes[layer][1:])
    path = _model(caffe, str(tmp_path / "wrong.caffemodel"), {layer: wrong})
    with pytest.raises(InputError, match="layer %s blob 0 has shape" % layer):
        weights.check_initial_weights(path, shapes)


def test_a_three_channel_conv1_points_at_the_converter(caffe, tmp_path):
    spatial = weights.net_blob_shapes(load_net(nets.deploy("spatial"), caffe.TEST))
    conv1 = spatial["conv1"]
    rgb = [(conv1[0][0], 3) + tuple(conv1[0][2:])] + list(conv1[1:])
    path = _model(caffe, str(tmp_path / "resnet10_rgb.caffemodel"), {"conv1": rgb})
    with pytest.raises(InputError, match="conv1 has 3 input channels.*tools/convert_weights.py"):
        weights.check_initial_weights(path, spatial)
