"""The text model as the services see it: text in, calibrated intent, sentiment and complaint-aspect probabilities
and the sentence embedding out. Tokenization happens here, in the gateway, batched with the Rust ``tokenizers``
library and padded to the longest message of the batch, so the backend only ever sees tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from infogap_server.backends.base import Backend
from infogap_server.models.repository import TextModelInfo
from infogap_server.models.runner import ModelRunner, RunnerModel
from infogap_server.models.scoring import softmax
from infogap_server.models.tensors import (
    ASPECT_LOGITS,
    ATTENTION_MASK,
    EMBEDDING,
    INPUT_IDS,
    INTENT_LOGITS,
    SENTIMENT_LOGITS,
)
from infogap_server.services.textwork import run_text_work
from infogap_server.settings import Settings

#: What a new model version runs before it serves: one message alone, then a batch of different lengths.
WARMUP_TEXTS = (
    "hi",
    "I want to cancel my last order please",
    "my parcel still has not arrived after two weeks and nobody answers my emails, what is going on with order 1234",
)


@dataclass(frozen=True)
class TextPrediction:
    """One message's model outputs. The probabilities are calibrated (the temperatures are inside the model);
    ``aspect_probs`` are independent per aspect (``info.aspects``), empty for a model without an aspect output."""

    intent_probs: np.ndarray
    sentiment_probs: np.ndarray
    embedding: np.ndarray
    intent_logits: np.ndarray
    aspect_probs: np.ndarray


class TextModel(RunnerModel):
    """One version of the text model, run through a backend; micro-batches in the gateway only when the backend
    does not batch. The model registry builds it once the backend has loaded the version, warms it, starts it,
    and stops it (after its calls in flight are answered) when a newer version has taken over."""

    def __init__(
        self,
        info: TextModelInfo,
        backend: Backend,
        settings: Settings,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.info = info
        self._backend = backend
        self._tokenizer = Tokenizer.from_file(str(info.tokenizer_path))
        self._tokenizer.enable_truncation(max_length=min(settings.max_sequence_tokens, info.max_sequence_tokens))
        self._tokenizer.no_padding()  # padding is done per run below, to the run's longest message
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        # A backend that batches by itself (Triton) only batches requests of equal shape, so a request's tokens
        # are padded up to a multiple of a bucket there; the gateway's own runs pad to their longest message.
        self._bucket = settings.triton_sequence_bucket_tokens if backend.batches_itself else 1
        self._run_overhead_tokens = settings.run_overhead_tokens if settings.length_aware_batching else None
        self._runner: ModelRunner[str, TextPrediction] = ModelRunner(
            info.name, self.predict_batch, backend, settings, on_batch
        )

    async def warm(self) -> None:
        """Run the model once alone and once on a batch, straight through the backend (not the batcher), so the
        first calls pay no one-off costs and the batch-size metric counts only real traffic."""
        for size in (1, len(WARMUP_TEXTS)):
            await self.predict_batch(list(WARMUP_TEXTS[:size]))

    async def predict(self, text: str) -> TextPrediction:
        """One message; joins a micro-batch when the gateway batches, else goes alone to a batching backend."""
        return await self._runner.submit(text)

    def _pad(self, ids: list[list[int]]) -> dict[str, np.ndarray]:
        return pad_batch(ids, self._pad_id, self._bucket)

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Token ids and attention mask, padded to the longest text (rounded up to the bucket)."""
        return self._pad(self._token_ids(texts))

    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._tokenizer.encode_batch(texts)]

    async def predict_batch(self, texts: list[str]) -> list[TextPrediction]:
        ids = await run_text_work(sum(map(len, texts)), self._token_ids, texts)
        if self._run_overhead_tokens is None or len(ids) == 1:
            runs = [list(range(len(ids)))]
        else:
            runs = plan_runs([len(x) for x in ids], self._run_overhead_tokens)
        results: list[TextPrediction | None] = [None] * len(texts)
        for run in runs:
            outputs = await self._backend.infer(
                self.info.name, self._pad([ids[i] for i in run]), version=self.info.version
            )
            logits = outputs[INTENT_LOGITS].astype(np.float32)
            intents = softmax(logits)
            sentiments = softmax(outputs[SENTIMENT_LOGITS].astype(np.float32))
            embeddings = outputs[EMBEDDING]
            aspect_logits = outputs.get(ASPECT_LOGITS)
            if aspect_logits is None:
                aspects = np.zeros((len(run), 0), dtype=np.float32)
            else:  # the sigmoid, written so that no logit overflows
                aspects = 0.5 * (1.0 + np.tanh(0.5 * aspect_logits.astype(np.float32)))
            for row, i in enumerate(run):
                results[i] = TextPrediction(intents[row], sentiments[row], embeddings[row], logits[row], aspects[row])
        return results  # type: ignore[return-value]


def pad_batch(ids: list[list[int]], pad_id: int = 0, bucket: int = 1) -> dict[str, np.ndarray]:
    """Token id lists as model inputs, padded to the longest (rounded up to a multiple of ``bucket``)."""
    longest = max(len(x) for x in ids)
    length = -(-longest // bucket) * bucket
    input_ids = np.full((len(ids), length), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), length), dtype=np.int64)
    for row, x in enumerate(ids):
        input_ids[row, : len(x)] = x
        mask[row, : len(x)] = 1
    return {INPUT_IDS: input_ids, ATTENTION_MASK: mask}


def plan_runs(lengths: list[int], overhead_tokens: int) -> list[list[int]]:
    """Length-aware batching: split a batch into runs of similar length so short messages are not padded to long
    ones. Sorted by length, the cut points minimise the modelled cost sum(overhead + run size x run's longest),
    where ``overhead_tokens`` is the fixed cost of one model run in token-equivalents (exact dynamic
    programming; a batch is at most a few dozen messages)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    sorted_lengths = [lengths[i] for i in order]
    n = len(order)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        longest = sorted_lengths[end - 1]
        for start in range(end):
            cost = best[start] + overhead_tokens + (end - start) * longest
            if cost < best[end]:
                best[end], cut[end] = cost, start
    runs = []
    end = n
    while end > 0:
        runs.append(order[cut[end] : end])
        end = cut[end]
    return runs[::-1]
