"""Endurance under a mixed load of contacts (IdentifyNeeds, Recommend, a TrackSession session, SubmitFeedback):
a short soak, and the three faults of ``infogap faults`` with nothing acknowledged lost. Real gateway processes,
a real PostgreSQL, a real Triton; the full-length runs are ``infogap soak`` and ``infogap faults``."""

from __future__ import annotations

import pytest
from infogap_server.endurance import (
    RPCS,
    Acknowledged,
    fault_gateway_kill,
    fault_postgres_restart,
    fault_triton_restart,
    lost_writes,
    soak,
)
from infogap_server.settings import Settings


def test_lost_counts_acknowledged_writes_missing_from_the_store():
    acknowledged = Acknowledged({"d1", "d2"}, {"f1"}, {("s1", 1), ("s1", 2)})
    stored = Acknowledged({"d1", "d2", "d3"}, set(), {("s1", 1)})
    assert lost_writes(acknowledged, stored) == {"decisions": 0, "feedback": 1, "session_events": 1}


async def test_short_soak_answers_every_rpc_and_loses_nothing(tiny_repository):
    result = await soak(Settings(model_repository=tiny_repository), minutes=0.25, concurrency=4, backend="embedded",
                        database="sqlite", max_growth_mib=200.0, report_every_s=5.0)
    assert len(result["rows"]) >= 2
    assert all(row["rss_mib"] > 0 for row in result["rows"])
    assert result["failures"] == {}
    assert all(result["total"]["rpcs"][rpc]["ok"] > 0 for rpc in RPCS)
    assert result["acknowledged_writes"] > 0 and sum(result["lost"].values()) == 0


def _check(result) -> None:
    assert result.answered > 0 and result.acknowledged_writes > 0
    assert sum(result.failed.values()) > 0, "the fault did not land while calls were made"
    assert result.unclear_failures == {}, result.failed
    assert sum(result.lost.values()) == 0, result.lost
    assert result.recovered, result.per_rpc


async def test_gateway_sigkill_under_load_loses_nothing(tiny_repository, postgres_url):
    result = await fault_gateway_kill(Settings(model_repository=tiny_repository), 6, 4.0, 5.0, postgres_url)
    _check(result)


async def test_postgres_restart_under_load_loses_nothing(tiny_repository, postgres):
    result = await fault_postgres_restart(Settings(model_repository=tiny_repository), 6, 4.0, 6.0, postgres)
    _check(result)


@pytest.mark.integration
async def test_triton_restart_under_load_loses_nothing(real_repository):
    result = await fault_triton_restart(Settings(model_repository=real_repository), 6, 4.0, 6.0, None)
    _check(result)


async def test_callers_hanging_up_mid_write_leave_the_store_writable(tiny_repository, tmp_path):
    """Callers that drop their connection with writes in flight (RecordEvents batches, each its own transaction)
    must not leave a transaction holding SQLite's write lock: the next write succeeds at once, not after the busy
    timeout."""
    import asyncio
    import time
    from datetime import UTC, datetime

    import grpc
    from infogap.v1 import infogap_pb2 as pb
    from infogap.v1 import infogap_pb2_grpc
    from infogap_server.server_process import ServerProcess

    def batch(round_: int, n: int) -> pb.RecordEventsRequest:
        events = []
        for i in range(50):
            event = pb.BehaviorEvent(type=pb.BEHAVIOR_EVENT_TYPE_ORDER, amount=10.0 + i, item_count=1)
            event.time.FromDatetime(datetime(2025, 6, 1, tzinfo=UTC))
            events.append(pb.CustomerEvent(customer_id=f"c{i % 7}", event_id=f"r{round_}-{n}-{i}", event=event))
        return pb.RecordEventsRequest(events=events)

    with ServerProcess(tiny_repository, data_dir=tmp_path / "data", store_timeout_s=3.0) as server:
        await asyncio.to_thread(server.start)
        for round_ in range(6):  # hang up with 32 writes in flight, at a different moment each round
            channel = grpc.aio.insecure_channel(server.address)
            stub = infogap_pb2_grpc.InfoGapStub(channel)
            calls = [stub.RecordEvents(batch(round_, n), timeout=10) for n in range(32)]
            await asyncio.sleep(0.005 * round_ + 0.01)
            await channel.close()  # cancels every call still in flight, as a dropped connection does
            for call in calls:
                call.cancel()
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = infogap_pb2_grpc.InfoGapStub(channel)
            for i in range(3):
                started = time.monotonic()
                await stub.SubmitFeedback(pb.SubmitFeedbackRequest(feedback_id=f"after-{i}", customer_id="c1",
                                                                   rating=4), timeout=10)
                await stub.RecordEvents(batch(99, i), timeout=10)
                assert time.monotonic() - started < 2.0
