"""Load the public 3-channel ImageNet ResNet10_cvgj caffemodel into the 1-channel spatial stream.

The spatial stream uses ResNet10_cvgj's layer names, so its blobs are copied
by layer name. Only the first two layers see the input's channels and are
reduced from 3 (RGB) to 1 (grey) input channel:

* ``conv1`` weights 64 x 3 x 7 x 7 -> 64 x 1 x 7 x 7 by SUMMING over the input
  channels (its bias is copied unchanged);
* ``data_bn`` (stored mean, variance; the shared count blob is copied) and
  ``data_scale`` (scale, bias): the MEAN of the three channels' values.

Why: a grey image g is the RGB image r = g = b = g. If the three channels'
normalisation (data_bn + data_scale) were equal, every normalised channel would
be the same map x, and conv1 would compute sum_c W_c * x = (sum_c W_c) * x:
the 1-channel net with the summed kernel and the shared normalisation is then
exactly the 3-channel net fed the grey image in all three channels. ImageNet's
RGB statistics are close to each other, so the mean normalisation is a close
stand-in; the stream is fine-tuned afterwards in any case.

Everything else is copied unchanged; source layers the stream lacks (the
1000-way classifier) are skipped and stream layers the source lacks keep their
fillers. The report lists every layer under one of these headings.
"""
import os
import tempfile

import numpy as np

from atnet.common import InputError, sha256_file, write_bytes, write_json
from atnet.variants import VARIANTS

#: Layers whose blobs are reduced from 3 input channels to 1, and how.
CHANNEL_RULES = {
    "conv1": "weights summed over the 3 input channels; bias copied",
    "data_bn": "mean and variance averaged over the 3 channels; count copied",
    "data_scale": "scale and bias averaged over the 3 channels",
}


def _caffe_pb2():
    from caffe.proto import caffe_pb2
    return caffe_pb2


def read_caffemodel(path):
    """The NetParameter stored in a binary .caffemodel."""
    net = _caffe_pb2().NetParameter()
    try:
        with open(path, "rb") as handle:
            net.ParseFromString(handle.read())
    except OSError as err:
        raise InputError("%s: cannot read (%s)" % (path, err.strerror)) from None
    except Exception:
        raise InputError("%s: not a binary Caffe model (NetParameter)" % path) from None
    if len(net.layers) and not len(net.layer):
        raise InputError("%s: old V1 'layers' format; upgrade it first with Caffe's "
                         "upgrade_net_proto_binary" % path)
    return net


def blob_shape(blob, where, num_axes=None):
    """A BlobProto's shape (legacy 4-D num/channels/height/width trimmed to ``num_axes``),
    checked against the number of values it holds."""
    if blob.HasField("shape"):
        dims = list(blob.shape.dim)
    else:
        dims = [blob.num, blob.channels, blob.height, blob.width]
        while num_axes is not None and len(dims) > num_axes and dims[0] == 1:
            dims.pop(0)
    values = blob.double_data if len(blob.double_data) else blob.data
    if len(values) != int(np.prod(dims)):
        raise InputError("%s: %d values for a blob of shape %s" % (where, len(values), dims))
    return tuple(dims)


def blob_array(blob, where, num_axes=None):
    """A BlobProto as a float32 array of ``blob_shape``."""
    dims = blob_shape(blob, where, num_axes)
    values = blob.double_data if len(blob.double_data) else blob.data
    return np.fromiter(values, dtype=np.float32, count=len(values)).reshape(dims)


def spatial_stream_net():
    """The 1-channel spatial deploy net (pycaffe), the conversion's target."""
    import caffe
    from atnet.nets import deploy
    from atnet.prototxt_io import load_net
    return load_net(deploy("spatial"), caffe.TEST)


def stream_shapes(net):
    """{layer: (type, [blob shapes])} of the spatial stream in ``net``, its classifier excluded."""
    types = {name: layer.type for name, layer in zip(net._layer_names, net.layers)}
    return {name: (types[name], [tuple(blob.data.shape) for blob in blobs])
            for name, blobs in net.params.items() if name != VARIANTS["spatial"].score_blob}


def _reduce_channels(name, index, array, target_shape):
    """Apply the 3 -> 1 channel rule of ``name`` to one blob (None when no rule applies)."""
    if name == "conv1" and index == 0 and array.ndim == 4 and array.shape[1] == 3:
        return array.sum(axis=1, keepdims=True)
    if name in ("data_bn", "data_scale") and array.shape == (3,) and target_shape == (1,):
        return array.mean(keepdims=True)
    return None


def convert(source_path, target_shapes):
    """({layer: [arrays]}, report): the spatial stream's blobs taken from a 3-channel caffemodel.

    ``target_shapes`` is ``stream_shapes`` of the target net.
    """
    source = read_caffemodel(source_path)
    by_name = {layer.name: layer for layer in source.layer if len(layer.blobs)}
    arrays = {}
    report = dict(source=os.path.abspath(source_path), copied=[], reduced=[], skipped=[], missing=[])
    for name, (layer_type, shapes) in target_shapes.items():
        layer = by_name.get(name)
        if layer is None:
            report["missing"].append(name)
            continue
        if len(layer.blobs) != len(shapes):
            raise InputError("%s: layer %s has %d blobs, the spatial stream's has %d"
                             % (source_path, name, len(layer.blobs), len(shapes)))
        arrays[name] = []
        for index, (blob, shape) in enumerate(zip(layer.blobs, shapes)):
            where = "%s: layer %s blob %d" % (source_path, name, index)
            array = blob_array(blob, where, num_axes=len(shape))
            if array.shape != shape:
                reduced = _reduce_channels(name, index, array, shape)
                if reduced is None or reduced.shape != shape:
                    raise InputError("%s has shape %s; the spatial stream needs %s"
                                     % (where, list(array.shape), list(shape)))
                report["reduced"].append(dict(layer=name, blob=index, source_shape=list(array.shape),
                                              shape=list(shape), rule=CHANNEL_RULES[name]))
                array = reduced
            arrays[name].append(array)
        report["copied"].append(dict(layer=name, type=layer_type, shapes=[list(s) for s in shapes]))
    report["skipped"] = [dict(layer=layer.name, type=layer.type, reason="not in the spatial stream")
                         for layer in source.layer if len(layer.blobs) and layer.name not in target_shapes]
    if not arrays:
        raise InputError("%s: none of the spatial stream's layers (conv1, layer_64_1_conv1, ...) is in "
                         "this model; is it ResNet10_cvgj?" % source_path)
    return arrays, report


def _converted_model(net, arrays):
    """Serialised NetParameter holding only the converted layers, written by Caffe itself.

    Setting the arrays into the target net lets Caffe check every shape;
    layers that were not converted (e.g. the classifier) are left out, so
    they keep the fillers of whatever net later loads this model.
    """
    from caffe.proto import caffe_pb2
    for name, blobs in arrays.items():
        for target, array in zip(net.params[name], blobs):
            target.data[...] = array
    with tempfile.TemporaryDirectory(prefix="atnet-weights-") as tmp:
        path = os.path.join(tmp, "net.caffemodel")
        net.save(path)
        with open(path, "rb") as handle:
            model = caffe_pb2.NetParameter.FromString(handle.read())
    kept = [layer for layer in model.layer if layer.name in arrays]
    del model.layer[:]
    model.layer.extend(kept)
    model.name = "ResNet10_cvgj with 1 input channel (tools/convert_weights.py)"
    return model.SerializeToString()


def convert_file(source_path, out_path, report_path):
    """Convert ``source_path``; write the 1-channel caffemodel and a JSON report atomically; return the report."""
    net = spatial_stream_net()
    arrays, report = convert(source_path, stream_shapes(net))
    report["source_sha256"] = sha256_file(source_path)
    write_bytes(out_path, _converted_model(net, arrays))
    report["output"] = os.path.abspath(out_path)
    report["output_sha256"] = sha256_file(out_path)
    write_json(report_path, report)
    return report


def report_lines(report):
    """A readable summary of a conversion report, one line per layer."""
    lines = ["copied   %-26s %s" % (item["layer"], " ".join("x".join(map(str, s)) for s in item["shapes"]))
             for item in report["copied"]]
    lines += ["reduced  %-26s blob %d: %s -> %s (%s)" % (
        item["layer"], item["blob"], "x".join(map(str, item["source_shape"])),
        "x".join(map(str, item["shape"])), item["rule"]) for item in report["reduced"]]
    lines += ["skipped  %-26s (%s, %s)" % (item["layer"], item["type"], item["reason"])
              for item in report["skipped"]]
    lines += ["missing  %-26s (keeps its filler initialisation)" % name for name in report["missing"]]
    return lines


# --- initial weights of a training run (tools/train.py --weights) -------------

def net_blob_shapes(net):
    """``{layer: [blob shapes]}`` of a pycaffe net, every layer (also those without blobs),
    first occurrence of a name: what Caffe's CopyTrainedLayersFrom matches a model against."""
    shapes = {}
    for name, layer in zip(net._layer_names, net.layers):
        shapes.setdefault(name, [tuple(blob.data.shape) for blob in layer.blobs])
    return shapes


def _looks_like_text(data):
    sample = data[:4096]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\t\r\n" for ch in text)


def check_initial_weights(path, target_shapes):
    """The report of what ``--weights`` copies into a net, or InputError naming the file.

    ``target_shapes`` is ``net_blob_shapes`` of the net being trained. Checked
    the way Caffe's ``Net::CopyTrainedLayersFrom`` copies (by layer name, every
    blob's shape equal), so that a file Caffe would silently ignore (empty,
    not a model, no layer name in common) or abort on (another blob count or
    shape) is refused here with a message, before training starts. A
    3-channel ``conv1`` (the ImageNet model as downloaded) points at
    tools/convert_weights.py. The report lists the layers copied, the layers
    of the net that keep their fillers, and the file's layers the net ignores.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise InputError("--weights %s: cannot read (%s)" % (path, err.strerror)) from None
    if not data:
        raise InputError("--weights %s: the file is empty, not a .caffemodel" % path)
    if _looks_like_text(data):
        raise InputError("--weights %s: a text file, not a binary .caffemodel (a .prototxt describes a net, "
                         "it holds no weights)" % path)
    model = read_caffemodel(path)
    source = [layer for layer in model.layer]
    if not source:
        raise InputError("--weights %s: holds no layers, not a .caffemodel" % path)
    report = dict(weights=os.path.abspath(path), sha256=sha256_file(path), copied=[], kept_fillers=[],
                  ignored=[])
    matched = set()
    for layer in source:
        if layer.name not in target_shapes:
            if len(layer.blobs):
                report["ignored"].append(layer.name)
            continue
        shapes = target_shapes[layer.name]
        _check_layer_blobs(path, layer, shapes)       # Caffe checks every source layer of a known name
        if shapes and layer.name not in matched:
            report["copied"].append(dict(layer=layer.name, shapes=[list(s) for s in shapes]))
        matched.add(layer.name)
    report["kept_fillers"] = [name for name, shapes in target_shapes.items() if shapes and name not in matched]
    if not report["copied"]:
        raise InputError("--weights %s: no layer of the net is in this model, so it would change nothing "
                         "(the net's layers with weights: %s; the model's: %s)"
                         % (path, _few([n for n, s in target_shapes.items() if s]),
                            _few([layer.name for layer in source if len(layer.blobs)])))
    return report


def _check_layer_blobs(path, layer, shapes):
    """InputError where Caffe would abort: another number of blobs, or another shape."""
    if len(layer.blobs) != len(shapes):
        raise InputError("--weights %s: layer %s has %d blobs, the net's has %d"
                         % (path, layer.name, len(layer.blobs), len(shapes)))
    for index, (blob, shape) in enumerate(zip(layer.blobs, shapes)):
        where = "--weights %s: layer %s blob %d" % (path, layer.name, index)
        array_shape = blob_shape(blob, where, num_axes=len(shape))
        if array_shape == tuple(shape):
            continue
        if layer.name == "conv1" and index == 0 and len(array_shape) == 4 and array_shape[1] == 3 \
                and shape[1] == 1:
            raise InputError("--weights %s: conv1 has 3 input channels (the RGB ImageNet model); the spatial "
                             "stream reads 1 grey channel. Convert it first: python tools/convert_weights.py %s "
                             "(see weights/README.md), then pass the _1ch.caffemodel it writes" % (path, path))
        raise InputError("%s has shape %s, the net needs %s" % (where, list(array_shape), list(shape)))


def _few(names, limit=6):
    return ", ".join(names[:limit]) + (" ... (%d in all)" % len(names) if len(names) > limit else "") or "none"


def weights_report_lines(report):
    """The report of check_initial_weights as readable lines (for the fold's log)."""
    lines = ["weights %s (sha256 %s)" % (report["weights"], report["sha256"][:12])]
    lines += ["copied       %s" % item["layer"] for item in report["copied"]]
    lines += ["kept filler  %s" % name for name in report["kept_fillers"]]
    lines += ["ignored      %s (not in the net)" % name for name in report["ignored"]]
    return lines
