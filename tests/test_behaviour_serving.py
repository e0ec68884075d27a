"""The behaviour model served (issue 11): churn risk in IdentifyNeeds (from the request's history or the stored
one) and in GetCustomerProfile with its reasons, no risk without a history the model can read, its own readiness in
health, batching in the gateway; then the real built model: calibrated on held-out customers, a score that does
not depend on what it is batched with."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.models.behaviour import BehaviourModelInfo, encode_history, pad_histories
from infogap_server.models.repository import versions

from tests.conftest import channel_to
from tests.tiny_model import tiny_churn

ORDER, CANCELLATION = pb.BEHAVIOR_EVENT_TYPE_ORDER, pb.BEHAVIOR_EVENT_TYPE_CANCELLATION


def event(kind: int, days_ago: float, amount: float = 30.0, items: int = 2) -> pb.BehaviorEvent:
    e = pb.BehaviorEvent(type=kind, amount=amount, item_count=items)
    e.time.FromDatetime(datetime.now(UTC) - timedelta(days=days_ago))
    return e


def customer_event(customer: str, event_id: str, e: pb.BehaviorEvent) -> pb.CustomerEvent:
    return pb.CustomerEvent(customer_id=customer, event_id=event_id, event=e)


@pytest.fixture
async def stub(tiny_server):
    async with channel_to(tiny_server) as channel:
        yield infogap_pb2_grpc.InfoGapStub(channel)


async def test_identify_needs_scores_the_history_in_the_request(stub):
    history = [event(ORDER, 120), event(CANCELLATION, 100), event(ORDER, 60)]
    response = await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="where is my order", history=history))
    assert response.churn_risk == pytest.approx(tiny_churn(60, 1), abs=1e-3)
    assert (response.behaviour_model.name, response.behaviour_model.version) == ("infogap_behaviour", "1")
    assert response.history_events_used == 3 and not response.history_from_store
    # Order does not matter (the model sorts by time); a more recent order lowers the risk.
    again = await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="where is my order", history=history[::-1]))
    assert again.churn_risk == pytest.approx(response.churn_risk, abs=1e-6)
    recent = await stub.IdentifyNeeds(
        pb.IdentifyNeedsRequest(text="where is my order", history=[*history, event(ORDER, 2)])
    )
    assert recent.churn_risk < response.churn_risk


async def test_no_history_the_model_can_read_gives_no_churn_risk(stub):
    """Never a made-up risk: no history, only types the model never saw, or events without a time."""
    contact = event(pb.BEHAVIOR_EVENT_TYPE_CONTACT, 3)
    undated = pb.BehaviorEvent(type=ORDER, amount=10, item_count=1)
    for history in ([], [contact], [contact, event(pb.BEHAVIOR_EVENT_TYPE_COMPLAINT, 2)], [undated]):
        response = await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="where is my order", history=history))
        assert not response.HasField("churn_risk"), history
        assert not response.HasField("behaviour_model")
    # A customer with nothing stored: no history, no risk.
    response = await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="hi", customer_id="never-seen"))
    assert not response.HasField("churn_risk") and response.history_events_used == 0
    # A customer whose stored events are all of types the model was not trained on: a profile, without a risk.
    await stub.RecordEvents(pb.RecordEventsRequest(events=[customer_event("talker", "c1", contact)]))
    profile = await stub.GetCustomerProfile(pb.GetCustomerProfileRequest(customer_id="talker"))
    assert profile.total_events == 1
    assert not profile.HasField("churn_risk") and not profile.churn_reasons
    assert not profile.HasField("expected_value_90d") and not profile.HasField("behaviour_model")


async def test_stored_history_gives_churn_risk_and_the_profile_its_reasons(stub):
    customer = "lapsing"
    events = [customer_event(customer, f"o{i}", event(ORDER, d)) for i, d in enumerate((300, 240, 200, 160, 70))]
    events += [customer_event(customer, f"c{i}", event(CANCELLATION, d)) for i, d in enumerate((40, 35))]
    assert (await stub.RecordEvents(pb.RecordEventsRequest(events=events))).stored == 7
    needs = await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="cancel my order", customer_id=customer))
    assert needs.history_from_store and needs.history_events_used == 7
    expected = tiny_churn(35, 2)
    assert needs.churn_risk == pytest.approx(expected, abs=1e-3)

    profile = await stub.GetCustomerProfile(pb.GetCustomerProfileRequest(customer_id=customer))
    assert profile.churn_risk == pytest.approx(expected, abs=1e-3)
    assert profile.expected_value_90d == pytest.approx(70.0)  # the tiny model: 10 per event read
    reasons = {r.signal: r for r in profile.churn_reasons}
    assert set(reasons) == {"no_recent_order", "recent_cancellations"}
    assert reasons["no_recent_order"].description == "no order for 70 days"
    assert reasons["recent_cancellations"].description == "2 cancellations in the last 90 days"
    # Each contribution is the model's own what-if: the risk without the signal, subtracted.
    # An order a week ago: the last event 7 days before; no cancellation in 90 days: only the recency is left.
    assert reasons["no_recent_order"].contribution == pytest.approx(expected - tiny_churn(7, 2), abs=1e-3)
    assert reasons["recent_cancellations"].contribution == pytest.approx(expected - tiny_churn(70, 0), abs=1e-3)
    contributions = [r.contribution for r in profile.churn_reasons]
    assert contributions == sorted(contributions, reverse=True)

    # As of 150 days ago four orders had been placed, the last 10 days before then: no signal fired.
    earlier = pb.GetCustomerProfileRequest(customer_id=customer)
    earlier.as_of.FromDatetime(datetime.now(UTC) - timedelta(days=150))
    then = await stub.GetCustomerProfile(earlier)
    assert then.churn_risk == pytest.approx(tiny_churn(10, 0), abs=1e-3)
    assert not then.churn_reasons


async def test_each_model_has_its_own_readiness_in_health(tiny_server):
    async with channel_to(tiny_server) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "infogap.v1.InfoGap", "infogap.model/infogap_text", "infogap.model/infogap_behaviour"):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING, service
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await health.Check(health_pb2.HealthCheckRequest(service="infogap.model/not_a_model"))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_without_a_behaviour_model_there_is_no_churn_risk(start_server, tiny_repository):
    server = await start_server(tiny_repository, behaviour_model="")
    assert server.models.names == ("infogap_text",)
    async with channel_to(server) as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        response = await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="hi", history=[event(ORDER, 10)]))
        assert not response.HasField("churn_risk") and response.history_events_used == 1


async def test_a_named_behaviour_model_that_is_missing_stops_the_start_with_the_reason(start_server, tmp_path):
    from tests.tiny_model import build_tiny_model

    build_tiny_model(tmp_path)
    with pytest.raises(Exception, match="infogap_behaviour is not in the model repository"):
        await start_server(tmp_path)


async def test_histories_are_batched_in_the_gateway(tiny_server):
    async with channel_to(tiny_server) as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        histories = [[event(ORDER, 5 + i * 3 + k) for k in range(1 + i % 7)] for i in range(40)]
        answers = await asyncio.gather(*(
            stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="where is my order", history=h)) for h in histories
        ))
    for h, answer in zip(histories, answers, strict=True):
        newest = min((datetime.now(UTC) - e.time.ToDatetime(tzinfo=UTC)).total_seconds() for e in h) / 86400
        assert answer.churn_risk == pytest.approx(tiny_churn(newest, 0), abs=1e-3)
    def sample(name: str, **labels) -> float:
        return tiny_server.metrics.registry.get_sample_value(name, {"model": "infogap_behaviour", **labels})

    # Items in batches: the 40 calls (the warm-up goes straight to the backend); batches of more than one formed.
    assert sample("infogap_batch_size_sum") == 40
    assert sample("infogap_batch_size_bucket", le="1.0") < sample("infogap_batch_size_count") < 40


# --- the real built model ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_behaviour(real_repository):
    if not versions(real_repository, "infogap_behaviour"):
        pytest.fail("the behaviour model is not built: run `make models`")
    version = versions(real_repository, "infogap_behaviour")[-1]
    return real_repository, version


def test_the_built_model_is_calibrated_on_held_out_customers(real_behaviour):
    """The test period's customers (never seen in training or calibration) through the exported model, padded
    per batch as the gateway pads: it ranks churners first and its probabilities match the churn rate."""
    import onnxruntime as ort
    from infogap_server.training.behaviour.baselines import expected_calibration_error
    from infogap_server.training.behaviour.data import DEFAULT_EVENTS, TEST_CUTOFF, examples_at, read_events
    from sklearn.metrics import roc_auc_score

    repository, version = real_behaviour
    info = BehaviourModelInfo.read(repository, "infogap_behaviour", version)
    session = ort.InferenceSession(str(repository / "infogap_behaviour" / str(version) / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    test = examples_at(read_events(DEFAULT_EVENTS), TEST_CUTOFF)
    probabilities = []
    for start in range(0, len(test), 64):
        chunk = test[start:start + 64]
        inputs = pad_histories([encode_history(x.history, x.cutoff, info.type_index, info.max_events) for x in chunk])
        probabilities.append(session.run(["churn_probability"], inputs)[0][:, 0])
    p = np.concatenate(probabilities)
    y = np.array([x.churned for x in test])
    card = json.loads((repository / "infogap_behaviour" / str(version) / "model_card.json").read_text())
    assert roc_auc_score(y, p) > 0.72
    assert expected_calibration_error(y, p) < 0.08
    assert abs(roc_auc_score(y, p) - card["candidates"][card["served"]]["test"]["roc_auc"]) < 1e-3


async def test_the_real_model_scores_a_history_the_same_alone_and_in_a_batch(start_server, real_behaviour):
    repository, _ = real_behaviour
    server = await start_server(repository)
    short = [event(ORDER, 45, 80.0, 12)]
    long = [event(ORDER if i % 9 else CANCELLATION, 360 - i * 2.5, 20.0 + i, 1 + i % 5) for i in range(140)]
    async with channel_to(server) as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)

        def ask(history):
            return stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="where is my order", history=history), timeout=30)

        alone = (await ask(short)).churn_risk
        together = await asyncio.gather(*(ask(short if i % 2 else long) for i in range(24)))
    assert 0 < alone < 1
    assert max(abs(r.churn_risk - alone) for r in together[1::2]) < 1e-5
    assert together[0].churn_risk != pytest.approx(alone, abs=1e-3)  # the long history is another customer


def test_the_built_model_never_lowers_the_risk_as_a_customer_stays_away(real_behaviour):
    """The churn logit's slope in log days since the last event is positive for every customer (softplus), so a
    customer absent longer than any training example (the training cut-offs are early in the year) still scores
    higher, never lower."""
    import onnxruntime as ort
    from infogap_server.training.behaviour.data import DEFAULT_EVENTS, TEST_CUTOFF, examples_at, read_events

    repository, version = real_behaviour
    info = BehaviourModelInfo.read(repository, "infogap_behaviour", version)
    if info.served != "gru":
        pytest.skip(f"{info.served} serves; the monotone head is the GRU's")
    session = ort.InferenceSession(str(repository / "infogap_behaviour" / str(version) / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    examples = examples_at(read_events(DEFAULT_EVENTS), TEST_CUTOFF)[::40]
    inputs = pad_histories([encode_history(x.history, x.cutoff, info.type_index, info.max_events) for x in examples])
    risks = []
    for days in (0, 7, 30, 90, 180, 365, 730):
        inputs["log_days_since_last"] = np.full((len(examples), 1), np.log1p(days), dtype=np.float32)
        risks.append(session.run(["churn_probability"], inputs)[0][:, 0])
    assert (np.diff(np.stack(risks), axis=0) > -1e-6).all()
    assert (risks[-1] > risks[0]).all()
