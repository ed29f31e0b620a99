"""Pre-training the spatial stream on a prepared macro directory: the run behind tools/pretrain.py.

The parent (``pretrain_run``) reads the prepared index (atnet.macro.index),
writes the training LMDB (``RUN_DIR/lmdb/train_apex``: every training image
once plus ``augment_copies`` augmented copies, optionally class-balanced, in
a seeded shuffled order; Caffe's Data layer cycles over it), the prototxts
(atnet.macro.net), the solver (atnet.solver) and the run-folder files of
atnet.runs (run.json, config.json, job.json, versions.json, command.txt),
checks ``--weights`` layer by layer (atnet.weights; RUN_DIR/weights_report.json), and
starts ``python -m atnet.macro.pretrain RUN_DIR``: one process, because
pycaffe does not reliably free a net's memory. The child trains through
atnet.fold.solve (snapshots, resume from the newest complete one, the loss
curve, progress lines), moves the final iterate to RUN_DIR/pretrained.caffemodel
(with ``bn_recompute_batches``, its BatchNorm statistics re-estimated first),
predicts the validation images once and writes RUN_DIR/report.json
(accuracy and confusion matrix per dataset, for information only: the
final iterate is the model, whatever its validation score) and DONE.
Re-running the same command continues an interrupted run; a finished run is
left alone.
"""
import collections
import dataclasses
import os
import shlex
import shutil
import sys
import time

import cv2
import numpy as np

from atnet import augment, provenance, runs
from atnet import fold as fold_process
from atnet.child_process import child_main, run_with_progress
from atnet.common import InputError, read_json, sha256_file, write_json, write_text
from atnet.config import fold_seed
from atnet.macro import pretrain_config
from atnet.macro.index import load_macro_index
from atnet.macro.net import deploy_net, train_net
from atnet.macro.sequences import MACRO_DATASETS

PRETRAINED_MODEL = "pretrained.caffemodel"
REPORT_FILE = "report.json"
WEIGHTS_REPORT = fold_process.WEIGHTS_REPORT   # what --weights copied, as a fold records it
LMDB_DIR = "lmdb"
TRAIN_LMDB = "train_apex"
SNAPSHOT_PREFIX = "facia_expression"     # the release's name (facia_expression_iter_50000.caffemodel)
RUN_SIGNATURE = ("method", "prepared_index_sha256", "classes", "config", "weights_sha256")


@dataclasses.dataclass(frozen=True)
class PretrainJob:
    """What the child process does (RUN_DIR/job.json); the fields atnet.fold.solve reads, plus the data."""
    prepared: str
    classes: tuple
    weights: str | None
    gpu: int | None
    max_iter: int
    snapshot_prefix: str
    keep_snapshots: int
    solver_seed: int
    bn_recompute_batches: int = 0


# --- the training LMDB ---------------------------------------------------------------

def training_plan(rows, config):
    """``[(row, copy)]`` of the training LMDB in record order; copy 0 is the original image.

    With ``balance: oversample`` every class is filled up to the largest one by
    repeating its images (round robin), each repetition an augmented copy.
    """
    train = [row for row in rows if row.split == "train"]
    if not train:
        raise InputError("the prepared directory has no training images (every subject is in val?)")
    plan = [(row, copy) for row in train for copy in range(1 + (config.augment_copies if config.augment != "none"
                                                                  else 0))]
    if config.balance == "oversample":
        by_class = collections.defaultdict(list)
        for item in plan:
            by_class[item[0].label_index].append(item)
        largest = max(len(items) for items in by_class.values())
        for items in by_class.values():
            extra = largest - len(items)
            originals = [row for row, copy in items if copy == 0]
            items += [(originals[i % len(originals)], len(items) + i) for i in range(extra)]
        plan = [item for label in sorted(by_class) for item in by_class[label]]
    order = np.random.default_rng(fold_seed(config.seed, "macro", "shuffle")).permutation(len(plan))
    return [plan[i] for i in order]


def _records(prepared, plan, config):
    """``(key, label, image, None)`` for write_record_pairs; each copy > 0 draws its own augmentation."""
    for row, copy in plan:
        key = "%s-%s-%s-%d-%d" % (row.dataset, row.subject, row.sequence, row.frame, copy)
        image = cv2.imread(os.path.join(prepared, row.image), cv2.IMREAD_UNCHANGED)
        if image is None or image.shape != (224, 224) or image.dtype != np.uint8:
            raise InputError("%s: not a 224x224 8-bit grey image" % os.path.join(prepared, row.image))
        if copy:
            rng = np.random.default_rng(fold_seed(config.seed, key, "augment"))
            image = augment.apply(image, augment.draw(rng, config.rotation_degrees, config.shift_pixels,
                                                      config.augment_probability))
        yield key, row.label_index, image, None


def build_training_lmdb(run_dir, prepared, rows, classes, config, index_sha256):
    """RUN_DIR/lmdb/train_apex and its manifest, unless one with the same inputs is complete."""
    from atnet.records import write_record_pairs
    folder = os.path.join(run_dir, LMDB_DIR)
    manifest_path = os.path.join(folder, "manifest.json")
    wanted = {"prepared_index_sha256": index_sha256, "parameters": pretrain_config.data_parameters(config)}
    if os.path.isfile(manifest_path):
        recorded = read_json(manifest_path)
        if {k: recorded.get(k) for k in wanted} == wanted:
            return recorded
        os.unlink(manifest_path)
    plan = training_plan(rows, config)
    count = write_record_pairs(_records(prepared, plan, config), apex_lmdb=os.path.join(folder, TRAIN_LMDB),
                               total=len(plan), desc="pre-training LMDB", num_classes=len(classes))
    counts = collections.Counter(classes[row.label_index] for row, _ in plan)
    manifest = dict(wanted, records=count, originals=sum(copy == 0 for _, copy in plan),
                    classes=list(classes), class_records={c: counts[c] for c in classes})
    write_json(manifest_path, manifest)
    return manifest


# --- the parent -------------------------------------------------------------------------

def make_pretrain_solver(config, train_val_path, snapshot_prefix, gpu):
    """The SolverParameter: atnet.solver's SGD solver with every number from the config.

    atnet.solver derives step and length from epochs; with a training-set
    size equal to the batch an "epoch" is one iteration, so ``stepsize`` and
    ``max_iter`` pass through unchanged. A ``max_iter`` below the configured
    one (--iters) scales the stepsize with it.
    """
    from atnet.solver import make_solver
    solver = make_solver(train_val_path, snapshot_prefix, seed=fold_seed(config.seed, "macro", "solver"),
                         train_size=config.batch_size, batch_size=config.batch_size, schedule="paper",
                         step_epochs=config.stepsize, max_epochs=config.max_iter,
                         snapshot_interval=config.snapshot_interval, display=config.display,
                         solver_mode="CPU" if gpu is None else "GPU")
    solver.base_lr, solver.gamma = config.base_lr, config.gamma
    solver.momentum, solver.weight_decay = config.momentum, config.weight_decay
    return solver


def scaled(config, iters):
    """The config with ``max_iter`` capped at ``iters`` and the stepsize scaled by the same ratio."""
    if iters is None or iters >= config.max_iter:
        return config
    return dataclasses.replace(config, max_iter=iters, stepsize=max(1, round(config.stepsize * iters / config.max_iter)))


def check_weights(weights, classes, head):
    """RUN_DIR/weights_report.json: what --weights copies into the pre-training net (atnet.weights)."""
    import caffe
    from atnet.prototxt_io import load_net
    from atnet.weights import check_initial_weights, net_blob_shapes
    if not os.path.isfile(weights):
        raise InputError("--weights %s: no such file" % weights)
    net = load_net(deploy_net(len(classes), head), caffe.TEST)
    return check_initial_weights(weights, net_blob_shapes(net))


def pretrain_run(prepared, run_dir, config, sources=None, weights=None, gpu=None, command=None, progress=True):
    """Pre-train into ``run_dir``; returns 'trained' or 'skipped' (already DONE)."""
    from atnet.prototxt_io import write_prototxt
    from atnet.solver import write_solver
    from atnet.train import check_gpu, child_environment
    prepared, run_dir = os.path.abspath(prepared), os.path.abspath(run_dir)
    rows, classes = load_macro_index(prepared)
    index_sha256 = sha256_file(os.path.join(prepared, "index.csv"))
    document = dict(method="macro pre-training", setting="spatial stream", prepared=prepared,
                    prepared_index_sha256=index_sha256, classes=list(classes),
                    config=dataclasses.asdict(config), weights=os.path.abspath(weights) if weights else None,
                    weights_sha256=sha256_file(weights) if weights and os.path.isfile(weights) else None)
    runs.check_run_folder(run_dir, document, RUN_SIGNATURE)
    if runs.fold_is_done(run_dir):
        return "skipped"
    if gpu is not None:
        check_gpu(gpu)
    os.makedirs(os.path.join(run_dir, runs.SNAPSHOT_DIR), exist_ok=True)
    write_json(os.path.join(run_dir, runs.RUN_FILE), document)
    if weights:
        write_json(os.path.join(run_dir, WEIGHTS_REPORT), check_weights(weights, classes, config.head))
    lmdb = build_training_lmdb(run_dir, prepared, rows, classes, config, index_sha256)
    paths = {name: os.path.join(run_dir, name) for name in (runs.TRAIN_VAL_FILE, runs.DEPLOY_FILE, runs.SOLVER_FILE)}
    header = "macro pre-training of the spatial stream, %d classes (%s); generated by atnet/macro/pretrain.py" % (
        len(classes), ", ".join(classes))
    write_prototxt(paths[runs.TRAIN_VAL_FILE], train_net(len(classes), os.path.join(run_dir, LMDB_DIR, TRAIN_LMDB),
                                                         config.batch_size, config.head), header=header)
    write_prototxt(paths[runs.DEPLOY_FILE], deploy_net(len(classes), config.head), header=header)
    solver = make_pretrain_solver(config, paths[runs.TRAIN_VAL_FILE],
                                  os.path.join(run_dir, runs.SNAPSHOT_DIR, SNAPSHOT_PREFIX), gpu)
    write_solver(paths[runs.SOLVER_FILE], solver, header="%d iterations, batch %d, %d training records"
                 % (solver.max_iter, config.batch_size, lmdb["records"]))
    job = PretrainJob(prepared, tuple(classes), os.path.abspath(weights) if weights else None, gpu, solver.max_iter,
                      solver.snapshot_prefix, config.keep_snapshots, solver.random_seed, config.bn_recompute_batches)
    write_json(os.path.join(run_dir, runs.JOB_FILE), dataclasses.asdict(job))
    write_json(os.path.join(run_dir, runs.CONFIG_FILE), {"config": dataclasses.asdict(config),
                                                         "sources": dict(sources or {})})
    write_json(os.path.join(run_dir, runs.VERSIONS_FILE), provenance.versions())
    write_text(os.path.join(run_dir, runs.COMMAND_FILE), "%s\n%s\n" % (command or "(called from Python)",
                                                                       shlex.join(child_command(run_dir))))
    run_child(run_dir, job, child_environment(), progress)
    return "trained"


def child_command(run_dir):
    return [sys.executable, "-m", "atnet.macro.pretrain", os.path.abspath(run_dir)]


def run_child(run_dir, job, env, progress):
    """The training process; glog to RUN_DIR/train.log, progress lines to a bar."""
    log_path = os.path.join(run_dir, runs.TRAIN_LOG)
    code, _ = run_with_progress(child_command(run_dir), run_dir, env, job.max_iter, "pretrain", progress)
    if code != 0:
        with open(log_path, errors="replace") as handle:
            tail = "".join(handle.readlines()[-8:]).rstrip()
        raise InputError("pre-training failed (exit code %d); see %s. Last lines:\n%s" % (code, log_path, tail))


# --- the child -------------------------------------------------------------------------

def train_child(run_dir):
    """Train (or resume) to max_iter, keep the final iterate, report on the validation images, DONE."""
    import caffe
    from atnet.solver import snapshot_files
    run_dir = os.path.abspath(run_dir)
    job = PretrainJob(**read_json(os.path.join(run_dir, runs.JOB_FILE)))
    caffe.init_log(0, True)
    if job.gpu is None:
        caffe.set_mode_cpu()
    else:
        caffe.set_mode_gpu()
        caffe.set_device(job.gpu)
    started = time.time()
    model = os.path.join(run_dir, PRETRAINED_MODEL)
    resumed = None
    if not os.path.isfile(model):
        resumed = fold_process.solve(caffe, run_dir, job)
        final = snapshot_files(job.snapshot_prefix, job.max_iter)[0]
        if job.bn_recompute_batches:
            recompute_batch_norm(caffe, run_dir, final, job.bn_recompute_batches, model)
        else:
            os.replace(final, model)
    report = validation_report(caffe, run_dir, job, model)
    report.update(iterations=job.max_iter, resumed_from_iteration=resumed, model_sha256=sha256_file(model),
                  bn_recompute_batches=job.bn_recompute_batches,
                  note="for information only: the model is the final iterate, never chosen on these numbers")
    write_json(os.path.join(run_dir, REPORT_FILE), report)
    runs.write_done(run_dir, {"iterations": job.max_iter, "resumed_from_iteration": resumed,
                              "model_sha256": report["model_sha256"],
                              "seconds_last_attempt": round(time.time() - started, 1)})
    shutil.rmtree(os.path.join(run_dir, runs.SNAPSHOT_DIR), ignore_errors=True)
    return 0


def recompute_batch_norm(caffe, run_dir, weights, batches, model):
    """Write ``model``: ``weights`` with every BatchNorm's running sums re-estimated from ``batches``
    training batches (the Data layer's first records, so the same every time) forwarded in TRAIN
    phase with the final weights; nothing else changes. Atomic: a temporary name, then a rename."""
    net = caffe.Net(os.path.join(run_dir, runs.TRAIN_VAL_FILE), caffe.TRAIN, weights=weights)
    norms = [name for name, layer in zip(net._layer_names, net.layers) if layer.type == "BatchNorm"]
    for name in norms:
        for blob in net.params[name]:
            blob.data[...] = 0
    for _ in range(batches):
        net.forward()
    partial = model + ".part"
    net.save(partial)
    os.replace(partial, model)


def validation_report(caffe, run_dir, job, weights, batch=16):
    """Accuracy and confusion matrix (rows: true class, columns: predicted) per dataset and overall."""
    rows, classes = load_macro_index(job.prepared)
    val = [row for row in rows if row.split == "val"]
    net = caffe.Net(os.path.join(run_dir, runs.DEPLOY_FILE), caffe.TEST, weights=weights)
    predicted = []
    for start in range(0, len(val), batch):
        chunk = val[start:start + batch]
        net.blobs["data"].reshape(len(chunk), 1, 224, 224)
        for position, row in enumerate(chunk):
            net.blobs["data"].data[position, 0] = cv2.imread(os.path.join(job.prepared, row.image),
                                                             cv2.IMREAD_UNCHANGED)
        predicted += [int(v) for v in net.forward()["prob"].reshape(len(chunk), -1).argmax(axis=1)]
    report = {"classes": list(classes), "validation_images": len(val), "datasets": {}}
    groups = [(d, [i for i, r in enumerate(val) if r.dataset == d]) for d in MACRO_DATASETS]
    for name, members in groups + [("all", list(range(len(val))))]:
        if not members:
            continue
        matrix = np.zeros((len(classes), len(classes)), dtype=int)
        for i in members:
            matrix[val[i].label_index, predicted[i]] += 1
        report["datasets"][name] = {"images": len(members), "accuracy": round(float(np.trace(matrix)) / len(members), 4),
                                    "confusion": matrix.tolist()}
    return report


def main(argv=None):
    """``python -m atnet.macro.pretrain RUN_DIR``: the training process of a pre-training run."""
    return child_main(argv, "python -m atnet.macro.pretrain RUN_DIR (a run folder written by tools/pretrain.py)",
                      train_child)


if __name__ == "__main__":
    from atnet.common import run_cli
    run_cli(main)
