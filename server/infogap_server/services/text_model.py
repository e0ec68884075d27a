"""The text model as the services see it: text in, calibrated intent and sentiment probabilities and the sentence
embedding out. Tokenization happens here, in the gateway, batched with the Rust ``tokenizers`` library and padded
to the longest message of the batch, so the backend only ever sees tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from infogap_server.backends.base import Backend
from infogap_server.batching import MicroBatcher
from infogap_server.model_repository import TextModelInfo
from infogap_server.settings import Settings

INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
INTENT_LOGITS = "intent_logits"
SENTIMENT_LOGITS = "sentiment_logits"
EMBEDDING = "embedding"


@dataclass(frozen=True)
class TextPrediction:
    """One message's model outputs. ``intent_probs`` are calibrated (the temperature is inside the model)."""

    intent_probs: np.ndarray
    sentiment_probs: np.ndarray
    embedding: np.ndarray


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class TextModel:
    """Runs the text model through a backend; micro-batches in the gateway only when the backend does not batch."""

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
        pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        # The gateway's own batches pad to their longest message. A backend that batches by itself (Triton) only
        # batches requests of equal shape, so single requests are padded up to a bucket of lengths instead.
        bucket = settings.triton_sequence_bucket_tokens if backend.batches_itself else None
        self._tokenizer.enable_padding(pad_id=pad_id, pad_token="[PAD]", pad_to_multiple_of=bucket)
        self._on_batch = on_batch
        self._batcher: MicroBatcher[str, TextPrediction] | None = None
        if not backend.batches_itself:
            limit = backend.max_batch_size.get(info.name) or settings.max_batch_size
            self._batcher = MicroBatcher(
                self.predict_batch,
                max_batch_size=min(settings.max_batch_size, limit),
                max_delay_ms=settings.max_batch_delay_ms,
                max_queue_size=settings.max_queue_size,
                on_batch=on_batch,
            )

    @property
    def queue_depth(self) -> int:
        return self._batcher.queue_depth if self._batcher else 0

    def start(self) -> None:
        if self._batcher:
            self._batcher.start()

    async def stop(self) -> None:
        if self._batcher:
            await self._batcher.stop()

    async def predict(self, text: str) -> TextPrediction:
        """One message; joins a micro-batch when the gateway batches, else goes alone to a batching backend."""
        if self._batcher is not None:
            return await self._batcher.submit(text)
        return (await self.predict_batch([text]))[0]

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        encodings = self._tokenizer.encode_batch(texts)
        return {
            INPUT_IDS: np.asarray([e.ids for e in encodings], dtype=np.int64),
            ATTENTION_MASK: np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
        }

    async def predict_batch(self, texts: list[str]) -> list[TextPrediction]:
        outputs = await self._backend.infer(self.info.name, self.tokenize(texts))
        intents = softmax(outputs[INTENT_LOGITS].astype(np.float32))
        sentiments = softmax(outputs[SENTIMENT_LOGITS].astype(np.float32))
        embeddings = outputs[EMBEDDING]
        return [TextPrediction(intents[i], sentiments[i], embeddings[i]) for i in range(len(texts))]
