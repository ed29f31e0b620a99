"""Resuming a fold so that it ends with the same model as an uninterrupted run.

Caffe's Data layers start again at their first record after ``caffe train
--snapshot``, and a .solverstate does not hold Caffe's random stream; atnet.fold
uses these three pieces so that neither shows in the result: the resumed
attempt's TRAIN Data layers read copies of the training LMDBs rotated to the
record the uninterrupted run reads next (``resumed_solver``), the random
stream is re-seeded from (solver seed, iteration) at every snapshot iteration
in every attempt alike (``stream_seed``), and the final model gets the fold's
own LMDB paths back (``restore_data_sources``).
"""
import os

from atnet import runs
from atnet.common import read_json, write_bytes, write_text
from atnet.lmdb_folds import MANIFEST_FILE
from atnet.solver import read_solver


def restore_data_sources(model_path, fold_dir):
    """Give a model saved by a resumed attempt the fold's own LMDB paths.

    Caffe stores each layer's parameters in the .caffemodel, so the Data
    layers of a resumed attempt name the rotated copies; with the original
    sources the model is byte-identical to an uninterrupted run's.
    """
    from caffe.proto import caffe_pb2
    from google.protobuf import text_format
    with open(os.path.join(fold_dir, runs.TRAIN_VAL_FILE)) as handle:
        net = text_format.Parse(handle.read(), caffe_pb2.NetParameter())
    sources = {layer.name: layer.data_param.source for layer in net.layer
               if layer.type == "Data" and any(rule.phase == caffe_pb2.TRAIN for rule in layer.include)}
    with open(model_path, "rb") as handle:
        model = caffe_pb2.NetParameter.FromString(handle.read())
    for layer in model.layer:
        if layer.type == "Data" and layer.name in sources:
            layer.data_param.source = sources[layer.name]
    write_bytes(model_path, model.SerializeToString())


def stream_seed(solver_seed, iteration):
    """Caffe's random seed from a snapshot iteration on: the same in a fresh and a resumed attempt."""
    return (int(solver_seed) * 1000003 + int(iteration)) % (2 ** 31 - 1)


def resumed_solver(fold_dir, job, start):
    """The solver of an attempt resumed at ``start``: its TRAIN Data layers read copies of the
    training LMDBs rotated to the record the uninterrupted run reads at ``start``."""
    from caffe.proto import caffe_pb2
    from google.protobuf import text_format
    from atnet.records import write_rotated_copy
    solver = read_solver(os.path.join(fold_dir, runs.SOLVER_FILE))
    with open(solver.net) as handle:
        net = text_format.Parse(handle.read(), caffe_pb2.NetParameter())
    resume_dir = os.path.join(fold_dir, runs.SNAPSHOT_DIR, "resume-%d" % start)
    for layer in net.layer:
        if layer.type != "Data" or not any(rule.phase == caffe_pb2.TRAIN for rule in layer.include):
            continue
        records = read_json(os.path.join(job.lmdb, MANIFEST_FILE))["train"]["records"]
        first = start * layer.data_param.batch_size % records
        target = os.path.join(resume_dir, os.path.basename(layer.data_param.source))
        write_rotated_copy(layer.data_param.source, target, first)
        layer.data_param.source = target
    solver.net = os.path.join(resume_dir, runs.TRAIN_VAL_FILE)
    write_text(solver.net, text_format.MessageToString(net))
    path = os.path.join(resume_dir, runs.SOLVER_FILE)
    write_text(path, text_format.MessageToString(solver))
    return path
