"""Readable network diagrams of the reference networks (caffe.draw + pydot + Graphviz).

Caffe's ``draw_net.py`` draws every blob and layer; the temporal stream's
permute to time-major (a ``Slice`` into 64 steps whose tops all go to one
``Concat``, see prototxt/README.md) then becomes 128 edges and 64 blob
nodes, a 13,000-pixel picture. ``collapse_fan_outs`` replaces each such
Slice + Concat pair by one node (type ``Slice+Concat``, named after both,
with the step count and axes) before caffe.draw builds the graph; nothing
else is changed. The graph text (.dot) is deterministic and committed with
the rendered SVG under docs/nets/.
"""
import copy

from caffe import draw
from caffe.proto import caffe_pb2
from google.protobuf import text_format

#: A Slice with more tops than this, all feeding one Concat, is drawn as one node.
MIN_FAN_OUT = 8
RANKDIR = "TB"


def read_net(path):
    """A NetParameter from a prototxt file."""
    net = caffe_pb2.NetParameter()
    with open(path) as handle:
        text_format.Merge(handle.read(), net)
    return net


def _consumers(net, blob):
    return [layer for layer in net.layer if blob in layer.bottom]


def collapse_fan_outs(net, min_fan_out=MIN_FAN_OUT):
    """A copy of ``net`` where each wide Slice -> Concat pair is one layer."""
    net = copy.deepcopy(net)
    while True:
        pair = _find_pair(net, min_fan_out)
        if pair is None:
            return net
        slice_layer, concat_layer = pair
        merged = caffe_pb2.LayerParameter()
        merged.name = "%s + %s: %d steps, slice axis %d, concat axis %d" % (
            slice_layer.name, concat_layer.name, len(slice_layer.top), slice_layer.slice_param.axis,
            concat_layer.concat_param.axis)
        merged.type = "Slice+Concat"
        merged.bottom.extend(slice_layer.bottom)
        merged.top.extend(concat_layer.top)
        layers = list(net.layer)
        position = layers.index(slice_layer)
        layers = [layer for layer in layers if layer is not slice_layer and layer is not concat_layer]
        layers.insert(position, merged)
        del net.layer[:]
        net.layer.extend(layers)


def _find_pair(net, min_fan_out):
    """(slice, concat) where every top of the slice is a bottom of that concat only, or None."""
    for layer in net.layer:
        if layer.type != "Slice" or len(layer.top) <= min_fan_out:
            continue
        consumers = {id(c): c for top in layer.top for c in _consumers(net, top)}
        if len(consumers) != 1:
            continue
        concat = next(iter(consumers.values()))
        if concat.type == "Concat" and set(concat.bottom) == set(layer.top):
            return layer, concat
    return None


def net_graph(net, phase=None):
    """The pydot graph caffe.draw makes of the collapsed net."""
    return draw.get_pydot_graph(collapse_fan_outs(net), RANKDIR, phase=phase)


def graph_text(net, phase=None):
    """The Graphviz text of the diagram (deterministic: layer order, no time stamps)."""
    return net_graph(net, phase).to_string()


def render_svg(dot_text):
    """SVG bytes of a Graphviz text (needs Graphviz's ``dot``: apt graphviz)."""
    import pydot
    graphs = pydot.graph_from_dot_data(dot_text)
    return graphs[0].create(format="svg")
