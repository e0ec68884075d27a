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


REDUCED = ["--intents", "6", "--limit-per-intent", "16"]
TRAINING = ["--epochs", "3", "--no-progress"]


def _run(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([INFOGAP, *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def reduced_clinc(tmp_path_factory):
    """CLINC150 exported as JSON Lines, then trained with the generic ``infogap train intents``."""
    if not CLINC150.is_file():
        pytest.skip(f"CLINC150 is not beside the project ({CLINC150}); CI has it")
    files = tmp_path_factory.mktemp("clinc_files")
    _run("data", "clinc150", *REDUCED, "--out", str(files))
    repository = tmp_path_factory.mktemp("clinc_repository")
    metrics = repository / "metrics.json"
    _run("train", "intents", "--train", str(files / "train.jsonl"), "--valid", str(files / "valid.jsonl"),
         "--test", str(files / "test.jsonl"), "--oos-label", "oos", *TRAINING,
         "--repository", str(repository), "--metrics-out", str(metrics))
    return repository, json.loads(metrics.read_text())


def test_exported_files_hold_clinc150_splits(tmp_path):
    if not CLINC150.is_file():
        pytest.skip(f"CLINC150 is not beside the project ({CLINC150})")
    _run("data", "clinc150", "--out", str(tmp_path))
    counts = {}
    for name in ("train", "valid", "test"):
        rows = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        counts[name] = (len(rows), sum(r["label"] == "oos" for r in rows), len({r["label"] for r in rows}))
    # CLINC150's published split sizes: in-scope + out-of-scope examples, 150 intents + oos
    assert counts == {"train": (15100, 100, 151), "valid": (3100, 100, 151), "test": (5500, 1000, 151)}


def test_the_benchmark_command_is_the_same_pipeline(reduced_clinc, tmp_path):
    """`infogap train clinc150` trains exactly what `train intents` trains from the exported files."""
    _, via_files = reduced_clinc
    metrics = tmp_path / "metrics.json"
    _run("train", "clinc150", *REDUCED, *TRAINING, "--repository", str(tmp_path), "--metrics-out", str(metrics))
    direct = json.loads(metrics.read_text())
    assert direct["metrics"]["test_int8"] == via_files["metrics"]["test_int8"]
    assert direct["out_of_scope"] == via_files["out_of_scope"]


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
    compared = oos["compared_on_validation"]
    top = oos["validation_top_intent_accuracy"]
    assert all(c["validation_in_scope_accuracy"] >= top - 0.005 - 1e-4 for c in compared.values())
    # out-of-scope examples: the training split's teach the encoder, the validation split's set the threshold
    assert metrics["data"]["oos_training_examples"] == 16 and metrics["data"]["held_out_oos_examples"] == 16
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
