"""The fusion TRAIN net reads a fold's two training LMDBs through two Caffe Data layers:
over a whole epoch (and the wrap-around into the next), every batch's apex images and flow
features belong to the same samples, in the manifest's order, with the samples' labels."""
import json
import os

import numpy as np

import train_support
from atnet import augment, nets
from atnet.prototxt_io import write_prototxt
from atnet.data.prepared import load_apex_image, load_feature, load_index

BATCH = 4


def test_every_batch_of_an_epoch_pairs_apex_and_flow_of_the_same_samples(caffe, tmp_path):
    prepared, out = str(tmp_path / "prepared"), tmp_path / "lmdb"
    train_support.make_prepared(prepared, train_support.small_counts(), seed=11)
    train_support.call_tool("make_lmdb", "--prepared", prepared, "--protocol", "cde", "--out", out,
                            "--folds", "cde-samm-7")
    fold = out / "cde-samm-7"
    samples = json.loads((fold / "manifest.json").read_text())["train"]["samples"]
    count = len(samples)
    assert count % BATCH != 0, "choose a batch size that makes the epoch wrap mid-batch"
    rows = {row.key: row for row in load_index(prepared)}

    net_path = str(tmp_path / "train_val.prototxt")
    write_prototxt(net_path, nets.train_val("fusion", str(fold / "train_apex"), str(fold / "train_flow"),
                                            batch_size=BATCH))
    net = caffe.Net(net_path, caffe.TRAIN)
    data_layers = [i for i, layer in enumerate(net.layers) if layer.type == "Data"]
    assert len(data_layers) == 2  # one per LMDB

    batches = count // BATCH + 2  # a whole epoch, then into the next one
    for batch in range(batches):
        net._forward(0, max(data_layers))  # the Data layers only
        for slot in range(BATCH):
            position = (batch * BATCH + slot) % count  # Data layers wrap to the first record
            sample = samples[position]
            row = rows[sample["key"]]
            change = augment.Augmentation(**sample["augmentation"]) if sample["augmentation"] else augment.IDENTITY
            apex = net.blobs[nets.APEX_BLOB].data[slot, 0]
            flow = net.blobs[nets.FLOW_BLOB].data[slot, 0]
            where = "batch %d slot %d (record %d, %s)" % (batch, slot, position, sample["key"])
            np.testing.assert_array_equal(apex, augment.apply(load_apex_image(prepared, row), change), where)
            np.testing.assert_array_equal(flow, load_feature(prepared, row), where)
            assert net.blobs[nets.LABEL_BLOB].data[slot] == row.label == sample["label"], where
    assert os.path.isfile(fold / "train_flow" / "data.mdb")
