"""GetSessionBottlenecks on a real server over a real channel: sessions driven through TrackSession with explicit
event times, then the figures per stage, queue and intent worked out by hand (on SQLite and a real PostgreSQL);
the filters and the default range; bad ranges and filters are INVALID_ARGUMENT naming the field; and a day of 200
seeded sessions whose figures match the same rules computed here from the states the stream answered, printed as
`infogap bottlenecks` prints them (pytest -s shows the table)."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from infogap.client import AsyncInfoGapClient, InfoGapError
from infogap.v1 import infogap_pb2 as pb
from infogap_server.cli import bottleneck_lines

from tests.test_cli_calls import infogap


def client_for(server) -> AsyncInfoGapClient:
    return AsyncInfoGapClient(f"127.0.0.1:{server.port}")


def database(store_url: str) -> dict:
    return {"database_url": store_url} if store_url.startswith("postgresql") else {}


def stage_name(stage: int) -> str:
    return pb.SessionStage.Name(stage).removeprefix("SESSION_STAGE_").lower()


def figures(g: pb.Bottleneck) -> tuple:
    """(sessions, wait: any/p50/p90/total, handling: any/p50/p90/total, transfers)."""
    return (g.sessions, (g.wait.sessions_with_any, g.wait.p50_s, g.wait.p90_s, g.wait.total_s),
            (g.handling.sessions_with_any, g.handling.p50_s, g.handling.p90_s, g.handling.total_s), g.transfers)


def by_group(response: pb.SessionBottlenecksResponse) -> dict[tuple[str, str], tuple]:
    return {(g.dimension, g.value): figures(g) for g in response.groups}


#: Three sessions, one an hour from D0: (session, customer, [(seconds from its start, kind, value)]). The stage and
#: queue each event is counted in are the ones the session was in when it came (the previous state's).
SESSIONS = [
    ("a", [(0, "message", "where is my parcel please"),  # discovery -> resolving (track_order)
           (60, "wait", 40.0),  # resolving/front: wait 40, handling 20
           (100, "action", "pull_up_account"),  # resolving/front: handling 40
           (160, "transfer", "billing"),  # resolving/front: handling 60, a transfer; -> escalated/billing
           (400, "wait", 200.0),  # escalated/billing: wait 200, handling 40
           (430, "end", True)]),  # escalated/billing: handling 30
    ("b", [(0, "message", "I want my money back please"),  # discovery -> resolving (get_refund)
           (30, "wait", 30.0),  # resolving/front: wait 30, handling 0
           (90, "action", "pull_up_account"),  # resolving/front: handling 60
           (120, "end", True)]),  # resolving/front: handling 30
    ("c", [(0, "message", "hello there"),  # out of scope: stays in discovery, need unknown
           (300, "wait", 300.0),  # discovery/front: wait 300, handling 0
           (320, "end", False)]),  # discovery/front: handling 20
]
#: What the sessions above add up to: (sessions, wait, handling, transfers), each spread (any, p50, p90, total),
#: nearest rank over the group's sessions (zeros included).
EXPECTED = {
    ("stage", "discovery"): (3, (1, 0.0, 300.0, 300.0), (1, 0.0, 20.0, 20.0), 0),  # a, b: 0 there; c: 300 / 20
    ("stage", "escalated"): (1, (1, 200.0, 200.0, 200.0), (1, 70.0, 70.0, 70.0), 0),  # a only
    ("stage", "resolving"): (2, (2, 30.0, 40.0, 70.0), (2, 90.0, 120.0, 210.0), 1),  # b: 30 / 90; a: 40 / 120
    ("queue", "billing"): (1, (1, 200.0, 200.0, 200.0), (1, 70.0, 70.0, 70.0), 0),
    ("queue", "front"): (3, (3, 40.0, 300.0, 370.0), (3, 90.0, 120.0, 230.0), 1),  # waits 30, 40, 300
    ("intent", ""): (1, (1, 300.0, 300.0, 300.0), (1, 20.0, 20.0, 20.0), 0),
    ("intent", "get_refund"): (1, (1, 30.0, 30.0, 30.0), (1, 90.0, 90.0, 90.0), 0),
    ("intent", "track_order"): (1, (1, 240.0, 240.0, 240.0), (1, 190.0, 190.0, 190.0), 1),
}


async def send(session, kind: str, value, at: datetime) -> pb.SessionState:
    if kind == "message":
        return await session.message(value, time=at)
    if kind == "wait":
        return await session.wait(value, time=at)
    if kind == "action":
        return await session.action(value, time=at)
    if kind == "transfer":
        return await session.transfer(value, time=at)
    return await session.end(resolved=value, time=at)


async def test_bottlenecks_per_stage_queue_and_intent_match_the_hand_computed_sessions(start_server, tiny_repository,
                                                                                       store_url):
    server = await start_server(tiny_repository, **database(store_url))
    d0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    async with client_for(server) as client:
        for n, (name, events) in enumerate(SESSIONS):
            start = d0 + timedelta(hours=n)
            async with client.track_session(f"bn-{name}", f"cust-{name}") as session:
                states = [await send(session, kind, value, start + timedelta(seconds=s)) for s, kind, value in events]
            # The stages the hand computation above relies on.
            assert [stage_name(s.stage) for s in states[:-1]] == {
                "a": ["resolving", "resolving", "resolving", "escalated", "escalated"],
                "b": ["resolving", "resolving", "resolving"],
                "c": ["discovery", "discovery"]}[name]
        everything = await client.get_session_bottlenecks(since=d0 - timedelta(hours=1), until=d0 + timedelta(days=1),
                                                          request_id="bn-1")
        assert everything.sessions == 3 and everything.request_id == "bn-1"
        assert everything.since.ToDatetime(tzinfo=UTC) == d0 - timedelta(hours=1)
        assert by_group(everything) == EXPECTED
        # By dimension, then value.
        assert [(g.dimension, g.value) for g in everything.groups] == sorted(
            EXPECTED, key=lambda k: (["stage", "queue", "intent"].index(k[0]), k[1]))

        # The default range is the 7 days before now: it holds the three sessions opened two days ago.
        default = await client.get_session_bottlenecks()
        assert default.sessions == 3 and by_group(default) == EXPECTED
        until = default.until.ToDatetime(tzinfo=UTC)
        assert until - default.since.ToDatetime(tzinfo=UTC) == timedelta(days=7)
        assert abs((datetime.now(UTC) - until).total_seconds()) < 60

        # The range goes by the session's first event: [d0 + 30 min, d0 + 3 h) holds b and c.
        later = await client.get_session_bottlenecks(since=d0 + timedelta(minutes=30), until=d0 + timedelta(hours=3))
        assert later.sessions == 2
        assert by_group(later)[("queue", "front")] == (2, (2, 30.0, 300.0, 330.0), (2, 20.0, 90.0, 110.0), 0)
        assert ("queue", "billing") not in by_group(later)

        # An intent: that need's sessions only.
        tracked = await client.get_session_bottlenecks(intent="track_order")
        assert tracked.sessions == 1
        assert by_group(tracked)[("stage", "resolving")] == (1, (1, 40.0, 40.0, 40.0), (1, 120.0, 120.0, 120.0), 1)
        assert {k for k in by_group(tracked) if k[0] == "intent"} == {("intent", "track_order")}
        # A queue: the sessions that were in it, with all of their time (a's front time too).
        billing = await client.get_session_bottlenecks(queue="billing")
        assert billing.sessions == 1 and by_group(billing)[("queue", "front")][0] == 1
        nothing = await client.get_session_bottlenecks(queue="nowhere", intent="track_order")
        assert nothing.sessions == 0 and list(nothing.groups) == []


def ts(seconds: int) -> Timestamp:
    return Timestamp(seconds=seconds)


NOW_S = int(time.time())


BAD_REQUESTS = [
    (dict(since=ts(NOW_S), until=ts(NOW_S)), "since"),
    (dict(since=ts(NOW_S), until=ts(NOW_S - 60)), "since"),
    (dict(since=ts(NOW_S - 367 * 86400), until=ts(NOW_S)), "since"),
    (dict(until=ts(-62_135_596_801)), "until"),  # before the year 1
    (dict(since=ts(253_402_300_800)), "since"),  # after the year 9999
    (dict(intent="x" * 65), "intent"),
    (dict(intent="track order"), "intent"),
    (dict(queue="q" * 65), "queue"),
    (dict(queue="billing\n"), "queue"),
    (dict(request_id="bad id!"), "request_id"),
]


async def test_bad_bottleneck_requests_are_invalid_argument_naming_the_field(start_server, tiny_repository):
    server = await start_server(tiny_repository)
    async with client_for(server) as client:
        for request, field in BAD_REQUESTS:
            with pytest.raises(InfoGapError) as caught:
                await client._invoke(client._stub.GetSessionBottlenecks, pb.GetSessionBottlenecksRequest(**request),
                                     5)
            assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT, request
            assert [f for f, _ in caught.value.field_violations] == [field], request
            assert caught.value.message.startswith(f"{field}:"), request


async def test_a_366_day_range_and_64_character_filters_are_accepted(start_server, tiny_repository):
    server = await start_server(tiny_repository)
    now = datetime.now(UTC)
    async with client_for(server) as client:
        r = await client.get_session_bottlenecks(since=now - timedelta(days=366), until=now, intent="i" * 64,
                                                 queue="q.:/+=-_" * 8)
    assert r.sessions == 0 and list(r.groups) == []


# --- a day of sessions ------------------------------------------------------------------------------------------

DAY_SESSIONS = 200
#: Customer messages (the tiny model reads the keyword) and how often each opens a session.
OPENINGS = [("where is my parcel please", 5), ("I want my money back please", 3), ("please cancel my order", 3),
            ("I want to complain please", 2), ("hello there", 1)]
#: Mean wait in seconds per queue: the specialists keep customers waiting longest.
MEAN_WAIT_S = {"front": 45.0, "billing": 150.0, "specialists": 400.0}


def plan_session(rng: random.Random) -> list[tuple[int, str, object]]:
    """One session's events as (seconds from its start, kind, value): an opening message, then agent actions,
    waits and at most one transfer, then the end."""
    text = rng.choices([t for t, _ in OPENINGS], weights=[w for _, w in OPENINGS])[0]
    events: list[tuple[int, str, object]] = [(0, "message", text)]
    at, queue = 0, "front"
    for _ in range(rng.randint(2, 6)):
        roll = rng.random()
        if roll < 0.4:
            wait = max(1, round(rng.expovariate(1 / MEAN_WAIT_S[queue])))
            at += wait + rng.randint(0, 20)  # the wait ends at the event's time, some handling before it
            events.append((at, "wait", float(wait)))
        elif roll < 0.55 and queue == "front":
            queue = rng.choice(["billing", "specialists"])
            at += rng.randint(10, 90)
            events.append((at, "transfer", queue))
        else:
            at += rng.randint(15, 240)
            events.append((at, "action", rng.choice(["pull_up_account", "ask_clarifying_question", "apologise",
                                                      "verify_identity"])))
    at += rng.randint(10, 60)
    events.append((at, "end", rng.random() < 0.8))
    return events


def nearest_rank(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(share * len(ordered)) - 1]


def expected_groups(logged: list[tuple[list[tuple[int, str, object]], list[pb.SessionState]]]) -> dict:
    """The bottleneck rules applied here, from each session's events and the states answered: an event counts in
    the stage and queue of the state before it; its handling is the growth of elapsed_s less its wait."""
    per: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(dict)
    for n, (events, states) in enumerate(logged):
        intent = states[-1].current_need.intent if states[-1].HasField("current_need") else ""
        stage, queue, elapsed = "discovery", "front", 0.0
        for (_, kind, value), state in zip(events, states, strict=True):
            wait = float(value) if kind == "wait" else 0.0
            handling = state.elapsed_s - elapsed - wait
            for key in (("stage", stage), ("queue", queue), ("intent", intent)):
                totals = per[key].setdefault(n, [0.0, 0.0, 0])
                totals[0] += wait
                totals[1] += handling
                totals[2] += kind == "transfer"
            stage, queue, elapsed = stage_name(state.stage), state.queue, state.elapsed_s
    expected = {}
    for key, sessions in per.items():
        waits = [w for w, _, _ in sessions.values()]
        handlings = [h for _, h, _ in sessions.values()]
        expected[key] = (
            len(sessions),
            tuple([sum(w > 0 for w in waits), nearest_rank(waits, 0.5), nearest_rank(waits, 0.9), sum(waits)]),
            tuple([sum(h > 0 for h in handlings), nearest_rank(handlings, 0.5), nearest_rank(handlings, 0.9),
                   sum(handlings)]),
            sum(t for _, _, t in sessions.values()),
        )
    return expected


async def test_a_day_of_sessions_gives_the_table_the_rules_give(start_server, tiny_repository):
    started = time.perf_counter()
    server = await start_server(tiny_repository)
    rng = random.Random(20261125)
    day = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    plans = [(day + timedelta(seconds=rng.randint(0, 23 * 3600)), plan_session(rng)) for _ in range(DAY_SESSIONS)]
    logged: list = [None] * DAY_SESSIONS
    gate = asyncio.Semaphore(8)

    async def drive(client: AsyncInfoGapClient, n: int) -> None:
        opened_at, events = plans[n]
        async with gate, client.track_session(f"day-{n}", f"cust-{n % 37}") as session:
            states = [await send(session, kind, value, opened_at + timedelta(seconds=s)) for s, kind, value in events]
        logged[n] = (events, states)

    async with client_for(server) as client:
        await asyncio.gather(*(drive(client, n) for n in range(DAY_SESSIONS)))
        r = await client.get_session_bottlenecks(since=day, until=day + timedelta(days=1))
    driven = time.perf_counter() - started
    events = sum(len(e) for e, _ in logged)

    assert r.sessions == DAY_SESSIONS
    got = {key: (f[0], tuple(round(x, 3) for x in f[1]), tuple(round(x, 3) for x in f[2]), f[3])
           for key, f in by_group(r).items()}
    want = {key: (f[0], tuple(round(x, 3) for x in f[1]), tuple(round(x, 3) for x in f[2]), f[3])
            for key, f in expected_groups(logged).items()}
    assert got == want
    assert sum(g.sessions for g in r.groups if g.dimension == "intent") == DAY_SESSIONS
    assert {g.value for g in r.groups if g.dimension == "queue"} == {"front", "billing", "specialists"}

    # The CLI prints the same table.
    code, out, err = await infogap("bottlenecks", "--address", f"127.0.0.1:{server.port}", "--since",
                                   day.isoformat(), "--until", (day + timedelta(days=1)).isoformat())
    assert code == 0, err
    assert out.splitlines() == bottleneck_lines(r)
    print(f"\n{DAY_SESSIONS} sessions, {events} events through TrackSession in {driven:.1f}s; "
          "`infogap bottlenecks` prints:\n" + out)
