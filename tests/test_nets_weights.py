"""The 3-channel -> 1-channel converter (atnet/weights.py, tools/convert_weights.py),
tested on a locally generated 3-channel caffemodel with ResNet10_cvgj's layer
names (the real one needs a download)."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from caffe import layers as L

from atnet import nets, weights
from atnet.prototxt_io import load_net
from atnet.common import InputError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STREAM_END = nets.SPATIAL_FEATURE_BLOB


def three_channel_model(caffe, path, equal_channels, seed):
    """A ResNet10_cvgj-like model: our spatial stream on 3 input channels plus a 'score' classifier."""
    proto = nets.deploy("spatial")
    proto.layer[0].input_param.shape[0].dim[1] = 3
    end = [layer.name for layer in proto.layer].index(STREAM_END)
    del proto.layer[end + 1:]
    n = caffe.NetSpec()
    n[STREAM_END] = L.Input(shape=dict(dim=[1, 512, 1, 1]))  # stand-in bottom, only to get the layer text
    n.score = L.InnerProduct(n[STREAM_END], num_output=10)
    proto.layer.extend([n.to_proto().layer[1]])
    caffe.set_random_seed(seed)
    net = load_net(proto, caffe.TEST)
    rng = np.random.default_rng(seed)
    for name, blobs in net.params.items():
        kind = net.layers[list(net._layer_names).index(name)].type
        channels = blobs[0].data.shape[0]
        if kind == "BatchNorm":
            mean, var = rng.normal(0, 0.3, channels), rng.uniform(0.5, 2.0, channels)
            if name == "data_bn":
                mean, var = (np.full(3, 120.0), np.full(3, 3500.0)) if equal_channels else (
                    np.array([124.0, 117.0, 104.0]), np.array([3364.0, 3249.0, 3249.0]))
            blobs[0].data[...], blobs[1].data[...], blobs[2].data[...] = 2 * mean, 2 * var, 2
        elif kind == "Scale":
            gamma, beta = rng.uniform(0.5, 1.5, channels), rng.normal(0, 0.2, channels)
            if name == "data_scale" and equal_channels:
                gamma, beta = np.full(3, gamma[0]), np.full(3, beta[0])
            blobs[0].data[...], blobs[1].data[...] = gamma, beta
        elif len(blobs) > 1:
            blobs[1].data[...] = rng.normal(0, 0.1, blobs[1].data.shape)
    net.save(str(path))
    return net


def test_converted_stream_equals_the_3_channel_model_on_grey_input(caffe, tmp_path):
    source = tmp_path / "resnet10_rgb.caffemodel"
    rgb_net = three_channel_model(caffe, source, equal_channels=True, seed=1)
    report = weights.convert_file(str(source), str(tmp_path / "grey.caffemodel"), str(tmp_path / "r.json"))
    grey_net = load_net(nets.deploy("spatial"), caffe.TEST, weights=str(tmp_path / "grey.caffemodel"))
    grey = np.random.default_rng(0).integers(0, 256, (1, 1, 224, 224)).astype(np.float32)
    rgb_net.blobs["data"].data[...] = np.repeat(grey, 3, axis=1)
    grey_net.blobs["data"].data[...] = grey
    expected = rgb_net.forward(end=STREAM_END)[STREAM_END]
    got = grey_net.forward(end=STREAM_END)[STREAM_END]
    assert np.ptp(expected) > 0.1
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    with open(tmp_path / "r.json") as handle:
        assert json.load(handle) == report
    from caffe.proto import caffe_pb2
    saved = caffe_pb2.NetParameter.FromString((tmp_path / "grey.caffemodel").read_bytes())
    assert [layer.name for layer in saved.layer] == [item["layer"] for item in report["copied"]]


def test_report_and_channel_rule_with_unequal_channels(caffe, tmp_path):
    source = tmp_path / "resnet10_rgb.caffemodel"
    rgb_net = three_channel_model(caffe, source, equal_channels=False, seed=2)
    shapes = weights.stream_shapes(weights.spatial_stream_net())
    blobs, report = weights.convert(str(source), shapes)
    stream = set(shapes)
    assert {item["layer"] for item in report["copied"]} == stream
    assert [(item["layer"], item["blob"]) for item in report["reduced"]] == [
        ("data_bn", 0), ("data_bn", 1), ("data_scale", 0), ("data_scale", 1), ("conv1", 0)]
    assert report["skipped"] == [dict(layer="score", type="InnerProduct", reason="not in the spatial stream")]
    assert report["missing"] == []
    source_blobs = {name: [b.data for b in bs] for name, bs in rgb_net.params.items()}
    np.testing.assert_allclose(blobs["conv1"][0], source_blobs["conv1"][0].sum(axis=1, keepdims=True), rtol=1e-6)
    np.testing.assert_array_equal(blobs["conv1"][1], source_blobs["conv1"][1])
    np.testing.assert_allclose(blobs["data_bn"][0], [2 * np.mean([124.0, 117.0, 104.0])], rtol=1e-6)
    np.testing.assert_array_equal(blobs["data_bn"][2], [2])
    np.testing.assert_allclose(blobs["data_scale"][0], [source_blobs["data_scale"][0].mean()], rtol=1e-6)
    np.testing.assert_array_equal(blobs["layer_512_1_conv2"][0], source_blobs["layer_512_1_conv2"][0])
    assert any(line.startswith("skipped  score") for line in weights.report_lines(report))


def _model_with(tmp_path, layers):
    from caffe.proto import caffe_pb2
    net = caffe_pb2.NetParameter()
    for name, shape in layers:
        layer = net.layer.add(name=name, type="Convolution")
        blob = layer.blobs.add()
        blob.shape.dim.extend(shape)
        blob.data.extend([0.0] * int(np.prod(shape)))
    path = tmp_path / "bad.caffemodel"
    path.write_bytes(net.SerializeToString())
    return str(path)


def test_bad_models_are_refused_by_name(caffe, tmp_path):
    shapes = weights.stream_shapes(weights.spatial_stream_net())
    with pytest.raises(InputError, match="layer layer_64_1_conv1 blob 0 has shape \\[32, 64, 3, 3\\]"):
        weights.convert(_model_with(tmp_path, [("layer_64_1_conv1", (32, 64, 3, 3))]), shapes)
    with pytest.raises(InputError, match="is it ResNet10_cvgj"):
        weights.convert(_model_with(tmp_path, [("fc7", (4, 4))]), shapes)
    garbage = tmp_path / "garbage.caffemodel"
    garbage.write_bytes(b"\xff\x00not a model")
    with pytest.raises(InputError, match="garbage.caffemodel: not a binary Caffe model"):
        weights.read_caffemodel(str(garbage))


def test_command_line_converts_then_skips(caffe, tmp_path):
    source = tmp_path / "resnet10_rgb.caffemodel"
    three_channel_model(caffe, source, equal_channels=False, seed=3)
    command = [sys.executable, os.path.join(REPO, "tools", "convert_weights.py"), str(source)]
    env = dict(os.environ, GLOG_minloglevel="2")
    first = subprocess.run(command, capture_output=True, text=True, env=env, cwd="/")
    assert first.returncode == 0, first.stderr
    assert "reduced  conv1" in first.stdout and "0 missing" in first.stdout
    assert os.path.exists(tmp_path / "resnet10_rgb_1ch.caffemodel")
    assert os.path.exists(tmp_path / "resnet10_rgb_1ch.caffemodel.json")
    second = subprocess.run(command, capture_output=True, text=True, env=env, cwd="/")
    assert second.returncode == 0 and "up to date" in second.stdout
    missing = subprocess.run(command[:2] + [str(tmp_path / "nope.caffemodel")], capture_output=True,
                             text=True, env=env, cwd="/")
    assert missing.returncode == 2 and "nope.caffemodel: cannot read" in missing.stderr


def test_weights_readme_front_matter_and_checksum_verification(tmp_path):
    script = os.path.join(REPO, "weights", "download.py")
    spec = importlib.util.spec_from_file_location("download", script)
    download = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(download)
    meta = download.front_matter()
    assert meta["file"].endswith(".caffemodel") and meta["source_url"].startswith("https://")
    assert len(meta["sha256"]) == 64 and int(meta["sha256"], 16) >= 0
    assert "caffe_commit" in meta
    fake = tmp_path / meta["file"]
    fake.write_bytes(b"not the model")
    result = subprocess.run([sys.executable, script, "--verify", str(fake)], capture_output=True, text=True)
    assert result.returncode == 2 and "does not match the published %s" % meta["sha256"] in result.stderr
    assert download.verify(str(fake), "") == download.sha256_file(str(fake))  # nothing published: no check
