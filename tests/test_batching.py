"""The micro-batcher on its own: batches form under load, a full queue rejects at once, callers that gave up are
dropped."""

from __future__ import annotations

import asyncio

import pytest
from infogap_server.batching import MicroBatcher
from infogap_server.errors import ResourceExhausted, Unavailable


async def test_concurrent_items_share_batches_and_keep_their_results():
    sizes: list[int] = []

    async def handler(items: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        return [i * 10 for i in items]

    batcher = MicroBatcher(handler, max_batch_size=8, max_delay_ms=5, max_queue_size=100,
                           on_batch=lambda n, s: sizes.append(n))
    batcher.start()
    results = await asyncio.gather(*(batcher.submit(i) for i in range(40)))
    await batcher.stop()
    assert results == [i * 10 for i in range(40)]
    assert sum(sizes) == 40
    assert max(sizes) == 8  # capped at max_batch_size
    assert len(sizes) <= 10


async def test_lone_item_waits_at_most_the_delay():
    async def handler(items):
        return items

    batcher = MicroBatcher(handler, max_batch_size=32, max_delay_ms=20, max_queue_size=10)
    batcher.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await batcher.submit("x") == "x"
    assert loop.time() - started < 0.5
    await batcher.stop()


async def test_full_queue_rejects_immediately_with_resource_exhausted():
    release = asyncio.Event()

    async def handler(items):
        await release.wait()
        return items

    batcher = MicroBatcher(handler, max_batch_size=1, max_delay_ms=0, max_queue_size=2)
    batcher.start()
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0.01)  # first is running, the queue is empty again
    queued = [asyncio.ensure_future(batcher.submit(i)) for i in (1, 2)]
    await asyncio.sleep(0)
    with pytest.raises(ResourceExhausted):
        await batcher.submit(3)
    release.set()
    assert await asyncio.gather(first, *queued) == [0, 1, 2]
    await batcher.stop()


async def test_cancelled_callers_are_dropped_before_running():
    seen: list[list[int]] = []
    gate = asyncio.Event()

    async def handler(items):
        seen.append(list(items))
        await gate.wait()
        return items

    batcher = MicroBatcher(handler, max_batch_size=4, max_delay_ms=0, max_queue_size=10)
    batcher.start()
    running = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0.01)
    gone = asyncio.ensure_future(batcher.submit(1))
    kept = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0)
    gone.cancel()
    gate.set()
    assert await running == 0 and await kept == 2
    assert seen == [[0], [2]]
    await batcher.stop()


async def test_a_failing_batch_fails_its_callers_and_the_loop_goes_on():
    calls = 0

    async def handler(items):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return items

    batcher = MicroBatcher(handler, max_batch_size=4, max_delay_ms=0, max_queue_size=10)
    batcher.start()
    with pytest.raises(RuntimeError):
        await batcher.submit(1)
    assert await batcher.submit(2) == 2
    await batcher.stop()


async def test_stopped_batcher_is_unavailable():
    async def handler(items):
        return items

    batcher = MicroBatcher(handler, max_batch_size=4, max_delay_ms=0, max_queue_size=10)
    with pytest.raises(Unavailable):
        await batcher.submit(1)


def test_length_aware_runs_keep_short_messages_away_from_long_ones():
    from infogap_server.services.text_model import plan_runs

    lengths = [50, 3, 52, 4, 3]
    runs = plan_runs(lengths, overhead_tokens=40)
    assert sorted(sorted(r) for r in runs) == [[0, 2], [1, 3, 4]]
    assert plan_runs(lengths, overhead_tokens=10_000) == [[1, 4, 3, 0, 2]]  # runs cost too much: one run
    assert sorted(i for r in plan_runs(list(range(1, 40)), 8) for i in r) == list(range(39))
