"""The real built model behind the real gateway: intents, sentiment, batching under concurrency, the CLI and
graceful shutdown of the `infogap serve` process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc

from tests.conftest import channel_to

pytestmark = pytest.mark.integration
INFOGAP = str(Path(sys.executable).parent / "infogap")

CLEAR_MESSAGES = [
    ("I want to cancel my last order", "cancel_order"),
    ("where is my package? it was supposed to arrive on monday", "track_order"),
    ("I forgot my password and can't log in", "recover_password"),
    ("do you accept paypal?", "check_payment_methods"),
    ("I would like my money back for the broken kettle", "get_refund"),
    ("please unsubscribe me from your newsletter", "newsletter_subscription"),
    ("I want to talk to a real person, not a bot", "contact_human_agent"),
    ("how do I delete my account?", "delete_account"),
    ("my card was charged twice for the same order", "payment_issue"),
    ("can you send me a copy of the invoice for my order", "get_invoice"),
]


@pytest_asyncio.fixture
async def real_stub(start_server, real_repository):
    # These tests judge answers and batching; a burst of 200 calls from one test is work to do, not load to shed
    # (on a busy 2-core machine 200 queued messages can estimate over the default 500 ms and be refused).
    # Shedding has its own tests in test_hardening.py.
    server = await start_server(real_repository, max_queue_wait_ms=10_000.0)
    async with channel_to(server) as channel:
        yield server, infogap_pb2_grpc.InfoGapStub(channel)


async def test_clear_messages_get_the_right_intent(real_stub):
    _, stub = real_stub
    wrong = []
    for text, intent in CLEAR_MESSAGES:
        response = await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=text), timeout=10)
        if response.needs[0].intent != intent:
            wrong.append((text, intent, response.needs[0].intent, round(response.needs[0].score, 3)))
        assert 0.0 < response.needs[0].score <= 1.0
    assert wrong == []


#: What a new user tried on the model before the goods intents (issue 16): each answered wrongly then.
FIRST_USE = [
    ("my order #A12345 never arrived and I'm really angry, I need it by tomorrow!", "track_order"),  # was cancel_order
    ("my order never arrived", "track_order"),
    ("the item I received is broken", "damaged_item"),  # was track_order 0.490: no intent for goods
    ("I can't log in to my account", "recover_password"),  # was switch_account 0.494
]


async def test_the_first_use_messages_get_the_need_the_taxonomy_guide_names(real_stub):
    _, stub = real_stub
    answers = [(await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=text), timeout=10)).needs[0].intent
               for text, _ in FIRST_USE]
    assert answers == [intent for _, intent in FIRST_USE]


async def test_sentiment_and_model_version(real_stub):
    server, stub = real_stub
    angry = await stub.IdentifyNeeds(
        pb.IdentifyNeedsRequest(text="This is the third time my order is late, I am furious and fed up!"), timeout=10
    )
    happy = await stub.IdentifyNeeds(
        pb.IdentifyNeedsRequest(text="Thank you so much, you have been wonderful! Where can I leave a review?"),
        timeout=10,
    )
    assert angry.sentiment.label == pb.SENTIMENT_LABEL_NEGATIVE
    assert happy.sentiment.label == pb.SENTIMENT_LABEL_POSITIVE
    card = json.loads((server.settings.model_repository / "infogap_text" / angry.model.version / "model_card.json")
                      .read_text())
    assert angry.model.name == "infogap_text" and int(angry.model.version) == card["version"]


CLEAR_COMPLAINTS = [  # new wording, in neither feedback corpus
    ("Ordered on the 2nd, promised by the 5th, it is now the 19th and still no parcel.", {"delivery_delay"}),
    ("The glass jug was in pieces when I opened the box.", {"damaged_item"}),
    ("You took the payment twice from my card.", {"billing"}),
    ("The man on the phone was sarcastic and hung up on me.", {"staff_attitude"}),
    ("Lovely quality, fast delivery, very happy with it!", set()),
]


async def test_feedback_aspects_and_sentiment_from_the_real_model(real_stub):
    _, stub = real_stub
    wrong = []
    for i, (text, aspects) in enumerate(CLEAR_COMPLAINTS):
        receipt = await stub.SubmitFeedback(pb.SubmitFeedbackRequest(
            feedback_id=f"clear-{i}", customer_id="c-1", rating=1 if aspects else 5, text=text), timeout=10)
        # The expected aspects found, and the strongest of them first. Since the goods intents joined the encoder,
        # the late parcel also scores missing_item (0.82 beside delivery_delay 0.90 at the build of issue 16): a
        # false positive reported in that note, not yet fixed.
        strongest = receipt.aspect_scores[0].term if receipt.aspect_scores else None
        if not aspects <= set(receipt.aspects) or (aspects and strongest not in aspects) or (
                not aspects and receipt.aspects):
            wrong.append((text, sorted(aspects), [(a.term, round(a.score, 3)) for a in receipt.aspect_scores]))
        # A flat report of a problem may read neutral (FEEDBACK.md's label rules); a complaint never positive.
        label = receipt.sentiment.label
        if (label == pb.SENTIMENT_LABEL_POSITIVE) != (not aspects):
            wrong.append((text, pb.SentimentLabel.Name(label)))
        assert receipt.keywords
    assert wrong == []


async def test_200_concurrent_calls_are_all_answered_and_batched(real_stub):
    server, stub = real_stub
    texts = [t for t, _ in CLEAR_MESSAGES]
    alone = [await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=t), timeout=10) for t in texts]
    calls = [stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=texts[i % len(texts)]), timeout=60) for i in range(200)]
    responses = await asyncio.gather(*calls)
    assert len(responses) == 200
    assert all(r.needs and r.needs[0].intent == CLEAR_MESSAGES[i % len(texts)][1] for i, r in enumerate(responses))
    # A message scores the same alone and inside a batch of others (static int8 scales, masked padding).
    assert max(abs(r.needs[0].score - alone[i % len(texts)].needs[0].score) for i, r in enumerate(responses)) < 1e-4
    body = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).read().decode()

    def metric(sample: str) -> float:
        return float(re.search(rf"^{re.escape(sample)} (\S+)$", body, re.MULTILINE).group(1))

    batches = metric('infogap_batch_size_count{model="infogap_text"}')
    items = metric('infogap_batch_size_sum{model="infogap_text"}')
    singles = metric('infogap_batch_size_bucket{le="1.0",model="infogap_text"}')
    assert items == 200 + len(texts)
    assert batches < 200 and singles < batches  # batches larger than 1 happened
    assert items / batches > 2


def test_config_pbtxt_matches_the_built_model(real_repository):
    version = max(int(p.name) for p in (real_repository / "infogap_text").iterdir() if p.name.isdigit())
    labels = json.loads((real_repository / "infogap_text" / str(version) / "labels.json").read_text())
    config = (real_repository / "infogap_text" / "config.pbtxt").read_text()
    dims = re.search(r'name: "intent_logits"\s+data_type: TYPE_FP32\s+dims: \[ (\d+) \]', config)
    assert dims and int(dims.group(1)) == len(labels["intents"]) == 32
    card = json.loads((real_repository / "infogap_text" / str(version) / "model_card.json").read_text())
    # Floors well under the measured figures (held-out 0.963, hand-written test set 0.880 for version 1): a build
    # that broke training, calibration or quantization falls far below them.
    assert card["metrics"]["held_out"]["intent_accuracy"] > 0.9
    assert card["metrics"]["test"]["intent_accuracy"] > 0.75
    assert card["metrics"]["held_out"]["intent_ece"] < 0.1
    assert card["calibration"]["temperature"] > 0
    # The feedback heads on the hand-written feedback test set (floors well under the measured figures).
    feedback = card["metrics"]["feedback"]["test"]
    assert labels["aspect_trained"] and feedback["examples"] >= 300
    assert feedback["sentiment_accuracy"] > 0.75 and feedback["aspect_macro_f1"] > 0.6
    assert feedback["sentiment_ece"] < 0.1 and feedback["aspect_ece"] < 0.05


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_serving(address: str, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert process.poll() is None, "server exited during start-up"
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise TimeoutError("server did not report SERVING")


def test_cli_serve_identify_and_graceful_sigterm(real_repository):
    port = _free_port()
    env = dict(os.environ, INFOGAP_PORT=str(port), INFOGAP_METRICS_PORT=str(_free_port()),
               INFOGAP_MODEL_REPOSITORY=str(real_repository), INFOGAP_MAX_BATCH_DELAY_MS="400",
               INFOGAP_GRACE_PERIOD_S="10")
    process = subprocess.Popen([INFOGAP, "serve"], env=env, stderr=subprocess.PIPE, text=True)
    address = f"127.0.0.1:{port}"
    try:
        _wait_serving(address, process)
        cli = subprocess.run([INFOGAP, "identify", "I want to cancel my last order", "--address", address],
                             capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0, cli.stderr
        first = cli.stdout.splitlines()[0].split("\t")
        assert first[0] == "cancel_order" and 0.5 < float(first[1]) <= 1.0
        fields = {line.split("\t")[0]: line.split("\t")[1:] for line in cli.stdout.splitlines()}
        assert fields["sentiment"][0] == "neutral" and fields["urgency"][0] == "low"
        bad = subprocess.run([INFOGAP, "identify", "  ", "--address", address], capture_output=True, text=True,
                             timeout=60)
        assert bad.returncode == 1 and "INVALID_ARGUMENT" in bad.stderr and "text:" in bad.stderr

        with grpc.insecure_channel(address) as channel:
            stub = infogap_pb2_grpc.InfoGapStub(channel)
            # With a 400 ms batching delay these calls are still in the server when SIGTERM arrives.
            in_flight = [stub.IdentifyNeeds.future(pb.IdentifyNeedsRequest(text="where is my parcel"), timeout=30)
                         for _ in range(20)]
            time.sleep(0.15)
            process.send_signal(signal.SIGTERM)
            results = [f.result() for f in in_flight]
            assert all(r.needs[0].intent == "track_order" for r in results)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        logs = process.stderr.read() if process.stderr else ""
    entries = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert any(e["msg"] == "shutting down" for e in entries)
    assert "cancel my last order" not in logs and "where is my parcel" not in logs  # no customer text in logs


def test_two_workers_share_the_port_and_both_serve(real_repository):
    port, metrics_port = _free_port(), _free_port()
    env = dict(os.environ, INFOGAP_PORT=str(port), INFOGAP_METRICS_PORT=str(metrics_port),
               INFOGAP_MODEL_REPOSITORY=str(real_repository), INFOGAP_LOG_LEVEL="WARNING")
    process = subprocess.Popen([INFOGAP, "serve", "--workers", "2"], env=env)
    address = f"127.0.0.1:{port}"
    try:
        _wait_serving(address, process)
        time.sleep(1.0)  # the second worker may still be warming up
        for _ in range(24):  # one connection per call: the kernel spreads connections over the workers
            with grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
                stub = infogap_pb2_grpc.InfoGapStub(channel)
                assert stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="where is my parcel"), timeout=30).needs
        served = []
        for worker in range(2):  # worker i exposes /metrics on metrics_port + i
            body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port + worker}/metrics", timeout=5).read()
            match = re.search(rb'infogap_requests_total\{code="OK",method="IdentifyNeeds"\} (\S+)', body)
            served.append(float(match.group(1)) if match else 0.0)
        assert sum(served) == 24 and min(served) > 0, served
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_sigterm_while_waiting_for_triton_stops_at_once(real_repository):
    env = dict(os.environ, INFOGAP_PORT=str(_free_port()), INFOGAP_METRICS_PORT="0", INFOGAP_BACKEND="triton",
               INFOGAP_TRITON_ADDRESS=f"127.0.0.1:{_free_port()}",  # nothing listens there
               INFOGAP_MODEL_REPOSITORY=str(real_repository))
    process = subprocess.Popen([INFOGAP, "serve"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3.0)
        assert process.poll() is None  # still waiting for Triton, not failed
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert "stopped during start-up" in process.stderr.read()
