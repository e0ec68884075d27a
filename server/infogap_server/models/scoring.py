"""Scores computed from the text model's outputs, the same at training time (choosing the out-of-scope rule)
and at serving time (applying it).

The out-of-scope scores, each higher for in-scope messages:

- ``max_prob``: the top calibrated intent probability;
- ``energy``: log-sum-exp of the calibrated intent logits (the negative free energy, Liu et al., 2020);
- ``centroid``: cosine similarity of the message's embedding to the nearest class centroid (the mean training
  embedding of each intent).
"""

from __future__ import annotations

import numpy as np

SCORES = ("max_prob", "energy", "centroid")


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def logsumexp(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=-1)
    return top + np.log(np.exp(logits - top[..., None]).sum(axis=-1))


def score(kind: str, logits: np.ndarray, embeddings: np.ndarray, centroids: np.ndarray | None) -> np.ndarray:
    """Per-message in-scope score of the given kind (higher means more in scope)."""
    if kind == "max_prob":
        return softmax(logits).max(axis=-1)
    if kind == "energy":
        return logsumexp(logits)
    if kind == "centroid":
        if centroids is None:
            raise ValueError("the centroid score needs class centroids")
        unit = embeddings / np.linalg.norm(embeddings, axis=-1, keepdims=True)
        return (unit @ centroids.T).max(axis=-1)
    raise ValueError(f"unknown out-of-scope score {kind!r}")
