"""The behaviour model's side of the model repository and its inputs: what its version folder says
(``labels.json``), its Triton configuration, and how a customer's events become the model's tensors.

Training and serving build the inputs with the same function (:func:`encode_history`), so the model is served on
exactly what it learned from. Sequences are padded per batch to the longest (rounded up to a bucket for Triton, whose
dynamic batcher only joins requests of equal shape); the model reads each sequence's state at its real length.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from infogap_server.errors import Unavailable
from infogap_server.models.repository import LABELS_FILE, version_dir
from infogap_server.models.tensors import (
    CHURN_PROBABILITY,
    EVENT_NUMBERS,
    EVENT_TYPE_IDS,
    HISTORY_LENGTHS,
    LOG_DAYS_SINCE_LAST,
    VALUE_90D,
)

#: The latest events a sequence keeps (older ones are dropped before encoding).
DEFAULT_MAX_EVENTS = 200


class HistoryEvent(Protocol):
    """What the encoder reads of an event: the store's, the request's and the training data's events all have it."""

    @property
    def type(self) -> str: ...
    @property
    def time(self) -> datetime | None: ...
    @property
    def amount(self) -> float: ...
    @property
    def item_count(self) -> int: ...


@dataclass(frozen=True)
class EncodedHistory:
    """One customer's sequence as the model takes it (unpadded)."""

    types: tuple[int, ...]
    numbers: tuple[tuple[float, float, float], ...]
    log_days_since_last: float

    def __len__(self) -> int:
        return len(self.types)


def encode_history(
    events: Iterable[HistoryEvent], as_of: datetime, type_index: dict[str, int], max_events: int
) -> EncodedHistory | None:
    """The events the model knows (types in ``type_index``, with a time), oldest first, the latest ``max_events``
    of them; None when there are none. Times are naive UTC. Each event: log1p(amount), log1p(item count),
    log1p(days since the previous event); and log1p(days from the last event to ``as_of``) for the sequence."""
    usable = sorted((e for e in events if e.type in type_index and e.time is not None), key=lambda e: e.time)
    if not usable:
        return None
    usable = usable[-max_events:]
    types, numbers = [], []
    previous = usable[0].time
    for e in usable:
        gap = (e.time - previous).total_seconds() / 86400
        types.append(type_index[e.type])
        numbers.append((math.log1p(e.amount), math.log1p(e.item_count), math.log1p(max(0.0, gap))))
        previous = e.time
    since = (as_of - usable[-1].time).total_seconds() / 86400
    return EncodedHistory(tuple(types), tuple(numbers), math.log1p(max(0.0, since)))


def pad_histories(histories: Sequence[EncodedHistory], bucket: int = 1) -> dict[str, np.ndarray]:
    """A batch's inputs, padded to its longest sequence (rounded up to a multiple of ``bucket``)."""
    longest = max(len(h) for h in histories)
    length = -(-longest // bucket) * bucket
    types = np.zeros((len(histories), length), dtype=np.int64)
    numbers = np.zeros((len(histories), length, 3), dtype=np.float32)
    for row, h in enumerate(histories):
        types[row, : len(h)] = h.types
        numbers[row, : len(h)] = h.numbers
    return {
        EVENT_TYPE_IDS: types,
        EVENT_NUMBERS: numbers,
        HISTORY_LENGTHS: np.array([[len(h)] for h in histories], dtype=np.int64),
        LOG_DAYS_SINCE_LAST: np.array([[h.log_days_since_last] for h in histories], dtype=np.float32),
    }


@dataclass(frozen=True)
class BehaviourModelInfo:
    """What the gateway needs to serve a behaviour model, read from its version folder's labels.json."""

    name: str
    version: int
    #: Every event type the model's input has an id for, in id order (id = position + 1).
    event_types: tuple[str, ...]
    #: The types the training data held: only these are fed to the model (an embedding never trained is noise).
    trained_event_types: tuple[str, ...]
    max_events: int
    horizon_days: int
    #: Which candidate the build served (gru or rfm_logistic) and why; for logs and the profile.
    served: str

    @property
    def type_index(self) -> dict[str, int]:
        return {t: self.event_types.index(t) + 1 for t in self.trained_event_types}

    @classmethod
    def read(cls, repository: Path, model: str, version: int) -> BehaviourModelInfo:
        path = version_dir(repository, model, version) / LABELS_FILE
        try:
            labels = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                name=model,
                version=version,
                event_types=tuple(labels["event_types"]),
                trained_event_types=tuple(labels["trained_event_types"]),
                max_events=int(labels["max_events"]),
                horizon_days=int(labels["horizon_days"]),
                served=str(labels["served"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise Unavailable(f"model {model} version {version}: unreadable {LABELS_FILE} ({exc})") from exc


def behaviour_model_config(name: str, *, max_batch_size: int = 64, max_queue_delay_us: int = 2000) -> str:
    """Triton configuration of a behaviour model (the shape of model_repository/infogap_behaviour/config.pbtxt)."""
    return f"""# The behaviour model: a GRU over a customer's event sequence (built by `infogap models build`).
# Sequences are padded per batch; the gateway rounds their length up to a bucket so Triton can batch them.
name: "{name}"
backend: "onnxruntime"
max_batch_size: {max_batch_size}
input [
  {{ name: "{EVENT_TYPE_IDS}" data_type: TYPE_INT64 dims: [ -1 ] }},
  {{ name: "{EVENT_NUMBERS}" data_type: TYPE_FP32 dims: [ -1, 3 ] }},
  {{ name: "{HISTORY_LENGTHS}" data_type: TYPE_INT64 dims: [ 1 ] }},
  {{ name: "{LOG_DAYS_SINCE_LAST}" data_type: TYPE_FP32 dims: [ 1 ] }}
]
output [
  {{ name: "{CHURN_PROBABILITY}" data_type: TYPE_FP32 dims: [ 1 ] }},
  {{ name: "{VALUE_90D}" data_type: TYPE_FP32 dims: [ 1 ] }}
]
dynamic_batching {{
  max_queue_delay_microseconds: {max_queue_delay_us}
}}
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
version_policy: {{ latest: {{ num_versions: 1 }} }}
"""
