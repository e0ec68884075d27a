"""The one interface every inference backend implements (embedded ONNX Runtime, Triton)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Protocol

import numpy as np


class Backend(Protocol):
    """Runs a named model on a batch of named tensors.

    ``batches_itself`` tells the gateway whether the backend forms batches on its own (Triton's dynamic batcher):
    the gateway then sends each request alone, so requests are never batched twice.

    Several versions of one model may be loaded at once: the model registry loads and warms a new version beside
    the one serving, and unloads the old one only after the new one has taken over.
    """

    name: str
    batches_itself: bool
    #: Per loaded model, the largest batch it accepts (from config.pbtxt); the gateway never batches beyond it.
    max_batch_size: dict[str, int]

    async def load(self, model: str, version: int) -> None:
        """Make ``model`` at ``version`` ready to serve beside any version already loaded (raises Unavailable
        when it cannot, leaving the versions already loaded as they were)."""

    async def unload(self, model: str, version: int) -> None:
        """Release ``model`` at ``version``; nothing happens when it is not loaded."""

    async def infer(
        self, model: str, inputs: dict[str, np.ndarray], *, version: int | None = None
    ) -> dict[str, np.ndarray]:
        """Run the model on a batch; every input and output has the batch on axis 0. ``version`` None is the
        version loaded last."""

    async def is_ready(self, model: str, version: int | None = None) -> bool:
        """Whether ``model`` (at ``version``, or the version loaded last) can serve now."""

    async def close(self) -> None:
        """Release sessions and connections."""


#: Monotonic time by which the current call must be answered (the caller's gRPC deadline), or None. The
#: servicer sets it per call; a backend that calls another server passes the remaining time on.
request_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)
