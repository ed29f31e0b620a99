"""The LMDB record format (atnet/records.py): round trip, key order, pairing
checks, and bad input refused with nothing half-written."""
import os

import lmdb
import numpy as np
import pytest

from atnet import records
from atnet.common import InputError


def make_samples(count, seed=0):
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(count):
        image = rng.integers(0, 256, records.APEX_SHAPE, dtype=np.uint8)
        feature = rng.normal(size=records.FLOW_SHAPE).astype(np.float32)
        samples.append(("casme2-sub%02d-EP0%d_01f" % (i % 3 + 1, i), i % 3, image, feature))
    return samples


def test_record_pairs_round_trip_in_the_written_order(tmp_path):
    samples = make_samples(12)  # more than 10: keys must sort numerically
    samples.append(samples[0])  # an oversampled repeat gets its own key
    count = records.write_record_pairs(samples, tmp_path / "apex", tmp_path / "flow")
    assert count == 13
    back = list(records.read_record_pairs(tmp_path / "apex", tmp_path / "flow"))
    assert [records.clip_key_of(key) for key, *_ in back] == [key for key, *_ in samples]
    assert back[12][0] == "00000012_casme2-sub01-EP00_01f"
    for (key, label, image, feature), (_, want_label, want_image, want_feature) in zip(back, samples):
        assert label == want_label
        np.testing.assert_array_equal(image, want_image)
        np.testing.assert_array_equal(feature, want_feature)


def test_datum_layout_is_what_caffe_data_layers_expect():
    from caffe.proto import caffe_pb2
    image = np.arange(224 * 224, dtype=np.uint32).astype(np.uint8).reshape(224, 224)
    apex = caffe_pb2.Datum.FromString(records.encode_apex(image, 2))
    assert (apex.channels, apex.height, apex.width, apex.label) == (1, 224, 224, 2)
    assert apex.data == image.tobytes() and not apex.float_data
    feature = np.linspace(-3, 3, 64 * 128, dtype=np.float32).reshape(64, 128)
    flow = caffe_pb2.Datum.FromString(records.encode_flow(feature, 1))
    assert (flow.channels, flow.height, flow.width, flow.label) == (1, 64, 128, 1)
    assert not flow.data
    np.testing.assert_array_equal(np.asarray(flow.float_data, np.float32).reshape(64, 128), feature)


def test_flow_only_lmdb_for_the_temporal_variant(tmp_path):
    samples = [(key, label, None, feature) for key, label, _, feature in make_samples(3)]
    records.write_record_pairs(samples, flow_lmdb=tmp_path / "flow")
    assert not os.path.exists(tmp_path / "apex")
    keys = [key for key, _, _ in records.read_records(tmp_path / "flow", records.decode_flow)]
    assert keys == ["%08d_%s" % (i, s[0]) for i, s in enumerate(samples)]


@pytest.mark.parametrize("corrupt, message", [
    (lambda s: (s[0], s[1], s[2][:100], s[3]), "sample casme2-sub03-EP02_01f \\(apex\\).*224x224"),
    (lambda s: (s[0], 3, s[2], s[3]), "label 3"),
    (lambda s: (s[0], s[1], s[2], np.where(np.arange(128) == 5, np.nan, s[3])), "row\\) 0, column 5"),
])
def test_bad_sample_is_refused_and_nothing_is_written(tmp_path, corrupt, message):
    samples = make_samples(4)
    samples[2] = corrupt(samples[2])
    with pytest.raises(InputError, match=message):
        records.write_record_pairs(samples, tmp_path / "apex", tmp_path / "flow")
    assert os.listdir(tmp_path) == []


def test_rewriting_replaces_an_existing_pair(tmp_path):
    records.write_record_pairs(make_samples(5), tmp_path / "apex", tmp_path / "flow")
    records.write_record_pairs(make_samples(2, seed=1), tmp_path / "apex", tmp_path / "flow")
    assert len(list(records.read_record_pairs(tmp_path / "apex", tmp_path / "flow"))) == 2


def test_mismatched_pair_is_reported(tmp_path):
    samples = make_samples(3)
    records.write_record_pairs(samples, tmp_path / "apex", tmp_path / "flow")
    records.write_record_pairs(samples[:2], flow_lmdb=tmp_path / "short_flow")
    with pytest.raises(InputError, match="record 2 has key 00000002_.* but None"):
        list(records.read_record_pairs(tmp_path / "apex", tmp_path / "short_flow"))
    relabelled = [(k, (label + 1) % 3, i, f) for k, label, i, f in samples]
    records.write_record_pairs(relabelled, flow_lmdb=tmp_path / "other_flow")
    with pytest.raises(InputError, match="has label 0 \\(apex\\) but 1 \\(flow\\)"):
        list(records.read_record_pairs(tmp_path / "apex", tmp_path / "other_flow"))


def test_lmdb_map_grows_when_full(tmp_path, monkeypatch):
    monkeypatch.setattr(records, "_INITIAL_MAP_SIZE", 64 * 1024)
    records.write_record_pairs(make_samples(6), tmp_path / "apex", tmp_path / "flow")
    env = lmdb.open(str(tmp_path / "apex"), readonly=True, lock=False)
    assert env.stat()["entries"] == 6
    env.close()
