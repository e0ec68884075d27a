"""The behaviour model as the services see it: a customer's encoded event sequence in, the calibrated churn
probability and the 90-day value out. Sequences are padded per batch (to the batch's longest on the embedded
backend, where the gateway's micro-batcher forms the batches; to a bucket of events on Triton, whose dynamic batcher
joins requests of equal shape).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from infogap_server.backends.base import Backend
from infogap_server.models.behaviour import (
    BehaviourModelInfo,
    EncodedHistory,
    HistoryEvent,
    encode_history,
    pad_histories,
)
from infogap_server.models.runner import ModelRunner, RunnerModel
from infogap_server.models.tensors import CHURN_PROBABILITY, VALUE_90D
from infogap_server.settings import Settings


@dataclass(frozen=True)
class BehaviourPrediction:
    churn_probability: float
    value_90d: float


@dataclass(frozen=True)
class _WarmupEvent:
    type: str
    time: datetime
    amount: float
    item_count: int


class BehaviourModel(RunnerModel):
    """One version of the behaviour model, run through a backend (a served model of the model registry)."""

    def __init__(
        self,
        info: BehaviourModelInfo,
        backend: Backend,
        settings: Settings,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.info = info
        self._backend = backend
        self._type_index = info.type_index
        self._bucket = settings.triton_history_bucket_events if backend.batches_itself else 1
        self._runner: ModelRunner[EncodedHistory, BehaviourPrediction] = ModelRunner(
            info.name, self.predict_batch, backend, settings, on_batch
        )

    def encode(self, events: Iterable[HistoryEvent], as_of: datetime) -> EncodedHistory | None:
        """The model's input for ``events`` (naive UTC times) scored at ``as_of``; None when no event is of a
        type the model was trained on."""
        return encode_history(events, as_of, self._type_index, self.info.max_events)

    async def warm(self) -> None:
        """Run one short history alone, then a batch of two lengths, straight through the backend."""
        now = datetime(2024, 1, 1)
        kind = self.info.trained_event_types[0]
        short = self.encode([_WarmupEvent(kind, now - timedelta(days=40), 20.0, 2)], now)
        long = self.encode([_WarmupEvent(kind, now - timedelta(days=d), 10.0 + d, 1) for d in range(90, 0, -9)], now)
        assert short is not None and long is not None
        for batch in ([short], [short, long]):
            await self.predict_batch(batch)

    async def predict(self, history: EncodedHistory) -> BehaviourPrediction:
        """One sequence; joins a micro-batch when the gateway batches, else goes alone to a batching backend."""
        return await self._runner.submit(history)

    async def predict_batch(self, histories: list[EncodedHistory]) -> list[BehaviourPrediction]:
        outputs = await self._backend.infer(
            self.info.name, pad_histories(histories, self._bucket), version=self.info.version
        )
        churn = np.asarray(outputs[CHURN_PROBABILITY], dtype=np.float32).reshape(-1)
        value = np.asarray(outputs[VALUE_90D], dtype=np.float32).reshape(-1)
        return [BehaviourPrediction(float(c), float(v)) for c, v in zip(churn, value, strict=True)]
