"""`infogap train`: a reduced CLINC150 run end to end (train, choose the out-of-scope rule, export, quantize,
write a version), then the gateway serving the result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.training.cli_train import CLINC150

from tests.conftest import channel_to

pytestmark = pytest.mark.integration
INFOGAP = str(Path(sys.executable).parent / "infogap")


@pytest.fixture(scope="module")
def reduced_clinc(tmp_path_factory):
    if not CLINC150.is_file():
        pytest.skip(f"CLINC150 is not beside the project ({CLINC150}); CI has it")
    repository = tmp_path_factory.mktemp("clinc_repository")
    metrics = repository / "metrics.json"
    result = subprocess.run(
        [INFOGAP, "train", "clinc150", "--intents", "6", "--limit-per-intent", "16", "--epochs", "3",
         "--repository", str(repository), "--metrics-out", str(metrics), "--no-progress"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return repository, json.loads(metrics.read_text())


def test_reduced_clinc150_run_reports_every_metric(reduced_clinc):
    repository, metrics = reduced_clinc
    folder = repository / "infogap_text" / "1"
    for name in ("model.onnx", "tokenizer.json", "labels.json", "model_card.json"):
        assert (folder / name).is_file(), name
    labels = json.loads((folder / "labels.json").read_text())
    assert len(labels["intents"]) == 6 and "oos" not in labels["intents"]
    assert labels["sentiment_trained"] is False
    oos = metrics["out_of_scope"]
    assert oos["score"] in ("max_prob", "energy", "centroid")
    assert set(oos["compared_on_validation"]) == {"max_prob", "energy", "centroid"}
    test = metrics["metrics"]["test_int8"]
    assert test["intent_accuracy"] > 0.7  # six intents, 16 examples each, 3 epochs
    rule = test["with_out_of_scope_rule"]
    assert rule["oos_examples"] == 16 and 0.0 <= rule["oos_recall"] <= 1.0
    assert 0.0 < rule["macro_f1"] <= 1.0 and 0.0 <= test["intent_ece"] < 0.5


async def test_the_trained_model_is_served(start_server, reduced_clinc, tmp_path):
    repository, _ = reduced_clinc
    labels = json.loads((repository / "infogap_text" / "1" / "labels.json").read_text())
    assert "dims: [ 6 ]" in (repository / "infogap_text" / "config.pbtxt").read_text()  # written by training
    server = await start_server(repository)
    async with channel_to(server) as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        response = await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="what is my account balance", top_k=2),
                                            timeout=10)
    assert response.needs[0].intent in labels["intents"]
    assert not response.HasField("sentiment")  # no sentiment labels in CLINC150: no sentiment is made up
