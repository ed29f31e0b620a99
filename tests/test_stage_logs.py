"""Stages log their messages through Python logging: on stdout as before and in OUT/<stage>.log."""
import re

import data_support as common
from atnet.logs import stage_log


def test_prepare_writes_its_messages_to_prepare_log(tmp_path_factory, tmp_path):
    roots = common.roots(common.release(tmp_path_factory, common.MICRO), ("smic",))
    out = tmp_path / "prepared"
    result = common.run_tool("prepare.py", *common.root_args(roots), "--out", out, "--workers", "1")
    assert result.returncode == 0, result.stderr
    text = (out / "prepare.log").read_text()
    for needle in ("samples: 0 finished earlier", "SMIC: ", "prepared:", "tools/inspect_data.py %s" % out):
        assert needle in text and needle in result.stdout, needle
    first = text.splitlines()[0]
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO atnet.prepare: ", first), first
    # a second run appends: the folder keeps what each run said
    common.run_tool("prepare.py", *common.root_args(roots), "--out", out, "--workers", "1")
    assert (out / "prepare.log").read_text().count("prepared:") == 2
    dry = tmp_path / "dry"
    common.run_tool("prepare.py", *common.root_args(roots), "--out", dry, "--dry-run")
    assert not dry.exists()


def test_stage_log_without_a_folder_only_prints(capsys):
    log = stage_log("example")
    log("hello %d", 3)
    assert capsys.readouterr().out == "hello 3\n"
