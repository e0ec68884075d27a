"""GetInsights (issue 12): the figures of a hand-computed fixture, on SQLite and PostgreSQL, through a real server;
bad ranges and filters are INVALID_ARGUMENT naming the field.

The fixture's feedback goes in through SubmitFeedback; its stored times are then moved to fixed hours around
D0, and its aspects written beside it, so that every figure below can be worked out by hand (and the rollups
recomputed from those raw rows, as migration 0003 does)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.store import schema

from tests.conftest import channel_to

D0 = datetime(2026, 1, 10)
#: (feedback id, customer, rating, intent, plan, hours from D0, aspects)
FIXTURE = [
    ("f1", "c1", 5, "track_order", "planA", 1, []),
    ("f2", "c2", 4, "track_order", "planB", 2, ["delivery_delay"]),
    ("f3", "c3", 2, "cancel_order", "planA", 26, ["delivery_delay", "communication"]),
    ("f4", "c1", 1, "cancel_order", "", 27, ["delivery_delay"]),
    ("f5", "c2", 3, "track_order", "planA", 50, ["communication"]),
    ("p1", "c3", 2, "track_order", "planA", -10, ["delivery_delay"]),  # the previous range: D0 - 3 days to D0
    ("p2", "c1", 5, "cancel_order", "", -30, []),
    ("o1", "c2", 1, "track_order", "", -80, ["delivery_delay"]),  # before the previous range
    ("o2", "c3", 1, "track_order", "", 75, ["delivery_delay"]),  # after the range
]


@pytest.fixture(params=["sqlite", "postgresql"])
async def stub(request, start_server, tiny_repository):
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    server = await start_server(tiny_repository, database_url=url)
    async with channel_to(server) as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        # c1 has one recent order: segment "new" when its feedback comes; c2 and c3 have nothing stored.
        order = pb.BehaviorEvent(type=pb.BEHAVIOR_EVENT_TYPE_ORDER, amount=20, item_count=1)
        order.time.FromDatetime(datetime.now(UTC) - timedelta(days=5))
        await stub.RecordEvents(pb.RecordEventsRequest(events=[pb.CustomerEvent(customer_id="c1", event_id="o",
                                                                                event=order)]))
        for feedback_id, customer, rating, intent, plan, _, _ in FIXTURE:
            await stub.SubmitFeedback(pb.SubmitFeedbackRequest(feedback_id=feedback_id, customer_id=customer,
                                                               rating=rating, intent=intent, plan_id=plan))
        f, t = schema.feedback, schema.feedback_terms
        async with server.store.engine.begin() as conn:
            for feedback_id, _, _, _, _, hours, aspects in FIXTURE:
                at = D0 + timedelta(hours=hours)
                sequence, key = (await conn.execute(sa.update(f).where(f.c.feedback_id == feedback_id)
                                                    .values(received_at=at).returning(f.c.sequence,
                                                                                      f.c.customer_key))).one()
                for aspect in aspects:
                    await conn.execute(sa.insert(t).values(feedback_sequence=sequence, customer_key=key,
                                                           kind="aspect", term=aspect, score=0.9, received_at=at))
        await server.store.rebuild_rollups()  # the rows were changed around the store: count them again
        yield stub


def ts(time: datetime):
    from google.protobuf import timestamp_pb2

    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(time.replace(tzinfo=UTC))
    return stamp


def figures(group: pb.SatisfactionGroup) -> tuple:
    return group.count, round(group.mean_rating, 4), round(group.csat, 4)


async def test_insights_match_the_hand_computed_fixture(stub):
    r = await stub.GetInsights(pb.GetInsightsRequest(since=ts(D0), until=ts(D0 + timedelta(days=3)),
                                                     period=pb.INSIGHT_PERIOD_DAY))
    assert figures(r.overall) == (5, 3.0, 0.4)
    assert figures(r.previous) == (2, 3.5, 0.5)
    assert {g.key: figures(g) for g in r.by_intent} == {"cancel_order": (2, 1.5, 0.0),
                                                         "track_order": (3, 4.0, 0.6667)}
    assert {g.key: figures(g) for g in r.by_plan} == {"": (1, 1.0, 0.0), "planA": (3, 3.3333, 0.3333),
                                                       "planB": (1, 4.0, 1.0)}
    assert {g.key: figures(g) for g in r.by_segment} == {"": (3, 3.0, 0.3333), "new": (2, 3.0, 0.5)}
    assert [(g.period_start.ToDatetime(), figures(g)) for g in r.by_period] == [
        (D0, (2, 4.5, 1.0)), (D0 + timedelta(days=1), (2, 1.5, 0.0)), (D0 + timedelta(days=2), (1, 3.0, 0.0))]
    aspects = [(a.term, a.count, a.previous_count, a.change if a.HasField("change") else None) for a in r.top_aspects]
    assert aspects == [("delivery_delay", 3, 1, 2.0), ("communication", 2, 0, None)]
    assert list(r.top_keywords) == []


async def test_filters_apply_to_every_figure(stub):
    r = await stub.GetInsights(pb.GetInsightsRequest(since=ts(D0), until=ts(D0 + timedelta(days=3)),
                                                     intent="track_order", top_n=1))
    assert figures(r.overall) == (3, 4.0, 0.6667)
    assert figures(r.previous) == (1, 2.0, 0.0)
    assert [g.key for g in r.by_intent] == ["track_order"]
    # One of each aspect in the range; the tie goes to the alphabetically first, and top_n=1 keeps it.
    assert [(a.term, a.count, a.previous_count) for a in r.top_aspects] == [("communication", 1, 0)]
    weekly = await stub.GetInsights(pb.GetInsightsRequest(since=ts(D0), until=ts(D0 + timedelta(days=3)),
                                                          segment="new", period=pb.INSIGHT_PERIOD_WEEK))
    assert figures(weekly.overall) == (2, 3.0, 0.5)
    assert [(g.period_start.ToDatetime(), g.count) for g in weekly.by_period] == [(D0, 2)]


@pytest.mark.parametrize("request_, field", [
    (dict(since=ts(D0), until=ts(D0)), "since"),
    (dict(since=ts(D0 - timedelta(days=401)), until=ts(D0)), "since"),
    (dict(since=ts(D0 - timedelta(days=100)), until=ts(D0), period=pb.INSIGHT_PERIOD_HOUR), "period"),
    (dict(period=99), "period"),
    (dict(top_n=51), "top_n"),
    (dict(top_n=-1), "top_n"),
    (dict(segment="vip"), "segment"),
    (dict(plan_id="a plan"), "plan_id"),
    (dict(intent="x" * 129), "intent"),
])
async def test_bad_insights_requests_are_invalid_argument_naming_the_field(stub, request_, field):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetInsights(pb.GetInsightsRequest(**request_), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(f"{field}:")
