"""Synthetic pooled predictions with the composite's subject structure, for the statistics tests.

The 68 subjects keep their real per-class clip counts (atnet.data.composite);
each subject gets a random "ability" (a normal shift of the log-odds of a
correct prediction), so clips of one subject are correlated as real folds'
are. ``simulate_confusions`` draws whole experiments as per-subject
confusion matrices; ``true_confusion`` is the expected confusion matrix per
subject of the population the subjects are drawn from, whose scores are the
quantities a pooled Acc, UF1 and UAR estimate.
"""
import os
import subprocess
import sys

import numpy as np

from atnet.data.composite import CASME2_COMPOSITE, SAMM_COMPOSITE, SMIC_COMPOSITE, composite_samples
from atnet.predictions import Prediction

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Per-subject (negative, positive, surprise) counts and dataset index of the 68 subjects.
PROFILES = np.array([c for table in (CASME2_COMPOSITE, SAMM_COMPOSITE, SMIC_COMPOSITE) for c in table.values()])
DATASET_OF = np.repeat([0, 1, 2], [len(CASME2_COMPOSITE), len(SAMM_COMPOSITE), len(SMIC_COMPOSITE)])
#: Log-odds of a correct prediction per class, shifted per dataset (SMIC hardest).
CLASS_LOGIT = np.array([0.8, 0.0, 0.4])
DATASET_SHIFT = np.array([0.3, 0.0, -0.4])
#: Of a class's errors, the share that goes to the first of the two other classes.
FIRST_WRONG = np.array([0.6, 0.7, 0.6])
OTHERS = np.array([[1, 2], [0, 2], [0, 1]])


def _correct_probability(ability_sd):
    """P(correct) per subject profile and class, averaged over the subject's ability
    (Gauss-Hermite quadrature: exact to many digits)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / weights.sum()
    logit = CLASS_LOGIT[None, :] + DATASET_SHIFT[DATASET_OF][:, None]
    return (weights / (1 + np.exp(-(logit[..., None] + ability_sd * nodes)))).sum(axis=-1)


def true_confusion(ability_sd):
    """The expected confusion matrix of one subject drawn uniformly from the 68 profiles."""
    p = _correct_probability(ability_sd)
    expected = np.zeros((3, 3))
    for c in range(3):
        n = PROFILES[:, c]
        expected[c, c] = np.sum(n * p[:, c])
        expected[c, OTHERS[c, 0]] = np.sum(n * (1 - p[:, c]) * FIRST_WRONG[c])
        expected[c, OTHERS[c, 1]] = np.sum(n * (1 - p[:, c]) * (1 - FIRST_WRONG[c]))
    return expected / len(PROFILES)


def simulate_confusions(rng, experiments, ability_sd):
    """``[experiments, 68, 3, 3]`` per-subject confusion matrices: each experiment draws 68
    subjects from the profiles with replacement, an ability each, then every clip."""
    subjects = len(PROFILES)
    drawn = rng.integers(0, subjects, size=(experiments, subjects))
    ability = ability_sd * rng.standard_normal((experiments, subjects))
    counts = PROFILES[drawn]
    logit = CLASS_LOGIT[None, None, :] + DATASET_SHIFT[DATASET_OF[drawn]][..., None] + ability[..., None]
    right = rng.binomial(counts, 1 / (1 + np.exp(-logit)))
    first_wrong = rng.binomial(counts - right, FIRST_WRONG[None, None, :])
    matrices = np.zeros((experiments, subjects, 3, 3), dtype=np.int64)
    for c in range(3):
        matrices[:, :, c, c] = right[..., c]
        matrices[:, :, c, OTHERS[c, 0]] = first_wrong[..., c]
        matrices[:, :, c, OTHERS[c, 1]] = counts[..., c] - right[..., c] - first_wrong[..., c]
    return matrices


def composite_predictions(rng, accuracy_by_subject=None, accuracy=0.6):
    """Predictions of the 442 composite clips: each right with its subject's probability
    (``accuracy_by_subject[(dataset, subject)]``, else ``accuracy``), else a random wrong class."""
    predictions = []
    for s in composite_samples():
        p = (accuracy_by_subject or {}).get((s["dataset"], s["subject"]), accuracy)
        pred = s["label"] if rng.random() < p else int((s["label"] + rng.integers(1, 3)) % 3)
        scores = tuple(0.8 if c == pred else 0.1 for c in range(3))
        predictions.append(Prediction(s["dataset"], s["subject"], s["sample"], s["label"], pred, scores))
    return predictions


def tool(name, *args, timeout=300):
    """Run a tools/ entry point as a user would."""
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", name)] + [str(a) for a in args],
                          capture_output=True, text=True, env=env, cwd="/", timeout=timeout)
