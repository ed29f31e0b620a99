#!/usr/bin/env python3
"""BVLC Caffe against PyTorch: one ATNet training iteration (forward + backward + SGD update), same inputs.

    python bench/bench_vs_pytorch.py [--nets fusion,spatial,temporal] [--batch 16] [--rounds 3] [--iters 2]

PyTorch is a benchmark-only extra, never a dependency of the product:
install it with ``.venv/bin/pip install -r bench/requirements-pytorch.txt -c
requirements.txt`` (docs/cpu_speed.md). Without it this exits 2.

For each network and each layout P x T (P processes of each framework, T
threads each: 1 x 1, 1 x all cores, and P x T = all cores for every other
P that divides them), Caffe and PyTorch workers run side by side:
  Caffe    ``solver.step(1)`` of the repository's own TRAIN net
           (atnet.nets.train_val: Data layers on an LMDB of exactly one
           batch, in the project's record format) and SGD solver
           (atnet.solver.make_solver);
  PyTorch  the same network written with torch.nn (ResNet-10 with Caffe's
           ceil-mode max pool, two 512-unit LSTMs, L2 normalisation, Dropout,
           InnerProduct 3), its weights copied from the Caffe net, fed the
           same arrays, ``zero_grad / forward / backward / SGD.step`` with
           Caffe's lr and decay multipliers and momentum.
Both count the same trainable parameters and give the same features (both
checked; exit 1 otherwise). Rounds alternate the frameworks (Caffe then
PyTorch, then PyTorch then Caffe, ...), so load from other jobs hits both
alike; a round lets all P workers of one framework run ``--iters``
iterations at once. Thread counts: OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and
MKL_NUM_THREADS in each worker's environment, and torch.set_num_threads.
Printed per net and layout: seconds per iteration (median over workers and
rounds; wall clock), their ratio Caffe / PyTorch, and the whole machine's
images per second (P x batch / the round's wall seconds per iteration).
Last, `caffe time` on the fusion TRAIN net: the per-layer time of a forward
+ backward, grouped as convolution, BatchNorm + Scale, LSTM and the rest.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec

os.environ.setdefault("GLOG_minloglevel", "2")  # before pycaffe starts glog

import numpy as np  # noqa: E402

from atnet.child_process import GLOG_ENV  # noqa: E402
from atnet.parallel import machine_cores  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPLY = "@bench "  # a worker's answer line on stdout; anything else there is ignored
REQUIREMENTS = os.path.join("bench", "requirements-pytorch.txt")
#: Largest |Caffe - PyTorch| of the L2-normalised features accepted as "the same network"
#: (float32 over ResNet-10 / 64 LSTM steps; both normalised to unit length).
FEATURE_TOLERANCE = 1e-3
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
GROUPS = ("convolution", "BatchNorm+Scale", "LSTM", "other")
#: atnet.nets' SPATIAL_FEATURE_BLOB and TEMPORAL_FEATURE_BLOB, in the order of the streams.
FEATURE_BLOBS = ("global_pool", "temporal_pool")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--nets", default="fusion,spatial,temporal", help="comma-separated network variants")
    parser.add_argument("--batch", type=int, default=16, help="training batch size (the paper's is 16)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per framework and layout (alternating)")
    parser.add_argument("--iters", type=int, default=2, help="timed iterations per worker and round")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations of each worker first")
    parser.add_argument("--layouts", default="auto",
                        help="PxT,... (processes x threads each), or auto: 1x1, 1xC and PxT with P*T = C cores")
    parser.add_argument("--layer-iters", type=int, default=3,
                        help="iterations of `caffe time` on the fusion net (0: skip the per-layer split)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random input arrays")
    parser.add_argument("--caffe-prefix", metavar="DIR",
                        help="time this Caffe build (a setup.sh prefix: DIR/python, DIR/bin/caffe), e.g. the "
                             "CAFFE_CPU_OPT=1 one, instead of the venv's")
    parser.add_argument("--worker", choices=("caffe", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--net", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.batch, args.rounds, args.iters) < 1 or args.warmup < 0 or args.layer_iters < 0:
        parser.error("--batch, --rounds and --iters must be at least 1, --warmup and --layer-iters at least 0")
    return args


def layouts(spec, cores):
    """[(processes, threads)]: 1 x 1, 1 x all, then every other P x T that fills the machine."""
    if spec != "auto":
        return [tuple(int(v) for v in item.lower().split("x")) for item in spec.split(",")]
    found = [(1, 1), (1, cores)] + [(p, cores // p) for p in range(2, cores + 1) if cores % p == 0]
    return list(dict.fromkeys(found))


# --- inputs ---------------------------------------------------------------------------

def write_inputs(folder, batch, seed):
    """One batch of random apex frames, ADM features and labels: ``inputs.npz`` for PyTorch
    and the same records as the apex/flow LMDB pair Caffe's Data layers read."""
    from atnet import records
    rng = np.random.default_rng(seed)
    apex = rng.integers(0, 256, (batch,) + records.APEX_SHAPE, dtype=np.uint8)
    flow = rng.normal(size=(batch,) + records.FLOW_SHAPE).astype(np.float32)
    label = np.arange(batch) % 3
    np.savez(os.path.join(folder, "inputs.npz"), apex=apex, flow=flow, label=label)
    items = (("casme2-sub01-bench%03d" % i, int(label[i]), apex[i], flow[i]) for i in range(batch))
    records.write_record_pairs(items, os.path.join(folder, "apex"), os.path.join(folder, "flow"),
                               total=batch, desc="bench LMDBs")


def read_inputs(folder):
    """(apex N x 1 x H x W float32 0..255, flow N x 1 x T x D, labels) as Caffe's Data layers give them."""
    arrays = np.load(os.path.join(folder, "inputs.npz"))
    return (arrays["apex"][:, None].astype(np.float32), arrays["flow"][:, None], arrays["label"])


# --- the Caffe worker -------------------------------------------------------------------

def caffe_worker(args):
    """A pycaffe solver on the repository's TRAIN net; worker 0 also writes the reference
    (weights, inputs it read, features) that the PyTorch workers copy and check against."""
    sys.path.insert(0, HERE)
    import caffe
    import bench_train
    from atnet import nets
    caffe.set_mode_cpu()
    own = os.path.join(args.folder, "caffe-%s-%d" % (args.net, args.index))
    os.makedirs(own, exist_ok=True)
    solver = bench_train.make_bench_solver(own, args.net, os.path.join(args.folder, "apex"),
                                           os.path.join(args.folder, "flow"), args.batch)
    net = solver.net
    net.forward()
    check_caffe_inputs(net, read_inputs(args.folder), nets)
    if args.index == 0:
        write_reference(net, os.path.join(args.folder, "reference-%s.npz" % args.net))
    for _ in range(args.warmup):
        solver.step(1)
    serve(lambda: solver.step(1), dict(parameters=caffe_parameter_count(net)))


def check_caffe_inputs(net, inputs, nets):
    """The Data layers' blobs are exactly the arrays PyTorch gets."""
    apex, flow, label = inputs
    for blob, array in ((nets.APEX_BLOB, apex), (nets.FLOW_BLOB, flow), (nets.LABEL_BLOB, label)):
        if blob in net.blobs and not np.array_equal(net.blobs[blob].data.reshape(array.shape), array):
            raise RuntimeError("Caffe's %r blob differs from inputs.npz" % blob)


def caffe_parameter_count(net):
    """Trainable values: every parameter blob but BatchNorm's (mean, variance, count: never learned)."""
    types = dict(zip(net._layer_names, (layer.type for layer in net.layers)))
    return int(sum(blob.data.size for name, blobs in net.params.items() if types[name] != "BatchNorm"
                   for blob in blobs))


def write_reference(net, path):
    """Every parameter blob ("layer/index"), atnet.nets' sizes ("const/...") and the L2-normalised
    features of the batch just read ("feature/<pooled blob>")."""
    arrays = {"%s/%d" % (name, i): blob.data for name, blobs in net.params.items() for i, blob in enumerate(blobs)}
    from atnet import nets
    arrays.update({"const/hidden": nets.HIDDEN, "const/flow_dim": nets.FLOW_DIM, "const/classes": nets.NUM_CLASSES,
                   "const/norm_eps": nets.NORM_EPS})  # so that the PyTorch worker needs no pycaffe
    for blob in FEATURE_BLOBS:  # before the L2 normalisation: a single-stream net's Dropout overwrites that
        if blob in net.blobs:
            pooled = net.blobs[blob].data.reshape(net.blobs[blob].num, -1)
            arrays["feature/" + blob] = pooled / np.sqrt((pooled ** 2).sum(1, keepdims=True) + nets.NORM_EPS)
    partial = path + ".part.npz"
    np.savez(partial, **arrays)
    os.replace(partial, path)


# --- the PyTorch worker ------------------------------------------------------------------

def torch_spatial_layers(nn):
    """ResNet-10 modules under the Caffe layer names of their convolutions and BatchNorms
    (a Caffe BatchNorm + Scale pair is one affine BatchNorm2d, eps 1e-5 like Caffe's)."""
    layers = {"data_bn": nn.BatchNorm2d(1), "conv1": nn.Conv2d(1, 64, 7, 2, 3), "conv1_bn": nn.BatchNorm2d(64),
              "layer_64_1_conv1": nn.Conv2d(64, 64, 3, 1, 1, bias=False), "layer_64_1_bn2": nn.BatchNorm2d(64),
              "layer_64_1_conv2": nn.Conv2d(64, 64, 3, 1, 1, bias=False)}
    for width, inputs in ((128, 64), (256, 128), (512, 256)):
        prefix = "layer_%d_1_" % width
        layers.update({prefix + "bn1": nn.BatchNorm2d(inputs),
                       prefix + "conv1": nn.Conv2d(inputs, width, 3, 2, 1, bias=False),
                       prefix + "bn2": nn.BatchNorm2d(width),
                       prefix + "conv2": nn.Conv2d(width, width, 3, 1, 1, bias=False),
                       prefix + "conv_expand": nn.Conv2d(inputs, width, 1, 2, bias=False)})
    layers["last_bn"] = nn.BatchNorm2d(512)
    return layers


def torch_spatial(m, x, F):
    """atnet.nets.spatial_stream: stem, layer_64_1, three pre-activation blocks, global mean."""
    x = F.relu(m["conv1_bn"](m["conv1"](m["data_bn"](x))))
    x = F.max_pool2d(x, 3, 2, ceil_mode=True)  # Caffe pools with ceil: 112 -> 56, not 55
    x = m["layer_64_1_conv2"](F.relu(m["layer_64_1_bn2"](m["layer_64_1_conv1"](x)))) + x
    for width in (128, 256, 512):
        prefix = "layer_%d_1_" % width
        activated = F.relu(m[prefix + "bn1"](x))
        inner = F.relu(m[prefix + "bn2"](m[prefix + "conv1"](activated)))
        x = m[prefix + "conv2"](inner) + m[prefix + "conv_expand"](activated)
    return F.relu(m["last_bn"](x)).mean((2, 3))


def torch_lstm(nn, inputs, hidden):
    """A Caffe LSTM: one bias vector. torch's second (hidden-side) bias stays zero and frozen."""
    lstm = nn.LSTM(inputs, hidden)
    lstm.bias_hh_l0.data.zero_()
    lstm.bias_hh_l0.requires_grad_(False)
    return lstm


def torch_net(variant, const, torch):
    """The variant's modules (a ModuleDict keyed by Caffe layer names) and its forward function.

    ``const``: atnet.nets' sizes (hidden, flow_dim, classes, norm_eps), from the reference the
    Caffe worker wrote: importing atnet.nets would load pycaffe into the PyTorch process.
    """
    nn, F = torch.nn, torch.nn.functional
    hidden = int(const["hidden"])
    layers = torch_spatial_layers(nn) if variant.uses_apex else {}
    if variant.uses_flow:
        layers.update(lstm1=torch_lstm(nn, int(const["flow_dim"]), hidden), lstm2=torch_lstm(nn, hidden, hidden))
    layers[variant.score_blob] = nn.Linear(hidden * len(variant.streams), int(const["classes"]))
    m = nn.ModuleDict(layers)

    def normalize(feature):
        return feature * (feature.pow(2).sum(1, keepdim=True) + float(const["norm_eps"])).rsqrt()

    def features(apex, flow):
        found = []
        if variant.uses_apex:
            found.append(normalize(torch_spatial(m, apex, F)))
        if variant.uses_flow:
            sequence = flow[:, 0].transpose(0, 1)  # N x 1 x T x D -> T x N x D, Caffe's time_major
            hidden, _ = m["lstm2"](m["lstm1"](sequence)[0])
            found.append(normalize(hidden.mean(0)))  # mean over all T steps, Caffe's mean_over_time
        return found

    def forward(apex, flow):
        top = torch.cat(features(apex, flow), 1)
        if variant.dropout:
            top = F.dropout(top, 0.5, training=True)
        return m[variant.score_blob](top)

    return m, features, forward


def load_caffe_weights(m, reference, torch):
    """Copy the Caffe net's weights into the modules: convolutions, Scale -> BatchNorm affine,
    LSTM (Caffe's gate order i, f, o, g -> torch's i, f, g, o), InnerProduct."""
    def blob(name, index):
        return torch.from_numpy(np.array(reference["%s/%d" % (name, index)]))
    with torch.no_grad():
        for name, module in m.items():
            if isinstance(module, torch.nn.BatchNorm2d):
                scale = name.replace("bn", "scale")
                module.weight.copy_(blob(scale, 0).flatten())
                module.bias.copy_(blob(scale, 1).flatten())
            elif isinstance(module, torch.nn.LSTM):
                order = torch.cat([torch.arange(k * module.hidden_size, (k + 1) * module.hidden_size)
                                   for k in (0, 1, 3, 2)])
                module.weight_ih_l0.copy_(blob(name, 0)[order])
                module.bias_ih_l0.copy_(blob(name, 1)[order])
                module.weight_hh_l0.copy_(blob(name, 2)[order])
            else:
                module.weight.copy_(blob(name, 0).reshape(module.weight.shape))
                if module.bias is not None:
                    module.bias.copy_(blob(name, 1))


def caffe_like_sgd(m, head, torch):
    """SGD with atnet.solver's base_lr, momentum and weight decay, and atnet.nets' multipliers:
    convolution, Scale (here BatchNorm) and classifier biases lr x 2, the classifier's bias
    without decay; the LSTMs' (Caffe's default param) lr x 1."""
    from atnet import solver as caffe_solver
    base, decay = caffe_solver.BASE_LR, caffe_solver.WEIGHT_DECAY
    groups = {}
    for name, parameter in m.named_parameters():
        if not parameter.requires_grad:
            continue
        is_bias = name.endswith(".bias")  # not the LSTMs' bias_ih_l0
        is_head = name.startswith(head + ".")
        key = (base * (2 if is_bias else 1), 0.0 if is_head and is_bias else decay)
        groups.setdefault(key, []).append(parameter)
    return torch.optim.SGD([dict(params=p, lr=lr, weight_decay=wd) for (lr, wd), p in groups.items()],
                           lr=base, momentum=caffe_solver.MOMENTUM)


def torch_worker(args):
    """The PyTorch mirror of the net, Caffe's weights and inputs; checks its features against Caffe's."""
    import torch
    from atnet.variants import variant_of
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.index)
    reference = np.load(os.path.join(args.folder, "reference-%s.npz" % args.net))
    const = {key.split("/", 1)[1]: reference[key] for key in reference.files if key.startswith("const/")}
    m, features, forward = torch_net(variant_of(args.net), const, torch)
    load_caffe_weights(m, reference, torch)
    apex, flow, label = (torch.from_numpy(a) for a in read_inputs(args.folder))
    label = label.long()
    m.train()
    with torch.no_grad():
        difference = max(float(np.abs(f.numpy() - reference["feature/" + name]).max()) for f, name in zip(
            features(apex, flow), [n for n in FEATURE_BLOBS if "feature/" + n in reference]))
    sgd = caffe_like_sgd(m, variant_of(args.net).score_blob, torch)

    def step():
        sgd.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(forward(apex, flow), label).backward()
        sgd.step()
    for _ in range(args.warmup):
        step()
    serve(step, dict(parameters=int(sum(p.numel() for p in m.parameters() if p.requires_grad)),
                     feature_difference=difference, version=torch.__version__))


# --- worker protocol -------------------------------------------------------------------

def answer(document):
    print(REPLY + json.dumps(document), flush=True)


def serve(step, ready):
    """Say ``ready``; then per ``run K`` line run K timed steps and answer their wall and CPU
    seconds; at ``quit`` answer the process's peak RSS and end."""
    import resource
    answer(dict(ready, pid=os.getpid()))
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["run"]:
            wall, cpu = [], []
            for _ in range(int(words[1])):
                start, start_cpu = time.perf_counter(), time.process_time()
                step()
                wall.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            answer(dict(wall=wall, cpu=cpu))
        elif words[:1] == ["quit"]:
            answer(dict(peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
            return


class Worker:
    """One worker process (this script with --worker), its stderr in a file of the bench folder."""

    def __init__(self, framework, net, folder, threads, index, args):
        env = dict(os.environ, **{name: str(threads) for name in THREAD_VARIABLES})
        if framework == "caffe" and args.caffe_prefix:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, (os.path.join(args.caffe_prefix, "python"),
                                                              env.get("PYTHONPATH"))))
        self.name = "%s %s #%d (%d threads)" % (framework, net, index, threads)
        self.log_path = os.path.join(folder, "%s-%s-%d-%d.log" % (framework, net, threads, index))
        self.log = open(self.log_path, "w")
        command = [sys.executable, os.path.abspath(__file__), "--worker", framework, "--net", net, "--folder",
                   folder, "--threads", str(threads), "--index", str(index), "--batch", str(args.batch),
                   "--warmup", str(args.warmup)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                        text=True, env=env)

    def send(self, line):
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def receive(self):
        for line in self.process.stdout:
            if line.startswith(REPLY):
                return json.loads(line[len(REPLY):])
        self.log.flush()
        with open(self.log_path, errors="replace") as handle:
            tail = handle.read()[-3000:]
        raise RuntimeError("%s ended (exit %s):\n%s" % (self.name, self.process.wait(), tail))

    def close(self):
        self.send("quit")
        done = self.receive()
        self.process.wait()
        self.log.close()
        return done


# --- the comparison ---------------------------------------------------------------------

def start_workers(net, processes, threads, folder, args):
    """P Caffe workers (worker 0 writes the reference), then P PyTorch workers that read it."""
    caffe = [Worker("caffe", net, folder, threads, i, args) for i in range(processes)]
    caffe_ready = [w.receive() for w in caffe]
    torch = [Worker("torch", net, folder, threads, i, args) for i in range(processes)]
    torch_ready = [w.receive() for w in torch]
    return caffe, torch, caffe_ready[0], torch_ready[0]


def timed_round(workers, iters):
    """All workers run ``iters`` steps at once: (their per-step wall seconds, CPU seconds, round wall)."""
    started = time.perf_counter()
    for worker in workers:
        worker.send("run %d" % iters)
    replies = [worker.receive() for worker in workers]
    elapsed = time.perf_counter() - started
    return ([s for r in replies for s in r["wall"]], [s for r in replies for s in r["cpu"]], elapsed)


def compare_layout(net, processes, threads, folder, args):
    """Alternating rounds of both frameworks in one P x T layout; a dict of the figures."""
    load_before = os.getloadavg()[0]
    caffe, torch, caffe_ready, torch_ready = start_workers(net, processes, threads, folder, args)
    times = {"caffe": ([], [], []), "torch": ([], [], [])}
    try:
        for round_index in range(args.rounds):
            order = (("caffe", caffe), ("torch", torch))
            for name, workers in order if round_index % 2 == 0 else order[::-1]:
                wall, cpu, elapsed = timed_round(workers, args.iters)
                times[name][0].extend(wall)
                times[name][1].extend(cpu)
                times[name][2].append(elapsed / args.iters)
    finally:
        peaks = {name: [w.close()["peak_rss_mib"] for w in workers]
                 for name, workers in (("caffe", caffe), ("torch", torch))}
    result = dict(net=net, processes=processes, threads=threads, load=(load_before, os.getloadavg()[0]),
                  parameters=(caffe_ready["parameters"], torch_ready["parameters"]),
                  feature_difference=torch_ready["feature_difference"], torch_version=torch_ready["version"])
    for name, (wall, cpu, round_seconds) in times.items():
        result[name] = dict(seconds=statistics.median(wall), cpu=statistics.median(cpu),
                            images_per_second=processes * args.batch / statistics.median(round_seconds),
                            peak_rss_mib=max(peaks[name]))
    return result


def report_line(r):
    caffe, torch = r["caffe"], r["torch"]
    return "%-9s %2d x %-2d %10.3f %10.3f %7.2f %9.1f %9.1f %9.3f %9.3f %7.0f %7.0f   %.1f-%.1f" % (
        r["net"], r["processes"], r["threads"], caffe["seconds"], torch["seconds"],
        caffe["seconds"] / torch["seconds"], caffe["images_per_second"], torch["images_per_second"],
        caffe["cpu"], torch["cpu"], caffe["peak_rss_mib"], torch["peak_rss_mib"], r["load"][0], r["load"][1])


HEADER = ("%-9s %7s %10s %10s %7s %9s %9s %9s %9s %7s %7s   %s" % (
    "net", "P x T", "Caffe s/it", "torch s/it", "ratio", "Caffe i/s", "torch i/s", "Caffe CPU", "torch CPU",
    "C MiB", "t MiB", "load"))


def check_same_network(r):
    """Problems that make a layout's comparison not of the same network (empty: none)."""
    problems = []
    if r["parameters"][0] != r["parameters"][1]:
        problems.append("%s: Caffe has %d trainable parameters, PyTorch %d" % ((r["net"],) + r["parameters"]))
    if not r["feature_difference"] <= FEATURE_TOLERANCE:
        problems.append("%s: features differ by up to %.3g (tolerance %g)"
                        % (r["net"], r["feature_difference"], FEATURE_TOLERANCE))
    return problems


# --- per-layer split of the Caffe iteration ------------------------------------------

def layer_group(name, layer_type):
    """The issue's groups: convolution (im2col + GEMM + col2im), BatchNorm + its Scale, LSTM, the rest
    (the L2 normalisation's Scale layers, "*_normalize", count as the rest)."""
    if layer_type == "Convolution":
        return "convolution"
    if layer_type == "BatchNorm" or (layer_type == "Scale" and not name.endswith("_normalize")):
        return "BatchNorm+Scale"
    return "LSTM" if layer_type == "LSTM" else "other"


def caffe_binary(prefix=None):
    """``prefix``'s caffe, else the venv's (setup's wrapper beside this Python), else the one on PATH."""
    if prefix:
        return os.path.join(prefix, "bin", "caffe")
    beside = os.path.join(os.path.dirname(sys.executable), "caffe")
    return beside if os.path.isfile(beside) else shutil.which("caffe")


def layer_split(folder, batch, iterations, threads, prefix=None):
    """{group: ms} of `caffe time` (forward + backward per layer) on the fusion TRAIN net."""
    from atnet import nets
    from atnet.prototxt_io import write_prototxt
    net = nets.train_val("fusion", os.path.join(folder, "apex"), os.path.join(folder, "flow"), batch_size=batch)
    path = os.path.join(folder, "fusion-time.prototxt")
    write_prototxt(path, net)
    env = dict(os.environ, **GLOG_ENV, **{name: str(threads) for name in THREAD_VARIABLES})
    result = subprocess.run([caffe_binary(prefix), "time", "-model", path, "-iterations", str(iterations)],
                            capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError("caffe time failed:\n%s" % result.stderr[-3000:])
    types = {layer.name: layer.type for layer in net.layer}
    groups = dict.fromkeys(GROUPS, 0.0)
    for name, _, ms in re.findall(r"\]\s+(\S+)\s+(forward|backward): ([\d.]+) ms", result.stderr):
        groups[layer_group(name, types.get(name, ""))] += float(ms)
    return groups


def print_layer_split(folder, args, cores):
    for threads in sorted({1, cores}):
        load = os.getloadavg()[0]
        groups = layer_split(folder, args.batch, args.layer_iters, threads, args.caffe_prefix)
        total = sum(groups.values())
        print("caffe time, fusion, batch %d, %d thread(s), %d iterations: %.0f ms forward + backward; %s "
              "(load %.1f)" % (args.batch, threads, args.layer_iters, total, ", ".join(
                  "%s %.0f %%" % (g, 100 * ms / total) for g, ms in groups.items()), load), flush=True)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        (caffe_worker if args.worker == "caffe" else torch_worker)(args)
        return 0
    if find_spec("torch") is None:
        print("error: PyTorch is not installed; it is a benchmark-only extra: .venv/bin/pip install -r %s "
              "-c requirements.txt (see %s)" % (REQUIREMENTS, REQUIREMENTS), file=sys.stderr)
        return 2
    cores = machine_cores()
    plan = layouts(args.layouts, cores)
    print("ATNet training iteration (forward + backward + SGD update), batch %d; %d cores; P x T = processes "
          "of each framework x threads each; %d alternating rounds of %d iterations; s/it: median wall "
          "seconds of one process' iteration; i/s: images per second of all P processes; CPU: CPU seconds per "
          "iteration; MiB: peak RSS of one process; load: 1-min load average before-after"
          % (args.batch, cores, args.rounds, args.iters), flush=True)
    if args.caffe_prefix and not os.path.isfile(os.path.join(args.caffe_prefix, "python", "caffe", "__init__.py")):
        print("error: --caffe-prefix %s has no python/caffe (a setup.sh build prefix)" % args.caffe_prefix,
              file=sys.stderr)
        return 2
    print("Caffe build: %s" % (args.caffe_prefix or "the venv's (setup.sh)"), flush=True)
    problems = []
    with tempfile.TemporaryDirectory(prefix="atnet-vs-torch-") as folder:
        write_inputs(folder, args.batch, args.seed)
        print(HEADER, flush=True)
        for net in [n.strip() for n in args.nets.split(",") if n.strip()]:
            for processes, threads in plan:
                result = compare_layout(net, processes, threads, folder, args)
                print(report_line(result), flush=True)
                problems += check_same_network(result)
            print("%-9s %d trainable parameters (Caffe), %d (PyTorch %s); features differ by <= %.2g"
                  % (net, result["parameters"][0], result["parameters"][1], result["torch_version"],
                     result["feature_difference"]), flush=True)
        if args.layer_iters:
            print_layer_split(folder, args, cores)
    for problem in problems:
        print("error: not the same network: %s" % problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
