"""One fold in its own process: ``python -m atnet.fold FOLD_DIR``.

atnet.train (the parent) writes FOLD_DIR's files (the run-folder contract is
in atnet.runs) and starts this for every fold: pycaffe does not reliably free
a net's memory, so every fold gets a fresh process. Everything the process
needs is in FOLD_DIR (job.json: a ``FoldJob``; solver.prototxt;
deploy.prototxt), so a fold can be re-run by hand with that one command.

It trains to the solver's max_iter (resuming from the newest complete
snapshot of an interrupted attempt, atnet.resume, with the same result), moves the final iterate to
final.caffemodel, predicts the test fold once through the deploy net, and
writes DONE last. Its glog output (Caffe's own log, parseable by Caffe's
tools/extra/parse_log.py) goes to stderr, which the parent appends to
train.log; each iteration's loss goes to stdout as a ``@progress ITER LOSS``
line, which the parent turns into a progress bar (atnet.child_process).

No number computed on the test fold influences training: the solver has no
test net and the final iterate, never a chosen snapshot, is the model.
"""
import dataclasses
import os
import shutil
import sys
import time

from atnet import runs
from atnet.child_process import child_main, progress_line
from atnet.common import InputError, atomic_path, read_json, sha256_file, write_json, write_text
from atnet.integrity import verify_fold_lmdbs
from atnet.lmdb_folds import MANIFEST_FILE
from atnet.resume import restore_data_sources, resumed_solver, stream_seed
from atnet.solver import read_solver, snapshot_files, snapshot_iterations

#: Which layers --weights filled and which kept their fillers (atnet.weights.check_initial_weights).
WEIGHTS_REPORT = "weights_report.json"


@dataclasses.dataclass(frozen=True)
class FoldJob:
    """What the fold's process does (FOLD_DIR/job.json): written by the parent, read here."""
    model: str
    fold: str
    lmdb: str  # the fold's LMDB folder (train_apex, train_flow, test_apex, test_flow, manifest.json)
    weights: str | None  # initial weights, loaded by layer name on a fresh start
    gpu: int | None  # the device; None trains on the CPU
    max_iter: int
    snapshot_prefix: str
    keep_snapshots: int
    solver_seed: int
    lmdb_seeds: dict | None  # the LMDB fold's seeds (oversample, augment, shuffle), for the record

    def write(self, fold_dir):
        write_json(os.path.join(fold_dir, runs.JOB_FILE), dataclasses.asdict(self))

    @classmethod
    def read(cls, fold_dir):
        """FOLD_DIR/job.json; InputError naming the file when keys are missing or unknown."""
        path = os.path.join(fold_dir, runs.JOB_FILE)
        doc = read_json(path)
        names = [field.name for field in dataclasses.fields(cls)]
        if not isinstance(doc, dict) or sorted(doc) != sorted(names):
            raise InputError("%s: expected a JSON object with exactly the keys %s (written by tools/train.py)"
                             % (path, ", ".join(names)))
        return cls(**doc)


# --- snapshots -----------------------------------------------------------------------

def snapshot_is_complete(state_path, iteration):
    """True when a snapshot can be restored: the .solverstate and the .caffemodel it names parse,
    agree on the iteration and hold one history blob per parameter blob, every blob full.

    Caffe writes the .caffemodel and then the .solverstate, neither atomically:
    a process killed while writing leaves a truncated newest snapshot.
    """
    from caffe.proto import caffe_pb2
    from google.protobuf.message import DecodeError
    try:
        with open(state_path, "rb") as handle:
            state = caffe_pb2.SolverState.FromString(handle.read())
        if state.iter != iteration or not os.path.isfile(state.learned_net):
            return False
        with open(state.learned_net, "rb") as handle:
            model = caffe_pb2.NetParameter.FromString(handle.read())
    except (OSError, DecodeError):
        return False
    blobs = [blob for layer in model.layer for blob in layer.blobs]
    return len(blobs) == len(state.history) and all(
        _blob_is_full(blob) for blob in list(blobs) + list(state.history))


def _blob_is_full(blob):
    size = 1
    for dim in blob.shape.dim:
        size *= dim
    return len(blob.data) == size


def newest_complete_snapshot(prefix):
    """(iteration, solverstate path) of the newest restorable snapshot, or None."""
    for iteration, path in snapshot_iterations(os.path.dirname(prefix), prefix):
        if snapshot_is_complete(path, iteration):
            return iteration, path
    return None


def prune_snapshots(prefix, keep):
    """Delete all but the newest ``keep`` complete snapshots (0 keeps all); incomplete older ones go too."""
    if keep <= 0:
        return
    kept = 0
    for iteration, path in snapshot_iterations(os.path.dirname(prefix), prefix):
        if kept < keep and snapshot_is_complete(path, iteration):
            kept += 1
            continue
        if kept >= keep:
            for stale in (path, snapshot_files(prefix, iteration)[0]):
                if os.path.exists(stale):
                    os.unlink(stale)


# --- the training curve --------------------------------------------------------------

class CurveRecorder:
    """Collects (iter, loss, lr) of every iteration into train_curve.part.csv while training.

    On a resume the rows of iterations after the restored snapshot (which
    will be run again) are dropped first; ``finish`` writes train_curve.csv.
    """

    def __init__(self, fold_dir, start_iter):
        self.part = os.path.join(fold_dir, runs.CURVE_PART)
        self.final = os.path.join(fold_dir, runs.FOLD_CURVE)
        rows = [row for row in self._read() if row[0] < start_iter]
        with atomic_path(self.part) as tmp:
            with open(tmp, "w") as handle:
                handle.writelines("%d,%.9g,%.9g\n" % row for row in rows)
        self.handle = open(self.part, "a")

    def _read(self):
        rows = []
        if os.path.isfile(self.part):
            with open(self.part) as handle:
                for line in handle:
                    fields = line.strip().split(",")
                    try:  # a process killed mid-line leaves a short last line
                        rows.append((int(fields[0]), float(fields[1]), float(fields[2])))
                    except (IndexError, ValueError):
                        continue
        return rows

    def add(self, iteration, loss, lr):
        self.handle.write("%d,%.9g,%.9g\n" % (iteration, loss, lr))
        self.handle.flush()

    def finish(self):
        self.handle.close()
        rows = sorted({row[0]: row for row in self._read()}.values())
        lines = [",".join(runs.CURVE_COLUMNS) + "\n"] + ["%d,%.9g,%.9g\n" % row for row in rows]
        write_text(self.final, "".join(lines))
        os.unlink(self.part)


# --- the fold ------------------------------------------------------------------------

def train_fold(fold_dir):
    """Train (or resume) one fold, then predict its test set; the body of the fold's process."""
    import caffe
    fold_dir = os.path.abspath(fold_dir)
    job = FoldJob.read(fold_dir)
    caffe.init_log(0, True)
    if job.gpu is None:
        caffe.set_mode_cpu()
    else:
        caffe.set_mode_gpu()
        caffe.set_device(job.gpu)
    started = time.time()
    manifest = read_json(os.path.join(job.lmdb, MANIFEST_FILE))
    check_seconds = verify_fold_lmdbs(job.lmdb, job.fold, manifest, manifest["parameters"]["protocol"])
    final_model = os.path.join(fold_dir, runs.FINAL_MODEL)
    resumed = None
    if not os.path.isfile(final_model):
        resumed = solve(caffe, fold_dir, job)
        os.replace(snapshot_files(job.snapshot_prefix, job.max_iter)[0], final_model)
        if resumed is not None:
            restore_data_sources(final_model, fold_dir)
    predictions = predict(caffe, fold_dir, job, final_model)
    from atnet.predictions import write_predictions
    write_predictions(os.path.join(fold_dir, runs.FOLD_PREDICTIONS), predictions)
    if os.path.isfile(os.path.join(fold_dir, runs.CURVE_PART)):
        CurveRecorder(fold_dir, job.max_iter).finish()
    correct = sum(p.pred == p.label for p in predictions)
    runs.write_done(fold_dir, {
        "fold": job.fold, "iterations": job.max_iter, "resumed_from_iteration": resumed,
        "test_samples": len(predictions), "test_correct": correct,
        "final_model_sha256": sha256_file(final_model),
        "predictions_sha256": sha256_file(os.path.join(fold_dir, runs.FOLD_PREDICTIONS)),
        "lmdb_check_seconds": round(check_seconds, 4), "seconds_last_attempt": round(time.time() - started, 1)})
    # emptied, not removed: solver.prototxt's snapshot_prefix points into it, so the finished
    # folder still runs as is with `caffe train -solver solver.prototxt`
    shutil.rmtree(os.path.join(fold_dir, runs.SNAPSHOT_DIR), ignore_errors=True)
    os.makedirs(os.path.join(fold_dir, runs.SNAPSHOT_DIR), exist_ok=True)
    return 0


def solve(caffe, fold_dir, job):
    """Run the solver to max_iter, from the newest complete snapshot if there is one.

    Returns the iteration resumed from (None for a fresh start). Initial
    weights (``--weights``) are checked (atnet.weights.check_initial_weights,
    report in weights_report.json) and loaded by layer name on a fresh start
    only: a resumed fold has its own trained weights.

    A resumed fold ends with the same model as an uninterrupted one: Caffe's
    Data layers start at their first record, so a resume at iteration k reads
    copies of the training LMDBs rotated to record (k x batch) mod N (the
    record the uninterrupted run reads next; ``resumed_solver``), and Caffe's
    random stream (Dropout) is re-seeded from (solver seed, iteration) at
    every snapshot iteration after the first, in every attempt alike,
    because a solverstate does not hold it.
    """
    snapshot = newest_complete_snapshot(job.snapshot_prefix)
    start = snapshot[0] if snapshot else 0
    if start >= job.max_iter:
        return start
    solver_path = os.path.join(fold_dir, runs.SOLVER_FILE)
    interval = read_solver(solver_path).snapshot
    solver = caffe.get_solver(resumed_solver(fold_dir, job, start) if snapshot else solver_path)
    if snapshot is None and job.weights:
        from atnet.weights import check_initial_weights, net_blob_shapes, weights_report_lines
        report = check_initial_weights(job.weights, net_blob_shapes(solver.net))
        write_json(os.path.join(fold_dir, WEIGHTS_REPORT), report)
        print("\n".join(weights_report_lines(report)), file=sys.stderr, flush=True)
        solver.net.copy_from(job.weights)
    curve = CurveRecorder(fold_dir, start)

    def on_start():
        if solver.iter % interval == 0 and solver.iter > 0:   # iteration 0 keeps the solver's own seed
            caffe.set_random_seed(stream_seed(job.solver_seed, solver.iter))
            if solver.iter > start:
                prune_snapshots(job.snapshot_prefix, job.keep_snapshots)

    def on_gradients_ready():
        from atnet.nets import LOSS_BLOB
        loss = float(solver.net.blobs[LOSS_BLOB].data)
        curve.add(solver.iter, loss, solver.lr)
        print(progress_line(solver.iter, loss), flush=True)

    solver.add_callback(on_start, on_gradients_ready)
    if snapshot:
        solver.solve(snapshot[1])
    else:
        solver.solve()
    curve.finish()
    return snapshot[0] if snapshot else None


def predict(caffe, fold_dir, job, weights):
    """Softmax scores of every test record, batch 1, in the manifest's order, through the deploy net."""
    from atnet.nets import APEX_BLOB, FLOW_BLOB, PROB_BLOB
    from atnet.predictions import make_prediction
    from atnet.records import clip_key_of, read_record_pairs
    from atnet.variants import variant_of
    variant = variant_of(job.model)
    samples = read_json(os.path.join(job.lmdb, MANIFEST_FILE))["test"]["samples"]
    net = caffe.Net(os.path.join(fold_dir, runs.DEPLOY_FILE), caffe.TEST, weights=weights)
    records = read_record_pairs(os.path.join(job.lmdb, "test_apex"), os.path.join(job.lmdb, "test_flow"))
    predictions = []
    for position, (key, label, apex, flow) in enumerate(records):
        if position >= len(samples) or clip_key_of(key) != samples[position]["key"] \
                or label != samples[position]["label"]:
            raise InputError("%s: test record %s does not match the manifest's sample %d"
                             % (job.lmdb, key, position))
        if variant.uses_apex:
            net.blobs[APEX_BLOB].data[0, 0] = apex
        if variant.uses_flow:
            net.blobs[FLOW_BLOB].data[0, 0] = flow
        scores = net.forward()[PROB_BLOB][0].ravel()
        predictions.append(make_prediction(samples[position], scores))
    if len(predictions) != len(samples):
        raise InputError("%s: %d test records, the manifest lists %d" % (job.lmdb, len(predictions), len(samples)))
    return predictions


def command(fold_dir):
    """The command line of the fold's process."""
    return [sys.executable, "-m", "atnet.fold", os.path.abspath(fold_dir)]


def main(argv=None):
    """``python -m atnet.fold FOLD_DIR``: train and predict one fold."""
    return child_main(argv, "python -m atnet.fold FOLD_DIR (a fold folder written by tools/train.py)", train_fold)


if __name__ == "__main__":
    from atnet.common import run_cli
    run_cli(main)
