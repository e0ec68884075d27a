"""WatchAlerts (issue 12): the rule on its own (the beta-binomial tail, the critical count, one alert per spike,
the same alerts wherever a watch starts), then through a real server on SQLite and PostgreSQL: a planted spike gives
alerts with the right stream, window, observed and expected rates and example ids; steady traffic gives none; a
following watch gets new alerts, ends with UNAVAILABLE when the server stops and is counted once however many watch;
two replicas on one PostgreSQL send the same alert ids; bad input is INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import asyncio
import math
import random
import time
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.server_process import ServerProcess
from infogap_server.services.alerts import (
    AlertDetector,
    AlertRule,
    critical_hits,
    expected_rate,
    is_negative,
    tail_probability,
)
from infogap_server.store import schema
from infogap_server.store.base import FeedbackSignal
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import channel_to

#: Small windows so that a test plants hundreds of rows, not tens of thousands.
RULE = dict(alerts_window_events=20, alerts_baseline_events=100, alerts_alpha=1e-6, alerts_min_hits=5,
            alerts_lookback_rows=240, alerts_settle_s=0.0, alerts_poll_interval_s=0.1)
INTENTS = ("track_order", "get_refund", "cancel_order")
STEADY, SPIKE_AT = 200, 200  # rows of steady traffic; the spike's first row
KEY = "ab" * 32


# --- the rule on its own ----------------------------------------------------------------------------------------


def test_negative_is_a_low_rating_or_a_middle_one_with_negative_text():
    assert is_negative(1, "") and is_negative(2, "positive") and is_negative(3, "negative")
    assert not is_negative(3, "neutral") and not is_negative(3, "") and not is_negative(5, "negative")


@pytest.mark.parametrize("n", [1, 5, 20])
def test_the_tail_with_an_empty_baseline_is_the_uniform_one(n):
    """With no baseline the rate is uniform on [0, 1], so every count of hits is equally likely."""
    for k in range(n + 2):
        assert tail_probability(k, n, 0, 0) == pytest.approx(max(0, n + 1 - k) / (n + 1))


def test_the_tail_with_a_long_baseline_is_the_binomial_one():
    n, p = 300, 0.1
    for k in (20, 30, 45, 60, 90):
        binomial = math.fsum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))
        assert tail_probability(k, n, 1_000_000, 10_000_000) == pytest.approx(binomial, rel=0.02)


def test_a_short_baseline_alarms_less_readily_than_a_long_one_at_the_same_rate():
    assert tail_probability(12, 40, 5, 50) > tail_probability(12, 40, 500, 5000) * 10


@pytest.mark.parametrize(("n", "hits", "events", "alpha"), [(20, 10, 100, 1e-6), (300, 600, 3000, 1e-6),
                                                            (300, 0, 3000, 1e-6), (300, 50, 3000, 0.3)])
def test_the_critical_count_is_the_fewest_hits_below_alpha(n, hits, events, alpha):
    k = critical_hits(n, hits, events, alpha)
    assert tail_probability(k, n, hits, events) < alpha <= tail_probability(k - 1, n, hits, events)


def rows_of(flags: list[tuple[bool, tuple[str, ...], str]], start: datetime | None = None) -> list[FeedbackSignal]:
    """(negative, aspects, intent) -> stored rows, a second apart."""
    start = start or datetime(2026, 3, 1)
    return [FeedbackSignal(n + 1, f"fb-{n}", start + timedelta(seconds=n), 1 if negative else 5,
                           "negative" if negative else "positive", intent, aspects)
            for n, (negative, aspects, intent) in enumerate(flags)]


def steady(n: int, seed: int = 0, rate: float = 0.15) -> list[tuple[bool, tuple[str, ...], str]]:
    rng = random.Random(seed)
    return [(rng.random() < rate, (rng.choice(("billing", "delivery_delay")),) if rng.random() < 0.5 else (),
             rng.choice(INTENTS)) for _ in range(n)]


SMALL = AlertRule(window_events=20, baseline_events=100, alpha=1e-6, min_hits=5, lookback_rows=240)


def fired(rule: AlertRule, rows: list[FeedbackSignal]) -> list:
    detector = AlertDetector(rule)
    return [alert for row in rows for alert in detector.add(row)]


def test_steady_traffic_fires_nothing():
    assert fired(SMALL, rows_of(steady(5000, seed=3))) == []


def test_a_sustained_spike_is_one_alert_and_a_later_one_fires_again():
    spike = [(True, ("damaged_item",), "") for _ in range(150)]
    rows = rows_of(steady(400) + spike + steady(600, seed=1) + spike)
    alerts = [a for a in fired(SMALL, rows) if a.kind == "aspect"]
    assert [a.key for a in alerts] == ["damaged_item", "damaged_item"]
    first, second = alerts
    # The aspect had no negative mention in its 100-row baseline, whose rate is then still uncertain: 8 hits of 20
    # are needed (more than min_hits), at the spike's eighth row.
    assert critical_hits(20, 0, 100, 1e-6) == 8
    assert first.window_end_sequence == rows[407].sequence and first.observed_hits == 8
    assert first.expected_rate == expected_rate(0, 100) and first.baseline_hits == 0
    assert second.window_end_sequence > rows[400 + 150 + 600].sequence


def test_alerts_are_the_same_wherever_the_detector_starts():
    """A watch reads 2 x lookback_rows rows before its first one: from there it agrees with one that read all."""
    flags = steady(3000, seed=5)
    for at in (700, 1500, 2300):  # short spikes of each kind
        flags[at:at + 40] = [(True, ("wrong_item",), "get_refund")] * 40
    rows = rows_of(flags)
    everything = fired(SMALL, rows)
    assert {a.kind for a in everything} == {"overall", "aspect", "intent"}
    for first in (900, 1520, 2000):
        late = fired(SMALL, rows[first - SMALL.warmup_rows:])
        assert [a for a in late if a.window_end_sequence >= rows[first].sequence] == \
            [a for a in everything if a.window_end_sequence >= rows[first].sequence]


def test_an_intent_is_tested_only_with_a_full_window_and_baseline_within_the_look_back():
    # 30 events of a new intent, all negative: no baseline of 20 events yet, so no alert however bad.
    new = [(False, (), "track_order")] * 300 + [(True, (), "get_refund")] * 30
    assert [a for a in fired(SMALL, rows_of(new)) if a.kind == "intent"] == []
    # A rare intent: one event every 20 rows, so 40 events span more than the look-back's 240 rows: never tested.
    rare = [(n % 20 == 0 and n > 600, (), "get_refund" if n % 20 == 0 else "") for n in range(3000)]
    assert [a for a in fired(SMALL, rows_of(rare)) if a.kind == "intent"] == []


def test_the_rule_needs_a_look_back_of_at_least_window_and_baseline():
    with pytest.raises(ValueError, match="lookback_rows"):
        AlertRule(window_events=20, baseline_events=100, lookback_rows=100)


# --- through a server ---------------------------------------------------------------------------------------------


def spike_flags() -> list[tuple[bool, tuple[str, ...], str]]:
    """200 steady rows (every tenth negative, naming delivery_delay; intents in turn), then 60 negative rows naming
    damaged_item."""
    flags = [(n % 10 == 9, ("delivery_delay",) if n % 10 == 9 else (), INTENTS[n % 3]) for n in range(STEADY)]
    return flags + [(True, ("damaged_item",), INTENTS[n % 3]) for n in range(STEADY, STEADY + 60)]


async def plant(url: str, flags, start: datetime, step_s: float = 1.0) -> list[int]:
    """Store feedback rows (``step_s`` apart from ``start``, naive UTC) with their aspects, as SubmitFeedback would;
    returns their sequence numbers."""
    f, t = schema.feedback, schema.feedback_terms
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            first = (await conn.scalar(sa.select(sa.func.max(f.c.sequence))) or 0) + 1
            rows, terms = [], []
            for n, (negative, aspects, intent) in enumerate(flags):
                at = start + timedelta(seconds=n * step_s)
                rows.append({"sequence": first + n, "customer_key": KEY, "feedback_id": f"fb-{first + n}",
                             "rating": 2 if negative else 4, "sentiment": "negative" if negative else "positive",
                             "intent": intent, "received_at": at})
                terms += [{"feedback_sequence": first + n, "customer_key": KEY, "kind": "aspect", "term": a,
                           "score": 0.9, "received_at": at} for a in aspects]
            await conn.execute(sa.insert(f), rows)
            if terms:
                await conn.execute(sa.insert(t), terms)
            if conn.dialect.name == "postgresql":
                await conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('feedback', 'sequence'), :last)"),
                                   {"last": first + len(flags) - 1})
    finally:
        await engine.dispose()
    return list(range(first, first + len(flags)))


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def stamp(time: datetime):
    from google.protobuf import timestamp_pb2

    s = timestamp_pb2.Timestamp()
    s.FromDatetime(time.replace(tzinfo=UTC))
    return s


@pytest.fixture(params=["sqlite", "postgresql"])
async def served(request, start_server, tiny_repository):
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    server = await start_server(tiny_repository, database_url=url, **RULE)
    async with channel_to(server) as channel:
        yield server, infogap_pb2_grpc.InfoGapStub(channel)


async def watch(stub, **fields) -> list[pb.Alert]:
    return [a async for a in stub.WatchAlerts(pb.WatchAlertsRequest(**fields), timeout=30)]


async def test_a_planted_spike_alerts_on_its_streams_with_window_rates_and_examples(served):
    server, stub = served
    start = now() - timedelta(minutes=30)
    sequences = await plant(server.settings.store_url, spike_flags(), start)
    alerts = await watch(stub, since=stamp(start), request_id="watch-1")
    assert {(a.kind, a.key) for a in alerts} == {
        (pb.ALERT_STREAM_OVERALL, ""), (pb.ALERT_STREAM_ASPECT, "damaged_item"),
        *((pb.ALERT_STREAM_INTENT, intent) for intent in INTENTS)}
    assert len(alerts) == 5 and all(a.request_id == "watch-1" and a.alpha == 1e-6 for a in alerts)
    assert [a.window_end_sequence for a in alerts] == sorted(a.window_end_sequence for a in alerts)  # oldest first
    by_stream = {(a.kind, a.key): a for a in alerts}

    # damaged_item: never named before the spike; with a baseline of 100 rows and no hit, 8 of 20 are needed.
    aspect = by_stream[(pb.ALERT_STREAM_ASPECT, "damaged_item")]
    end = SPIKE_AT + 7
    assert (aspect.window_start_sequence, aspect.window_end_sequence) == (sequences[end - 19], sequences[end])
    assert aspect.window_end.ToDatetime() == start + timedelta(seconds=end) == aspect.fired_at.ToDatetime()
    assert (aspect.window_events, aspect.observed_count, aspect.observed_rate) == (20, 8, 0.4)
    assert (aspect.baseline_events, aspect.baseline_count) == (100, 0)
    assert aspect.expected_rate == pytest.approx(1 / 102)
    assert aspect.p_value < 1e-6 <= tail_probability(7, 20, 0, 100)
    assert list(aspect.example_feedback_ids) == [f"fb-{sequences[end - i]}" for i in range(5)]  # newest first

    # Overall: the baseline holds exactly 10 negatives in 100 rows; the window's hits are the spike's rows so far
    # and the steady negatives still in it (rows 189 and 199). It fires at the first row where they are unlikely.
    overall = by_stream[(pb.ALERT_STREAM_OVERALL, "")]
    end = overall.window_end_sequence - sequences[0]
    hits = (end - SPIKE_AT + 1) + sum(1 for n in range(end - 19, SPIKE_AT) if n % 10 == 9)
    assert overall.window_start_sequence == sequences[end - 19] and overall.observed_count == hits
    assert (overall.baseline_events, overall.baseline_count) == (100, 10)
    assert overall.expected_rate == pytest.approx(11 / 102)
    assert overall.p_value == pytest.approx(tail_probability(hits, 20, 10, 100))
    assert overall.p_value < 1e-6 <= tail_probability(hits - 1, 20, 10, 100)  # one row earlier it did not fire

    # An intent's window is its own last 20 events: every third row.
    intent = by_stream[(pb.ALERT_STREAM_INTENT, "track_order")]
    end = intent.window_end_sequence - sequences[0]
    assert end % 3 == 0 and intent.window_start_sequence == sequences[end - 19 * 3]
    assert intent.window_events == 20 and intent.observed_rate == intent.observed_count / 20

    # The filters, and a replay from the spike on (the warm-up before it keeps the same alerts).
    aspects = await watch(stub, since=stamp(start), kinds=[pb.ALERT_STREAM_ASPECT])
    assert [a.alert_id for a in aspects] == [aspect.alert_id]
    keyed = await watch(stub, since=stamp(start), keys=["track_order", "damaged_item"])
    assert {a.key for a in keyed} == {"track_order", "damaged_item"}
    later = await watch(stub, since=stamp(start + timedelta(seconds=SPIKE_AT)))
    assert [a.alert_id for a in later] == [a.alert_id for a in alerts]
    assert await watch(stub, since=stamp(start + timedelta(seconds=STEADY + 60))) == []


async def test_steady_traffic_sends_no_alert(served):
    server, stub = served
    start = now() - timedelta(minutes=40)
    await plant(server.settings.store_url, steady(1500, seed=11), start)
    assert await watch(stub, since=stamp(start)) == []


async def test_a_following_watch_gets_new_alerts_is_counted_once_and_ends_when_the_server_stops(served):
    server, stub = served
    await plant(server.settings.store_url, spike_flags()[:STEADY], now() - timedelta(minutes=10))
    request = pb.WatchAlertsRequest(follow=True, kinds=[pb.ALERT_STREAM_ASPECT])
    watchers = [stub.WatchAlerts(request), stub.WatchAlerts(request)]
    for call in watchers:
        await call.initial_metadata()  # the watch is open
    await asyncio.sleep(0.3)
    # Stored now (after the server started: the metric counts only alerts that fired since).
    await plant(server.settings.store_url, spike_flags()[STEADY:], now(), step_s=0.001)
    got = [await asyncio.wait_for(call.read(), 10) for call in watchers]
    assert got[0].key == "damaged_item" and got[0].alert_id == got[1].alert_id
    counted = server.metrics.registry.get_sample_value("infogap_alerts_total",
                                                       {"kind": "aspect", "key": "damaged_item"})
    assert counted == 1  # two watchers, one alert
    started = time.monotonic()
    await server.stop(5.0)
    for call in watchers:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "shutting down" in caught.value.details()
    assert time.monotonic() - started < 3.0  # the watches did not hold the grace period


async def test_a_watch_the_caller_cancels_ends_on_the_server(served):
    server, stub = served
    call = stub.WatchAlerts(pb.WatchAlertsRequest(follow=True))
    await call.initial_metadata()
    call.cancel()
    for _ in range(100):
        if server._servicer.in_flight == 0:
            break
        await asyncio.sleep(0.05)
    assert server._servicer.in_flight == 0
    assert server.metrics.registry.get_sample_value(
        "infogap_requests_total", {"method": "WatchAlerts", "code": "CANCELLED"}) == 1


async def test_watches_beyond_the_cap_are_resource_exhausted(start_server, tiny_repository):
    server = await start_server(tiny_repository, **{**RULE, "alerts_max_watches": 1})
    async with channel_to(server) as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        first = stub.WatchAlerts(pb.WatchAlertsRequest(follow=True))
        await first.initial_metadata()
        for _ in range(100):  # the first watch is running once the server counts it
            if server._servicer.alerts.watching == 1:
                break
            await asyncio.sleep(0.05)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await watch(stub)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "alerts_max_watches" in refused.value.details()
        first.cancel()
        for _ in range(100):
            if server._servicer.alerts.watching == 0:
                break
            await asyncio.sleep(0.05)
        assert await watch(stub) == []  # the slot is free again


@pytest.mark.parametrize(("fields", "field"), [
    (dict(since=stamp(datetime(2100, 1, 1))), "since"),
    (dict(since=stamp(datetime(2001, 1, 1))), "since"),
    (dict(kinds=[pb.ALERT_STREAM_UNSPECIFIED]), "kinds[0]"),
    (dict(kinds=[pb.ALERT_STREAM_OVERALL, 99]), "kinds[1]"),
    (dict(keys=[""]), "keys[0]"),
    (dict(keys=["a", "x" * 65]), "keys[1]"),
    (dict(keys=[f"k{i}" for i in range(101)]), "keys"),
    (dict(request_id="not an id"), "request_id"),
])
async def test_bad_input_is_invalid_argument_naming_the_field(served, fields, field):
    _, stub = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await watch(stub, **fields)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(f"{field}: ")


def test_two_replicas_on_one_postgresql_send_the_same_alert_ids(tiny_repository, tmp_path, postgres_url):
    start = now() - timedelta(minutes=20)
    shared = dict(database_url=postgres_url, pseudonym_key="3f" * 32, **RULE)
    request = pb.WatchAlertsRequest(since=stamp(start))
    with ServerProcess(tiny_repository, data_dir=tmp_path / "a", **shared) as a, \
            ServerProcess(tiny_repository, data_dir=tmp_path / "b", **shared) as b:
        a.start()
        b.start()
        asyncio.run(plant(postgres_url, spike_flags(), start))  # once the replicas have migrated the database
        answers = []
        for replica in (a, b):
            with grpc.insecure_channel(replica.address) as channel:
                stub = infogap_pb2_grpc.InfoGapStub(channel)
                answers.append([(x.alert_id, x.kind, x.key, x.window_end_sequence, x.p_value)
                                for x in stub.WatchAlerts(request, timeout=30)])
    assert len(answers[0]) == 5 and answers[0] == answers[1]


async def test_the_clients_and_the_command_line_watch_alerts(start_server, tiny_repository):
    import json

    from infogap import AsyncInfoGapClient, InfoGapClient, InfoGapError

    from tests.test_cli_calls import infogap

    server = await start_server(tiny_repository, **RULE)
    start = now() - timedelta(minutes=30)
    await plant(server.settings.store_url, spike_flags(), start)
    address = f"127.0.0.1:{server.port}"

    async with AsyncInfoGapClient(address) as client:
        alerts = [a async for a in client.watch_alerts(since=start, kinds=["aspect", "overall"])]
        assert [a.kind for a in alerts] == [pb.ALERT_STREAM_ASPECT, pb.ALERT_STREAM_OVERALL]
        with pytest.raises(InfoGapError) as caught:
            [a async for a in client.watch_alerts(since=start, keys=[""])]
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT and caught.value.field_violations[0][0] == \
            "keys[0]"

    def blocking() -> list[str]:
        with InfoGapClient(address) as client:
            with pytest.raises(ValueError, match="unknown alert stream kind"):
                next(client.watch_alerts(kinds=["everything"]))
            following = client.watch_alerts(since=start, kinds=["intent"], follow=True)
            ids = [next(following).alert_id for _ in range(3)]
            following.close()  # cancels the watch
            return ids

    assert len(set(await asyncio.to_thread(blocking))) == 3

    code, out, _ = await infogap("alerts", "--address", address, "--since", start.isoformat())
    lines = out.splitlines()
    assert code == 0 and len(lines) == 5
    assert "aspect damaged_item: 8/20 negative (40.0%, expected 1.0%)" in out
    code, out, _ = await infogap("alerts", "--address", address, "--since", start.isoformat(), "--kinds", "aspect",
                                 "--json")
    assert code == 0 and json.loads(out)["key"] == "damaged_item" and json.loads(out)["observedCount"] == 8
    code, _, err = await infogap("alerts", "--address", address, "--kinds", "everything")
    assert code == 2 and "unknown kind" in err
    code, _, err = await infogap("alerts", "--address", address, "--since", "2100-01-01")
    assert code == 1 and err.startswith("error: INVALID_ARGUMENT: since:")
