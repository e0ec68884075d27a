"""The production path: gateway -> real Triton Inference Server 2.51 (bundled in the nvidia-pytriton wheel) ->
the project's Python-based onnxruntime backend, on the real built model."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import grpc
import numpy as np
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.backends.triton import BackendFailure, TritonBackend, map_triton_error
from infogap_server.errors import DeadlineExceeded, ResourceExhausted, Unavailable, to_rpc_status
from infogap_server.triton.local import LocalTriton
from tritonclient.utils import InferenceServerException

from tests.conftest import channel_to
from tests.test_integration import CLEAR_MESSAGES

pytestmark = pytest.mark.integration

PARITY_TEXTS = [t for t, _ in CLEAR_MESSAGES] + [
    "hi",
    "The courier left my parcel in the rain and now the box is soaked, what are you going to do about it?",
    "ok",
    "Could you tell me which delivery options you have for Ireland and how long each of them takes?",
]


@pytest.fixture(scope="module")
def triton(real_repository, tmp_path_factory):
    server = LocalTriton(real_repository, workdir=tmp_path_factory.mktemp("triton"))
    server.start()
    yield server
    server.close()


@pytest_asyncio.fixture
async def gateway(start_server, real_repository, triton):
    if triton.process is None:  # a test stopped it
        triton.start()
    server = await start_server(
        real_repository, backend="triton", triton_address=triton.grpc_address, readiness_poll_interval_s=0.2
    )
    async with channel_to(server) as channel:
        yield server, infogap_pb2_grpc.InfoGapStub(channel), health_pb2_grpc.HealthStub(channel)


async def test_identify_needs_through_triton(gateway):
    server, stub, _ = gateway
    for text, intent in CLEAR_MESSAGES:
        response = await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=text), timeout=10)
        assert response.needs[0].intent == intent, text
    assert response.model.name == "infogap_text"


async def test_parity_between_embedded_and_triton(start_server, real_repository, triton, gateway):
    _, triton_stub, _ = gateway
    embedded = await start_server(real_repository)
    async with channel_to(embedded) as channel:
        embedded_stub = infogap_pb2_grpc.InfoGapStub(channel)
        for text in PARITY_TEXTS:
            request = pb.IdentifyNeedsRequest(text=text, top_k=5)
            a = await embedded_stub.IdentifyNeeds(request, timeout=10)  # alone: padded to its own length
            b = await triton_stub.IdentifyNeeds(request, timeout=10)  # padded to a 16-token bucket
            assert a.needs[0].intent == b.needs[0].intent, text
            scores_a = {n.intent: n.score for n in a.needs}
            scores_b = {n.intent: n.score for n in b.needs}
            for intent in set(scores_a) & set(scores_b):
                # The model's int8 scales are static, so padding and batch neighbours do not move scores beyond
                # float rounding (measured 3e-7 at build time).
                assert abs(scores_a[intent] - scores_b[intent]) < 1e-4, (text, intent)
            assert a.sentiment.label == b.sentiment.label
            assert a.out_of_scope == b.out_of_scope
            assert abs(a.sentiment.score - b.sentiment.score) < 1e-4


def _histories() -> list[list[pb.BehaviorEvent]]:
    """Histories of 1 to 150 events (orders, some cancellations), the latest 3 to 400 days ago."""
    now = datetime.now(UTC)
    histories = []
    for n, latest in ((1, 40), (2, 3), (7, 120), (16, 10), (17, 60), (33, 200), (150, 25), (60, 400)):
        history = []
        for k in range(n):
            kind = pb.BEHAVIOR_EVENT_TYPE_CANCELLATION if k % 6 == 5 else pb.BEHAVIOR_EVENT_TYPE_ORDER
            e = pb.BehaviorEvent(type=kind, amount=12.5 + 7 * k, item_count=1 + k % 4)
            e.time.FromDatetime(now - timedelta(days=latest + 3.5 * (n - 1 - k)))
            history.append(e)
        histories.append(history)
    return histories


async def test_behaviour_parity_between_embedded_and_triton(start_server, real_repository, triton, gateway):
    """The behaviour model through Triton (sequence lengths padded to a bucket, batched by Triton) scores like
    the embedded backend (padded to each batch's longest)."""
    _, triton_stub, _ = gateway
    embedded = await start_server(real_repository)
    async with channel_to(embedded) as channel:
        embedded_stub = infogap_pb2_grpc.InfoGapStub(channel)
        for history in _histories():
            request = pb.IdentifyNeedsRequest(text="where is my order", history=history)
            a, b = await asyncio.gather(embedded_stub.IdentifyNeeds(request, timeout=10),
                                        triton_stub.IdentifyNeeds(request, timeout=10))
            assert a.HasField("churn_risk") and b.HasField("churn_risk")
            assert abs(a.churn_risk - b.churn_risk) < 1e-4, len(history)
            assert b.behaviour_model.name == "infogap_behaviour"


async def test_triton_batches_behaviour_histories(gateway):
    server, stub, _ = gateway
    backend: TritonBackend = server._backend
    history = _histories()[3]  # 16 events: one bucket
    before = await backend.statistics("infogap_behaviour")
    await asyncio.gather(*(stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="where is my order", history=history),
                                              timeout=30) for _ in range(48)))
    await asyncio.sleep(0.5)
    after = await backend.statistics("infogap_behaviour")

    def executions(stats) -> tuple[int, int]:
        model = stats["model_stats"][0]
        return int(model.get("inference_count", 0)), int(model.get("execution_count", 0))

    (inferences_0, runs_0), (inferences_1, runs_1) = executions(before), executions(after)
    assert inferences_1 - inferences_0 == 48
    assert runs_1 - runs_0 < 48  # Triton joined histories of one bucket into batches


async def test_triton_forms_batches_under_concurrency(gateway, triton):
    server, stub, _ = gateway
    backend: TritonBackend = server._backend

    def batches(stats):
        rows = stats["model_stats"][0].get("batch_stats", [])
        return {int(r["batch_size"]): int(r["compute_infer"]["count"]) for r in rows}

    async def settled():
        # Triton updates its statistics just after it answers: read until two reads 0.2 s apart agree, so the
        # gateway's warm-up calls are not counted as the test's.
        last = batches(await backend.statistics("infogap_text"))
        for _ in range(25):
            await asyncio.sleep(0.2)
            now = batches(await backend.statistics("infogap_text"))
            if now == last:
                return now
            last = now
        return last

    before = await settled()
    texts = ["where is my order", "cancel my order now", "I need an invoice", "do you take visa"]  # one bucket
    await asyncio.gather(*(stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=texts[i % 4]), timeout=30)
                           for i in range(64)))
    after = await settled()
    grown = {size: n - before.get(size, 0) for size, n in after.items()}
    assert sum(size * n for size, n in grown.items()) == 64
    assert any(size > 1 and n > 0 for size, n in grown.items()), grown


async def test_triton_restart_unavailable_fast_then_recovers(gateway, triton):
    server, stub, health = gateway
    assert (await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="where is my order"), timeout=10)).needs
    triton.stop()
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="where is my order"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert time.monotonic() - started < 2.0
    await _wait_health(health, health_pb2.HealthCheckResponse.NOT_SERVING, 10)

    triton.start()
    await _wait_health(health, health_pb2.HealthCheckResponse.SERVING, 30)
    response = await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="where is my order"), timeout=10)
    assert response.needs[0].intent == "track_order"


async def _wait_health(health, status, timeout_s):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = (await health.Check(health_pb2.HealthCheckRequest(service="infogap.v1.InfoGap"), timeout=2)).status
        if last == status:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"health stayed {last}, expected {status}")


async def test_bad_shape_from_the_gateway_is_internal_with_request_id(gateway):
    server, _, _ = gateway
    backend: TritonBackend = server._backend
    with pytest.raises(BackendFailure) as caught:
        await backend.infer("infogap_text", {"input_ids": np.zeros((1, 4), dtype=np.int64)})  # no attention_mask
    status = to_rpc_status(caught.value, "req-42")
    assert status.code == grpc.StatusCode.INTERNAL
    assert status.details == "internal error (request_id=req-42)"


def test_triton_error_mapping():
    def err(status, msg):
        return map_triton_error(InferenceServerException(msg=msg, status=status))

    assert isinstance(err("StatusCode.UNAVAILABLE", "Exceeds maximum queue size"), ResourceExhausted)
    assert isinstance(err("StatusCode.UNAVAILABLE", "failed to connect to all addresses"), Unavailable)
    assert isinstance(err("StatusCode.UNAVAILABLE", "Request for unknown model: 'x' is not found"), Unavailable)
    assert isinstance(err("StatusCode.DEADLINE_EXCEEDED", "Deadline Exceeded"), DeadlineExceeded)
    assert isinstance(err("StatusCode.INVALID_ARGUMENT", "unexpected shape for input"), BackendFailure)


async def test_recommend_through_triton_matches_the_embedded_backend(start_server, real_repository, triton, gateway):
    """Recommend with text on Triton: the same intent, the same eligible plans and, with exploration off, the same
    first plan as the embedded backend (the prior policy; similarity from the plan descriptions' embeddings)."""
    _, triton_stub, _ = gateway
    embedded = await start_server(real_repository, recommend_epsilon=0.0)
    async with channel_to(embedded) as channel:
        embedded_stub = infogap_pb2_grpc.InfoGapStub(channel)
        request = pb.RecommendRequest(text="I want my money back for the broken kettle", channel="chat", top_k=10)
        a, b = await asyncio.gather(embedded_stub.Recommend(request, timeout=30),
                                    triton_stub.Recommend(request, timeout=30))
    assert a.intent == b.intent and b.model.name == "infogap_text"
    assert {p.plan_id for p in a.plans} == {p.plan_id for p in b.plans} and b.plans
    assert len(b.decision_id) == 32 and all(p.reasons for p in b.plans)
    if not b.explored:  # the Triton gateway explores with the default epsilon
        assert a.plans[0].plan_id == b.plans[0].plan_id
