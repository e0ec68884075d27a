"""Out-of-scope detection: which score says "no intent fits", and where its threshold lies.

Three scores, each higher for in-scope messages, all computed from the served model's outputs:

- ``max_prob``: the top calibrated intent probability;
- ``energy``: log-sum-exp of the calibrated intent logits (the negative free energy, Liu et al., 2020);
- ``centroid``: cosine similarity of the message's embedding to the nearest class centroid (the mean training
  embedding of each intent).

With out-of-scope examples in the validation data, each score's threshold is the one that rejects the most
out-of-scope messages while costing at most ``max_in_scope_loss`` of validation in-scope accuracy (a rejected
in-scope message counts as wrong; the budget is taken from top-intent accuracy without any rejection), and the
score with the highest out-of-scope recall under that budget wins (ties: the higher in-scope accuracy). A
wrongly flagged customer who had a clear need costs more than a missed out-of-scope message that still gets a
low-confidence intent, hence a budget rather than an unweighted sum. Without out-of-scope validation examples,
``max_prob`` is used with the threshold at a low quantile of held-out in-scope scores. The test set plays no
part in either choice.
"""

from __future__ import annotations

import numpy as np

# The scores themselves live with serving's contract (models/); training chooses among them.
from infogap_server.models.scoring import SCORES, logsumexp, score, softmax  # noqa: F401 - re-exported


def class_centroids(embeddings: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Unit-length mean embedding per class (rows in class order)."""
    centroids = np.stack([embeddings[labels == k].mean(axis=0) for k in range(n_classes)])
    return centroids / np.linalg.norm(centroids, axis=1, keepdims=True)


def best_threshold(
    scores: np.ndarray, correct: np.ndarray, is_oos: np.ndarray, max_in_scope_loss: float
) -> tuple[float, float, float]:
    """The threshold with the highest out-of-scope recall whose in-scope accuracy (rejections count as errors)
    stays within ``max_in_scope_loss`` of the accuracy with no rejection; ties go to the higher in-scope accuracy.

    Returns (threshold, in-scope accuracy, out-of-scope recall) on the given data. Messages scoring at or above
    the threshold are accepted.
    """
    n_in, n_oos = max(1, int((~is_oos).sum())), max(1, int(is_oos.sum()))
    floor = float((correct & ~is_oos).sum()) / n_in - max_in_scope_loss - 1e-12
    candidates = np.unique(scores)
    # Threshold i lies halfway between the (i-1)-th and i-th distinct score: it accepts scores[i] and above with a
    # margin either side; the first rejects nothing.
    cuts = np.concatenate([[candidates[0] - 1.0], (candidates[:-1] + candidates[1:]) / 2.0])
    best = (float(cuts[0]), float((correct & ~is_oos).sum()) / n_in, 0.0)
    best_key = (-1.0, 0.0)
    for t in cuts:
        accepted = scores >= t
        in_acc = float((accepted & correct & ~is_oos).sum()) / n_in
        if in_acc < floor:
            break  # higher thresholds only reject more
        recall = float((~accepted & is_oos).sum()) / n_oos
        if (recall, in_acc) > best_key:
            best_key, best = (recall, in_acc), (float(t), in_acc, recall)
    return best


def choose(
    logits: np.ndarray,
    embeddings: np.ndarray,
    labels: np.ndarray,
    centroids: np.ndarray,
    fallback_quantile: float,
    max_in_scope_loss: float,
) -> dict:
    """The out-of-scope rule from validation data. ``labels`` is -1 for out-of-scope messages."""
    is_oos = labels < 0
    predicted = logits.argmax(axis=-1)
    correct = predicted == labels
    if not is_oos.any():
        in_scope = score("max_prob", logits, embeddings, None)
        threshold = float(np.quantile(in_scope, fallback_quantile))
        return {
            "score": "max_prob",
            "threshold": threshold,
            "rule": f"no out-of-scope validation examples: the {fallback_quantile:.0%} quantile of held-out "
            "in-scope top probabilities",
        }
    compared = {}
    for kind in SCORES:
        values = score(kind, logits, embeddings, centroids)
        threshold, in_acc, recall = best_threshold(values, correct, is_oos, max_in_scope_loss)
        compared[kind] = {"threshold": threshold, "validation_in_scope_accuracy": round(in_acc, 4),
                          "validation_oos_recall": round(recall, 4)}
    winner = max(compared, key=lambda k: (compared[k]["validation_oos_recall"],
                                          compared[k]["validation_in_scope_accuracy"]))
    return {
        "score": winner,
        "threshold": compared[winner]["threshold"],
        "rule": f"most validation out-of-scope recall for at most {max_in_scope_loss:.1%} of validation in-scope "
        "accuracy; the score with the highest recall",
        "validation_top_intent_accuracy": round(float(correct[~is_oos].mean()), 4),
        "compared_on_validation": compared,
    }


def evaluate(
    logits: np.ndarray,
    embeddings: np.ndarray,
    labels: np.ndarray,
    centroids: np.ndarray | None,
    kind: str,
    threshold: float,
) -> dict:
    """In-scope accuracy and out-of-scope recall at the chosen rule; macro-F1 over the intents plus 'oos'."""
    is_oos = labels < 0
    accepted = score(kind, logits, embeddings, centroids) >= threshold
    predicted = np.where(accepted, logits.argmax(axis=-1), -1)
    result = {
        "in_scope_examples": int((~is_oos).sum()),
        "oos_examples": int(is_oos.sum()),
        "in_scope_accuracy": float((predicted[~is_oos] == labels[~is_oos]).mean()) if (~is_oos).any() else None,
        "oos_recall": float((predicted[is_oos] == -1).mean()) if is_oos.any() else None,
        "macro_f1": macro_f1(labels, predicted),
    }
    return result


def macro_f1(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Macro-averaged F1 over every class present in labels or predictions (out-of-scope is class -1)."""
    scores = []
    for k in np.union1d(np.unique(labels), np.unique(predicted)):
        tp = float(((predicted == k) & (labels == k)).sum())
        fp = float(((predicted == k) & (labels != k)).sum())
        fn = float(((predicted != k) & (labels == k)).sum())
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))
