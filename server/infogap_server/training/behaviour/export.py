"""Stage 4 of the behaviour model: the served candidate as ONNX with dynamic batch and sequence axes, so that both
backends can pad per batch. Every candidate takes the same inputs and answers the same outputs (models/tensors.py):
the calibrated churn probability and the 90-day value, not raw logits.

- :class:`ExportedBehaviour`, the GRU. ONNX has no packed sequences; the exported forward runs the GRU over the
  right-padded batch and reads each sequence's state at its last real event, which is the same state packing gives
  (padding comes after it).
- :class:`ExportedRfmLogistic`, the RFM logistic regression, for a build where it is better on validation: the
  RFM features are computed from the same sequence inputs inside the graph (so the gateway sends one kind of input
  whichever model serves), then the fitted scaler and coefficients; the value comes from a ridge regression on the
  same features.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from infogap_server.models.tensors import BEHAVIOUR_INPUTS, BEHAVIOUR_OUTPUTS
from infogap_server.services.customers import SPEND_REVERSALS
from infogap_server.training.behaviour.gru import TYPE_INDEX, BehaviourGRU

INPUTS = BEHAVIOUR_INPUTS
OUTPUTS = BEHAVIOUR_OUTPUTS


class ExportedBehaviour(nn.Module):
    """The GRU in its served form: calibrated probability and value in currency units, each [batch, 1]."""

    def __init__(self, model: BehaviourGRU, temperature: float, value_scale: float = 1.0) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("temperature", torch.tensor(float(temperature)))
        self.register_buffer("value_scale", torch.tensor(float(value_scale)))

    def forward(self, event_types, event_numbers, lengths, log_days_since_last):
        m = self.model
        inputs = torch.cat([m.types(event_types), event_numbers], dim=-1)
        outputs, _ = m.gru(inputs)
        last = (lengths.view(-1) - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, outputs.shape[-1])
        state = outputs.gather(1, last).squeeze(1)
        logit, log_value = m.heads(state, log_days_since_last)
        value = (torch.exp(log_value) - 1.0).clamp(min=0.0) * self.value_scale
        return torch.sigmoid(logit / self.temperature), value


class ExportedRfmLogistic(nn.Module):
    """The RFM logistic regression (baselines.rfm_features, from the sequence inputs) with a ridge value head."""

    def __init__(self, pipeline, value_coef: np.ndarray, value_intercept: float, temperature: float) -> None:
        super().__init__()
        scaler, logistic = pipeline[0], pipeline[-1]
        self.register_buffer("mean", torch.tensor(scaler.mean_, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scaler.scale_, dtype=torch.float32))
        self.register_buffer("coef", torch.tensor(logistic.coef_[0], dtype=torch.float32))
        self.register_buffer("intercept", torch.tensor(float(logistic.intercept_[0])))
        self.register_buffer("value_coef", torch.tensor(value_coef, dtype=torch.float32))
        self.register_buffer("value_intercept", torch.tensor(float(value_intercept)))
        self.register_buffer("temperature", torch.tensor(float(temperature)))
        self.order = TYPE_INDEX["order"]
        self.reversals = [TYPE_INDEX[t] for t in sorted(SPEND_REVERSALS)]

    def features(self, event_types, event_numbers, lengths, log_days_since_last):
        steps = torch.arange(event_types.shape[1]).view(1, -1)
        real = (steps < lengths.view(-1, 1)).float()
        times = torch.cumsum((torch.exp(event_numbers[:, :, 2]) - 1.0) * real, dim=1)  # days since the first event
        span = (times * real).max(dim=1).values
        since = torch.exp(log_days_since_last.view(-1)) - 1.0
        is_order = (event_types == self.order).float() * real
        reversal = torch.zeros_like(is_order)
        for t in self.reversals:
            reversal = reversal + (event_types == t).float() * real
        amounts = torch.exp(event_numbers[:, :, 0]) - 1.0
        last_order = (times * is_order).max(dim=1).values  # 0 without an order: the first event, as in training
        spent = (amounts * is_order).sum(dim=1) - (amounts * reversal).sum(dim=1)
        return torch.stack([
            torch.log1p(since + span - last_order),
            torch.log1p(is_order.sum(dim=1)),
            torch.log1p(spent.clamp(min=0.0)),
            torch.log1p(since + span),
        ], dim=1)

    def forward(self, event_types, event_numbers, lengths, log_days_since_last):
        x = (self.features(event_types, event_numbers, lengths, log_days_since_last) - self.mean) / self.scale
        logit = x @ self.coef + self.intercept
        value = (torch.exp(x @ self.value_coef + self.value_intercept) - 1.0).clamp(min=0.0)
        return torch.sigmoid(logit / self.temperature).view(-1, 1), value.view(-1, 1)


def export_onnx(module: nn.Module, path: Path) -> Path:
    """Write ``path`` (opset 17, one file) with dynamic batch and sequence axes."""
    module.eval()
    example = (
        torch.ones(2, 3, dtype=torch.int64), torch.zeros(2, 3, 3), torch.tensor([[3], [2]], dtype=torch.int64),
        torch.zeros(2, 1),
    )
    with warnings.catch_warnings():
        # The exporter warns that a GRU exported at batch 2 might not run at other batch sizes: the build checks
        # the exported graph against the module at several (build._check_export), and the tests at 1 and 17.
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")
        _export(module, example, path)
    return path


def _export(module: nn.Module, example: tuple, path: Path) -> None:
    torch.onnx.export(
        module, example, str(path), input_names=list(INPUTS), output_names=list(OUTPUTS), opset_version=17,
        dynamic_axes={
            "event_types": {0: "batch", 1: "events"}, "event_numbers": {0: "batch", 1: "events"},
            "lengths": {0: "batch"}, "log_days_since_last": {0: "batch"},
            "churn_probability": {0: "batch"}, "value_90d": {0: "batch"},
        },
        dynamo=False,
    )
