"""Stage 3 of the behaviour model: a GRU over each customer's event sequence, with heads for churn (a logit,
calibrated by temperature scaling on the validation split) and 90-day value (log1p of the amount).

Each event is its type's embedding plus log1p(amount), log1p(item count) and log1p(days since the previous event);
the days from the last event to the cut-off join the GRU's final state before the heads. Sequences keep their
latest ``MAX_EVENTS`` events and are padded per batch (packed, so padding never enters the state).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from infogap_server.models.behaviour import DEFAULT_MAX_EVENTS, EncodedHistory, encode_history, pad_histories
from infogap_server.models.tensors import HISTORY_LENGTHS
from infogap_server.services.customers import SPEND_REVERSALS
from infogap_server.services.needs import EVENT_TYPES
from infogap_server.training.behaviour.baselines import metrics
from infogap_server.training.behaviour.data import HORIZON, Example

MAX_EVENTS = DEFAULT_MAX_EVENTS
TYPE_INDEX = {name: i + 1 for i, name in enumerate(EVENT_TYPES)}  # 0 is padding


def encode(x: Example) -> EncodedHistory:
    """One example as the model takes it: the serving encoder, at the example's cut-off."""
    encoded = encode_history(x.history, x.cutoff, TYPE_INDEX, MAX_EVENTS)
    assert encoded is not None, "an example has at least one event"
    return encoded


def batch_tensors(examples: list[Example]) -> dict[str, torch.Tensor]:
    """A batch padded to its longest sequence, as the gateway pads it; lengths flat for packing."""
    arrays = pad_histories([encode(x) for x in examples])
    tensors = {name: torch.from_numpy(a) for name, a in arrays.items()}
    tensors[HISTORY_LENGTHS] = tensors[HISTORY_LENGTHS].view(-1)
    return tensors


class BehaviourGRU(nn.Module):
    def __init__(self, hidden: int = 64, type_dim: int = 8, monotone: bool = True) -> None:
        super().__init__()
        self.types = nn.Embedding(len(TYPE_INDEX) + 1, type_dim, padding_idx=0)
        self.gru = nn.GRU(type_dim + 3, hidden, batch_first=True)
        self.monotone = monotone
        if monotone:
            self.churn_base = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
            self.churn_slope = nn.Linear(hidden, 1)
            self.value_head = nn.Sequential(nn.Linear(hidden + 1, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        else:
            self.head = nn.Sequential(nn.Linear(hidden + 1, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def heads(self, state, log_days_since_last):
        """(churn logit, log1p value) from the GRU's last state and log1p(days since the last event) [B, 1]."""
        if not self.monotone:
            out = self.head(torch.cat([state, log_days_since_last], dim=-1))
            return out[:, :1], out[:, 1:]
        slope = nn.functional.softplus(self.churn_slope(state))
        churn = self.churn_base(state) + slope * log_days_since_last
        return churn, self.value_head(torch.cat([state, log_days_since_last], dim=-1))

    def forward(self, event_types, event_numbers, lengths, log_days_since_last):
        inputs = torch.cat([self.types(event_types), event_numbers], dim=-1)
        packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.gru(packed)
        churn, value = self.heads(state[-1], log_days_since_last)
        return churn[:, 0], value[:, 0]  # churn logit, log1p(90-day value)


def _predict(model: BehaviourGRU, examples: list[Example], batch: int = 512) -> np.ndarray:
    """Churn logits."""
    return _predict_both(model, examples, batch)[0]


def _predict_both(model: BehaviourGRU, examples: list[Example], batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Churn logits and the value head's log1p values."""
    model.eval()
    logits, values = [], []
    with torch.no_grad():
        for start in range(0, len(examples), batch):
            churn, value = model(**batch_tensors(examples[start:start + batch]))
            logits.append(churn.numpy())
            values.append(value.numpy())
    return np.concatenate(logits), np.concatenate(values)


def past_value(x: Example) -> float:
    """The naive forecast of the 90-day value: what the customer kept paying in the 90 days before the cut-off."""
    since = x.cutoff - HORIZON
    recent = [e for e in x.history if e.time >= since]
    spent = sum(e.amount for e in recent if e.type == "order")
    return max(0.0, spent - sum(e.amount for e in recent if e.type in SPEND_REVERSALS))


def value_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """How well a 90-day value forecast does: mean absolute error, Spearman rank correlation, and the means."""
    from scipy.stats import spearmanr

    return {
        "mae": round(float(np.mean(np.abs(actual - predicted))), 2),
        "spearman": round(float(spearmanr(actual, predicted).statistic), 4),
        "mean_actual": round(float(actual.mean()), 2),
        "mean_predicted": round(float(predicted.mean()), 2),
    }


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising validation log loss (a 1-D search: robust, no optimiser state)."""
    grid = np.exp(np.linspace(math.log(0.25), math.log(8.0), 200))

    def loss(t: float) -> float:
        p = 1 / (1 + np.exp(-logits / t))
        p = np.clip(p, 1e-7, 1 - 1e-7)
        return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))

    return float(min(grid, key=loss))


def fit_gru(splits: dict[str, list[Example]], *, epochs: int = 12, seed: int = 0, threads: int | None = None,
            monotone: bool = True, log=print) -> tuple[BehaviourGRU, float, dict]:
    """Train on the training split, keep the epoch with the best validation ROC AUC, fit the temperature on
    validation; returns the model, the temperature and the metrics on validation and test."""
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    train = splits["train"]
    y_val = np.array([x.churned for x in splits["validation"]], dtype=np.int64)
    model = BehaviourGRU(monotone=monotone)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-5)
    bce, mse = nn.BCEWithLogitsLoss(), nn.MSELoss()
    best, best_auc = None, -1.0
    started = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(train))
        for start in range(0, len(order), 128):
            chunk = [train[i] for i in order[start:start + 128]]
            churn, value = model(**batch_tensors(chunk))
            y = torch.tensor([float(x.churned) for x in chunk])
            v = torch.tensor([math.log1p(x.value) for x in chunk])
            loss = bce(churn, y) + 0.1 * mse(value, v)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        auc = metrics(y_val, 1 / (1 + np.exp(-_predict(model, splits["validation"]))))["roc_auc"]
        log(f"epoch {epoch + 1}/{epochs} validation roc_auc {auc:.4f} ({time.perf_counter() - started:.0f}s)")
        if auc > best_auc:
            best_auc, best = auc, {k: t.clone() for k, t in model.state_dict().items()}
    model.load_state_dict(best)
    val_logits, val_values = _predict_both(model, splits["validation"])
    temperature = fit_temperature(val_logits, y_val)
    # The value head is fitted on log1p (spend is heavy-tailed), which forecasts a typical value, not the mean:
    # one factor, fitted on validation, makes the mean forecast the mean spend (calibration in the large).
    actual_val = np.array([x.value for x in splits["validation"]])
    value_scale = float(actual_val.sum() / max(np.expm1(val_values).clip(min=0).sum(), 1e-6))
    report = {"train_seconds": round(time.perf_counter() - started, 1), "temperature": round(temperature, 4),
              "value_scale": round(value_scale, 4), "value": {}}
    for split in ("validation", "test"):
        y = np.array([x.churned for x in splits[split]], dtype=np.int64)
        logits, values = _predict_both(model, splits[split])
        report[split] = metrics(y, 1 / (1 + np.exp(-logits / temperature)))
        report[split]["ece_before_calibration"] = metrics(y, 1 / (1 + np.exp(-logits)))["ece"]
        actual = np.array([x.value for x in splits[split]])
        report["value"][split] = {
            "gru": value_metrics(actual, value_scale * np.expm1(values).clip(min=0)),
            "past_90_days": value_metrics(actual, np.array([past_value(x) for x in splits[split]])),
        }
    return model, temperature, report
