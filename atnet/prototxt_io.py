"""Prototxt text of Caffe messages: written readable and atomically, and turned into pycaffe nets.

Nets (atnet.nets) and solvers (atnet.solver) are typed protobuf messages;
this is the one place that turns them into the text files Caffe reads.
pycaffe is imported only by ``load_net``, so writing text needs no Caffe
runtime beyond its protobuf classes.
"""
import os
import tempfile

from google.protobuf import text_format

from atnet.common import write_text


def to_text(message, header=None):
    """Readable prototxt of a NetParameter or SolverParameter, with an optional # header."""
    lines = ["# " + line if line else "#" for line in (header or "").splitlines()]
    return "".join(line + "\n" for line in lines) + text_format.MessageToString(message)


def write_prototxt(path, message, header=None):
    """Write ``message`` as prototxt atomically."""
    write_text(path, to_text(message, header))


def load_net(net_param, phase, weights=None):
    """A pycaffe Net built from a NetParameter (pycaffe only reads prototxt files)."""
    import caffe
    with tempfile.TemporaryDirectory(prefix="atnet-net-") as tmp:
        path = os.path.join(tmp, "net.prototxt")
        with open(path, "w") as handle:
            handle.write(to_text(net_param))
        if weights:
            return caffe.Net(path, phase, weights=os.fspath(weights))
        return caffe.Net(path, phase)
