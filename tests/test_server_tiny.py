"""The real gateway on port 0 over a real channel, with the tiny model: API behaviour, errors, health, limits."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from infogap import AsyncInfoGapClient, InfoGapClient, InfoGapError
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.models.repository import TextModelInfo
from infogap_server.services.text_model import TextModel
from infogap_server.settings import Settings

from tests.conftest import channel_to

#: The plan catalogue for the tiny model's four intents.
TINY_PLANS = Path(__file__).resolve().parent / "data" / "tiny_plans.yaml"


def bad_request_fields(error: grpc.aio.AioRpcError) -> list[str]:
    """The fields named by the status's google.rpc.BadRequest detail, read as the client SDK reads them."""
    return [field for field, _ in InfoGapError.from_rpc_error(error).field_violations]


async def test_clear_message_gets_its_intent_with_model_and_request_id(tiny_stub):
    response = await tiny_stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="please cancel my order"), timeout=5)
    assert response.needs[0].intent == "cancel_order"
    assert response.needs[0].score > 0.9
    assert len(response.needs) == 3  # the server's default top_k
    assert [n.score for n in response.needs] == sorted((n.score for n in response.needs), reverse=True)
    assert not response.out_of_scope
    assert response.sentiment.label == pb.SENTIMENT_LABEL_NEUTRAL
    assert response.model.name == "infogap_text" and response.model.version == "1"
    assert len(response.request_id) == 32
    assert not response.HasField("churn_risk")


async def test_top_k_language_and_request_id_are_honoured(tiny_stub):
    response = await tiny_stub.IdentifyNeeds(
        pb.IdentifyNeedsRequest(text="where is my parcel", top_k=1, language="en-GB", request_id="abc-1"), timeout=5
    )
    assert [n.intent for n in response.needs] == ["track_order"]
    assert response.request_id == "abc-1"


async def test_message_matching_no_intent_is_out_of_scope(tiny_stub):
    response = await tiny_stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="what a lovely day"), timeout=5)
    assert response.out_of_scope
    assert response.needs[0].score < 0.5


async def test_entities_and_urgency_come_back(tiny_stub):
    text = "I am angry, cancel order #A12345 today!!"
    response = await tiny_stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=text), timeout=5)
    assert response.sentiment.label == pb.SENTIMENT_LABEL_NEGATIVE
    assert response.urgency.level == pb.URGENCY_LEVEL_HIGH
    assert [(e.type, e.normalized) for e in response.entities] == [("order_number", "A12345"), ("date", "today")]


@pytest.mark.parametrize(
    ("request_fields", "field", "reason"),
    [
        (dict(text=""), "text", "empty"),
        (dict(text=" \n\t "), "text", "whitespace"),
        (dict(text="x" * 2001), "text", "maximum is 2000"),
        (dict(text="refund", top_k=11), "top_k", "between 1 and 4"),
        (dict(text="refund", top_k=-1), "top_k", "between 1 and 4"),
        (dict(text="refund", language="xx"), "language", "not supported"),
        (dict(text="refund", language="english please"), "language", "BCP-47"),
        (dict(text="refund", customer_id="c" * 200), "customer_id", "128"),
        (dict(text="refund", history=[pb.BehaviorEvent()]), "history[0].type", "event type"),
        (dict(text="refund", history=[pb.BehaviorEvent(type=1, amount=-3)]), "history[0].amount", ">= 0"),
        (dict(text="refund", history=[pb.BehaviorEvent(type=1)] * 501), "history", "maximum is 500"),
        (dict(text="refund", request_id="r" * 300), "request_id", "128"),
        (dict(text="refund", request_id="r" * 20000), "request_id", "128"),  # too big to echo in the status
        (dict(text="refund", language="fr" + "-ab" * 5000), "language", "BCP-47"),
        (dict(text="refund", history=[pb.BehaviorEvent(type=1, time={"seconds": 10**12})]), "history[0].time",
         "outside"),
    ],
)
async def test_bad_input_is_invalid_argument_naming_the_field(tiny_stub, request_fields, field, reason):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await tiny_stub.IdentifyNeeds(pb.IdentifyNeedsRequest(**request_fields), timeout=5)
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(f"{field}:") and reason in error.details()
    assert bad_request_fields(error) == [field]


async def test_oversized_request_is_invalid_argument_naming_the_request(tiny_stub):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await tiny_stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="x" * 300_000), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(caught.value) == ["request"]


async def test_request_over_max_request_bytes_names_the_request(start_server, tiny_repository):
    server = await start_server(tiny_repository, max_request_bytes=4096)
    async with channel_to(server) as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        history = [pb.BehaviorEvent(type=1, amount=1.0, item_count=1)] * 400
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="refund", history=history), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(caught.value) == ["request"]
    assert "maximum is 4096" in caught.value.details()


async def test_health_is_serving_only_after_the_model_is_loaded(start_server, tiny_repository):
    server = await start_server(tiny_repository, load=False)
    async with channel_to(server) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        for service in ("", "infogap.v1.InfoGap"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="cancel"), timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        await server.load_models()
        for service in ("", "infogap.v1.InfoGap"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert (await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="cancel"), timeout=5)).needs
        await server.stop(0)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_missing_model_leaves_the_server_unavailable(start_server, tmp_path):
    from infogap_server.errors import Unavailable

    server = await start_server(tmp_path, load=False)
    with pytest.raises(Unavailable, match="infogap models build"):
        await server.load_models()


async def test_reflection_lists_the_services(tiny_server):
    async with channel_to(tiny_server) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        names = []
        async for reply in stub.ServerReflectionInfo(iter([request])):
            names = [s.name for s in reply.list_services_response.service]
    assert {"infogap.v1.InfoGap", "grpc.health.v1.Health"} <= set(names)


async def test_client_deadline_is_honoured_and_the_server_goes_on(start_server, tiny_repository):
    server = await start_server(tiny_repository, max_batch_delay_ms=400.0)
    async with channel_to(server) as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="cancel"), timeout=0.05)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        response = await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="cancel"), timeout=5)
        assert response.needs[0].intent == "cancel_order"


async def test_full_queue_answers_resource_exhausted_at_once(start_server, tiny_repository):
    server = await start_server(tiny_repository, max_queue_size=1, max_batch_size=1, max_batch_delay_ms=0.0,
                                max_concurrent_streams=1000)
    async with channel_to(server) as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        calls = [stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=f"cancel order {i}"), timeout=10) for i in range(200)]
        results = await asyncio.gather(*calls, return_exceptions=True)
    codes = [r.code() if isinstance(r, grpc.aio.AioRpcError) else grpc.StatusCode.OK for r in results]
    assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    rejected = next(r for r in results if isinstance(r, grpc.aio.AioRpcError))
    assert "at capacity" in rejected.details()


async def test_metrics_endpoint_counts_requests_and_batches(tiny_server, tiny_stub):
    await asyncio.gather(*(tiny_stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="refund"), timeout=5)
                           for _ in range(20)))
    body = urllib.request.urlopen(f"http://127.0.0.1:{tiny_server.metrics_port}/metrics", timeout=5).read().decode()
    assert 'infogap_requests_total{code="OK",method="IdentifyNeeds"} 20.0' in body
    assert "infogap_batch_size_count" in body
    assert 'infogap_model_ready{model="infogap_text"} 1.0' in body


async def test_tokenization_pads_to_the_longest_message_of_the_batch(tiny_repository):
    info = TextModelInfo.read(tiny_repository, "infogap_text", 1)
    model = TextModel(info, backend=_NoBackend(), settings=Settings(model_repository=tiny_repository))
    short = model.tokenize(["hi", "ok"])
    mixed = model.tokenize(["hi", "this message is quite a lot longer than the other one"])
    assert short["input_ids"].shape == (2, 3)  # [CLS] hi [SEP]: no fixed length
    assert mixed["input_ids"].shape[1] > 3 and mixed["input_ids"].shape[1] < 64
    assert mixed["attention_mask"][0].sum() == 3
    # A backend that batches by itself (Triton) gets sequences padded to a bucket of 16 tokens instead.
    bucketed = TextModel(info, backend=_SelfBatchingBackend(), settings=Settings(model_repository=tiny_repository))
    assert bucketed.tokenize(["hi"])["input_ids"].shape == (1, 16)
    assert bucketed.tokenize(["this message is quite a lot longer than the other one"])["input_ids"].shape[1] == 16


class _NoBackend:
    name = "none"
    batches_itself = False
    max_batch_size: dict[str, int] = {}


class _SelfBatchingBackend(_NoBackend):
    batches_itself = True


async def test_sync_client_raises_errors_with_the_real_status_code(tiny_server):
    def use_sync_client():  # in a thread: the server runs on this test's event loop
        with InfoGapClient(f"127.0.0.1:{tiny_server.port}") as client:
            assert client.identify_needs("please send my money back", top_k=2).needs[0].intent == "get_refund"
            with pytest.raises(InfoGapError) as caught:
                client.identify_needs("   ")
        return caught

    caught = await asyncio.to_thread(use_sync_client)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.field_violations == [("text", "must not be empty or whitespace only")]
    assert caught.value.request_id


async def test_async_client_raises_errors_with_the_real_status_code(tiny_server):
    async with AsyncInfoGapClient(f"127.0.0.1:{tiny_server.port}") as client:
        assert (await client.identify_needs("where is it")).needs[0].intent == "track_order"
        with pytest.raises(InfoGapError) as caught:
            await client.identify_needs("refund", top_k=50)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.field_violations[0][0] == "top_k"


async def test_client_recommends_and_feedback_rates_the_decision(start_server, tiny_repository):
    server = await start_server(tiny_repository, catalogue_path=TINY_PLANS)
    async with AsyncInfoGapClient(f"127.0.0.1:{server.port}") as client:
        response = await client.recommend(intent="get_refund", customer_id="py-c1", channel="chat", order_age_days=5,
                                          top_k=3, explain=True)
        # get_refund's plans in tiny_plans.yaml, all open on chat for an order 5 days old; callback's order_amount
        # rule is unknown, so it is kept and left to the agent.
        plans = {plan.plan_id: plan for plan in response.plans}
        assert set(plans) == {"refund_full", "refund_partial", "callback"}
        assert all(plan.reasons for plan in response.plans)
        assert plans["callback"].unchecked and not plans["refund_full"].unchecked
        assert 0 < response.plans[0].probability <= 1
        assert re.fullmatch(r"[0-9a-f]{32}", response.decision_id)
        assert response.policy_version and response.catalogue_version
        assert response.intent == "get_refund" and not response.HasField("model")
        old = await client.recommend(intent="get_refund", channel="chat", order_age_days=45, explain=True)
        assert "refund_full" not in [plan.plan_id for plan in old.plans]
        assert [plan.reasons for plan in old.excluded if plan.plan_id == "refund_full"][0]
        receipt = await client.submit_feedback("py-fb-1", "py-c1", 5, intent="get_refund",
                                               plan_id=response.plans[0].plan_id, decision_id=response.decision_id,
                                               resolved=True)
        assert receipt.feedback_id == "py-fb-1" and not receipt.duplicate
        with pytest.raises(InfoGapError) as caught:
            await client.recommend(channel="chat")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "intent" in caught.value.message
