"""SubmitFeedback (issue 12): stored once per customer and feedback id (also under 50 concurrent duplicates, and
across replicas), the receipt's reading of the text, the text redacted and the customer pseudonymous in the store,
bad input INVALID_ARGUMENT naming the field, erasure reaching the feedback. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.server_process import ServerProcess

from tests.conftest import channel_to, stored_rows


@pytest.fixture(params=["sqlite", "postgresql"])
async def served(request, start_server, tiny_repository):
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    server = await start_server(tiny_repository, database_url=url)
    async with channel_to(server) as channel:
        yield server, infogap_pb2_grpc.InfoGapStub(channel)


def store_url(server) -> str:
    return server.settings.store_url


async def test_feedback_is_stored_once_and_a_resubmission_gets_the_original_receipt(served):
    server, stub = served
    first = await stub.SubmitFeedback(pb.SubmitFeedbackRequest(
        feedback_id="fb-1", customer_id="alice@example.com", rating=1, text="I am so angry, write to me at "
        "alice@example.com", intent="get_refund", session_id="s-9", plan_id="refund_full",
        decision_id="0123456789abcdef0123456789abcdef", request_id="r-1"))
    assert not first.duplicate and first.feedback_id == "fb-1" and first.request_id == "r-1"
    assert first.sentiment.label == pb.SENTIMENT_LABEL_NEGATIVE  # the tiny model's "angry"
    assert first.model.name == "infogap_text"
    # The same id again, even with other content: nothing new, the first receipt.
    again = await stub.SubmitFeedback(pb.SubmitFeedbackRequest(
        feedback_id="fb-1", customer_id="alice@example.com", rating=5, text="thanks"))
    assert again.duplicate and again.stored_at == first.stored_at
    assert again.sentiment == first.sentiment
    # The same id from another customer is that customer's own feedback.
    other = await stub.SubmitFeedback(pb.SubmitFeedbackRequest(feedback_id="fb-1", customer_id="bob", rating=4))
    assert not other.duplicate and not other.HasField("sentiment") and not other.HasField("model")

    rows = sorted(await asyncio.to_thread(stored_rows_of, server), key=lambda r: r["sequence"])
    assert len(rows) == 2
    row = rows[0]
    assert "alice" not in row["customer_key"] and len(row["customer_key"]) == 64  # the keyed pseudonym
    assert "alice@example.com" not in row["text"] and row["text"].startswith("I am so angry")
    assert (row["rating"], row["intent"], row["session_id"], row["plan_id"], row["decision_id"]) == (
        1, "get_refund", "s-9", "refund_full", "0123456789abcdef0123456789abcdef")
    assert row["sentiment"] == "negative" and row["sentiment_negative"] > 0.5


def stored_rows_of(server) -> list[dict]:
    return stored_rows(store_url(server))["feedback"]


async def test_the_receipt_and_the_store_carry_the_aspects_and_keywords_of_the_text(served):
    server, stub = served
    text = "The parcel came late and the courier was rude. Call me on +44 7700 900123 about the late parcel"
    first = await stub.SubmitFeedback(pb.SubmitFeedbackRequest(feedback_id="asp-1", customer_id="fay", rating=1,
                                                               text=text))
    # The tiny model: "late" twice (sigmoid(6) = 0.998), "rude" once (0.881), nothing else above 0.5.
    assert list(first.aspects) == ["delivery_delay", "staff_attitude"]
    assert [(a.term, round(a.score, 3)) for a in first.aspect_scores] == [("delivery_delay", 0.998),
                                                                          ("staff_attitude", 0.881)]
    keywords = list(first.keywords)
    assert 1 <= len(keywords) <= server.settings.feedback_keywords
    assert keywords == [k.term for k in first.keyword_scores] and all(k == k.lower() for k in keywords)
    assert any("parcel" in k for k in keywords) and not any("phone" in k or "7700" in k for k in keywords)
    scores = [k.score for k in first.keyword_scores]
    assert scores == sorted(scores, reverse=True) and all(0 < x <= 1 for x in scores)
    # A resubmission answers with the stored reading, whatever it says now.
    again = await stub.SubmitFeedback(pb.SubmitFeedbackRequest(feedback_id="asp-1", customer_id="fay", rating=5,
                                                               text="thanks, all broken"))
    assert again.duplicate and list(again.aspect_scores) == list(first.aspect_scores)
    assert list(again.keyword_scores) == list(first.keyword_scores)
    terms = (await asyncio.to_thread(stored_rows, store_url(server)))["feedback_terms"]
    assert sorted((t["kind"], t["term"]) for t in terms) == sorted(
        [("aspect", "delivery_delay"), ("aspect", "staff_attitude")] + [("keyword", k) for k in keywords])
    assert server.metrics.registry.get_sample_value("infogap_feedback_aspects_total",
                                                    {"aspect": "staff_attitude"}) == 1
    # No text: no aspects, no keywords.
    bare = await stub.SubmitFeedback(pb.SubmitFeedbackRequest(feedback_id="asp-2", customer_id="fay", rating=4))
    assert not bare.aspects and not bare.keywords and not bare.aspect_scores


async def test_fifty_concurrent_submissions_of_one_id_store_one_row(served):
    server, stub = served
    request = pb.SubmitFeedbackRequest(feedback_id="burst", customer_id="carol", rating=3, text="please call")
    receipts = await asyncio.gather(*(stub.SubmitFeedback(request, timeout=30) for _ in range(50)))
    assert sum(not r.duplicate for r in receipts) == 1
    assert len({r.stored_at.ToNanoseconds() for r in receipts}) == 1
    rows = await asyncio.to_thread(stored_rows_of, server)
    assert [r["feedback_id"] for r in rows] == ["burst"]
    # Counted once for Prometheus (the tiny model reads "please" as neutral), not once per duplicate.
    counted = server.metrics.registry.get_sample_value("infogap_feedback_total",
                                                       {"rating": "3", "sentiment": "neutral"})
    assert counted == 1


@pytest.mark.parametrize("request_, field", [
    (dict(customer_id="c", rating=3), "feedback_id"),
    (dict(feedback_id="has space", customer_id="c", rating=3), "feedback_id"),
    (dict(feedback_id="f", rating=3), "customer_id"),
    (dict(feedback_id="f", customer_id="c" * 129, rating=3), "customer_id"),
    (dict(feedback_id="f", customer_id="c"), "rating"),
    (dict(feedback_id="f", customer_id="c", rating=6), "rating"),
    (dict(feedback_id="f", customer_id="c", rating=-1), "rating"),
    (dict(feedback_id="f", customer_id="c", rating=3, text="x" * 2001), "text"),
    (dict(feedback_id="f", customer_id="c", rating=3, decision_id="not-a-decision"), "decision_id"),
    (dict(feedback_id="f", customer_id="c", rating=3, decision_id="0123456789ABCDEF0123456789ABCDEF"), "decision_id"),
    (dict(feedback_id="f", customer_id="c", rating=3, session_id="s\n1"), "session_id"),
    (dict(feedback_id="f", customer_id="c", rating=3, plan_id="p" * 129), "plan_id"),
    (dict(feedback_id="f", customer_id="c", rating=3, intent="no_such_intent"), "intent"),
])
async def test_bad_feedback_is_invalid_argument_naming_the_field(served, request_, field):
    server, stub = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SubmitFeedback(pb.SubmitFeedbackRequest(**request_), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(f"{field}:")
    assert not await asyncio.to_thread(stored_rows_of, server)


async def test_erasure_reaches_the_feedback(served):
    server, stub = served
    await stub.SubmitFeedback(pb.SubmitFeedbackRequest(feedback_id="f1", customer_id="dave", rating=2, text="slow"))
    await stub.SubmitFeedback(pb.SubmitFeedbackRequest(feedback_id="f2", customer_id="erin", rating=5))
    erased = await stub.EraseCustomer(pb.EraseCustomerRequest(customer_id="dave"))
    assert {t.table: t.rows for t in erased.deleted}.get("feedback") == 1
    assert [r["feedback_id"] for r in await asyncio.to_thread(stored_rows_of, server)] == ["f2"]


def test_a_retry_through_another_replica_is_the_same_feedback(tiny_repository, tmp_path, postgres_url):
    shared = dict(database_url=postgres_url, pseudonym_key="3f" * 32)
    with ServerProcess(tiny_repository, data_dir=tmp_path / "a", **shared) as a, \
            ServerProcess(tiny_repository, data_dir=tmp_path / "b", **shared) as b:
        a.start()
        b.start()
        request = pb.SubmitFeedbackRequest(feedback_id="twice", customer_id="frank", rating=4, text="thanks")
        with grpc.insecure_channel(a.address) as channel_a, grpc.insecure_channel(b.address) as channel_b:
            first = infogap_pb2_grpc.InfoGapStub(channel_a).SubmitFeedback(request, timeout=10)
            second = infogap_pb2_grpc.InfoGapStub(channel_b).SubmitFeedback(request, timeout=10)
    assert not first.duplicate and second.duplicate and second.stored_at == first.stored_at
