"""Hand-written fixtures of the four macro releases' real layouts (tiny images, no faces),
independent of atnet.macro.synth, for the reader and selection tests."""
import os

import cv2
import numpy as np

CK_CODES = {"neutral": 0, "anger": 1, "contempt": 2, "disgust": 3, "fear": 4, "happiness": 5, "sadness": 6,
            "surprise": 7}
#: CK+'s 327 labelled sequences per emotion (pretraining.md: 3 frames each give 981 images).
CK_LABELLED = {"anger": 45, "contempt": 18, "disgust": 59, "fear": 25, "happiness": 69, "sadness": 28, "surprise": 83}


def image(path, channels=1, size=6):
    """A small valid image file (PNG, JPEG or TIFF by extension)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = np.full((size, size), 128, np.uint8)
    if channels == 3:
        pixels = cv2.merge([pixels] * 3)
    assert cv2.imwrite(path, pixels)


def text(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(content)


def ckplus_sequence(root, subject, sequence, frames, emotion=None, landmarks=False, empty_label_folder=False,
                    images="cohn-kanade-images", labels="Emotion", label_frame=None, label_text=None):
    """One CK+ sequence: frames 1..frames, an emotion file named after the last frame (or ``label_frame``)."""
    for number in range(1, frames + 1):
        stem = "%s_%s_%08d" % (subject, sequence, number)
        image(os.path.join(root, images, subject, sequence, stem + ".png"))
        if landmarks:
            points = np.column_stack([np.linspace(1, 5, 68), np.linspace(0.5, 5.5, 68)])
            text(os.path.join(root, "Landmarks", subject, sequence, stem + "_landmarks.txt"),
                 "".join("   %.7e   %.7e\n" % tuple(p) for p in points))
    folder = os.path.join(root, labels, subject, sequence)
    if emotion is not None or label_text is not None:
        text(os.path.join(folder, "%s_%s_%08d_emotion.txt" % (subject, sequence, label_frame or frames)),
             label_text if label_text is not None else "   %.7e\n" % CK_CODES[emotion])
    elif empty_label_folder:
        os.makedirs(folder, exist_ok=True)


def ckplus_release(root, frames=5):
    """CK+ with the release's counts: 593 sequences of 123 subjects, 327 labelled (CK_LABELLED)."""
    kinds = [e for e, n in sorted(CK_LABELLED.items()) for _ in range(n)] + [None] * (593 - 327)
    for index, emotion in enumerate(kinds):
        subject, sequence = "S%03d" % (5 + index % 123), "%03d" % (1 + index // 123)
        ckplus_sequence(root, subject, sequence, frames + index % 3, emotion, empty_label_folder=index % 2 == 0)


def oulu_tree(root, persons=("P001", "P002"), sensors=("VL", "NI"), illuminations=("Strong", "Dark"),
              emotions=("Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise"), frames=5, missing=(),
              prefix=""):
    """OriginalImg/<sensor>/<illumination>/<person>/<Emotion>/000.jpeg ...; ``missing``: (person, emotion)."""
    base = os.path.join(root, prefix, "OriginalImg")
    for sensor in sensors:
        for illumination in illuminations:
            for person in persons:
                for emotion in emotions:
                    if (person, emotion) in missing:
                        continue
                    for number in range(frames):
                        image(os.path.join(base, sensor, illumination, person, emotion, "%03d.jpeg" % number))
    return base


def jaffe_tree(root, names, folder="jaffedbase"):
    """``names``: file names; odd positions are written 3-channel, even ones 1-channel."""
    for position, name in enumerate(names):
        image(os.path.join(root, folder, name), channels=3 if position % 2 else 1)
    return os.path.join(root, folder)


def mug_take(root, subject, emotion, take, first, count, session=None):
    """subjects3/<subject>/[session/]<emotion>/<take>/img_NNNN.jpg, frames first..first+count-1."""
    parts = [root, "subjects3", subject] + ([session] if session else []) + [emotion, take]
    for number in range(first, first + count):
        image(os.path.join(*parts, "img_%04d.jpg" % number))
    return os.path.join(*parts)


def make_macro_prepared(directory, per_class=3, label_set="basic6", datasets=("ckplus", "mug"), seed=0):
    """A prepared macro directory written directly (random faces, the real index and a manifest
    naming the label set): fast input for the pre-training tests. Subject 1 of each dataset is val."""
    from atnet.common import write_json
    from atnet.macro import labels
    from atnet.macro.index import MacroRow, write_macro_index
    rng = np.random.default_rng(seed)
    rows = []
    for dataset in datasets:
        for index, name in enumerate(labels.classes(label_set)):
            for copy in range(per_class):
                subject = "%s%d" % (dataset[:1].upper(), copy % 3)
                relative = "images/%s/%s/%s/%d.png" % (dataset, subject, name, index)
                path = os.path.join(directory, relative)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                cv2.imwrite(path, rng.integers(0, 256, (224, 224), dtype=np.uint8))
                rows.append(MacroRow(dataset, subject, name, index, name, "val" if copy % 3 == 1 else "train",
                                     relative, index, emotion=name, role="peak"))
    write_macro_index(directory, rows)
    write_json(os.path.join(directory, "manifest.json"), {"settings": {"label_set": label_set}})
    return rows
