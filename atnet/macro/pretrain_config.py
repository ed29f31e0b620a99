"""Every setting of macro pre-training (tools/pretrain.py), with its default, declared once.

Declared with atnet.config.setting like the micro Config, and merged the
same way: defaults < ``--config FILE`` (flat YAML) < ``--set key=value`` <
the tool's own options (``--iters``); unknown keys and wrong types are errors
naming the key; ``--set key=`` (empty) keeps the default. The defaults are the issue's and the paper's where known
(pretraining.md): 50,000 iterations (the release's snapshot name
``facia_expression_iter_50000``), batch 16, SGD momentum 0.9, lr 0.01 with
step decay (/10 every 10,000 iterations, the micro schedule's 5 steps; the
release's is unknown), weight decay 5e-6 (the micro solver's), the paper's
augmentation (rotation up to 5 degrees and shift up to 10 pixels, each with
probability 0.5).
"""
import dataclasses
import types

from atnet import config as configuration
from atnet.common import InputError
from atnet.macro.net import DEFAULT_HEAD, HEADS

setting = configuration.setting


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """The merged settings of one pre-training run."""
    seed: int = setting(0, minimum=0, help=(
        "Run seed: the augmentation draws, the record order of the training LMDB and Caffe's "
        "fillers and dropout derive from it (atnet.config.fold_seed)."))
    max_iter: int = setting(50000, minimum=1, help="Training iterations (tools/pretrain.py --iters caps them).")
    batch_size: int = setting(16, minimum=1, help="Training batch size.")
    base_lr: float = setting(0.01, minimum=0, help="Initial learning rate (SGD).")
    gamma: float = setting(0.1, minimum=0, maximum=1, help="Step decay: the lr is multiplied by gamma ...")
    stepsize: int = setting(10000, minimum=1, help=(
        "... every this many iterations. A --iters cap below max_iter scales it by the same ratio."))
    momentum: float = setting(0.9, minimum=0, maximum=1, help="SGD momentum.")
    weight_decay: float = setting(5e-6, minimum=0, help="L2 weight decay.")
    head: str = setting(DEFAULT_HEAD, choices=HEADS, help=(
        "Between global_pool and fc_macro: 'l2' (L2 normalisation + Dropout 0.5, as the spatial "
        "variant fine-tuned afterwards) or 'plain'."))
    augment: str = setting("paper", choices=("paper", "none"), help=(
        "'paper': each augmented copy is rotated by up to rotation_degrees and shifted by up to "
        "shift_pixels, each with probability augment_probability (atnet.augment); 'none': originals only."))
    rotation_degrees: float = setting(5.0, minimum=0, help="Largest rotation of an augmented copy, degrees.")
    shift_pixels: int = setting(10, minimum=0, help="Largest shift of an augmented copy, pixels.")
    augment_probability: float = setting(0.5, minimum=0, maximum=1,
                                         help="Probability of each of the rotation and the shift.")
    augment_copies: int = setting(8, minimum=0, help=(
        "Augmented copies of every training image written into the training LMDB besides the "
        "original (Caffe's Data layer cannot rotate); the Data layer cycles over all of them."))
    balance: str = setting("none", choices=("none", "oversample"), help=(
        "'oversample': repeat each class's images (with their own augmentation draws) up to the "
        "largest class's count, as the release balances the micro folds; 'none': as prepared."))
    bn_recompute_batches: int = setting(0, minimum=0, help=(
        "After the last iteration, re-estimate every BatchNorm layer's stored statistics from this many "
        "training batches forwarded with the final weights (running sums zeroed first), as 'precise BN' "
        "does; 0 (default, as the release) keeps the statistics the solver accumulated. Caffe averages "
        "them over all iterations (moving_average_fraction 0.999), so a run of a few hundred iterations "
        "keeps the statistics of its first weights and predicts one class at test time."))
    snapshot_interval: int = setting(2000, minimum=1, help=(
        "Caffe snapshots every this many iterations; an interrupted run resumes from the newest."))
    keep_snapshots: int = setting(2, minimum=0, help="Snapshots kept besides the newest ones (0 keeps all).")
    display: int = setting(20, minimum=1, help="Caffe logs the loss every this many iterations.")


DECLARED = configuration.declarations(PretrainConfig)
#: Keys that decide the training LMDB's content (recorded in its manifest).
DATA_KEYS = ("seed", "augment", "rotation_degrees", "shift_pixels", "augment_probability", "augment_copies",
             "balance")


def keys():
    return tuple(DECLARED)


def load_pretrain_config(path=None, assignments=(), options=None):
    """``(PretrainConfig, sources)`` merged as the module docstring says; InputError naming the key."""
    values = {name: d.default for name, d in DECLARED.items()}
    sources = {}
    layers = [(configuration.read_yaml(path), str(path))] if path else []
    parsed = []
    for text in assignments:
        key, value = configuration.parse_assignment(text)
        if value is None and not str(text).partition("=")[2].strip():
            if key not in DECLARED:
                raise InputError("--set: unknown pre-training key %r (known keys: %s)" % (key, ", ".join(keys())))
            continue                       # 'key=' keeps the default (docker-compose.yml passes unset variables)
        if key in DECLARED and DECLARED[key].type is str:
            value = str(text).partition("=")[2].strip()     # 'none' is a choice here, not YAML's null
        parsed.append((key, value))
    layers.append((dict(parsed), "--set"))
    layers.append(({k: v for k, v in (options or {}).items() if v is not None}, "command line"))
    for layer, where in layers:
        for key, value in layer.items():
            if key not in DECLARED:
                raise InputError("%s: unknown pre-training key %r (known keys: %s)" % (where, key, ", ".join(keys())))
            values[key] = configuration.checked(DECLARED[key], value, where)
            sources[key] = where
    return PretrainConfig(**values), types.MappingProxyType(sources)


def data_parameters(config):
    """The settings that decide the training LMDB (its manifest and the run's signature)."""
    return {key: getattr(config, key) for key in DATA_KEYS}
