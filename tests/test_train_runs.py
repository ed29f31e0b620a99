"""The run-folder contract (atnet/runs.py), the one JSON reader (atnet/common.py), the
fold's job (atnet/fold.py) and provenance (atnet/provenance.py) against the real Caffe build."""
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from atnet import provenance, runs
from atnet.common import InputError, read_json
from atnet.child_process import parse_progress, progress_line
from atnet.fold import FoldJob


def test_read_json_names_the_file_on_every_problem(tmp_path):
    good = tmp_path / "good.json"
    good.write_text('{"a": [1, 2]}')
    assert read_json(good) == {"a": [1, 2]}
    bad = tmp_path / "bad.json"
    bad.write_text('{\n "a": 1,\n "b": }\n')
    with pytest.raises(InputError, match=r"bad\.json line 3: not valid JSON"):
        read_json(bad)
    with pytest.raises(InputError, match=r"missing\.json: cannot read \(No such file or directory\)"):
        read_json(tmp_path / "missing.json")
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"a": "\xe9"}')
    with pytest.raises(InputError, match=r"latin\.json: not UTF-8"):
        read_json(latin)


def test_same_settings_names_every_difference_nested_ones_by_path():
    recorded = {"model": "fusion", "config": {"max_iter": 3, "seed": 0}, "lmdb": "/old"}
    wanted = {"model": "fusion", "config": {"max_iter": 4, "seed": 0}, "lmdb": "/new"}
    assert runs.setting_differences(recorded, wanted) == ["config.max_iter: 3 -> 4", "lmdb: '/old' -> '/new'"]
    assert runs.setting_differences(recorded, wanted, keys=("model", "config")) == ["config.max_iter: 3 -> 4"]
    runs.check_same_settings("x.json", recorded, dict(wanted, config=recorded["config"]), keys=("model", "config"))
    with pytest.raises(InputError, match=r"^x\.json: holds other settings \(config\.max_iter: 3 -> 4\); use another"):
        runs.check_same_settings("x.json", recorded, wanted, keys=("config",))
    with pytest.raises(InputError, match=r"x\.json: expected a JSON object"):
        runs.check_same_settings("x.json", [1], wanted)


def test_run_folder_check_new_matching_and_refused(tmp_path):
    run_dir = str(tmp_path / "run")
    document = {"method": "ATNet", "setting": "Fusion", "protocol": "cde", "folds": ["cde-samm-6"], "seed": 1,
                "lmdb": "/a"}
    assert runs.check_run_folder(run_dir, document, ("method", "folds", "seed")) is False
    runs.write_run_info(run_dir, **document)
    assert runs.read_run_info(run_dir) == runs.RunInfo("ATNet", "Fusion", "cde", ("cde-samm-6",))
    assert runs.check_run_folder(run_dir, dict(document, lmdb="/b"), ("method", "folds", "seed")) is True
    with pytest.raises(InputError, match=r"run\.json: this run folder was started with other settings \(seed: 1 -> 2\)"):
        runs.check_run_folder(run_dir, dict(document, seed=2), ("method", "folds", "seed"))
    with pytest.raises(InputError, match="'protocol' is 'xyz'"):
        runs.write_run_info(run_dir, **dict(document, protocol="xyz"))
    assert runs.read_run_info(run_dir).protocol == "cde"  # a refused run.json is not written


def test_done_marks_a_finished_fold(tmp_path):
    assert not runs.fold_is_done(str(tmp_path))
    runs.write_done(str(tmp_path), {"fold": "cde-samm-6", "iterations": 3})
    assert runs.fold_is_done(str(tmp_path))
    assert json.loads((tmp_path / runs.DONE_FILE).read_text())["iterations"] == 3


def test_fold_job_round_trips_and_refuses_other_keys(tmp_path):
    job = FoldJob(model="temporal", fold="cde-samm-6", lmdb="/l/cde-samm-6", weights=None, gpu=None, max_iter=3,
                  snapshot_prefix="/r/cde-samm-6/snapshots/temporal", keep_snapshots=2, solver_seed=7,
                  lmdb_seeds={"augment": 1, "oversample": 2, "shuffle": 3})
    job.write(str(tmp_path))
    assert FoldJob.read(str(tmp_path)) == job
    doc = json.loads((tmp_path / runs.JOB_FILE).read_text())
    with pytest.raises(AttributeError):
        job.max_iter = 4  # frozen: the job is what the parent wrote
    doc["extra"] = 1
    (tmp_path / runs.JOB_FILE).write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"job\.json: expected a JSON object with exactly the keys model, fold"):
        FoldJob.read(str(tmp_path))


def test_progress_lines_round_trip():
    assert parse_progress(progress_line(12, 1.0986123)) == (12, "1.09861")
    assert parse_progress("I0101 12:00:00.0 solver.cpp:1] Iteration 12") is None
    assert parse_progress("@progress 1") is None


def test_versions_name_the_real_caffe_build():
    """The Caffe this venv imports: identified by its own build-info.txt (setup/setup.sh), whose
    sha256 starts with the build's cache key; without one, the commit is 'unknown', never guessed."""
    record = provenance.versions()
    assert record["python"] == sys.version.split()[0]
    assert record["packages"]["numpy"] and "PyYAML" in record["packages"]
    caffe = record["caffe"]
    assert caffe["path"] == provenance.caffe_location() and os.path.isdir(os.path.join(caffe["path"], "python"))
    info = os.path.join(caffe["path"], provenance.BUILD_INFO)
    if not os.path.isfile(info):
        assert caffe["commit"] == "unknown" or len(caffe["commit"]) >= 7
        pytest.skip("this Caffe was not built by setup/setup.sh (no build-info.txt)")
    data = open(info, "rb").read()
    assert caffe["build_info_sha256"] == hashlib.sha256(data).hexdigest()
    assert caffe["build_key"] == caffe["build_info_sha256"][:16]
    if os.path.basename(caffe["path"]).startswith(("cpu-", "gpu-")):  # setup's own cache folder
        assert os.path.basename(caffe["path"]) == "%s-%s" % (caffe["build"], caffe["build_key"])
    assert data.decode().splitlines()[0] == "source %s" % caffe["source_sha256"]
    setup = open(provenance.SETUP_SCRIPT).read()
    if "ORIG_SHA256=%s" % caffe["source_sha256"] in setup:  # built from Debian's 99bd997 tarball
        assert caffe["commit"] == "99bd997"


def test_build_info_of_another_source_is_unknown_not_guessed(tmp_path):
    info = tmp_path / "cpu-0123456789abcdef" / provenance.BUILD_INFO
    info.parent.mkdir()
    info.write_text("source %s\n-DCPU_ONLY=ON\n-DUSE_LMDB=ON\n" % ("ab" * 32))
    read = provenance.read_build_info(str(info))
    assert read["commit"] == "unknown" and read["build"] == "cpu" and read["source_sha256"] == "ab" * 32
    assert read["build_key"] == hashlib.sha256(info.read_bytes()).hexdigest()[:16]
    known = provenance.known_source_commits()
    assert list(known.values()) == ["99bd997"]  # as setup/setup.sh names Debian's orig tarball
    info.write_text("source %s\n-DUSE_LMDB=ON\n" % next(iter(known)))
    assert provenance.read_build_info(str(info))["commit"] == "99bd997"
    assert provenance.read_build_info(str(info))["build"] == "gpu"


def test_git_state_of_this_checkout_and_of_no_checkout(tmp_path):
    state = provenance.git_state()
    if shutil.which("git") is None:  # e.g. inside the images: provenance records "no checkout", never fails
        assert state == {"commit": None, "describe": None, "dirty": None}
        return
    head = subprocess.run(["git", "-C", provenance.REPO, "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    assert state["commit"] == head.stdout.strip() and state["commit"][:7] in state["describe"]
    assert isinstance(state["dirty"], bool)
    assert provenance.git_state(str(tmp_path)) == {"commit": None, "describe": None, "dirty": None}
