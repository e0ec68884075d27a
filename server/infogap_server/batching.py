"""An asyncio micro-batcher for backends that do not batch by themselves (the embedded ONNX Runtime backend).

Requests wait in a bounded queue; one loop takes the first, gathers more for at most ``max_delay_ms`` or until
``max_batch_size``, and hands the batch to the handler. While a batch runs the next one gathers, so batches grow
with load on their own. A full queue rejects at once with RESOURCE_EXHAUSTED instead of letting latency grow
without bound. A caller that gives up (deadline, cancellation) is dropped from its batch before it runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from infogap_server.errors import ResourceExhausted, Unavailable

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


@dataclass
class _Pending(Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    enqueued_at: float = field(default_factory=time.perf_counter)


class MicroBatcher(Generic[T, R]):
    """Collects single items into batches for ``handler(items) -> results`` (same length, same order)."""

    def __init__(
        self,
        handler: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_batch_size: int,
        max_delay_ms: float,
        max_queue_size: int,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self._handler = handler
        self._max_batch_size = max_batch_size
        self._max_delay_s = max_delay_ms / 1000.0
        self._queue: asyncio.Queue[_Pending[T, R]] = asyncio.Queue(maxsize=max_queue_size)
        self._on_batch = on_batch
        self._task: asyncio.Task[None] | None = None

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        """Stop the loop; requests still queued fail with UNAVAILABLE (graceful shutdown drains calls first)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(Unavailable("server is shutting down"))

    async def submit(self, item: T) -> R:
        """Queue one item and wait for its result."""
        if self._task is None:
            raise Unavailable("batcher is not running")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Pending(item, future))
        except asyncio.QueueFull:
            raise ResourceExhausted(
                f"server is at capacity ({self._queue.maxsize} requests queued); retry with backoff"
            ) from None
        return await future

    async def _gather(self) -> list[_Pending[T, R]]:
        batch = [await self._queue.get()]
        deadline = time.perf_counter() + self._max_delay_s
        try:
            while len(batch) < self._max_batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
        except asyncio.CancelledError:  # stopped while gathering: the items taken off the queue fail, not hang
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(Unavailable("server is shutting down"))
            raise
        return batch

    async def _run(self) -> None:
        while True:
            batch = [p for p in await self._gather() if not p.future.done()]  # callers that gave up are dropped
            if not batch:
                continue
            started = time.perf_counter()
            try:
                results = await self._handler([p.item for p in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"batch handler returned {len(results)} results for {len(batch)} items")
            except asyncio.CancelledError:
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(Unavailable("server is shutting down"))
                raise
            except Exception as exc:  # the batch fails as a whole; the loop goes on
                log.exception("batch of %d failed", len(batch))
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            for p, result in zip(batch, results, strict=False):
                if not p.future.done():
                    p.future.set_result(result)
            if self._on_batch is not None:
                self._on_batch(len(batch), time.perf_counter() - started)
