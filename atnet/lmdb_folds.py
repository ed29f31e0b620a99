"""One pair of training and one pair of test LMDBs per fold, from a prepared directory.

Layout (tools/make_lmdb.py writes it, tools/train.py reads it)::

    LMDB_DIR/folds.json                  protocol, every fold name, parameters, input digest
    LMDB_DIR/<fold>/train_apex, train_flow   balanced, augmented, shuffled training records
    LMDB_DIR/<fold>/test_apex, test_flow     the held-out samples, in index order
    LMDB_DIR/<fold>/manifest.json        the records in order, counts, seeds, checksums, versions

Records follow ``atnet.records`` (the same key at the same position in the
apex and the flow LMDB). Both streams are always written; a single-stream
variant reads one of them. A training set is every sample outside the held-out
group, each minority class oversampled with replacement up to the majority
count (``atnet.folds.balance_by_oversampling``, as the release), the copies'
apex images augmented (``atnet.augment``), then shuffled once. Every random
choice comes from seeds derived from the run seed and the fold name, so a
fold's bytes do not depend on which other folds are built: two builds with the
same seed give byte-identical data.mdb files.

A fold is written under a temporary name and renamed when complete
(manifest.json last, with the versions of the code that wrote it:
atnet.provenance), so a fold directory with a manifest is complete. A
re-run skips complete folds whose parameters match and refuses, naming the
fold, those whose parameters differ (``force`` rebuilds them); training
checks the same (``read_folds_file``, ``check_lmdb_folds``) before it reads
the LMDBs.
"""
import dataclasses
import hashlib
import os
import shutil
import sys

import numpy as np
from tqdm import tqdm

from atnet import augment, provenance
from atnet.common import DATASETS, InputError, atomic_path, read_json, sha256_file, write_json
from atnet.config import data_parameters, fold_seed
from atnet.data.adm import move_valid_rows_to_end
from atnet.data.prepared import INDEX_FILE, load_apex_image, load_feature, load_index
from atnet.integrity import check_checksums
from atnet.locks import folder_lock
from atnet.folds import balance_by_oversampling, class_counts, make_folds, select_folds
from atnet.records import APEX_SHAPE, write_record_pairs
from atnet.runs import check_same_settings, setting_differences

FOLDS_FILE = "folds.json"
MANIFEST_FILE = "manifest.json"
STREAMS = ("train_apex", "train_flow", "test_apex", "test_flow")
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class TrainEntry:
    """One training record: a sample, whether it is an oversampled copy, and its augmentation."""
    row: object
    copy: bool
    augmentation: augment.Augmentation

    def to_json(self):
        return {"key": self.row.key, "label": self.row.label, "copy": self.copy,
                "augmentation": self.augmentation.to_json()}


@dataclasses.dataclass(frozen=True)
class FoldPlan:
    """What one fold's LMDBs will hold, in record order."""
    name: str
    train: tuple  # TrainEntry, shuffled
    test: tuple  # IndexRow, in index order
    original_counts: tuple  # per class, before oversampling
    seeds: dict


def plan_fold(fold, config):
    """The records of one fold: oversample, draw each copy's augmentation, shuffle.

    Three independent generators (oversample, augment, shuffle), each seeded
    from (seed, fold name, purpose), keep the stages from disturbing each
    other's random streams.
    """
    seeds = {purpose: fold_seed(config.seed, fold.name, purpose) for purpose in ("oversample", "augment", "shuffle")}
    balanced = balance_by_oversampling(fold.train, np.random.default_rng(seeds["oversample"]))
    augment_rng = np.random.default_rng(seeds["augment"])
    entries = [TrainEntry(row, False, augment.IDENTITY) for row in balanced[:len(fold.train)]]
    entries += [TrainEntry(row, True, augment.draw_for_config(augment_rng, config))
                for row in balanced[len(fold.train):]]
    order = np.random.default_rng(seeds["shuffle"]).permutation(len(entries))
    return FoldPlan(fold.name, tuple(entries[i] for i in order), tuple(fold.test),
                    tuple(class_counts(fold.train)), seeds)


def plan_folds(rows, protocol, config, names=None):
    """The plans of the selected folds of ``protocol`` over the prepared ``rows``."""
    folds = select_folds(make_folds(rows, protocol), names)
    for fold in folds:
        if not fold.train:
            raise InputError("fold %s has no training sample: the prepared directory holds one group only"
                             % fold.name)
    return [plan_fold(fold, config) for fold in folds]


class SampleStore:
    """The apex images and flow features of a prepared directory, each read once.

    Folds share most of their samples, so caching them makes building 68
    folds cost one read of the directory (about 40 MB for the composite).
    """

    def __init__(self, prepared, flow_rows):
        self.prepared = prepared
        self.flow_rows = flow_rows
        self._apex, self._flow = {}, {}

    def apex(self, row):
        if row.key not in self._apex:
            image = load_apex_image(self.prepared, row)
            if image.shape != APEX_SHAPE:
                raise InputError("%s: apex image of %s is %dx%d, expected %dx%d"
                                 % (os.path.join(self.prepared, row.apex_image), row.key,
                                    image.shape[1], image.shape[0], APEX_SHAPE[1], APEX_SHAPE[0]))
            self._apex[row.key] = image
        return self._apex[row.key]

    def flow(self, row):
        if row.key not in self._flow:
            feature = load_feature(self.prepared, row)
            bad = np.argwhere(~np.isfinite(feature))
            if len(bad):
                raise InputError("%s: non-finite value in the feature of %s at time step (row) %d"
                                 % (os.path.join(self.prepared, row.flow), row.key, bad[0][0]))
            if self.flow_rows == "release":
                feature = move_valid_rows_to_end(feature)
            self._flow[row.key] = feature
        return self._flow[row.key]


def inputs_digest(prepared, rows):
    """sha256 over index.csv and every sample's apex image and feature file.

    Recorded in folds.json and each manifest, so LMDBs are tied to the exact
    prepared data they came from, and a re-run on changed data is noticed.
    """
    digest = hashlib.sha256()
    digest.update(sha256_file(os.path.join(prepared, INDEX_FILE)).encode())
    for row in rows:
        for relative in (row.apex_image, row.flow):
            path = os.path.join(prepared, relative)
            if not os.path.isfile(path):
                raise InputError("%s: file of sample %s is missing (listed in %s)"
                                 % (path, row.key, os.path.join(prepared, INDEX_FILE)))
            digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def build_parameters(protocol, config, digest):
    """Everything that decides the LMDBs' bytes; a complete fold is reused only if these match."""
    return dict(data_parameters(config), protocol=protocol, inputs_sha256=digest, format=FORMAT_VERSION)


def _train_records(plan, store):
    for entry in plan.train:
        yield entry.row.key, entry.row.label, augment.apply(store.apex(entry.row), entry.augmentation), \
            store.flow(entry.row)


def _test_records(plan, store):
    for row in plan.test:
        yield row.key, row.label, store.apex(row), store.flow(row)


def fold_manifest(plan, parameters):
    """manifest.json's content except the checksums (also what a dry run shows)."""
    return {
        "fold": plan.name,
        "parameters": parameters,
        "seeds": plan.seeds,
        "train": {"records": len(plan.train), "class_counts": class_counts([e.row for e in plan.train]),
                  "original_class_counts": list(plan.original_counts),
                  "copies": sum(entry.copy for entry in plan.train),
                  "samples": [entry.to_json() for entry in plan.train]},
        "test": {"records": len(plan.test), "class_counts": class_counts(plan.test),
                 "samples": [{"key": r.key, "dataset": r.dataset, "subject": r.subject,
                              "sample": r.sample, "label": r.label} for r in plan.test]},
    }


def write_fold(out_dir, plan, store, parameters, versions):
    """Write one fold's four LMDBs and its manifest (with ``versions``) under a temporary name, then rename."""
    final = os.path.join(out_dir, plan.name)
    with atomic_path(final) as tmp:
        os.makedirs(tmp)
        write_record_pairs(_train_records(plan, store), os.path.join(tmp, "train_apex"),
                           os.path.join(tmp, "train_flow"), total=len(plan.train), desc=plan.name + " train")
        write_record_pairs(_test_records(plan, store), os.path.join(tmp, "test_apex"),
                           os.path.join(tmp, "test_flow"), total=len(plan.test), desc=plan.name + " test")
        manifest = fold_manifest(plan, parameters)
        manifest["checksums"] = {stream: sha256_file(os.path.join(tmp, stream, "data.mdb")) for stream in STREAMS}
        manifest["versions"] = versions
        write_json(os.path.join(tmp, MANIFEST_FILE), manifest)
        if os.path.isdir(final):  # --force: replace the old fold (os.replace cannot overwrite a directory)
            shutil.rmtree(final)


def read_manifest(lmdb_dir, fold):
    """A complete fold's manifest, or None when the fold is absent or unfinished."""
    path = os.path.join(lmdb_dir, fold, MANIFEST_FILE)
    return read_json(path) if os.path.isfile(path) else None


def check_folds_file(out_dir, protocol, parameters, force):
    """Refuse to mix builds: an existing folds.json must have this protocol and these parameters."""
    path = os.path.join(out_dir, FOLDS_FILE)
    if not os.path.isfile(path):
        return
    recorded = read_json(path)
    if recorded.get("protocol") != protocol:
        raise InputError("%s: this directory holds %s folds, not %s; use another --out"
                         % (path, recorded.get("protocol"), protocol))
    if not force:
        check_same_settings(path, recorded.get("parameters", {}), parameters, what="built with other parameters",
                            advice="use another --out, or --force to rebuild")


def build(prepared, protocol, out_dir, config, names=None, force=False, progress=True):
    """Build the selected folds' LMDBs; returns ``{fold name: 'built' | 'skipped'}``.

    Every check runs before anything is written. folds.json lists every fold
    of the protocol (also those not selected now), so training and
    evaluation know the full set. ``force`` rebuilds complete folds whose
    parameters differ; complete folds with the same parameters are always
    reused (they would come out byte-identical).
    """
    rows = load_index(prepared)
    all_names = [fold.name for fold in make_folds(rows, protocol)]
    plans = plan_folds(rows, protocol, config, names)
    parameters = build_parameters(protocol, config, inputs_digest(prepared, rows))
    with folder_lock(out_dir, "LMDB folder"):
        check_folds_file(out_dir, protocol, parameters, force)
        todo = [plan for plan in plans if not _is_complete(out_dir, plan.name, parameters, force)]
        store = SampleStore(prepared, config.flow_rows)
        for row in {row.key: row for plan in todo for row in list(plan.test) + [e.row for e in plan.train]}.values():
            store.apex(row), store.flow(row)    # every input checked before any parameter is recorded
        write_json(os.path.join(out_dir, FOLDS_FILE), {
            "protocol": protocol, "folds": all_names, "parameters": parameters,
            "prepared": os.path.abspath(prepared), "samples": len(rows),
            "datasets": [d for d in DATASETS if any(r.dataset == d for r in rows)]})
        versions = provenance.versions() if todo else None
        for plan in tqdm(todo, desc="LMDB folds (%s)" % protocol, unit="fold", disable=not progress):
            write_fold(out_dir, plan, store, parameters, versions)
    built = {plan.name for plan in todo}
    return {plan.name: "built" if plan.name in built else "skipped" for plan in plans}


def _is_complete(out_dir, fold, parameters, force):
    """True for a complete fold built with ``parameters`` whose files match its manifest's checksums
    (a damaged one is rebuilt); InputError (unless ``force``) for other parameters."""
    manifest = read_manifest(out_dir, fold)
    if manifest is None:
        return False
    if not setting_differences(manifest.get("parameters", {}), parameters):
        try:   # our own output, reused only when its files are still what the manifest recorded
            if manifest.get("fold") != fold:
                raise InputError("%s: manifest of fold %r" % (os.path.join(out_dir, fold, MANIFEST_FILE),
                                                              manifest.get("fold")))
            check_checksums(os.path.join(out_dir, fold), manifest)
        except InputError as err:
            print("note: fold %s is damaged, rebuilding it: %s" % (fold, err), file=sys.stderr)
            return False
        return True
    if not force:
        check_same_settings(os.path.join(out_dir, fold, MANIFEST_FILE), manifest.get("parameters", {}), parameters,
                            what="fold %s was built with other parameters" % fold, advice="use --force to rebuild it")
    return False


def read_folds_file(lmdb_dir, protocol):
    """LMDB_DIR/folds.json, checked to be of ``protocol`` (for training)."""
    path = os.path.join(lmdb_dir, FOLDS_FILE)
    if not os.path.isfile(path):
        raise InputError("%s not found: build the LMDBs first (tools/make_lmdb.py --out %s)" % (path, lmdb_dir))
    doc = read_json(path)
    if doc.get("protocol") != protocol:
        raise InputError("%s: these are %s folds, but --protocol is %s" % (path, doc.get("protocol"), protocol))
    return doc


def check_lmdb_folds(lmdb_dir, names, parameters):
    """Every named fold must be complete and built with the folds.json ``parameters`` (for training)."""
    for name in names:
        manifest = read_manifest(lmdb_dir, name)
        if manifest is None:
            raise InputError("%s: fold %s has no complete LMDBs (no %s); build it with tools/make_lmdb.py"
                             % (lmdb_dir, name, MANIFEST_FILE))
        check_same_settings(os.path.join(lmdb_dir, name, MANIFEST_FILE), manifest.get("parameters", {}), parameters,
                            what="fold %s was built with other parameters than %s" % (name, FOLDS_FILE),
                            advice="rebuild it")


def describe_plans(plans):
    """A text table per fold (``--dry-run``): training samples and their classes before
    oversampling, balanced training records, test samples and their classes."""
    lines = ["%-22s %7s %15s %8s %7s %15s" % ("fold", "train", "neg/pos/sur", "records", "test",
                                               "neg/pos/sur")]
    for plan in plans:
        manifest = fold_manifest(plan, {})
        train, test = manifest["train"], manifest["test"]
        lines.append("%-22s %7d %15s %8d %7d %15s" % (
            plan.name, sum(train["original_class_counts"]), "/".join(map(str, train["original_class_counts"])),
            train["records"], test["records"], "/".join(map(str, test["class_counts"]))))
    return "\n".join(lines)
