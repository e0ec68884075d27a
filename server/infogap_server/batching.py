"""An asyncio micro-batcher for backends that do not batch by themselves (the embedded ONNX Runtime backend).

Requests wait in a bounded queue; one loop takes the first, gathers more for at most ``max_delay_ms`` or until
``max_batch_size``, and hands the batch to the handler. While a batch runs the next one gathers, so batches grow
with load on their own.

The queue is bounded by count and by time. On arrival the batcher estimates when the call would be answered (the
batches ahead of it times the recent batch duration): a call whose deadline would pass first, or that would wait
longer than ``max_queue_wait_ms``, is rejected at once with RESOURCE_EXHAUSTED rather than left to expire in the
queue; so is a call that finds ``max_queue_size`` calls waiting. A caller that gives up (cancellation, or a
deadline that passes while it waits) is dropped from its batch before the model runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from infogap_server.errors import DeadlineExceeded, ResourceExhausted, Unavailable
from infogap_server.tasks import cancel_and_wait

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass
class _Pending(Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    deadline: float | None = None  # time.monotonic() by which the caller needs the answer
    enqueued_at: float = field(default_factory=time.perf_counter)

    def expired(self, now: float) -> bool:
        return self.future.done() or (self.deadline is not None and self.deadline <= now)


class MicroBatcher(Generic[T, R]):
    """Collects single items into batches for ``handler(items) -> results`` (same length, same order)."""

    def __init__(
        self,
        handler: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_batch_size: int,
        max_delay_ms: float,
        max_queue_size: int,
        max_queue_wait_ms: float | None = None,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self._handler = handler
        self._max_batch_size = max_batch_size
        self._max_delay_s = max_delay_ms / 1000.0
        self._queue: asyncio.Queue[_Pending[T, R]] = asyncio.Queue(maxsize=max_queue_size)
        #: While a batch is being gathered and the queue is empty: the future the next submit resolves.
        self._arrival: asyncio.Future[None] | None = None
        self._max_queue_wait_s = None if max_queue_wait_ms is None else max_queue_wait_ms / 1000.0
        self._on_batch = on_batch
        self._task: asyncio.Task[None] | None = None
        self._running = False  # a batch is in the handler now
        #: Recent duration of one batch (exponential moving average), None until the first batch ran.
        self._batch_s: float | None = None

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        """Stop the loop; requests still queued fail with UNAVAILABLE (graceful shutdown drains calls first)."""
        await cancel_and_wait(self._task)
        self._task = None
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(Unavailable("server is shutting down"))

    def expected_wait_s(self) -> float:
        """Estimated seconds until a call arriving now is answered: the batches ahead of it (queued, and the one
        running) and its own, at the recent batch duration; 0 when the batcher is idle or has not measured a
        batch yet."""
        queued = self._queue.qsize()
        if self._batch_s is None or (queued == 0 and not self._running):
            return 0.0  # idle: the call runs now (and a stale estimate can never lock the batcher shut)
        ahead = queued // self._max_batch_size + (1 if self._running else 0)
        return (ahead + 1) * self._batch_s

    async def submit(self, item: T, deadline: float | None = None) -> R:
        """Queue one item and wait for its result. ``deadline`` (time.monotonic()) is when the caller stops
        waiting: a call that cannot be answered by then is rejected now, and dropped if it passes while queued."""
        if self._task is None:
            raise Unavailable("batcher is not running")
        if self._queue.full():
            raise ResourceExhausted(
                f"server is at capacity ({self._queue.maxsize} requests queued); retry with backoff"
            )
        wait_s = self.expected_wait_s()
        if self._max_queue_wait_s is not None and wait_s > self._max_queue_wait_s:
            raise ResourceExhausted(
                f"server is at capacity (about {wait_s * 1e3:.0f} ms of work queued); retry with backoff"
            )
        if deadline is not None:
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                raise DeadlineExceeded("the call's deadline passed before it could be queued")
            if wait_s > left_s:
                raise ResourceExhausted(
                    f"the server cannot answer within the call's deadline ({left_s * 1e3:.0f} ms left, about "
                    f"{wait_s * 1e3:.0f} ms of work queued); retry with backoff or a longer deadline"
                )
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(item, future, deadline))
        if self._arrival is not None:
            _resolve(self._arrival)
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
                # Wait for the next arrival or the end of the window, whichever comes first: a future and a timer,
                # not wait_for (which starts a task per wait: measurable at thousands of calls a second).
                loop = asyncio.get_running_loop()
                self._arrival = arrival = loop.create_future()
                timer = loop.call_later(remaining, _resolve, arrival)
                try:
                    await arrival
                finally:
                    timer.cancel()
                    self._arrival = None
        except asyncio.CancelledError:  # stopped while gathering: the items taken off the queue fail, not hang
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(Unavailable("server is shutting down"))
            raise
        return batch

    async def _run(self) -> None:
        while True:
            gathered = await self._gather()
            now = time.monotonic()
            batch = []
            for p in gathered:  # callers that gave up or whose deadline passed are dropped before the model runs
                if not p.expired(now):
                    batch.append(p)
                elif not p.future.done():
                    p.future.set_exception(DeadlineExceeded("the call's deadline passed while it was queued"))
            if not batch:
                continue
            started = time.perf_counter()
            self._running = True
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
            finally:
                self._running = False
            elapsed = time.perf_counter() - started
            self._batch_s = elapsed if self._batch_s is None else 0.8 * self._batch_s + 0.2 * elapsed
            for p, result in zip(batch, results, strict=False):
                if not p.future.done():
                    p.future.set_result(result)
            if self._on_batch is not None:
                self._on_batch(len(batch), elapsed)
