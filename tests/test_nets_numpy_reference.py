"""Each deploy net, run by Caffe with random weights, equals an independent numpy
implementation of the same architecture written from atnet.md section 1 (not
from the generated prototxt): class scores within 1e-4 absolute.

The reference computes in float64 from the Caffe net's float32 weights, which
it reads by the layer names atnet.md gives (ResNet10_cvgj names, lstm1/lstm2)
and, for the parts atnet.md leaves unnamed, by this project's names.
"""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from atnet import nets
from atnet.prototxt_io import load_net
from atnet.variants import VARIANTS

BN_EPS = 1e-5  # Caffe BatchNorm default
BATCH = 2
TOLERANCE = 1e-4


# --- the reference, from atnet.md ------------------------------------------------

def conv2d(x, weight, bias=None, stride=1, pad=0):
    """Cross-correlation as Caffe's Convolution computes it (zero padding, floor size)."""
    kernel = weight.shape[2]
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out_size = (x.shape[2] + 2 * pad - kernel) // stride + 1
    windows = sliding_window_view(padded, (kernel, kernel), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride][:, :, :out_size, :out_size]
    out = np.tensordot(windows, weight, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    return out if bias is None else out + bias[None, :, None, None]


def max_pool_3x3_s2(x):
    """MAX 3x3 stride 2 with Caffe's rounding up (112 -> 56): the last window is clipped."""
    out_size = int(np.ceil((x.shape[2] - 3) / 2)) + 1
    needed = (out_size - 1) * 2 + 3
    extra = needed - x.shape[2]
    padded = np.pad(x, ((0, 0), (0, 0), (0, extra), (0, extra)), constant_values=-np.inf)
    windows = sliding_window_view(padded, (3, 3), axis=(2, 3))[:, :, ::2, ::2]
    return windows.max(axis=(4, 5))


def batch_norm_global(x, blobs):
    """BatchNorm with stored statistics: blobs = (mean * s, variance * s, [s])."""
    factor = 0.0 if blobs[2][0] == 0 else 1.0 / blobs[2][0]
    mean, var = blobs[0] * factor, blobs[1] * factor
    return (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + BN_EPS)


def bn_scale_relu(x, params, bn, scale, relu=True):
    gamma, beta = params[scale]
    y = batch_norm_global(x, params[bn]) * gamma[None, :, None, None] + beta[None, :, None, None]
    return np.maximum(y, 0) if relu else y


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def attention(feature, parts, params, name):
    """Micro-Attention unit: (1 + M) * F, M = sigmoid(channel mean of a 1x1 conv of concat(parts))."""
    mixed = conv2d(np.concatenate(parts, axis=1), params["mask_Concat_%d_1x1" % feature.shape[1]][0])
    mask = sigmoid(mixed.mean(axis=1, keepdims=True))
    return (1.0 + mask) * feature


def resnet10(image, params, with_attention):
    """The ResNet-10 spatial stream on raw grey values -> N x 512 (global average)."""
    x = bn_scale_relu(image, params, "data_bn", "data_scale", relu=False)
    x = conv2d(x, params["conv1"][0], params["conv1"][1], stride=2, pad=3)
    x = max_pool_3x3_s2(bn_scale_relu(x, params, "conv1_bn", "conv1_scale"))
    # layer_64_1: no pre-activation, identity shortcut.
    p = "layer_64_1_"
    conv1 = bn_scale_relu(conv2d(x, params[p + "conv1"][0], pad=1), params, p + "bn2", p + "scale2")
    conv2 = conv2d(conv1, params[p + "conv2"][0], pad=1)
    out = conv2 + x
    if with_attention:
        out = attention(out, (x, conv1, conv2), params, p)
    for width in (128, 256, 512):
        p = "layer_%d_1_" % width
        activated = bn_scale_relu(out, params, p + "bn1", p + "scale1")
        conv1 = bn_scale_relu(conv2d(activated, params[p + "conv1"][0], stride=2, pad=1),
                              params, p + "bn2", p + "scale2")
        conv2 = conv2d(conv1, params[p + "conv2"][0], pad=1)
        shortcut = conv2d(activated, params[p + "conv_expand"][0], stride=2)
        out = conv2 + shortcut
        if width == 512:
            out = bn_scale_relu(out, params, "last_bn", "last_scale")
        if with_attention:
            out = attention(out, (shortcut, conv1, conv2), params, p)
    return out.mean(axis=(2, 3))


def lstm_layer(xs, weights):
    """Caffe's LSTM over T x N x D: gates i, f, o, g; the sequence starts at t = 0 (cont 0)."""
    w_x, bias, w_h = weights
    hidden = w_h.shape[1]
    h = np.zeros((xs.shape[1], hidden))
    c = np.zeros_like(h)
    outputs = []
    for t, x in enumerate(xs):
        cont = 0.0 if t == 0 else 1.0
        gates = x @ w_x.T + bias + (cont * h) @ w_h.T
        i, f, o = (sigmoid(gates[:, k * hidden:(k + 1) * hidden]) for k in range(3))
        g = np.tanh(gates[:, 3 * hidden:])
        c = cont * f * c + i * g
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs)


def temporal(flow, params):
    """2-layer LSTM on the 64 x 128 feature, mean of lstm2 over the 64 steps -> N x 512."""
    sequence = np.stack([flow[:, 0, t, :] for t in range(flow.shape[2])])  # T x N x D
    return lstm_layer(lstm_layer(sequence, params["lstm1"]), params["lstm2"]).mean(axis=0)


def l2_normalize(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def reference_scores(variant, params, image=None, flow=None):
    """Class scores (InnerProduct outputs) and probabilities of ``variant``."""
    features = []
    if variant in ("fusion", "spatial", "micro_attention"):
        features.append(l2_normalize(resnet10(image, params, variant == "micro_attention")))
    if variant in ("fusion", "temporal"):
        features.append(l2_normalize(temporal(flow, params)))
    weight, bias = params["fc_" + variant]
    scores = np.concatenate(features, axis=1) @ weight.T + bias  # dropout is the identity at test
    exp = np.exp(scores - scores.max(axis=1, keepdims=True))
    return scores, exp / exp.sum(axis=1, keepdims=True)


# --- random weights and inputs ------------------------------------------------------

def randomise(net, rng, inputs):
    """Random biases, Scale, BatchNorm and classifier parameters on top of the fillers' random weights.

    BatchNorm statistics are set, layer by layer, near the statistics of the
    layer's actual input (with random distortion and a random count factor),
    so activations stay in a realistic range instead of exploding.
    """
    for name, blobs in net.params.items():
        layer_type = net.layers[list(net._layer_names).index(name)].type
        if layer_type == "Scale":
            blobs[0].data[...] = rng.uniform(0.5, 1.5, blobs[0].data.shape)
            blobs[1].data[...] = rng.normal(0, 0.2, blobs[1].data.shape)
        elif layer_type == "Convolution" and len(blobs) > 1:
            blobs[1].data[...] = rng.normal(0, 0.1, blobs[1].data.shape)
        elif layer_type == "InnerProduct":  # unit-scale scores, so that 1e-4 is a strict bound
            blobs[0].data[...] = rng.normal(0, 1, blobs[0].data.shape)
            blobs[1].data[...] = rng.normal(0, 0.5, blobs[1].data.shape)
        elif layer_type == "LSTM":
            blobs[1].data[...] = rng.normal(0, 0.1, blobs[1].data.shape)
    for blob, value in inputs.items():
        net.blobs[blob].data[...] = value
    names = list(net._layer_names)
    for index, name in enumerate(names):
        if net.layers[index].type != "BatchNorm":
            continue
        net.forward(end=names[index - 1])
        x = net.blobs[net.bottom_names[name][0]].data
        count = rng.uniform(0.5, 3.0)
        blobs = net.params[name]
        blobs[0].data[...] = count * (x.mean(axis=(0, 2, 3)) + rng.normal(0, 0.1, x.shape[1]))
        blobs[1].data[...] = count * x.var(axis=(0, 2, 3)) * rng.uniform(0.7, 1.3, x.shape[1])
        blobs[2].data[...] = count


def random_inputs(rng, variant):
    """Grey apex images 0..255 and ADM-like flow features (zero rows first, as in the LMDBs)."""
    inputs = {}
    if VARIANTS[variant].uses_apex:
        inputs["data"] = rng.integers(0, 256, (BATCH, 1, 224, 224)).astype(np.float32)
    if VARIANTS[variant].uses_flow:
        flow = np.zeros((BATCH, 1, 64, 128), np.float32)
        flow[..., 0::2] = rng.uniform(-np.pi, np.pi, (BATCH, 1, 64, 64))
        flow[..., 1::2] = rng.uniform(0, 1.5, (BATCH, 1, 64, 64))
        flow[0, 0, :20] = 0  # a SMIC-like clip: 20 empty steps moved to the start
        inputs["flow"] = flow
    return inputs


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_deploy_net_matches_numpy_reference(caffe, variant):
    caffe.set_random_seed(11)
    rng = np.random.default_rng(5)
    net = load_net(nets.deploy(variant, batch_size=BATCH), caffe.TEST)
    inputs = random_inputs(rng, variant)
    randomise(net, rng, inputs)
    # A previous batch first: Caffe's LSTM carries its final state into the next
    # forward pass, which only the 0 of ``index`` at t = 0 discards.
    for blob, value in random_inputs(rng, variant).items():
        net.blobs[blob].data[...] = value
    net.forward()
    for blob, value in inputs.items():
        net.blobs[blob].data[...] = value
    out = net.forward()
    params = {name: [b.data.astype(np.float64) for b in blobs] for name, blobs in net.params.items()}
    scores, probs = reference_scores(variant, params, image=inputs.get("data"),
                                     flow=inputs.get("flow"))
    caffe_scores = net.blobs[VARIANTS[variant].score_blob].data
    assert out[nets.PROB_BLOB].shape == (BATCH, 3)
    np.testing.assert_allclose(caffe_scores, scores, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(out[nets.PROB_BLOB], probs, rtol=0, atol=TOLERANCE)
    # The random weights must give scores that actually differ per sample and class.
    assert np.ptp(scores) > 0.5
