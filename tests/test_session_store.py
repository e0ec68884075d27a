"""The session store's contract on SQLite and a real PostgreSQL: one writer per session (a lease), appends that
check the lease and the sequence in their transaction, resent events stored once, idle sessions, what the learner
reads, and the bottleneck query's percentiles in SQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from infogap_server.store.base import BottleneckQuery, Lease, SessionEventRow, SessionLost, SessionRecord, SessionUpdate
from infogap_server.store.sql import utc_now

LEASE = Lease("process-a", "stream-1", 30.0)


def record(session_id: str, customer: str, at: datetime | None = None) -> SessionRecord:
    at = at or utc_now()
    return SessionRecord(session_id, customer, opened_at=at, updated_at=at, last_event_at=at, last_sequence=0,
                         snapshot={"stage": "discovery"}, stage="discovery")


def event_row(session_id: str, customer: str, n: int, *, kind: str = "action", client_id: str = "",
              at: datetime | None = None, stage: str = "discovery", queue: str = "", wait_s: float = 0.0,
              handling_s: float = 0.0, action: str = "pull_up_account") -> SessionEventRow:
    return SessionEventRow(session_id, customer, n, kind, at or utc_now(), state={"n": n}, client_event_id=client_id,
                           action=action if kind == "action" else "", stage=stage, queue=queue, wait_s=wait_s,
                           handling_s=handling_s, state_key=f"k{n}",
                           allowed="apologise,pull_up_account;pull_up_account")


def update(n: int, *, close: str = "", stage: str = "resolving", intent: str = "get_refund",
           resolved: bool | None = None) -> SessionUpdate:
    return SessionUpdate({"n": n}, "closed" if close else stage, utc_now(), intent=intent, queue="front",
                         close_reason=close, resolved=resolved)


async def add_session(store, session_id: str, customer: str, *, events: int, lease: Lease = LEASE,
                      close: str = "", **event_fields) -> None:
    await store.create_session(record(session_id, customer))
    _, claimed = await store.claim_session(session_id, lease)
    assert claimed
    for n in range(1, events + 1):
        last = n == events
        await store.append_session_event(event_row(session_id, customer, n, **event_fields),
                                         update(n, close=close if last else "", resolved=True if last and close
                                                else None), lease)


async def test_one_writer_holds_a_session_and_a_lapsed_lease_is_taken_over(store):
    await store.create_session(record("s1", "c1"))
    again, existed = await store.create_session(record("s1", "c2"))
    assert existed and again.customer_key == "c1"
    first, claimed = await store.claim_session("s1", LEASE)
    assert claimed and first.lease_stream == "stream-1"
    other = Lease("process-b", "stream-9", 0.2)
    held, claimed = await store.claim_session("s1", other)
    assert not claimed and held.lease_process == "process-a" and held.lease_expires_at is not None
    with pytest.raises(SessionLost):  # the other writer cannot append while the lease is held
        await store.append_session_event(event_row("s1", "c1", 1), update(1), other)
    stored, duplicate = await store.append_session_event(event_row("s1", "c1", 1), update(1), LEASE)
    assert not duplicate and stored.sequence is not None and stored.received_at is not None
    with pytest.raises(SessionLost):  # the sequence moved on: an append for a stale position is refused
        await store.append_session_event(event_row("s1", "c1", 1), update(1), LEASE)
    await store.release_session("s1", LEASE)
    _, claimed = await store.claim_session("s1", other)
    assert claimed
    await asyncio.sleep(0.3)  # the other lease lapses unrenewed; the first writer takes the session back
    _, claimed = await store.claim_session("s1", LEASE)
    assert claimed
    with pytest.raises(SessionLost):
        await store.append_session_event(event_row("s1", "c1", 2), update(2), other)
    assert (await store.get_session("s1")).last_sequence == 1
    with pytest.raises(LookupError):
        await store.claim_session("nope", LEASE)
    assert await store.get_session("nope") is None


async def test_a_resent_event_is_stored_once_and_answers_what_it_answered(store):
    await store.create_session(record("s1", "c1"))
    await store.claim_session("s1", LEASE)
    first, duplicate = await store.append_session_event(event_row("s1", "c1", 1, client_id="e1"), update(1), LEASE)
    assert not duplicate
    again, duplicate = await store.append_session_event(event_row("s1", "c1", 2, client_id="e1"), update(2), LEASE)
    assert duplicate and again.event_sequence == 1 and again.state == {"n": 1} and again.sequence == first.sequence
    session = await store.get_session("s1")
    assert session.last_sequence == 1 and session.snapshot == {"n": 1}
    # Events without a client id never collide with each other.
    await store.append_session_event(event_row("s1", "c1", 2), update(2), LEASE)
    await store.append_session_event(event_row("s1", "c1", 3), update(3), LEASE)
    assert (await store.get_session("s1")).last_sequence == 3


async def test_concurrent_claims_leave_one_writer(store):
    await store.create_session(record("s1", "c1"))
    leases = [Lease(f"p{i}", f"s{i}", 30.0) for i in range(6)]
    results = await asyncio.gather(*(store.claim_session("s1", lease) for lease in leases))
    assert sum(claimed for _, claimed in results) == 1


async def test_closing_releases_the_lease_and_ends_appends_and_renewal_extends_open_leases(store):
    await add_session(store, "s1", "c1", events=2, close="ended")
    closed = await store.get_session("s1")
    assert closed.closed and closed.close_reason == "ended" and closed.resolved is True and closed.lease_process == ""
    with pytest.raises(SessionLost):
        await store.append_session_event(event_row("s1", "c1", 3), update(3), LEASE)
    await add_session(store, "s2", "c1", events=1)
    before = (await store.get_session("s2")).lease_expires_at
    await asyncio.sleep(0.05)
    assert await store.renew_session_leases("process-a", ["stream-1"], 60.0) == 1  # s2 only: s1 is closed
    assert await store.renew_session_leases("process-a", ["stream-other"], 60.0) == 0  # not a live stream's
    assert (await store.get_session("s2")).lease_expires_at > before


async def test_idle_sessions_and_what_the_learner_reads(store):
    await add_session(store, "open", "c1", events=1)
    await add_session(store, "done", "c1", events=3, close="ended")
    assert [s.session_id for s in await store.idle_sessions(utc_now() + timedelta(seconds=1), limit=10)] == ["open"]
    assert await store.idle_sessions(utc_now() - timedelta(hours=1), limit=10) == []
    from infogap_server.store.base import FeedbackRow
    await store.add_feedback(FeedbackRow("c1", "f1", 2, session_id="done"))
    await store.add_feedback(FeedbackRow("c1", "f2", 5, session_id="done"))
    await store.add_feedback(FeedbackRow("c9", "f3", 1, session_id="done"))  # another customer's: not this one's
    logged = await store.closed_sessions(limit=10)
    assert [item.session.session_id for item in logged] == ["done"]
    assert logged[0].rating == 2
    assert logged[0].actions == tuple((f"k{n}", "pull_up_account", ("apologise", "pull_up_account"), "pull_up_account")
                                      for n in (1, 2, 3))


async def test_bottlenecks_give_nearest_rank_percentiles_per_stage_queue_and_intent(store):
    waits = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]
    for i, wait in enumerate(waits):
        await store.create_session(record(f"s{i}", "c1"))
        await store.claim_session(f"s{i}", LEASE)
        await store.append_session_event(event_row(f"s{i}", "c1", 1, kind="wait", stage="discovery", queue="front",
                                                   wait_s=wait), update(1), LEASE)
        await store.append_session_event(event_row(f"s{i}", "c1", 2, stage="resolving", queue="front",
                                                   handling_s=i + 1), update(2), LEASE)
        await store.append_session_event(event_row(f"s{i}", "c1", 3, kind="transfer", stage="resolving",
                                                   queue="front", handling_s=1.0), update(3), LEASE)
    now = utc_now()
    data = await store.session_bottlenecks(BottleneckQuery(now - timedelta(hours=1), now + timedelta(hours=1)))
    assert data.sessions == 10
    groups = {(g.dimension, g.value): g for g in data.groups}
    discovery = groups[("stage", "discovery")]
    assert discovery.sessions == 10 and discovery.wait.count == 9
    assert (discovery.wait.p50_s, discovery.wait.p90_s, discovery.wait.total_s) == (40, 80, 450)
    resolving = groups[("stage", "resolving")]
    assert (resolving.handling.p50_s, resolving.handling.p90_s) == (6, 10) and resolving.transfers == 10
    assert resolving.wait.total_s == 0
    assert groups[("queue", "front")].transfers == 10 and groups[("intent", "get_refund")].sessions == 10
    empty = await store.session_bottlenecks(BottleneckQuery(now - timedelta(hours=1), now + timedelta(hours=1),
                                                            intent="track_order"))
    assert empty.sessions == 0 and empty.groups == []


async def test_appends_of_many_sessions_commit_together_and_one_refused_append_fails_alone(store):
    sessions = [f"g{i}" for i in range(40)]
    for session_id in sessions:
        await store.create_session(record(session_id, "c1"))
        await store.claim_session(session_id, LEASE)
    stranger = Lease("process-z", "stream-z", 30.0)
    calls = [store.append_session_event(event_row(sid, "c1", 1, client_id=f"{sid}-1"), update(1), LEASE)
             for sid in sessions]
    calls.append(store.append_session_event(event_row("g0", "c1", 1), update(1), stranger))  # not its session
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(results[-1], SessionLost)
    assert all(not duplicate and row.sequence for row, duplicate in results[:-1])
    assert len({row.sequence for row, _ in results[:-1]}) == len(sessions)
    for session_id in sessions:
        assert (await store.get_session(session_id)).last_sequence == 1
