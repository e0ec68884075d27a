"""RecordEvents, GetCustomerProfile and EraseCustomer on a real server (port 0, tiny model, SQLite store): cleaning
with per-item rejections, idempotent retries, the profile's figures, erasure, pseudonyms and redaction in the
stored rows, and IdentifyNeeds reading stored history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import timestamp_pb2
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.store import schema
from prometheus_client import generate_latest

from tests.conftest import channel_to
from tests.tiny_model import tiny_churn

NOW = datetime.now(UTC).replace(microsecond=0)


def ts(time: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(time)
    return stamp


def ev(customer: str, event_id: str, days_ago: float, kind=pb.BEHAVIOR_EVENT_TYPE_ORDER, amount=10.0, items=1,
       note="", time=None) -> pb.CustomerEvent:
    return pb.CustomerEvent(
        customer_id=customer, event_id=event_id, note=note,
        event=pb.BehaviorEvent(type=kind, time=ts(time or NOW - timedelta(days=days_ago)), amount=amount,
                               item_count=items),
    )


@pytest.fixture
async def server(start_server, tiny_repository):
    return await start_server(tiny_repository)


@pytest.fixture
async def stub(server):
    async with channel_to(server) as channel:
        yield infogap_pb2_grpc.InfoGapStub(channel)


async def stored_rows(server) -> list[dict]:
    async with server.store.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(sa.select(schema.events))).mappings()]


async def test_good_events_are_stored_and_bad_ones_rejected_one_by_one(stub, server):
    events = [
        ev("cust-1", "o1", 10),
        pb.CustomerEvent(customer_id="cust-1", event_id="no-type", event=pb.BehaviorEvent(time=ts(NOW))),
        ev("cust-1", "future", -1),
        ev("cust-1", "negative", 1, amount=-5.0),
        ev("", "no-customer", 1),
        ev("cust-1", "", 1),
        ev("cust-1", "bad id with spaces", 1),
        ev("cust-1", "nan", 1, amount=float("nan")),
        pb.CustomerEvent(customer_id="cust-1", event_id="no-time",
                         event=pb.BehaviorEvent(type=pb.BEHAVIOR_EVENT_TYPE_ORDER)),
        ev("cust-1", "ancient", 0, time=datetime(1960, 1, 1, tzinfo=UTC)),
        ev("cust-1", "items", 1, items=-2),
        ev("cust-1", "long-note", 1, note="x" * 2001),
        ev("cust-2", "o1", 3),
    ]
    response = await stub.RecordEvents(pb.RecordEventsRequest(events=events))
    assert response.stored == 2 and response.duplicates == 0
    rejected = {(r.index, r.field, r.code) for r in response.rejected}
    assert rejected == {
        (1, "event.type", "unknown_type"),
        (2, "event.time", "future_time"),
        (3, "event.amount", "negative_amount"),
        (4, "customer_id", "missing_customer_id"),
        (5, "event_id", "missing_event_id"),
        (6, "event_id", "invalid_event_id"),
        (7, "event.amount", "invalid_amount"),
        (8, "event.time", "missing_time"),
        (9, "event.time", "too_old"),
        (10, "event.item_count", "invalid_item_count"),
        (11, "note", "note_too_long"),
    }
    assert all(r.reason for r in response.rejected)
    assert sum(d.count for d in response.dropped) == 11
    # A retry of the whole batch stores nothing new and says so.
    again = await stub.RecordEvents(pb.RecordEventsRequest(events=events))
    assert again.stored == 0 and again.duplicates == 2
    assert {d.reason: d.count for d in again.dropped}["duplicate_event_id"] == 2
    assert len(await stored_rows(server)) == 2
    text = generate_latest(server.metrics.registry).decode()
    assert 'infogap_events_dropped_total{reason="duplicate_event_id"} 2.0' in text
    assert "infogap_events_stored_total 2.0" in text


@pytest.mark.parametrize(
    "request_, field",
    [
        (pb.RecordEventsRequest(), "events"),
        (pb.RecordEventsRequest(events=[ev("c", f"e{i}", 1) for i in range(1001)]), "events"),
        (pb.GetCustomerProfileRequest(), "customer_id"),
        (pb.GetCustomerProfileRequest(customer_id="c" * 129), "customer_id"),
        (pb.GetCustomerProfileRequest(customer_id="c", as_of=ts(NOW + timedelta(days=2))), "as_of"),
        (pb.GetCustomerProfileRequest(customer_id="c", as_of=timestamp_pb2.Timestamp(seconds=-10**12)), "as_of"),
        (pb.EraseCustomerRequest(), "customer_id"),
        (pb.EraseCustomerRequest(customer_id=" "), "customer_id"),
        (pb.RecordEventsRequest(events=[ev("c", "e", 1)], request_id="bad id"), "request_id"),
    ],
)
async def test_bad_requests_are_invalid_argument_naming_the_field(stub, request_, field):
    method = {pb.RecordEventsRequest: stub.RecordEvents, pb.GetCustomerProfileRequest: stub.GetCustomerProfile,
              pb.EraseCustomerRequest: stub.EraseCustomer}[type(request_)]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await method(request_)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(f"{field}:")


async def test_profile_figures(stub):
    customer = "profile-1"
    events = [ev(customer, f"o{i}", 200 - 30 * i, amount=100.0 * (i + 1), items=i + 1) for i in range(6)]  # last 50d
    events += [
        ev(customer, "cancel", 150, kind=pb.BEHAVIOR_EVENT_TYPE_CANCELLATION, amount=50.0),
        ev(customer, "old-complaint", 105, kind=pb.BEHAVIOR_EVENT_TYPE_COMPLAINT, amount=0.0, items=0),
        ev(customer, "return", 20, kind=pb.BEHAVIOR_EVENT_TYPE_RETURN, amount=600.0),
        ev(customer, "refund", 15, kind=pb.BEHAVIOR_EVENT_TYPE_REFUND, amount=600.0),
        ev(customer, "contact", 5, kind=pb.BEHAVIOR_EVENT_TYPE_CONTACT, amount=0.0, items=0),
    ]
    assert (await stub.RecordEvents(pb.RecordEventsRequest(events=events))).stored == len(events)
    profile = await stub.GetCustomerProfile(pb.GetCustomerProfileRequest(customer_id=customer))
    assert profile.total_events == 11
    counts = {t.type: (t.count, round(t.amount, 2)) for t in profile.events_by_type}
    assert counts[pb.BEHAVIOR_EVENT_TYPE_ORDER] == (6, 2100.0)
    r = profile.rfm
    assert r.recency_days == 50 and r.frequency == 6
    assert r.monetary == pytest.approx(2100 - 50 - 600)
    assert (r.recency_score, r.frequency_score, r.monetary_score) == (4, 3, 3)
    assert profile.segment == "loyal"
    # The return and the refund came after the last order; the complaint was before it.
    assert [i.event_id for i in profile.open_issues] == ["return", "refund"]
    # The tiny behaviour model reads orders and the cancellation (not the contact 5 days ago): 50 days since.
    assert profile.churn_risk == pytest.approx(tiny_churn(50, 1), abs=1e-3)
    assert [r.signal for r in profile.churn_reasons] == ["no_recent_order"]
    assert profile.currency == "GBP"
    assert profile.last_activity.ToDatetime(tzinfo=UTC) == NOW - timedelta(days=5)
    # As of 100 days ago: fewer events, recency from then, and the complaint is open then (no order after it yet).
    earlier = await stub.GetCustomerProfile(
        pb.GetCustomerProfileRequest(customer_id=customer, as_of=ts(NOW - timedelta(days=100)))
    )
    assert earlier.total_events == 6 and earlier.rfm.frequency == 4 and earlier.rfm.recency_days == 10
    assert [i.event_id for i in earlier.open_issues] == ["old-complaint"]


async def test_unknown_customer_is_not_found(stub):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCustomerProfile(pb.GetCustomerProfileRequest(customer_id="never-seen"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_only_pseudonyms_and_redacted_text_are_stored(stub, server):
    note = "Call me on +44 20 7946 0958 or write to jane.doe@example.com about order #A12345"
    await stub.RecordEvents(pb.RecordEventsRequest(events=[ev("raw-customer-id-77", "c1", 1, note=note,
                                                              kind=pb.BEHAVIOR_EVENT_TYPE_COMPLAINT)]))
    (row,) = await stored_rows(server)
    assert row["customer_key"] == server.customers.pseudonym("raw-customer-id-77")
    assert len(row["customer_key"]) == 64 and "raw-customer-id-77" not in str(row)
    assert "jane.doe@example.com" not in row["note"] and "7946" not in row["note"]
    assert "#A12345" in row["note"]  # what the service needs stays


async def test_erasure_deletes_the_customer_everywhere(stub, server):
    await stub.RecordEvents(pb.RecordEventsRequest(events=[ev("erase-me", f"e{i}", i + 1, amount=1.0 + i)
                                                           for i in range(4)] + [ev("keep-me", "e0", 1)]))
    response = await stub.EraseCustomer(pb.EraseCustomerRequest(customer_id="erase-me", request_id="gdpr-1"))
    assert {t.table: t.rows for t in response.deleted}["events"] == 4
    assert len(response.audit_id) == 32 and response.request_id == "gdpr-1"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCustomerProfile(pb.GetCustomerProfileRequest(customer_id="erase-me"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await stub.GetCustomerProfile(pb.GetCustomerProfileRequest(customer_id="keep-me"))).total_events == 1
    again = await stub.EraseCustomer(pb.EraseCustomerRequest(customer_id="erase-me"))
    assert {t.table: t.rows for t in again.deleted}["events"] == 0


async def test_identify_needs_reads_the_stored_history_when_the_request_has_none(stub):
    await stub.RecordEvents(pb.RecordEventsRequest(events=[ev("hist-1", f"e{i}", 10 - i) for i in range(3)]))
    stored = await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="where is my order", customer_id="hist-1"))
    assert stored.history_events_used == 3 and stored.history_from_store
    own = await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(
        text="where is my order", customer_id="hist-1",
        history=[pb.BehaviorEvent(type=pb.BEHAVIOR_EVENT_TYPE_ORDER, time=ts(NOW), amount=1.0)]))
    assert own.history_events_used == 1 and not own.history_from_store
    anonymous = await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="where is my order"))
    assert anonymous.history_events_used == 0 and not anonymous.history_from_store


async def test_a_store_that_cannot_be_reached_answers_unavailable_then_recovers(start_server, tiny_repository,
                                                                                 postgres, postgres_url):
    server = await start_server(tiny_repository, database_url=postgres_url, store_timeout_s=2.0)
    async with channel_to(server) as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        batch = pb.RecordEventsRequest(events=[ev("outage", "e1", 1)])
        postgres.stop(mode="fast")
        try:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.RecordEvents(batch)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "cannot be reached" in caught.value.details()
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetCustomerProfile(pb.GetCustomerProfileRequest(customer_id="outage"))
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            postgres.start()
        assert (await stub.RecordEvents(batch)).stored == 1  # the retry lands once the database is back
