"""Stage 2 of the behaviour model: the honest baselines on the same time split, and the metrics every candidate is
judged by (test-period ROC AUC, PR AUC, expected calibration error, Brier score).

- ``rfm_logistic``: logistic regression on recency, frequency, monetary value and tenure (log-scaled, standardized).
- ``rfm_seq_boosted``: gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier) on the same RFM
  features plus simple sequence statistics (gaps between orders, recent activity, cancellations, amounts).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from infogap_server.services.customers import SPEND_REVERSALS
from infogap_server.training.behaviour.data import Example

RFM_FEATURES = ("log_recency_days", "log_frequency", "log_monetary", "log_tenure_days")
SEQUENCE_FEATURES = (
    "log_days_since_last_event", "log_mean_order_gap_days", "log_std_order_gap_days", "orders_last_30_days",
    "orders_last_90_days", "cancellations", "cancellation_share", "log_mean_order_amount",
    "last_over_mean_order_amount", "log_mean_items",
)


def _days(delta) -> float:
    return delta.total_seconds() / 86400


def rfm_features(x: Example) -> list[float]:
    orders = [e for e in x.history if e.type == "order"]
    last_order = orders[-1].time if orders else x.history[0].time
    spent = sum(e.amount for e in orders) - sum(e.amount for e in x.history if e.type in SPEND_REVERSALS)
    return [
        math.log1p(_days(x.cutoff - last_order)),
        math.log1p(len(orders)),
        math.log1p(max(0.0, spent)),
        math.log1p(_days(x.cutoff - x.history[0].time)),
    ]


def sequence_features(x: Example) -> list[float]:
    orders = [e for e in x.history if e.type == "order"]
    gaps = [_days(b.time - a.time) for a, b in zip(orders, orders[1:], strict=False)]
    amounts = [e.amount for e in orders] or [0.0]
    cancellations = sum(e.type == "cancellation" for e in x.history)
    mean_amount = float(np.mean(amounts))
    return [
        math.log1p(_days(x.cutoff - x.history[-1].time)),
        math.log1p(float(np.mean(gaps)) if gaps else 0.0),
        math.log1p(float(np.std(gaps)) if gaps else 0.0),
        float(sum(_days(x.cutoff - e.time) <= 30 for e in orders)),
        float(sum(_days(x.cutoff - e.time) <= 90 for e in orders)),
        float(cancellations),
        cancellations / len(x.history),
        math.log1p(mean_amount),
        amounts[-1] / mean_amount if mean_amount > 0 else 0.0,
        math.log1p(float(np.mean([e.item_count for e in orders])) if orders else 0.0),
    ]


def matrix(examples: list[Example], *, sequence: bool) -> tuple[np.ndarray, np.ndarray]:
    rows = [rfm_features(x) + (sequence_features(x) if sequence else []) for x in examples]
    return np.asarray(rows, dtype=np.float64), np.asarray([x.churned for x in examples], dtype=np.int64)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """Mean |observed rate - mean predicted| over equal-width probability bins, weighted by their size."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            error += mask.mean() * abs(y[mask].mean() - p[mask].mean())
    return float(error)


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "examples": int(len(y)),
        "churn_rate": round(float(y.mean()), 4),
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
        "pr_auc": round(float(average_precision_score(y, p)), 4),
        "ece": round(expected_calibration_error(y, p), 4),
        "brier": round(float(brier_score_loss(y, p)), 4),
    }


def fit_baselines(splits: dict[str, list[Example]], *, seed: int = 0) -> tuple[dict[str, dict], dict[str, object]]:
    """Fit both baselines on the training split: (their metrics on validation and test, the fitted models)."""
    report: dict[str, dict] = {}
    candidates = {
        "rfm_logistic": (False, make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))),
        "rfm_seq_boosted": (True, HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05,
                                                                 early_stopping=False, random_state=seed)),
    }
    for name, (sequence, model) in candidates.items():
        x_train, y_train = matrix(splits["train"], sequence=sequence)
        model.fit(x_train, y_train)
        report[name] = {}
        for split in ("validation", "test"):
            x, y = matrix(splits[split], sequence=sequence)
            report[name][split] = metrics(y, model.predict_proba(x)[:, 1])
    return report, {name: model for name, (_, model) in candidates.items()}
