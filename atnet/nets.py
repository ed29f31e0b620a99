"""The ATNet networks (atnet.md section 1) written once, as caffe.NetSpec building blocks.

Every layer is a stock BVLC Caffe 1.0 layer. The two operations the authors'
release took from Caffe forks are composed from stock layers here:

* L2 normalisation (a fork "Normalize" layer in the release): ``l2_normalize``
  = Reduction(SUMSQ) -> Power(-1/2) -> Scale by the per-sample factor;
* Permute (to make the flow feature time-major, and to average lstm2 over
  time): ``time_major`` = Slice along time -> Concat along the batch axis ->
  Reshape, and ``mean_over_time`` = Reshape -> AVE Pooling over the time rows
  -> Reshape.

The four variants (fusion, spatial, temporal, micro_attention; declared in
``atnet.variants``) are parameters of one builder. TRAIN/TEST nets read the LMDB pairs of ``atnet.records``
through Caffe ``Data`` layers; deploy nets take the same blobs from ``Input``
layers, so the same arrays feed both.
"""
import os

import caffe
from caffe import layers as L
from caffe import params as P

from atnet.common import CLASS_NAMES
from atnet.records import APEX_SHAPE, FLOW_SHAPE
from atnet.variants import variant_of

# Re-exported only for callers that still import them from here (bench/bench_gpu.py,
# bench_nets.py, bench_train.py, tests/test_gpu_train.py); their homes are
# atnet.prototxt_io and atnet.variants. Remove once those switch.
from atnet.prototxt_io import write_prototxt  # noqa: F401
from atnet.variants import VARIANTS  # noqa: F401

SEQ_LEN, FLOW_DIM = FLOW_SHAPE  # 64 time steps of 128 ADM numbers
HIDDEN = 512  # LSTM units; also the width of the last ResNet block
NUM_CLASSES = len(CLASS_NAMES)
#: Added to the sum of squares before the inverse square root, so that an
#: all-zero vector maps to zeros instead of NaN. The fork Normalize layer of
#: SSD's Caffe divides by sqrt(sum x^2 + eps) with the same default eps; it
#: changes the norm of any non-degenerate 512-d vector by < 1e-7 relative.
NORM_EPS = 1e-10

# Blob names shared with the trainer, the predictor and the tests.
APEX_BLOB = "data"  # N x 1 x 224 x 224 raw grey values 0..255
FLOW_BLOB = "flow"  # N x 1 x 64 x 128 ADM feature, as stored in the LMDB
LABEL_BLOB = "label"
SEQUENCE_BLOB = "data_point"  # T x N x 128, the LSTM input (release name)
CONT_BLOB = "index"  # T x N sequence-continuation indicators (release name)
SPATIAL_FEATURE_BLOB = "global_pool"  # N x 512 x 1 x 1
TEMPORAL_FEATURE_BLOB = "temporal_pool"  # N x 512 x 1 x 1, mean of lstm2 over time
LOSS_BLOB = "loss"
ACCURACY_BLOB = "accuracy"
PROB_BLOB = "prob"


# Fillers and learning-rate multipliers of ResNet10_cvgj and of the release.
_MSRA = dict(type="msra")
_CONV1_FILLER = dict(type="msra", variance_norm=P.Filler.FAN_OUT)
_ZERO = dict(type="constant", value=0)
_WEIGHT = dict(lr_mult=1, decay_mult=1)
_BIAS = dict(lr_mult=2, decay_mult=1)  # ResNet10_cvgj: conv and Scale biases
_FIXED = [dict(lr_mult=0, decay_mult=0)]
_HEAD_PARAMS = [_WEIGHT, dict(lr_mult=2, decay_mult=0)]


# --- spatial stream: ResNet-10 (ResNet10_cvgj layer names) -------------------

def conv(bottom, num_output, kernel, stride=1, pad=0, bias=False, filler=_MSRA):
    """A ResNet10_cvgj convolution: msra weights; a bias (lr 2, filler 0) only where the model has one."""
    conv_param = dict(num_output=num_output, kernel_size=kernel, stride=stride, pad=pad,
                      weight_filler=filler)
    if bias:
        conv_param["bias_filler"] = _ZERO
    else:
        conv_param["bias_term"] = False
    return L.Convolution(bottom, param=[_WEIGHT, _BIAS] if bias else [_WEIGHT],
                         convolution_param=conv_param)


def batch_norm(bottom, deploy, in_place=True):
    """BatchNorm whose three blobs (mean, variance, count) are never learned.

    BVLC Caffe itself fixes lr_mult 0 on them (declaring the three ``param``
    blocks, as ResNet10_cvgj does, is the deprecated form it rewrites).
    train_val leaves use_global_stats unset, so Caffe's phase rule applies:
    batch statistics in TRAIN, stored running statistics in TEST. Deploy nets
    state use_global_stats: true, whatever phase they are loaded in.
    """
    extra = dict(batch_norm_param=dict(use_global_stats=True)) if deploy else {}
    return L.BatchNorm(bottom, in_place=in_place, **extra)


def scale(bottom):
    """The learned per-channel affine after each BatchNorm (in place, with bias)."""
    return L.Scale(bottom, in_place=True, param=[_WEIGHT, _BIAS], scale_param=dict(bias_term=True))


def bn_scale_relu(n, bottom, names, deploy, in_place=True):
    """BatchNorm -> Scale -> ReLU under the three given layer names; returns the activation."""
    bn_name, scale_name, relu_name = names
    n[bn_name] = batch_norm(bottom, deploy, in_place)
    n[scale_name] = scale(n[bn_name])
    n[relu_name] = L.ReLU(n[scale_name], in_place=True)
    return n[relu_name]


def stem(n, data, deploy):
    """data_bn/data_scale (the model's own input normalisation), conv1 7x7/2, BN, ReLU, 3x3/2 max pool."""
    n.data_bn = batch_norm(data, deploy, in_place=False)
    n.data_scale = scale(n.data_bn)
    n.conv1 = conv(n.data_scale, 64, 7, stride=2, pad=3, bias=True, filler=_CONV1_FILLER)
    activated = bn_scale_relu(n, n.conv1, ("conv1_bn", "conv1_scale", "conv1_relu"), deploy)
    n.conv1_pool = L.Pooling(activated, pool=P.Pooling.MAX, kernel_size=3, stride=2)
    return n.conv1_pool


def first_block(n, bottom, deploy, attention):
    """layer_64_1: conv-BN-ReLU-conv plus the identity; no pre-activation in this first block."""
    prefix = "layer_64_1_"
    n[prefix + "conv1"] = conv(bottom, 64, 3, pad=1)
    conv1 = bn_scale_relu(n, n[prefix + "conv1"], _names(prefix, 2), deploy)
    n[prefix + "conv2"] = conv(conv1, 64, 3, pad=1)
    n[prefix + "sum"] = L.Eltwise(n[prefix + "conv2"], bottom)
    if not attention:
        return n[prefix + "sum"]
    return attention_unit(n, prefix, 64, (bottom, conv1, n[prefix + "conv2"]), n[prefix + "sum"])


def preact_block(n, bottom, width, deploy, attention):
    """layer_<width>_1: pre-activation block, stride 2, 1x1/2 conv_expand shortcut on the activated input.

    The 512 block is followed by last_bn/last_scale/last_relu; Micro-Attention
    applies its unit there after that activation (atnet.md).
    """
    prefix = "layer_%d_1_" % width
    activated = bn_scale_relu(n, bottom, _names(prefix, 1), deploy, in_place=False)
    n[prefix + "conv1"] = conv(activated, width, 3, stride=2, pad=1)
    conv1 = bn_scale_relu(n, n[prefix + "conv1"], _names(prefix, 2), deploy)
    n[prefix + "conv2"] = conv(conv1, width, 3, pad=1)
    n[prefix + "conv_expand"] = conv(activated, width, 1, stride=2)
    n[prefix + "sum"] = L.Eltwise(n[prefix + "conv2"], n[prefix + "conv_expand"])
    out = n[prefix + "sum"]
    if width == HIDDEN:
        out = bn_scale_relu(n, out, ("last_bn", "last_scale", "last_relu"), deploy)
    if attention:
        out = attention_unit(n, prefix, width, (n[prefix + "conv_expand"], conv1, n[prefix + "conv2"]), out)
    return out


def _names(prefix, index):
    return tuple("%s%s%d" % (prefix, kind, index) for kind in ("bn", "scale", "relu"))


def attention_unit(n, prefix, width, parts, feature):
    """Micro-Attention's residual attention: (1 + M) * F with M = sigmoid(mean_c(conv1x1(concat(parts)))).

    ``parts`` = the block's shortcut, conv1 output and conv2 output; the channel
    mean is a 1x1 convolution with the fixed weight 1/C (lr 0), the mask is
    tiled back to C channels. Layer names are the authors' release's
    (``mask_Concat_<C>``, ``..._1x1``, ``..._1x1_one``, ``..._1x1_one_sig``,
    ``..._1x1_more``, ``layer_<C>_1_sum_multip``, ``layer_<C>_1_sum2``), so a
    model trained with the release's prototxt loads by name.
    """
    mask = "mask_Concat_%d" % width
    n[mask] = L.Concat(*parts, axis=1)
    n[mask + "_1x1"] = conv(n[mask], width, 1)
    n[mask + "_1x1_one"] = L.Convolution(n[mask + "_1x1"], param=_FIXED, convolution_param=dict(
        num_output=1, kernel_size=1, bias_term=False, weight_filler=dict(type="constant", value=1.0 / width)))
    n[mask + "_1x1_one_sig"] = L.Sigmoid(n[mask + "_1x1_one"], in_place=True)
    n[mask + "_1x1_more"] = L.Tile(n[mask + "_1x1_one_sig"], axis=1, tiles=width)
    n[prefix + "sum_multip"] = L.Eltwise(n[mask + "_1x1_more"], feature, operation=P.Eltwise.PROD)
    n[prefix + "sum2"] = L.Eltwise(n[prefix + "sum_multip"], feature, operation=P.Eltwise.SUM)
    return n[prefix + "sum2"]


def spatial_stream(n, data, deploy, attention=False):
    """ResNet-10 on the apex frame -> ``global_pool`` (N x 512 x 1 x 1)."""
    out = first_block(n, stem(n, data, deploy), deploy, attention)
    for width in (128, 256, HIDDEN):
        out = preact_block(n, out, width, deploy, attention)
    n[SPATIAL_FEATURE_BLOB] = L.Pooling(out, pool=P.Pooling.AVE, global_pooling=True)
    return n[SPATIAL_FEATURE_BLOB]


# --- temporal stream: 2-layer LSTM on the ADM feature ------------------------

def time_major(n, flow):
    """N x 1 x T x D (LMDB layout) -> T x N x D (Caffe's recurrent layout), exactly.

    Stock BVLC Caffe has no Permute: slice the T rows apart (each N x 1 x 1 x D),
    stack them along the batch axis (row t*N + i is step t of sample i) and
    reshape to T x N x D. Slice, Concat and Reshape only move values, forward
    and backward.
    """
    steps = L.Slice(flow, name="flow_time_slice", axis=2, ntop=SEQ_LEN)
    for t, step in enumerate(steps):
        n["flow_t%02d" % t] = step
    n.flow_time_concat = L.Concat(*steps, axis=0)
    n[SEQUENCE_BLOB] = L.Reshape(n.flow_time_concat, shape=dict(dim=[SEQ_LEN, -1, FLOW_DIM]))
    return n[SEQUENCE_BLOB]


def continuation_indicators(n, sequence):
    """``index`` (T x N): 0 at t = 0, 1 at every later step, whatever the batch size.

    The 0 matters: Caffe's LSTM copies its final state into the next forward
    pass (for truncated backpropagation), and only cont = 0 at t = 0 makes
    each batch of clips start from a zero state. The Reduction only lends its
    T x N shape; the two Power layers have scale 0, so Caffe ignores their
    input and writes the constants shift^1 (0 and 1). Built from the sequence
    itself, it follows any reshaped batch in TRAIN, TEST and deploy nets alike.
    """
    n.index_template = L.Reduction(sequence, axis=2)
    n.index_head, n.index_tail = L.Slice(n.index_template, name="index_split", axis=0,
                                         slice_point=1, ntop=2)
    n.index_zero = L.Power(n.index_head, in_place=True, scale=0, shift=0)
    n.index_one = L.Power(n.index_tail, in_place=True, scale=0, shift=1)
    n[CONT_BLOB] = L.Concat(n.index_zero, n.index_one, axis=0)
    return n[CONT_BLOB]


def lstm(bottom, cont):
    """Caffe LSTM, 512 units, weights gaussian std 0.1, biases 0 (atnet.md)."""
    return L.LSTM(bottom, cont, recurrent_param=dict(
        num_output=HIDDEN, weight_filler=dict(type="gaussian", std=0.1), bias_filler=_ZERO))


def mean_over_time(n, hidden):
    """T x N x H -> N x H x 1 x 1, the mean over all T steps (not the last step).

    The release permutes to N x H x T and pools globally. Here the T x (N*H)
    matrix is pooled with a T x 1 AVE window (sum over the T rows / T), then
    reshaped per sample.
    """
    n.lstm2_time_rows = L.Reshape(hidden, shape=dict(dim=[1, 1, SEQ_LEN, -1]))
    n.lstm2_time_mean = L.Pooling(n.lstm2_time_rows, pool=P.Pooling.AVE, kernel_h=SEQ_LEN, kernel_w=1,
                                  stride=1)
    n[TEMPORAL_FEATURE_BLOB] = L.Reshape(n.lstm2_time_mean, shape=dict(dim=[-1, HIDDEN, 1, 1]))
    return n[TEMPORAL_FEATURE_BLOB]


def temporal_stream(n, flow):
    """Two stacked LSTMs over the time-major flow feature -> ``temporal_pool`` (N x 512 x 1 x 1)."""
    sequence = time_major(n, flow)
    cont = continuation_indicators(n, sequence)
    n.lstm1 = lstm(sequence, cont)
    n.lstm2 = lstm(n.lstm1, cont)
    return mean_over_time(n, n.lstm2)


# --- head ----------------------------------------------------------------------

def l2_normalize(n, bottom, name):
    """Per-sample L2 normalisation, C = O / sqrt(sum O^2 + eps), read as "<stream>_normalize".

    Reduction SUMSQ over axis 1 gives the N squared norms, Power(-1/2, shift
    eps) their inverse norms, and Scale (axis 0, second bottom) multiplies each
    sample by its factor; all three backpropagate exactly.
    """
    n[name + "_sumsq"] = L.Reduction(bottom, operation=P.Reduction.SUMSQ, axis=1)
    n[name + "_inv_norm"] = L.Power(n[name + "_sumsq"], power=-0.5, shift=NORM_EPS)
    n[name] = L.Scale(bottom, n[name + "_inv_norm"], axis=0)
    return n[name]


def head(n, features, variant, label, deploy):
    """Concat (axis 1) -> Dropout 0.5 -> InnerProduct 3 -> SoftmaxWithLoss + Accuracy (TEST), or Softmax to deploy.

    One feature (single-stream variants) skips the Concat; Micro-Attention has no Dropout.
    """
    if len(features) > 1:
        n.concat = L.Concat(*features, axis=1)
        top = n.concat
    else:
        top = features[0]
    if variant.dropout:
        n.drop = L.Dropout(top, in_place=True, dropout_ratio=0.5)
        top = n.drop
    n[variant.score_blob] = L.InnerProduct(top, param=_HEAD_PARAMS, inner_product_param=dict(
        num_output=NUM_CLASSES, weight_filler=dict(type="xavier"),
        bias_filler=dict(type="constant", value=0.2)))
    score = n[variant.score_blob]
    if deploy:
        n[PROB_BLOB] = L.Softmax(score)
    else:
        n[LOSS_BLOB] = L.SoftmaxWithLoss(score, label)
        n[ACCURACY_BLOB] = L.Accuracy(score, label, include=dict(phase=caffe.TEST))


def _body(n, variant, deploy, label=None):
    """The streams ``variant`` uses, each L2-normalised, and its head."""
    features = []
    if variant.uses_apex:
        pooled = spatial_stream(n, n[APEX_BLOB], deploy, attention=variant.attention)
        features.append(l2_normalize(n, pooled, "spatial_normalize"))
    if variant.uses_flow:
        pooled = temporal_stream(n, n[FLOW_BLOB])
        features.append(l2_normalize(n, pooled, "temporal_normalize"))
    head(n, features, variant, label, deploy)


# --- whole nets -----------------------------------------------------------------

def lmdb_inputs(n, sources, batch_size, phase):
    """Data layers named like the deploy inputs (``data``, ``flow``); the first also yields ``label``."""
    for position, (blob, path) in enumerate(sources.items()):
        tops = L.Data(ntop=1 if position else 2, include=dict(phase=phase), data_param=dict(
            source=os.fspath(path), batch_size=batch_size, backend=P.Data.LMDB))
        if position:
            n[blob] = tops
        else:
            n[blob], n[LABEL_BLOB] = tops


def _data_sources(variant, apex_lmdb, flow_lmdb, which):
    """The LMDB paths this variant reads, checked; unused streams need none."""
    sources = {}
    for stream_used, blob, path in ((variant.uses_apex, APEX_BLOB, apex_lmdb),
                                    (variant.uses_flow, FLOW_BLOB, flow_lmdb)):
        if stream_used:
            if not path:
                raise ValueError("variant %r needs a %s %s LMDB" % (variant.name, which, blob))
            sources[blob] = path
    return sources


def train_val(variant, train_apex_lmdb=None, train_flow_lmdb=None, test_apex_lmdb=None,
              test_flow_lmdb=None, batch_size=16, test_batch_size=1):
    """The TRAIN/TEST NetParameter of ``variant``, fed by Data layers from LMDB pairs.

    The label comes from the apex LMDB when the variant reads it (the flow
    LMDB holds the same labels under the same keys), else from the flow LMDB.
    Without test LMDBs the net has TRAIN inputs only.
    """
    variant = variant_of(variant)
    train = _data_sources(variant, train_apex_lmdb, train_flow_lmdb, "training")
    n = caffe.NetSpec()
    lmdb_inputs(n, train, batch_size, caffe.TRAIN)
    _body(n, variant, deploy=False, label=n[LABEL_BLOB])
    net = n.to_proto()
    if test_apex_lmdb or test_flow_lmdb:
        test = _data_sources(variant, test_apex_lmdb, test_flow_lmdb, "test")
        test_spec = caffe.NetSpec()
        lmdb_inputs(test_spec, test, test_batch_size, caffe.TEST)
        data_layers = test_spec.to_proto().layer
        for offset, layer in enumerate(data_layers):
            net.layer.insert(len(train) + offset, layer)
    net.name = "ATNet-%s" % variant.name
    return net


def deploy(variant, batch_size=1):
    """The deploy NetParameter of ``variant``: Input blobs ``data`` / ``flow``, output ``prob``."""
    variant = variant_of(variant)
    n = caffe.NetSpec()
    if variant.uses_apex:
        n[APEX_BLOB] = L.Input(shape=dict(dim=[batch_size, 1, APEX_SHAPE[0], APEX_SHAPE[1]]))
    if variant.uses_flow:
        n[FLOW_BLOB] = L.Input(shape=dict(dim=[batch_size, 1, SEQ_LEN, FLOW_DIM]))
    _body(n, variant, deploy=True)
    net = n.to_proto()
    net.name = "ATNet-%s" % variant.name
    return net


# --- inspection ------------------------------------------------------------------

def layer_types(net_param):
    """The set of layer types a NetParameter uses."""
    return {layer.type for layer in net_param.layer}
