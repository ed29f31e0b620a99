"""What a synthetic release set contains: the presets and the clips they plan.

A Preset gives the per-subject class counts and the excluded rows of each
dataset; ``plan(preset, seed)`` turns it into Clips (identity on disk and in
the sheet, onset/apex/offset, peak movement, the seed of the clip's own
random generator) with the oddities of the real releases (datasets.md):
CASME II apex '/' and apex = onset, excluded emotions and the sheet's file
name shapes, SAMM 'Other' and 4- or 5-digit frame numbers, SMIC frame
numbers crossing from 6 to 7 digits. Every draw comes from
``numpy.random.default_rng`` seeded by (seed, dataset, subject, clip).

Presets: ``tiny`` (a few subjects per dataset, seconds to generate) and
``composite`` (the 68 subjects with the exact per-subject class counts of the
MEGC2019 composite, every excluded sheet row, small frames, short clips).
"""
import dataclasses

import numpy as np

from atnet.data.composite import CASME2_COMPOSITE, SAMM_COMPOSITE, SMIC_COMPOSITE


@dataclasses.dataclass(frozen=True)
class Preset:
    """The content of one synthetic release set.

    ``*_counts``: subject number -> (negative, positive, surprise) in the
    composite; ``casme2_excluded`` / ``samm_other``: excluded emotions ->
    total rows, spread over ``*_excluded_subjects`` (which come first, so
    subjects without composite rows exist); ``clip_frames`` / ``excluded_frames``:
    (min, max) frames per clip.
    """
    casme2_counts: dict
    casme2_excluded: dict
    casme2_excluded_subjects: tuple
    casme2_repression_share: float
    samm_counts: dict
    samm_other: int
    samm_other_subjects: tuple
    samm_negatives: dict
    smic_counts: dict
    smic_seven_digit_subject: int
    clip_frames: tuple
    excluded_frames: tuple
    casme2_double_nesting: bool


PRESETS = {
    "tiny": Preset(
        casme2_counts={1: (2, 2, 1), 2: (2, 1, 2), 4: (2, 0, 0), 5: (0, 1, 2)},
        casme2_excluded={"others": 4, "sadness": 1, "fear": 1},
        casme2_excluded_subjects=(10, 1, 2, 5),
        casme2_repression_share=27 / 90,
        samm_counts={6: (2, 1, 1), 7: (1, 2, 1), 11: (2, 1, 1)},
        samm_other=3, samm_other_subjects=(25, 25, 6),
        samm_negatives={"Anger": 3, "Contempt": 1, "Disgust": 1},
        smic_counts={1: (2, 1, 1), 3: (1, 2, 1), 12: (1, 1, 2)},
        smic_seven_digit_subject=12,
        clip_frames=(24, 40), excluded_frames=(8, 10), casme2_double_nesting=True),
    "composite": Preset(
        casme2_counts=CASME2_COMPOSITE,
        casme2_excluded={"others": 99, "sadness": 7, "fear": 2},
        casme2_excluded_subjects=(10, 18),
        casme2_repression_share=27 / 90,
        samm_counts=SAMM_COMPOSITE,
        samm_other=26, samm_other_subjects=(25, 25, 25),
        samm_negatives={"Anger": 57, "Contempt": 12, "Disgust": 9, "Fear": 8, "Sadness": 6},
        smic_counts=SMIC_COMPOSITE,
        smic_seven_digit_subject=20,
        clip_frames=(12, 18), excluded_frames=(6, 8), casme2_double_nesting=False),
}

#: CASME II rows the official selection leaves out (datasets.md), both negative.
CASME2_APEX_SLASH = (4, "EP12_01f")
CASME2_APEX_ONSET = (5, "EP09_05f")

#: Range of a clip's peak movement at the apex, frame pixels (atnet.data.synth.render).
PEAK_SHIFT = (1.6, 2.6)


@dataclasses.dataclass
class Clip:
    """One synthetic clip: identity on disk and in the sheet, timing, movement."""
    dataset: str
    subject: int
    name: str
    emotion: str
    label: object        # 0..2, or None for rows outside the composite
    selected: bool       # part of the official composite
    onset: int
    apex: int
    offset: int
    sheet_apex: object   # what the sheet says ('/' for the oddity)
    peak: float
    seed: tuple
    padding: int = 0     # SAMM: digits of the frame numbers


def _spread(counts, n_slots):
    """Assign ``counts`` (name -> n) to n_slots positions, evenly interleaved."""
    names = sorted(((i + 0.5) / n, name) for name, n in counts.items() for i in range(n))
    if len(names) != n_slots:
        raise ValueError("%d names for %d slots" % (len(names), n_slots))
    return [name for _, name in names]


def _timing(rng, frames, first):
    """(onset, apex, offset) for a clip of ``frames`` frames starting at ``first``."""
    offset = first + frames - 1
    apex = first + int(round(rng.uniform(0.35, 0.6) * (frames - 1)))
    return first, apex, offset


CASME2_NAME_SHAPES = ("EP%02d_%02df", "EP%02d_%02d", "EP%02d_%d", "EP%02d_%02d_01", "EP%02df")


def _casme2_name(index):
    """Filename shapes of the real sheet: EP02_01f, EP02_01, EP01_2, EP06_02_01, EP09f.

    The episode number is index + 1, so names are unique within a subject
    and repeat across subjects, as in the real sheet."""
    shape = CASME2_NAME_SHAPES[index % len(CASME2_NAME_SHAPES)]
    return shape % ((index + 1, 1 + index % 7) if shape.count("%") == 2 else (index + 1,))


def _casme2_rows(preset):
    """``{subject: [what, ...]}``: a class index for a composite row, 'slash' or
    'onset' for the two official exclusions, an emotion name for an excluded row."""
    rows = {}
    for subject, counts in sorted(preset.casme2_counts.items()):
        for label, n in enumerate(counts):
            rows.setdefault(subject, []).extend([label] * n)
    rows.setdefault(CASME2_APEX_SLASH[0], []).append("slash")
    rows.setdefault(CASME2_APEX_ONSET[0], []).append("onset")
    order = list(preset.casme2_excluded_subjects) + sorted(set(preset.casme2_counts)
                                                           - set(preset.casme2_excluded_subjects))
    excluded = _spread(preset.casme2_excluded, sum(preset.casme2_excluded.values()))
    for position, emotion in enumerate(excluded):
        rows.setdefault(order[position % len(order)], []).append(emotion)
    return rows


def plan_casme2(preset, seed):
    """The CASME II rows: composite rows, the two official exclusions, excluded emotions."""
    rows = _casme2_rows(preset)
    negatives = sum(1 for whats in rows.values() for what in whats if what in (0, "slash", "onset"))
    repression = int(round(preset.casme2_repression_share * negatives))
    negative_names = iter(_spread({"repression": repression, "disgust": negatives - repression}, negatives))
    clips = []
    for subject in sorted(rows):
        for index, what in enumerate(rows[subject]):
            rng = np.random.default_rng([seed, 0, subject, index])
            special = what in ("slash", "onset")
            label = 0 if special else (what if isinstance(what, int) else None)
            emotion = next(negative_names) if label == 0 else {1: "happiness", 2: "surprise"}.get(label, what)
            name = {"slash": CASME2_APEX_SLASH[1], "onset": CASME2_APEX_ONSET[1]}.get(what, _casme2_name(index))
            frames = int(rng.integers(*_frame_range(preset, label is not None)))
            # the first clip of a subject crosses 99 -> 100: text order would be wrong
            first = 100 - frames // 2 if index == 0 else int(rng.integers(1, 250))
            onset, apex, offset = _timing(rng, frames, first)
            if what == "onset":
                apex = onset
            clips.append(Clip("casme2", subject, name, emotion, label, isinstance(what, int), onset, apex,
                              offset, "/" if what == "slash" else apex, rng.uniform(*PEAK_SHIFT),
                              (seed, 0, subject, index)))
    return clips


def _frame_range(preset, composite_row):
    low, high = preset.clip_frames if composite_row else preset.excluded_frames
    return low, high + 1


def plan_samm(preset, seed):
    """The SAMM rows: composite rows (five negative emotions) and 'Other' rows."""
    rows = {}
    for subject, counts in sorted(preset.samm_counts.items()):
        for label, n in enumerate(counts):
            rows.setdefault(subject, []).extend([label] * n)
    order = list(preset.samm_other_subjects) + sorted(preset.samm_counts)
    for position in range(preset.samm_other):
        rows.setdefault(order[position % len(order)], []).append(None)
    negatives = _spread(preset.samm_negatives, sum(1 for r in rows.values() for label in r if label == 0))
    clips, next_negative = [], 0
    for subject in sorted(rows):
        padding = 5 if subject % 3 == 0 else 4        # 4- or 5-digit frame numbers per source video
        first = 1000
        for index, label in enumerate(rows[subject]):
            rng = np.random.default_rng([seed, 1, subject, index])
            if label == 0:
                emotion, next_negative = negatives[next_negative], next_negative + 1
            else:
                emotion = {1: "Happiness", 2: "Surprise", None: "Other"}[label]
            frames = int(rng.integers(*_frame_range(preset, label is not None)))
            first += int(rng.integers(100, 400))       # 4-digit videos stay below 10000
            onset, apex, offset = _timing(rng, frames, first)
            first = offset
            name = "%03d_%d_%d" % (subject, 1 + index % 7, 1 + index // 7)
            clips.append(Clip("samm", subject, name, emotion, label, label is not None, onset, apex,
                              offset, apex, rng.uniform(*PEAK_SHIFT), (seed, 1, subject, index),
                              padding))
    return clips


def plan_smic(preset, seed):
    """The SMIC-HS clips; one subject's frame numbers cross from 6 to 7 digits."""
    clips = []
    for subject, counts in sorted(preset.smic_counts.items()):
        labels = [label for label, n in enumerate(counts) for _ in range(n)]
        first = 999990 if subject == preset.smic_seven_digit_subject else 10000 + 37000 * subject
        for index, label in enumerate(labels):
            rng = np.random.default_rng([seed, 2, subject, index])
            frames = int(rng.integers(*_frame_range(preset, True)))
            if index or subject != preset.smic_seven_digit_subject:
                first += int(rng.integers(100, 2000))
            onset, apex, offset = _timing(rng, frames, first)
            first = offset
            # SMIC has no apex annotation: the reader takes the middle frame
            apex = onset + frames // 2
            code = ("ne", "po", "sur")[label]
            name = "s%d_%s_%02d" % (subject, code, index + 1)
            clips.append(Clip("smic", subject, name, ("negative", "positive", "surprise")[label], label,
                              True, onset, apex, offset, None, rng.uniform(*PEAK_SHIFT),
                              (seed, 2, subject, index)))
    return clips


def get_preset(preset):
    """A Preset from its name (or the Preset itself)."""
    return PRESETS[preset] if isinstance(preset, str) else preset


def plan(preset, seed):
    """All clips of a preset (name or Preset): ``{dataset: [Clip, ...]}``."""
    preset = get_preset(preset)
    return {"casme2": plan_casme2(preset, seed), "samm": plan_samm(preset, seed),
            "smic": plan_smic(preset, seed)}


def expected_counts(preset):
    """The preset's composite counts: ``{dataset: (negative, positive, surprise)}``."""
    preset = get_preset(preset)
    return {dataset: tuple(sum(c[k] for c in counts.values()) for k in range(3))
            for dataset, counts in (("casme2", preset.casme2_counts), ("samm", preset.samm_counts),
                                    ("smic", preset.smic_counts))}
