"""The canonical expression vocabulary of the macro datasets and the label sets built on it.

Every reader maps its release's own codes (CK+ 0..7, Oulu-CASIA folder names,
JAFFE two-letter codes, MUG folder names) onto CANONICAL; a label set then
names the classes a pre-training run learns and maps each canonical emotion
to one of them (or leaves it out):

* ``basic6`` (default): the six basic emotions;
* ``basic7``: the six plus neutral;
* ``ck8``: CK+'s eight codes (neutral and contempt too), in CK+'s code order;
* ``3class``: negative / positive / surprise as the micro-expression
  composite maps its emotions (SAMM: anger, contempt, disgust, fear, sadness
  are negative), in the micro label order of atnet.common.CLASS_NAMES, so a
  3-way macro head even shares the micro head's class indices.
"""
from atnet.common import CLASS_NAMES, InputError

#: In CK+'s code order (0 neutral ... 7 surprise).
CANONICAL = ("neutral", "anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")
BASIC6 = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
NEUTRAL = "neutral"

#: Label set -> its class names, in head-output order.
LABEL_SET_CLASSES = {
    "basic6": BASIC6,
    "basic7": BASIC6 + (NEUTRAL,),
    "ck8": CANONICAL,
    "3class": CLASS_NAMES,
}
#: Label set -> {canonical emotion: class name}; emotions not listed are left out.
LABEL_SET_MAPS = {
    "basic6": {emotion: emotion for emotion in BASIC6},
    "basic7": {emotion: emotion for emotion in BASIC6 + (NEUTRAL,)},
    "ck8": {emotion: emotion for emotion in CANONICAL},
    "3class": {"anger": "negative", "contempt": "negative", "disgust": "negative", "fear": "negative",
               "sadness": "negative", "happiness": "positive", "surprise": "surprise"},
}
LABEL_SETS = tuple(LABEL_SET_CLASSES)
DEFAULT_LABEL_SET = "basic6"

#: Each release's codes -> canonical emotion (atnet/macro/<dataset>.py read them).
CKPLUS_CODES = dict(enumerate(CANONICAL))
OULU_FOLDERS = {name: name.lower() for name in ("Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise")}
JAFFE_CODES = {"AN": "anger", "DI": "disgust", "FE": "fear", "HA": "happiness", "NE": "neutral",
               "SA": "sadness", "SU": "surprise"}
MUG_FOLDERS = {name: name for name in ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")}


def check_label_set(name):
    """``name`` if it is a label set; InputError listing the choices otherwise."""
    if name not in LABEL_SET_CLASSES:
        raise InputError("unknown label set %r (choose from %s)" % (name, ", ".join(LABEL_SETS)))
    return name


def classes(label_set):
    """The class names of a label set, in head-output order."""
    return LABEL_SET_CLASSES[check_label_set(label_set)]


def class_of(label_set, emotion):
    """The class a canonical emotion belongs to in ``label_set``, or None when the set leaves it out."""
    return LABEL_SET_MAPS[check_label_set(label_set)].get(emotion)


def class_index(label_set, class_name):
    """The head-output index of a class name of ``label_set``."""
    return classes(label_set).index(class_name)


def has_neutral(label_set):
    """True when the label set has a class for neutral faces."""
    return class_of(label_set, NEUTRAL) is not None
