"""The stock-layer replacements of the release's fork layers, proven on random
inputs: L2 normalisation (unit norm, backward = finite differences), the
time-major conversion (= numpy transpose, forward and backward), the
continuation indicators (0 at t = 0, 1 after), the temporal mean (= numpy's mean
of lstm2 over time), and the blob and parameter shapes the paper states."""
import numpy as np
import pytest
from caffe import layers as L

from atnet import nets
from atnet.prototxt_io import load_net

RNG_SEED = 3


def block_net(caffe, build, **input_shapes):
    """A TRAIN net of Input layers feeding ``build(n, *inputs)``, with backward forced."""
    n = caffe.NetSpec()
    for name, shape in input_shapes.items():
        n[name] = L.Input(shape=dict(dim=list(shape)))
    build(n, *[n[name] for name in input_shapes])
    proto = n.to_proto()
    proto.force_backward = True
    return load_net(proto, caffe.TRAIN)


@pytest.fixture
def rng():
    return np.random.default_rng(RNG_SEED)


# --- L2 normalisation --------------------------------------------------------------

def normalize_net(caffe, batch):
    return block_net(caffe, lambda n, x: nets.l2_normalize(n, x, "x_normalize"), x=(batch, 512, 1, 1))


def test_l2_normalize_gives_unit_norm_per_sample(caffe, rng):
    net = normalize_net(caffe, 4)
    x = rng.normal(0, 1, (4, 512, 1, 1)) * np.array([1e-3, 0.2, 5.0, 300.0])[:, None, None, None]
    net.blobs["x"].data[...] = x
    out = net.forward()["x_normalize"].reshape(4, 512)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    expected = x.reshape(4, 512) / np.linalg.norm(x.reshape(4, 512), axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


def test_l2_normalize_maps_a_zero_vector_to_zeros(caffe, rng):
    net = normalize_net(caffe, 2)
    net.blobs["x"].data[0] = 0
    net.blobs["x"].data[1] = rng.normal(size=(512, 1, 1))
    out = net.forward()["x_normalize"]
    assert np.all(out[0] == 0)
    assert np.isclose(np.linalg.norm(out[1]), 1.0, rtol=1e-6)


def test_l2_normalize_backward_matches_finite_differences(caffe, rng):
    """d/dx of f = sum(w * normalize(x)): Caffe's backward vs central differences of Caffe's forward."""
    batch, step = 3, 1e-2
    net = normalize_net(caffe, batch)
    x = rng.normal(0, 0.2, (batch, 512, 1, 1)).astype(np.float32)
    weights = rng.normal(size=(batch, 512, 1, 1))

    def objective(values):
        net.blobs["x"].data[...] = values
        return np.sum(weights * net.forward()["x_normalize"].astype(np.float64))

    objective(x)
    net.backward(x_normalize=weights.astype(np.float32))
    analytic = net.blobs["x"].diff.copy().reshape(batch, 512)
    numeric = np.zeros((batch, 512))
    for sample in range(batch):
        for i in range(512):
            plus, minus = x.copy(), x.copy()
            plus[sample, i] += step
            minus[sample, i] -= step
            numeric[sample, i] = (objective(plus) - objective(minus)) / (2 * step)
    relative = np.linalg.norm(analytic - numeric, axis=1) / np.linalg.norm(numeric, axis=1)
    assert np.all(relative < 1e-3), relative
    assert np.abs(analytic - numeric).max() < 1e-3 * np.abs(numeric).max()


# --- time-major conversion -----------------------------------------------------------

def test_time_major_equals_numpy_transpose_forward_and_backward(caffe, rng):
    batch = 3
    net = block_net(caffe, nets.time_major, flow=(batch, 1, nets.SEQ_LEN, nets.FLOW_DIM))
    flow = rng.normal(size=(batch, 1, nets.SEQ_LEN, nets.FLOW_DIM)).astype(np.float32)
    net.blobs["flow"].data[...] = flow
    out = net.forward()[nets.SEQUENCE_BLOB]
    assert out.shape == (nets.SEQ_LEN, batch, nets.FLOW_DIM)
    np.testing.assert_array_equal(out, flow[:, 0].transpose(1, 0, 2))
    grad = rng.normal(size=out.shape).astype(np.float32)
    net.backward(**{nets.SEQUENCE_BLOB: grad})
    np.testing.assert_array_equal(net.blobs["flow"].diff, grad.transpose(1, 0, 2)[:, None])


# --- the temporal stream in a deploy net -------------------------------------------

@pytest.fixture
def temporal_net(caffe):
    caffe.set_random_seed(RNG_SEED)
    return load_net(nets.deploy("temporal", batch_size=3), caffe.TEST)


def test_continuation_indicators_are_zero_then_one_for_any_batch(temporal_net, rng):
    for batch in (3, 5, 1):
        temporal_net.blobs["flow"].reshape(batch, 1, nets.SEQ_LEN, nets.FLOW_DIM)
        temporal_net.reshape()
        flow = rng.normal(size=(batch, 1, nets.SEQ_LEN, nets.FLOW_DIM))
        flow[0, 0, 5, 7] = np.nan  # the indicators never read the values
        temporal_net.blobs["flow"].data[...] = flow
        temporal_net.forward(end="index")
        index = temporal_net.blobs[nets.CONT_BLOB].data
        expected = np.ones((nets.SEQ_LEN, batch))
        expected[0] = 0
        np.testing.assert_array_equal(index, expected)


def test_temporal_output_is_numpy_mean_over_time_of_lstm2(temporal_net, rng):
    temporal_net.blobs["flow"].data[...] = rng.uniform(-np.pi, np.pi, (3, 1, nets.SEQ_LEN, nets.FLOW_DIM))
    temporal_net.forward()
    lstm2 = temporal_net.blobs["lstm2"].data.astype(np.float64)
    assert lstm2.shape == (nets.SEQ_LEN, 3, nets.HIDDEN)
    pooled = temporal_net.blobs[nets.TEMPORAL_FEATURE_BLOB].data
    assert pooled.shape == (3, nets.HIDDEN, 1, 1)
    np.testing.assert_allclose(pooled[:, :, 0, 0], lstm2.mean(axis=0), rtol=0, atol=1e-6)
    # ... which is not the last step's output.
    assert np.abs(pooled[:, :, 0, 0] - lstm2[-1]).max() > 1e-2


# --- shapes --------------------------------------------------------------------------------

def test_blob_and_parameter_shapes_match_the_paper(caffe):
    net = load_net(nets.deploy("fusion", batch_size=2), caffe.TEST)
    blobs = {name: blob.data.shape for name, blob in net.blobs.items()}
    params = {name: [blob.data.shape for blob in blobs_] for name, blobs_ in net.params.items()}
    assert blobs[nets.APEX_BLOB] == (2, 1, 224, 224)
    assert blobs["conv1"] == (2, 64, 112, 112)
    assert blobs["conv1_pool"] == (2, 64, 56, 56)
    assert blobs["layer_128_1_sum"] == (2, 128, 28, 28)
    assert blobs["layer_256_1_sum"] == (2, 256, 14, 14)
    assert blobs["layer_512_1_sum"] == (2, 512, 7, 7)
    assert blobs[nets.SPATIAL_FEATURE_BLOB] == (2, 512, 1, 1)
    assert blobs[nets.TEMPORAL_FEATURE_BLOB] == (2, 512, 1, 1)
    assert blobs[nets.SEQUENCE_BLOB] == (64, 2, 128)
    assert blobs[nets.CONT_BLOB] == (64, 2)
    assert blobs["concat"] == (2, 1024, 1, 1)
    assert blobs[nets.PROB_BLOB] == (2, 3)
    assert params["conv1"] == [(64, 1, 7, 7), (64,)]
    assert params["data_bn"] == [(1,), (1,), (1,)]
    assert params["lstm1"] == [(2048, 128), (2048,), (2048, 512)]
    assert params["lstm2"] == [(2048, 512), (2048,), (2048, 512)]
    assert params["fc_fusion"] == [(3, 1024), (3,)]


def test_single_stream_heads_see_512_features(caffe):
    for variant in ("spatial", "temporal", "micro_attention"):
        net = load_net(nets.deploy(variant), caffe.TEST)
        assert net.params["fc_" + variant][0].data.shape == (3, 512)
        assert net.blobs[nets.PROB_BLOB].data.shape == (1, 3)


def test_micro_attention_mean_conv_is_a_fixed_channel_mean(caffe):
    proto = nets.deploy("micro_attention")
    net = load_net(proto, caffe.TEST)
    for width in (64, 128, 256, 512):
        name = "mask_Concat_%d_1x1_one" % width       # the release's layer names
        np.testing.assert_array_equal(net.params[name][0].data, np.full((1, width, 1, 1), 1.0 / width))
        layer = next(layer for layer in proto.layer if layer.name == name)
        assert [(p.lr_mult, p.decay_mult) for p in layer.param] == [(0, 0)]
        assert net.blobs["mask_Concat_%d_1x1_more" % width].data.shape[1] == width
        assert "layer_%d_1_sum_multip" % width in net.blobs and "layer_%d_1_sum2" % width in net.blobs
