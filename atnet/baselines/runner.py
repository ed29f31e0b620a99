"""One baseline configuration end to end: features -> folds -> SVM -> a run
directory in the evaluate format -> metrics.json -> the paper's row beside it.

Run directory (atnet/runs.py's contract)::

    OUT/run.json               method ("LBP-TOP" | "HOOF"), setting (the paper's
                               key, e.g. "{3,3,3,4} TIM=10"), protocol, folds,
                               plus "baseline": the feature and SVM settings,
                               and "versions" (atnet.provenance) of the first run
    OUT/<fold>/fold.json       chosen C, inner-LOSO UF1 per C, sizes, seconds
    OUT/<fold>/predictions.csv written last: its presence marks a finished fold
    OUT/metrics.json ...       written by atnet.evaluate

Re-running with the same settings skips finished folds; with different
settings it refuses, rather than mixing two configurations in one table.
"""
import dataclasses
import json
import os
import time

from tqdm import tqdm

from atnet import provenance, runs
from atnet.common import InputError, sha256_file, write_json
from atnet.baselines.classify import classify_fold, feature_lookup, make_model
from atnet.baselines.features import extract_prepared, read_features, read_labels
from atnet.baselines.lbptop import bin_table
from atnet.data.prepared import load_index
from atnet.evaluate import evaluate_run
from atnet.locks import folder_lock
from atnet.folds import make_folds, sample_key, select_folds
from atnet.paper import compare_runs, comparison_markdown
from atnet.predictions import write_predictions

#: The keys of run.json that must match for a baseline run folder to be continued.
RUN_SIGNATURE = ("method", "setting", "protocol", "folds", "baseline")


def run_configuration(samples, matrix, method, setting, protocol, out_dir, svm, settings,
                      fold_names=None, jobs=1, model_factory=make_model):
    """Classify every (selected) fold of ``protocol`` and evaluate the run.

    ``samples`` and the rows of ``matrix`` are aligned; ``settings`` (a
    JSON-able dict describing the features) is stored in run.json with the
    SVM settings and must match on a re-run. Returns (metrics document,
    seconds spent in the SVM folds now).
    """
    all_folds = make_folds(samples, protocol)
    folds = select_folds(all_folds, fold_names)
    baseline = {"features": settings, "svm": _jsonable(dataclasses.asdict(svm))}
    with folder_lock(out_dir, "baseline run folder"):
        _claim_run_dir(out_dir, method, setting, protocol, [f.name for f in all_folds], baseline)
        features_of = feature_lookup(samples, matrix)
        todo = [f for f in folds if not os.path.isfile(os.path.join(out_dir, f.name, runs.FOLD_PREDICTIONS))]
        started = time.perf_counter()
        for fold in tqdm(todo, desc="%s %s %s" % (method, setting, protocol.upper()), unit="fold",
                         disable=not todo):
            predictions, info = classify_fold(fold, features_of, svm, model_factory, jobs)
            write_json(os.path.join(out_dir, fold.name, runs.BASELINE_FOLD_INFO), info)
            runs.write_test_samples(os.path.join(out_dir, fold.name), fold.name, [sample_key(s) for s in fold.test])
            write_predictions(os.path.join(out_dir, fold.name, runs.FOLD_PREDICTIONS), predictions)
        seconds = time.perf_counter() - started
        doc = evaluate_run(out_dir, partial=len(folds) < len(all_folds))
    return doc, seconds


def _claim_run_dir(out_dir, method, setting, protocol, fold_names, baseline):
    """Write run.json, or check that an existing one describes the same run."""
    wanted = {"method": method, "setting": setting, "protocol": protocol, "folds": fold_names, "baseline": baseline}
    if not runs.check_run_folder(out_dir, wanted, RUN_SIGNATURE, what="this folder describes a different run",
                                 advice="choose another --out or remove that directory"):
        runs.write_run_info(out_dir, method, setting, protocol, fold_names, baseline=baseline,
                            versions=provenance.versions(caffe=False))


def _jsonable(value):
    """Tuples to lists, so a stored configuration compares equal after a JSON round trip."""
    return json.loads(json.dumps(value))


def paper_comparison(run_dirs):
    """The runs beside the paper's rows as Markdown, or a note when a run has no paper row."""
    try:
        return comparison_markdown(compare_runs(run_dirs))
    except InputError as err:
        return "(no comparison with the paper: %s)\n" % err


# --- where the features come from -------------------------------------------

#: The eight baseline rows of Tables II and III: (method, TIM, P or bins).
PAPER_CONFIGURATIONS = tuple((method, frames, size) for method in ("lbptop", "hoof")
                             for frames in (10, 64) for size in (4, 8))


def prepared_source(prepared_dir, config, cache_root, jobs=1):
    """Samples, feature matrix and settings of a prepared directory (extracting as needed).

    Returns (samples, matrix, settings, stats); ``stats`` has the extraction
    counts and seconds, for throughput reports.
    """
    rows = list(load_index(prepared_dir))
    folder, stats = extract_prepared(prepared_dir, rows, config, cache_root, jobs)
    matrix = flat(read_features(folder, rows, config.method, expected_feature_shape(config)))
    settings = dict(config.relevant(), source="prepared", prepared=os.path.abspath(prepared_dir),
                    cache=os.path.abspath(folder))
    return rows, matrix, settings, stats


def expected_feature_shape(config):
    """The shape extraction produces: (3, blocks x bins) or (bins, steps)."""
    if config.method == "lbptop":
        return 3, config.grid[0] * config.grid[1] * bin_table(config.neighbours, config.mapping)[1]
    return config.bins, config.frames - 1


def release_source(features_path, labels_path, method, bins=None):
    """Samples, feature matrix and settings of release-format ``.mat`` files and a labels list."""
    samples = read_labels(labels_path)
    arrays = read_features(features_path, samples, method, None if bins is None else (bins, None))
    settings = {"source": "release", "features": os.path.abspath(features_path),
                "labels": os.path.abspath(labels_path), "labels_sha256": sha256_file(labels_path),
                "shape": list(arrays.shape[1:])}
    return samples, flat(arrays), settings


def flat(arrays):
    """One feature row per clip: (n, rows, columns) -> (n, rows x columns)."""
    return arrays.reshape(len(arrays), -1)
