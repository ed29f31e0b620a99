"""Every setting of LMDB building and training, with its default, in ONE place.

A run's configuration is the defaults below, then a YAML file (``--config
FILE``: a flat mapping of key: value), then ``--set key=value`` options, in
that order. Unknown keys and values of the wrong type are errors that name
the key. The merged Config is frozen and passed explicitly to the code that
needs it; it is written into every LMDB manifest and run folder
(``config.json``), together with where each value came from.

Keys are grouped by the stage that uses them: ``data`` keys shape the LMDBs
(tools/make_lmdb.py records them in ``folds.json``; tools/train.py takes them
from there), ``train`` keys shape the solver, ``seed`` is shared.
"""
import dataclasses
import hashlib
import types

import yaml

from atnet.common import InputError

SCHEDULES = ("paper", "release")
AUGMENTATIONS = ("paper", "none")
FLOW_ROWS = ("centred", "release")


@dataclasses.dataclass(frozen=True)
class Config:
    """The merged settings of one LMDB build or training run (see the module docstring)."""

    # --- shared ---------------------------------------------------------------
    #: Run seed. Every random choice (oversampling, augmentation, shuffle,
    #: Caffe's fillers and dropout) uses a seed derived from it and the fold
    #: name (``fold_seed``), so one fold's data and model do not depend on
    #: which other folds are built or trained.
    seed: int = 0

    # --- data: LMDB building (atnet.md section 4) ---------------------------------
    #: 'paper': each oversampled copy of an apex image is rotated by up to
    #: ``rotation_degrees`` and shifted by up to ``shift_pixels``, each with
    #: probability ``augment_probability``; 'none': no augmentation, which is
    #: what the authors' release effectively does (its data layer reads a
    #: probability key whose default is 0).
    augment: str = "paper"
    rotation_degrees: float = 5.0
    shift_pixels: int = 10
    augment_probability: float = 0.5
    #: 'centred': the ADM feature as the paper defines it (valid rows centred
    #: on the apex, zero rows where the clip ends); 'release': zero rows first,
    #: then the valid rows (the release's data layer, move_valid_rows_to_end).
    flow_rows: str = "centred"

    # --- train: the solver (atnet.md section 2) ------------------------------------
    #: 'paper': ``epochs`` epochs, lr / 10 every ``step_epochs`` epochs, the
    #: iteration counts computed from each fold's balanced training-set size;
    #: 'release': the release's fixed 500 / 2500 iterations for every fold.
    schedule: str = "paper"
    epochs: int = 50
    step_epochs: int = 10
    #: Training batch size (the release's 16). Prediction always uses batch 1.
    batch_size: int = 16
    #: A cap on the iterations of every fold, for quick runs (tools/train.py
    #: --iters); the lr steps scale with it, so the schedule keeps its shape.
    max_iter: int = None
    #: Caffe snapshots (.caffemodel + .solverstate) every this many
    #: iterations; an interrupted fold resumes from the newest complete one.
    snapshot_interval: int = 500
    #: Older snapshots beyond the newest this many are deleted (0 keeps all).
    keep_snapshots: int = 2
    #: Caffe prints the loss every this many iterations (the glog train.log).
    display: int = 10


#: Which stage reads each key.
DATA_KEYS = ("augment", "rotation_degrees", "shift_pixels", "augment_probability", "flow_rows")
TRAIN_KEYS = ("schedule", "epochs", "step_epochs", "batch_size", "max_iter", "snapshot_interval",
              "keep_snapshots", "display")
#: Keys whose value must be one of a fixed set.
CHOICES = {"augment": AUGMENTATIONS, "flow_rows": FLOW_ROWS, "schedule": SCHEDULES}
#: Keys that may be None (meaning: not set).
OPTIONAL = ("max_iter",)
_TYPES = {"seed": int, "augment": str, "rotation_degrees": float, "shift_pixels": int,
          "augment_probability": float, "flow_rows": str, "schedule": str, "epochs": int,
          "step_epochs": int, "batch_size": int, "max_iter": int, "snapshot_interval": int,
          "keep_snapshots": int, "display": int}
#: Numeric keys and their smallest allowed value.
_MINIMA = {"rotation_degrees": 0, "shift_pixels": 0, "augment_probability": 0, "epochs": 1,
           "step_epochs": 1, "batch_size": 1, "max_iter": 1, "snapshot_interval": 1,
           "keep_snapshots": 0, "display": 1, "seed": 0}


def keys():
    """Every configuration key, in definition order."""
    return tuple(field.name for field in dataclasses.fields(Config))


def defaults():
    """The default configuration."""
    return Config()


def check_value(key, value, where):
    """``value`` converted to ``key``'s type; InputError naming the key and ``where`` otherwise.

    YAML and ``--set`` give ints for whole numbers, so an int is accepted
    where a float is expected; a bool is never taken for a number.
    """
    if key not in _TYPES:
        raise InputError("%s: unknown configuration key %r (known keys: %s)" % (where, key, ", ".join(keys())))
    if value is None and key in OPTIONAL:
        return None
    wanted = _TYPES[key]
    if isinstance(value, bool) or not (isinstance(value, wanted) or (wanted is float and isinstance(value, int))):
        raise InputError("%s: %s must be %s, got %r" % (where, key, _TYPE_WORDS[wanted], value))
    value = wanted(value)
    if key in CHOICES and value not in CHOICES[key]:
        raise InputError("%s: %s must be one of %s, got %r" % (where, key, ", ".join(CHOICES[key]), value))
    if key in _MINIMA and value < _MINIMA[key]:
        raise InputError("%s: %s must be at least %s, got %r" % (where, key, _MINIMA[key], value))
    if key == "augment_probability" and value > 1:
        raise InputError("%s: augment_probability must be at most 1, got %r" % (where, value))
    return value


_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string"}


def read_yaml(path):
    """A YAML configuration file as a dict; InputError naming the file (and line) on any problem."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as err:
        raise InputError("%s: cannot read the configuration file (%s)" % (path, err.strerror)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = " line %d" % (mark.line + 1) if mark else ""
        raise InputError("%s%s: not valid YAML (%s)" % (path, line, getattr(err, "problem", err))) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise InputError("%s: expected a mapping of configuration keys to values" % path)
    return document


def parse_assignment(text):
    """``key=value`` from ``--set`` as (key, value); the value is read as YAML (3, 0.5, none, paper)."""
    key, sep, raw = str(text).partition("=")
    key = key.strip()
    if not sep or not key:
        raise InputError("--set %r: expected key=value, e.g. --set batch_size=4" % (text,))
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if key in _TYPES and _TYPES[key] is str and value is not None:
        value = raw.strip()  # 'none' is the augmentation name, not YAML's null
    return key, value


def load_config(path=None, assignments=(), options=None):
    """The merged Config: defaults < YAML file ``path`` < ``--set`` assignments < ``options``.

    ``options`` maps keys to the values of a tool's own options (``--seed``,
    ``--augment``, ``--iters``...); None values are left out. Returns
    ``(config, sources)``: ``sources`` maps each key that did not keep its
    default to where its value came from, which tools record and use to
    check explicit settings against what an LMDB was built with.
    """
    values = dataclasses.asdict(defaults())
    sources = {}
    layers = []
    if path:
        layers.append((read_yaml(path), str(path)))
    layers.append((dict(parse_assignment(a) for a in assignments), "--set"))
    layers.append(({k: v for k, v in (options or {}).items() if v is not None}, "command line"))
    for layer, where in layers:
        for key, value in layer.items():
            values[key] = check_value(key, value, where)
            sources[key] = where
    return Config(**values), types.MappingProxyType(sources)


def as_dict(config):
    """The configuration as a plain dict (for JSON files)."""
    return dataclasses.asdict(config)


def data_parameters(config):
    """The settings that decide an LMDB's content (recorded in folds.json and manifests)."""
    params = {key: getattr(config, key) for key in ("seed",) + DATA_KEYS}
    if config.augment == "none":  # the augmentation magnitudes are unused then
        for key in ("rotation_degrees", "shift_pixels", "augment_probability"):
            params.pop(key)
    return params


def fold_seed(seed, fold, purpose):
    """A seed for one random purpose ('oversample', 'augment', 'shuffle', 'solver') of one fold.

    Derived with sha256 from (run seed, fold name, purpose), so it is the same
    on every machine and Python version, and independent of the other folds.
    """
    digest = hashlib.sha256(("%d/%s/%s" % (seed, fold, purpose)).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def add_arguments(parser):
    """``--config FILE`` and ``--set key=value`` for a tool's argument parser."""
    parser.add_argument("--config", metavar="FILE", help="YAML file of configuration overrides (see atnet/config.py)")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                        help="override one configuration key, e.g. --set batch_size=4 (repeatable; "
                             "keys: %s)" % ", ".join(keys()))
