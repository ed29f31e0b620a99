"""The pre-training net: the spatial stream (atnet.nets, ResNet10_cvgj layer names) with a
K-way head of its own.

The head's layer is ``fc_macro``, a name no micro net uses (theirs are
``fc_<variant>``), so a pre-trained model loads into every micro net by layer
name: all ResNet layers are copied, the micro head keeps its filler. ``head``
selects what sits between ``global_pool`` and the classifier (an open point of
pretraining.md): ``l2`` -- L2 normalisation and Dropout 0.5, as the spatial
variant that is fine-tuned afterwards (default) -- or ``plain``, the pooled
feature directly. The classifier's fillers and multipliers are the micro
head's (xavier, bias 0.2; bias lr 2, no decay).
"""
import os

import caffe
from caffe import layers as L
from caffe import params as P

from atnet import nets

MACRO_SCORE = "fc_macro"
HEADS = ("l2", "plain")
DEFAULT_HEAD = "l2"


def _head(n, pooled, num_classes, head):
    """Optional L2 normalisation + Dropout, then InnerProduct(num_classes) as ``fc_macro``."""
    if head not in HEADS:
        raise ValueError("unknown head %r (choose from %s)" % (head, ", ".join(HEADS)))
    top = pooled
    if head == "l2":
        top = nets.l2_normalize(n, pooled, "spatial_normalize")
        n.drop = L.Dropout(top, in_place=True, dropout_ratio=0.5)
        top = n.drop
    n[MACRO_SCORE] = L.InnerProduct(top, param=[dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)],
                                    inner_product_param=dict(num_output=num_classes,
                                                             weight_filler=dict(type="xavier"),
                                                             bias_filler=dict(type="constant", value=0.2)))
    return n[MACRO_SCORE]


def train_net(num_classes, train_lmdb=None, batch_size=16, head=DEFAULT_HEAD):
    """The TRAIN NetParameter: a Data layer on the apex-format LMDB (or, without one, Input
    blobs ``data`` and ``label`` of ``batch_size``, for benchmarks), the stream, the head, the loss."""
    n = caffe.NetSpec()
    if train_lmdb:
        n[nets.APEX_BLOB], n[nets.LABEL_BLOB] = L.Data(ntop=2, include=dict(phase=caffe.TRAIN), data_param=dict(
            source=os.fspath(train_lmdb), batch_size=batch_size, backend=P.Data.LMDB))
    else:
        n[nets.APEX_BLOB] = L.Input(shape=dict(dim=[batch_size, 1, 224, 224]))
        n[nets.LABEL_BLOB] = L.Input(shape=dict(dim=[batch_size]))
    score = _head(n, nets.spatial_stream(n, n[nets.APEX_BLOB], deploy=False), num_classes, head)
    n[nets.LOSS_BLOB] = L.SoftmaxWithLoss(score, n[nets.LABEL_BLOB])
    net = n.to_proto()
    net.name = "ATNet-macro-pretraining"
    return net


def deploy_net(num_classes, head=DEFAULT_HEAD, batch_size=1):
    """The deploy NetParameter: Input ``data``, stored BatchNorm statistics, output ``prob``."""
    n = caffe.NetSpec()
    n[nets.APEX_BLOB] = L.Input(shape=dict(dim=[batch_size, 1, 224, 224]))
    score = _head(n, nets.spatial_stream(n, n[nets.APEX_BLOB], deploy=True), num_classes, head)
    n[nets.PROB_BLOB] = L.Softmax(score)
    net = n.to_proto()
    net.name = "ATNet-macro-pretraining-deploy"
    return net
