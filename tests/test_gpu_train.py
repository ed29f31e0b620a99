"""On an NVIDIA GPU: the CUDA build's `caffe train` trains the fusion network on a
synthetic fold (the training loss goes down), and its final snapshot predicts
the held-out samples on the GPU as the CPU does, within 1e-3.

Skipped, with the reason, when the CUDA build is not in the cache
(`CAFFE_GPU=1 make setup`) or no usable GPU is present.
"""
import json
import os
import subprocess
import sys

import numpy as np

from gpu_support import REPO, cached_build, require_gpu

PER_CLASS_TRAIN, PER_CLASS_TEST = 8, 2
BATCH = 8
ITERATIONS = 60
TOLERANCE = 1e-3

#: Run by a pycaffe of choice (PYTHONPATH): mean TRAIN-phase loss over the
#: training LMDB for each weights file, then the deploy net's class
#: probabilities of every test record in each requested mode.
PROBE = r"""
import json, sys
import caffe
import numpy as np
from atnet import nets, records
spec = json.loads(sys.argv[1])
out = {"loss": [], "probs": {}}
caffe.set_mode_cpu()
for weights in spec["loss_weights"]:
    caffe.set_random_seed(0)  # the same dropout masks for every weights file
    net = caffe.Net(spec["train_val"], caffe.TRAIN, weights=weights)
    out["loss"].append(float(np.mean([net.forward()["loss"] for _ in range(spec["train_batches"])])))
pairs = list(records.read_record_pairs(spec["test_apex"], spec["test_flow"]))
for mode in spec["modes"]:
    if mode == "GPU":
        caffe.set_device(0)
        caffe.set_mode_gpu()
    else:
        caffe.set_mode_cpu()
    net = caffe.Net(spec["deploy"], caffe.TEST, weights=spec["weights"])
    probs = []
    for _, _, image, feature in pairs:
        net.blobs[nets.APEX_BLOB].data[0, 0] = image
        net.blobs[nets.FLOW_BLOB].data[0, 0] = feature
        probs.append(net.forward()[nets.PROB_BLOB][0].tolist())
    out["probs"][mode] = probs
print(json.dumps(out))
"""


def separable_records(per_class, seed):
    """(key, label, apex, flow) with the class visible in both streams, so a few iterations learn it."""
    rng = np.random.default_rng(seed)
    for index in range(3 * per_class):
        label = index % 3
        apex = rng.integers(0, 120, (224, 224)).astype(np.uint8)
        apex[70 * label:70 * label + 84] += 100  # a bright band whose height gives the class
        flow = rng.normal(0, 0.3, (64, 128)).astype(np.float32)
        flow[:, 1::2] = np.abs(flow[:, 1::2]) + 0.5 * label  # magnitudes grow with the class
        yield "synth-s%02d-clip%03d" % (index % 4, index), label, apex, flow


def write_fold(folder, device):
    """LMDBs, train_val, deploy and solver prototxt of one synthetic fold; returns their paths."""
    from atnet import nets, records, solver
    paths = {name: os.path.join(folder, name) for name in ("train_apex", "train_flow", "test_apex", "test_flow")}
    records.write_record_pairs(separable_records(PER_CLASS_TRAIN, 1), paths["train_apex"], paths["train_flow"])
    records.write_record_pairs(separable_records(PER_CLASS_TEST, 2), paths["test_apex"], paths["test_flow"])
    paths["train_val"] = os.path.join(folder, "train_val.prototxt")
    nets.write_prototxt(paths["train_val"], nets.train_val(
        "fusion", paths["train_apex"], paths["train_flow"], batch_size=BATCH))
    paths["deploy"] = os.path.join(folder, "deploy.prototxt")
    nets.write_prototxt(paths["deploy"], nets.deploy("fusion"))
    fold_solver = solver.make_solver(paths["train_val"], os.path.join(folder, "snapshots", "fusion"), seed=1,
                                     train_size=3 * PER_CLASS_TRAIN, batch_size=BATCH, max_iter=ITERATIONS,
                                     solver_mode=device)
    os.makedirs(os.path.join(folder, "snapshots"))
    paths["solver"] = os.path.join(folder, "solver.prototxt")
    solver.write_solver(paths["solver"], fold_solver)
    paths["final"] = solver.snapshot_paths(fold_solver)[0]
    return paths


def probe(caffe_python, spec):
    """Run PROBE with the pycaffe in ``caffe_python``; returns its JSON answer."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([caffe_python, REPO]), GLOG_minloglevel="2")
    run = subprocess.run([sys.executable, "-c", PROBE, json.dumps(spec)], env=env, capture_output=True,
                         text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def train_and_compare(folder, prefix, device, reference_python):
    """Train with ``prefix``'s caffe binary on ``device``; check the loss and the predictions."""
    paths = write_fold(folder, device)
    init = os.path.join(folder, "init.caffemodel")
    subprocess.run([sys.executable, "-c", "import caffe, sys; caffe.Net(sys.argv[1], caffe.TRAIN).save(sys.argv[2])",
                    paths["train_val"], init], env=dict(os.environ, PYTHONPATH=os.path.join(prefix, "python"),
                                                        GLOG_minloglevel="2"), check=True)
    command = [os.path.join(prefix, "bin", "caffe"), "train", "--solver=" + paths["solver"], "--weights=" + init]
    if device == "GPU":
        command.append("--gpu=0")
    run = subprocess.run(command, capture_output=True, text=True, timeout=1800,
                         env=dict(os.environ, GLOG_logtostderr="1"))
    assert run.returncode == 0 and os.path.isfile(paths["final"]), run.stderr[-3000:]

    spec = dict(paths, weights=paths["final"], loss_weights=[init, paths["final"]],
                train_batches=3 * PER_CLASS_TRAIN // BATCH, modes=["GPU", "CPU"] if device == "GPU" else ["CPU"])
    trained = probe(os.path.join(prefix, "python"), spec)
    initial_loss, final_loss = trained["loss"]
    assert final_loss < 0.7 * initial_loss, trained["loss"]
    reference = probe(reference_python, dict(spec, loss_weights=[], modes=["CPU"]))["probs"]["CPU"]
    for mode, probs in trained["probs"].items():
        np.testing.assert_allclose(probs, reference, atol=TOLERANCE, err_msg="%s vs the CPU build" % mode)
    return trained


def test_caffe_train_on_the_gpu_matches_the_cpu(tmp_path):
    prefix = cached_build(gpu=True)
    require_gpu(prefix)
    reference = os.path.join(cached_build(gpu=False), "python")
    train_and_compare(str(tmp_path), prefix, "GPU", reference)
