"""What every served model does the same way between its callers and its backend: the gateway's micro-batcher when
the backend does not batch by itself, the count of calls in flight, and stopping after they are answered.

A served model (the text model, the behaviour model) turns its inputs into tensors and back; it hands single items
to a :class:`ModelRunner`, which joins them into batches for ``run_batch`` (embedded backend) or sends each alone
(Triton batches by itself), and which the model registry starts and stops with the version.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from infogap_server.backends.base import Backend, request_deadline
from infogap_server.batching import MicroBatcher
from infogap_server.settings import Settings

T = TypeVar("T")
R = TypeVar("R")


class ModelRunner(Generic[T, R]):
    """Runs single items through ``run_batch(items) -> results`` for one model version."""

    def __init__(
        self,
        model: str,
        run_batch: Callable[[list[T]], Awaitable[Sequence[R]]],
        backend: Backend,
        settings: Settings,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self._run_batch = run_batch
        self._batcher: MicroBatcher[T, R] | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        if not backend.batches_itself:
            limit = backend.max_batch_size.get(model) or settings.max_batch_size
            self._batcher = MicroBatcher(
                run_batch,
                max_batch_size=min(settings.max_batch_size, limit),
                max_delay_ms=settings.max_batch_delay_ms,
                max_queue_size=settings.max_queue_size,
                max_queue_wait_ms=settings.max_queue_wait_ms,
                on_batch=on_batch,
            )

    @property
    def queue_depth(self) -> int:
        return self._batcher.queue_depth if self._batcher else 0

    def start(self) -> None:
        if self._batcher:
            self._batcher.start()

    async def stop(self, drain_s: float = 0.0) -> None:
        """Stop batching. Calls in flight get up to ``drain_s`` to be answered first (a version being replaced);
        what is still queued after that fails with UNAVAILABLE."""
        if drain_s > 0 and not self._idle.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), drain_s)
        if self._batcher:
            await self._batcher.stop()

    async def submit(self, item: T) -> R:
        """One item; joins a micro-batch when the gateway batches, else goes alone to a batching backend."""
        self._in_flight += 1
        self._idle.clear()
        try:
            if self._batcher is not None:
                return await self._batcher.submit(item, request_deadline.get())
            return (await self._run_batch([item]))[0]
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()


class RunnerModel:
    """Base of a served model whose calls go through its :class:`ModelRunner` (``self._runner``): the queue depth,
    start and stop the model registry needs come from the runner."""

    _runner: ModelRunner

    @property
    def queue_depth(self) -> int:
        return self._runner.queue_depth

    def start(self) -> None:
        self._runner.start()

    async def stop(self, drain_s: float = 0.0) -> None:
        """Stop batching. Calls in flight get up to ``drain_s`` to be answered first (a version being replaced);
        what is still queued after that fails with UNAVAILABLE."""
        await self._runner.stop(drain_s)
