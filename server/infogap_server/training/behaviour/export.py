"""Stage 4 of the behaviour model (in progress): the trained GRU as ONNX with dynamic batch and sequence axes, so
that both backends can pad per batch. The exported graph takes the temperature in: it answers the calibrated churn
probability and the 90-day value, not raw logits.

ONNX has no packed sequences; the exported forward runs the GRU over the right-padded batch and reads each
sequence's state at its last real event, which is the same state packing gives (padding comes after it).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from infogap_server.training.behaviour.gru import BehaviourGRU

INPUTS = ("event_types", "event_numbers", "lengths", "log_days_since_last")
OUTPUTS = ("churn_probability", "value_90d")


class ExportedBehaviour(nn.Module):
    """The served form: calibrated probability and value in currency units."""

    def __init__(self, model: BehaviourGRU, temperature: float) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def forward(self, event_types, event_numbers, lengths, log_days_since_last):
        m = self.model
        inputs = torch.cat([m.types(event_types), event_numbers], dim=-1)
        outputs, _ = m.gru(inputs)
        last = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, outputs.shape[-1])
        state = outputs.gather(1, last).squeeze(1)
        out = m.head(torch.cat([state, log_days_since_last], dim=-1))
        return torch.sigmoid(out[:, 0] / self.temperature), (torch.exp(out[:, 1]) - 1.0).clamp(min=0.0)


def export_onnx(model: BehaviourGRU, temperature: float, path: Path) -> Path:
    """Write ``path`` (opset 17, one file) with dynamic batch and sequence axes."""
    model.eval()
    exported = ExportedBehaviour(model, temperature).eval()
    example = (
        torch.ones(2, 3, dtype=torch.int64), torch.zeros(2, 3, 3), torch.tensor([3, 2], dtype=torch.int64),
        torch.zeros(2, 1),
    )
    torch.onnx.export(
        exported, example, str(path), input_names=list(INPUTS), output_names=list(OUTPUTS), opset_version=17,
        dynamic_axes={
            "event_types": {0: "batch", 1: "events"}, "event_numbers": {0: "batch", 1: "events"},
            "lengths": {0: "batch"}, "log_days_since_last": {0: "batch"},
            "churn_probability": {0: "batch"}, "value_90d": {0: "batch"},
        },
        dynamo=False,
    )
    return path
