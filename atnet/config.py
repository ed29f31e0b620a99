"""Every setting of LMDB building and training, with its default, in ONE place.

A run's configuration is the defaults below, then a YAML file (``--config
FILE``: a flat mapping of key: value, e.g. configs/paper.yaml), then ``--set
key=value`` options, in that order. Unknown keys and values of the wrong type
are errors that name the key. The merged Config is frozen and passed
explicitly to the code that needs it; it is written into every LMDB manifest
and run folder (``config.json``), together with where each value came from.

Keys are grouped by the stage that uses them: ``data`` keys shape the LMDBs
(tools/make_lmdb.py records them in ``folds.json``; tools/train.py takes them
from there), ``train`` keys shape the solver, ``seed`` is shared.

Each field declares itself (``setting``): its type (the annotation), default,
help, stage, minimum, maximum and choices; the key lists and checks below are
derived from those declarations. The settings of preparation
(atnet.data.prepare.Settings) and of the baselines (atnet.baselines.classify
.SvmConfig, atnet.baselines.features.FeatureConfig) are declared the same way,
and their command-line options take default, type, choices and help from the
declaration (``add_option``).
"""
import argparse
import dataclasses
import hashlib
import types
import typing

import yaml

from atnet.common import InputError

SCHEDULES = ("paper", "release")
AUGMENTATIONS = ("paper", "none")
FLOW_ROWS = ("centred", "release")
STAGES = ("shared", "data", "train")


def setting(default, help, stage=None, minimum=None, maximum=None, choices=None):
    """A dataclass field that carries its own documentation and checks (see ``Declaration``)."""
    if stage is not None and stage not in STAGES:
        raise ValueError("unknown stage %r (choose from %s)" % (stage, ", ".join(STAGES)))
    return dataclasses.field(default=default, metadata=types.MappingProxyType(dict(
        help=help, stage=stage, minimum=minimum, maximum=maximum,
        choices=tuple(choices) if choices is not None else None)))


@dataclasses.dataclass(frozen=True)
class Declaration:
    """What one settings field declares: ``type`` from its annotation (``optional``
    when annotated ``typing.Optional[...]``: None means not set), the rest from ``setting``."""
    name: str
    type: type
    optional: bool
    default: object
    help: str
    stage: str
    minimum: object
    maximum: object
    choices: tuple


def declarations(settings_class):
    """``{name: Declaration}`` of every field of a settings dataclass, in definition order."""
    hints = typing.get_type_hints(settings_class)
    found = {}
    for field in dataclasses.fields(settings_class):
        wanted, optional = hints[field.name], False
        if typing.get_origin(wanted) is typing.Union:
            members = [t for t in typing.get_args(wanted) if t is not type(None)]
            if len(members) != 1:
                raise TypeError("%s.%s: only Optional[one type] is supported, not %s"
                                % (settings_class.__name__, field.name, wanted))
            wanted, optional = members[0], True
        meta = field.metadata
        found[field.name] = Declaration(field.name, wanted, optional, field.default, meta.get("help"),
                                        meta.get("stage"), meta.get("minimum"), meta.get("maximum"),
                                        meta.get("choices"))
    return types.MappingProxyType(found)


@dataclasses.dataclass(frozen=True)
class Config:
    """The merged settings of one LMDB build or training run (see the module docstring)."""

    # --- shared ---------------------------------------------------------------
    seed: int = setting(0, stage="shared", minimum=0, help=(
        "Run seed. Every random choice (oversampling, augmentation, shuffle, Caffe's fillers and "
        "dropout) uses a seed derived from it and the fold name (fold_seed), so one fold's data "
        "and model do not depend on which other folds are built or trained."))

    # --- data: LMDB building (atnet.md section 4) ---------------------------------
    augment: str = setting("paper", stage="data", choices=AUGMENTATIONS, help=(
        "'paper': each oversampled copy of an apex image is rotated by up to rotation_degrees and "
        "shifted by up to shift_pixels, each with probability augment_probability; 'none': no "
        "augmentation, which is what the authors' release effectively does (its data layer reads "
        "a probability key whose default is 0)."))
    rotation_degrees: float = setting(5.0, stage="data", minimum=0,
                                      help="Largest rotation of an augmented apex image, degrees.")
    shift_pixels: int = setting(10, stage="data", minimum=0,
                                help="Largest shift of an augmented apex image, pixels.")
    augment_probability: float = setting(0.5, stage="data", minimum=0, maximum=1,
                                         help="Probability of each of the rotation and the shift.")
    flow_rows: str = setting("centred", stage="data", choices=FLOW_ROWS, help=(
        "'centred': the ADM feature as the paper defines it (valid rows centred on the apex, zero "
        "rows where the clip ends); 'release': zero rows first, then the valid rows (the "
        "release's data layer, move_valid_rows_to_end)."))

    # --- train: the solver (atnet.md section 2) ------------------------------------
    schedule: str = setting("paper", stage="train", choices=SCHEDULES, help=(
        "'paper': epochs epochs, lr / 10 every step_epochs epochs, the iteration counts computed "
        "from each fold's balanced training-set size; 'release': the release's fixed 500 / 2500 "
        "iterations for every fold."))
    epochs: int = setting(50, stage="train", minimum=1, help="Epochs of the paper schedule.")
    step_epochs: int = setting(10, stage="train", minimum=1,
                               help="The paper schedule divides the learning rate by 10 every this many epochs.")
    batch_size: int = setting(16, stage="train", minimum=1, help=(
        "Training batch size (the release's 16). Prediction always uses batch 1."))
    max_iter: typing.Optional[int] = setting(None, stage="train", minimum=1, help=(
        "A cap on the iterations of every fold, for quick runs (tools/train.py --iters); the lr "
        "steps scale with it, so the schedule keeps its shape. None: no cap."))
    snapshot_interval: int = setting(500, stage="train", minimum=1, help=(
        "Caffe snapshots (.caffemodel + .solverstate) every this many iterations; an interrupted "
        "fold resumes from the newest complete one."))
    keep_snapshots: int = setting(2, stage="train", minimum=0, help=(
        "Older snapshots beyond the newest this many are deleted (0 keeps all)."))
    display: int = setting(10, stage="train", minimum=1, help=(
        "Caffe prints the loss every this many iterations (the glog train.log)."))


_DECLARED = declarations(Config)
#: Which stage reads each key.
DATA_KEYS = tuple(name for name, d in _DECLARED.items() if d.stage == "data")
TRAIN_KEYS = tuple(name for name, d in _DECLARED.items() if d.stage == "train")
#: Keys whose value must be one of a fixed set.
CHOICES = {name: d.choices for name, d in _DECLARED.items() if d.choices}
#: Keys that may be None (meaning: not set).
OPTIONAL = tuple(name for name, d in _DECLARED.items() if d.optional)


def keys():
    """Every configuration key, in definition order."""
    return tuple(field.name for field in dataclasses.fields(Config))


def defaults():
    """The default configuration."""
    return Config()


def check_value(key, value, where):
    """``value`` converted to ``key``'s type; InputError naming the key and ``where`` otherwise."""
    if key not in _DECLARED:
        raise InputError("%s: unknown configuration key %r (known keys: %s)" % (where, key, ", ".join(keys())))
    return checked(_DECLARED[key], value, where)


def checked(declaration, value, where):
    """``value`` converted to the declared type and checked against the declared choices and bounds.

    YAML and ``--set`` give ints for whole numbers, so an int is accepted
    where a float is expected; a bool is never taken for a number. None is
    accepted only for an optional field. The InputError names ``where``.
    """
    key, wanted = declaration.name, declaration.type
    if value is None and declaration.optional:
        return None
    if isinstance(value, bool) or not (isinstance(value, wanted) or (wanted is float and isinstance(value, int))):
        raise InputError("%s: %s must be %s, got %r" % (where, key, _TYPE_WORDS[wanted], value))
    value = wanted(value)
    if declaration.choices and value not in declaration.choices:
        raise InputError("%s: %s must be one of %s, got %r" % (where, key, ", ".join(declaration.choices), value))
    if declaration.minimum is not None and value < declaration.minimum:
        raise InputError("%s: %s must be at least %s, got %r" % (where, key, declaration.minimum, value))
    if declaration.maximum is not None and value > declaration.maximum:
        raise InputError("%s: %s must be at most %s, got %r" % (where, key, declaration.maximum, value))
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
    if key in _DECLARED and _DECLARED[key].type is str and value is not None:
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


def add_option(parser, settings_class, name, *flags, **overrides):
    """A command-line option for field ``name`` of ``settings_class``, from its declaration.

    Default, type, choices and help come from the field, so a tool never
    restates them; a bool field becomes a ``store_true`` flag. A declared
    minimum or maximum is checked while parsing (exit 2, naming the option).
    ``overrides`` are for what a command line spells differently, e.g. a
    tuple default given as text.
    """
    declaration = declarations(settings_class)[name]
    options = dict(dest=name, help=declaration.help)
    if declaration.type is bool:
        if declaration.default is not False:
            raise ValueError("%s.%s: a flag's default must be False" % (settings_class.__name__, name))
        options["action"] = "store_true"
    else:
        options.update(default=declaration.default, type=_option_type(declaration))
        if declaration.choices:
            options["choices"] = declaration.choices
    options.update(overrides)
    return parser.add_argument(*flags, **options)


def _option_type(declaration):
    """The declared type, checking the declared bounds when there are any."""
    wanted = declaration.type
    if declaration.minimum is None and declaration.maximum is None:
        return wanted

    def convert(text):
        value = wanted(text)
        if declaration.minimum is not None and value < declaration.minimum:
            raise argparse.ArgumentTypeError("must be at least %s, got %s" % (declaration.minimum, text))
        if declaration.maximum is not None and value > declaration.maximum:
            raise argparse.ArgumentTypeError("must be at most %s, got %s" % (declaration.maximum, text))
        return value

    convert.__name__ = wanted.__name__  # argparse's "invalid int value" names the type
    return convert
