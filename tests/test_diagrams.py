"""docs/nets/: the committed network diagrams are what tools/draw_nets.py generates from prototxt/."""
import os
import shutil
import subprocess
import sys

import pytest

from atnet.diagrams import collapse_fan_outs, graph_text, read_net
from atnet.variants import VARIANTS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_committed_diagram_text_is_regenerated_identically(variant):
    net = read_net(os.path.join(REPO, "prototxt", variant, "deploy.prototxt"))
    with open(os.path.join(REPO, "docs", "nets", variant + ".dot")) as handle:
        assert handle.read() == graph_text(net), "run tools/draw_nets.py"


def test_time_major_slice_concat_is_one_node():
    net = read_net(os.path.join(REPO, "prototxt", "fusion", "deploy.prototxt"))
    collapsed = collapse_fan_outs(net)
    assert len(collapsed.layer) == len(net.layer) - 1
    merged = [layer for layer in collapsed.layer if layer.type == "Slice+Concat"]
    assert len(merged) == 1 and list(merged[0].bottom) == ["flow"] and "64 steps" in merged[0].name
    text = graph_text(net)
    assert "flow_t00" not in text and "flow_t63" not in text
    # everything else is drawn: every other layer's name appears
    for layer in net.layer:
        if layer.name not in ("flow_time_slice", "flow_time_concat"):
            assert layer.name in text
    spatial = read_net(os.path.join(REPO, "prototxt", "spatial", "deploy.prototxt"))
    assert collapse_fan_outs(spatial) == spatial          # nothing to collapse


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (apt graphviz)")
def test_draw_nets_renders_svg(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(REPO, "tools", "draw_nets.py"), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for variant in VARIANTS:
        svg = (tmp_path / (variant + ".svg")).read_text()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "prob" in svg
        assert (tmp_path / (variant + ".dot")).read_text() == \
            open(os.path.join(REPO, "docs", "nets", variant + ".dot")).read()
