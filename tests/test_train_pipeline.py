"""`infogap train`: a reduced CLINC150 run end to end (train, choose the out-of-scope rule, export, quantize,
write a version), then the gateway serving the result."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.models.tensors import ASPECTS
from infogap_server.settings import PROJECT_ROOT
from infogap_server.training import oos
from infogap_server.training.build import _Tokenize, encoder_dir
from infogap_server.training.cli_train import CLINC150
from infogap_server.training.quantize import quantize_static_int8
from tokenizers import Tokenizer

from tests.conftest import channel_to
from tests.tiny_model import build_tiny_model

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
    return repository, json.loads(metrics.read_text()), files


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
    _, via_files, _ = reduced_clinc
    metrics = tmp_path / "metrics.json"
    _run("train", "clinc150", *REDUCED, *TRAINING, "--repository", str(tmp_path), "--metrics-out", str(metrics))
    direct = json.loads(metrics.read_text())
    assert direct["metrics"]["test"] == via_files["metrics"]["test"]
    assert direct["out_of_scope"] == via_files["out_of_scope"]


def test_reduced_clinc150_run_reports_every_metric(reduced_clinc):
    repository, metrics, _ = reduced_clinc
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
    test = metrics["metrics"]["test"]
    assert test["intent_accuracy"] > 0.7  # six intents, 16 examples each, 3 epochs
    rule = test["with_out_of_scope_rule"]
    assert rule["oos_examples"] == 16 and rule["oos_recall"] > 0.0  # outlier exposure + threshold reject some
    assert 0.0 < rule["macro_f1"] <= 1.0 and 0.0 <= test["intent_ece"] < 0.5


def test_a_feedback_file_trains_the_aspect_and_sentiment_heads(reduced_clinc, tmp_path):
    """`train intents --feedback`: the aspect head (and the sentiment head) learn from feedback texts on the same
    encoder pass; a part is held out to calibrate them, and the feedback test file is reported."""
    _, _, files = reduced_clinc
    corpus = (PROJECT_ROOT / "server" / "infogap_server" / "training" / "data").joinpath
    for name, source, step in (("feedback.jsonl", "feedback_train.jsonl", 13), ("fb_test.jsonl",
                                                                               "feedback_test.jsonl", 4)):
        lines = corpus(source).read_text(encoding="utf-8").splitlines()[::step]
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    metrics = tmp_path / "metrics.json"
    _run("train", "intents", "--train", str(files / "train.jsonl"), "--valid", str(files / "valid.jsonl"),
         "--oos-label", "oos", "--feedback", str(tmp_path / "feedback.jsonl"), "--feedback-test",
         str(tmp_path / "fb_test.jsonl"), *TRAINING, "--repository", str(tmp_path), "--metrics-out", str(metrics))
    summary = json.loads(metrics.read_text())
    labels = json.loads((tmp_path / "infogap_text" / "1" / "labels.json").read_text())
    assert labels["aspect_trained"] is True and labels["sentiment_trained"] is True
    assert labels["aspects"] == list(ASPECTS)
    assert summary["data"]["feedback_train_examples"] + summary["data"]["feedback_held_out_examples"] == 200
    report = summary["metrics"]["feedback"]
    for part in ("held_out", "test"):
        assert set(report[part]) >= {"sentiment_accuracy", "sentiment_macro_f1", "sentiment_ece", "aspect_macro_f1",
                                     "aspect_micro_f1", "aspect_ece", "aspect_f1"}
    assert report["test"]["examples"] == 93 and 0.0 <= report["test"]["aspect_ece"] < 0.5
    # Missing the training file for a test file is refused before any training.
    refused = subprocess.run([INFOGAP, "train", "intents", "--train", str(files / "train.jsonl"), "--feedback-test",
                              str(tmp_path / "fb_test.jsonl")], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "--feedback-test needs --feedback" in refused.stderr


async def test_the_trained_model_is_served_with_its_out_of_scope_rule(start_server, reduced_clinc):
    """The gateway flags exactly the messages the stored rule (score, threshold) rejects offline."""
    repository, _, files = reduced_clinc
    folder = repository / "infogap_text" / "1"
    labels = json.loads((folder / "labels.json").read_text())
    assert "dims: [ 6 ]" in (repository / "infogap_text" / "config.pbtxt").read_text()  # written by training
    rows = [json.loads(line) for line in (files / "test.jsonl").read_text().splitlines()]
    texts = [r["text"] for r in rows]
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    tokenizer.enable_truncation(max_length=labels["max_sequence_tokens"])
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    logits, embeddings = [], []
    for text in texts:  # one at a time: no padding at all
        enc = tokenizer.encode(text)
        ids, mask = np.array([enc.ids], np.int64), np.array([enc.attention_mask], np.int64)
        out = session.run(["intent_logits", "embedding"], {"input_ids": ids, "attention_mask": mask})
        logits.append(out[0][0])
        embeddings.append(out[1][0])
    centroids = np.load(folder / "centroids.npy") if labels["out_of_scope_score"] == "centroid" else None
    expected = oos.score(labels["out_of_scope_score"], np.array(logits), np.array(embeddings), centroids) < labels[
        "out_of_scope_threshold"]
    assert 0 < expected.sum() < len(texts)  # both kinds of answer are checked

    server = await start_server(repository, behaviour_model="")  # a text model trained alone
    async with channel_to(server) as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        responses = await asyncio.gather(*[
            stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=text, top_k=2), timeout=30) for text in texts
        ])
    assert [r.out_of_scope for r in responses] == expected.tolist()
    assert all(r.needs[0].intent in labels["intents"] for r in responses)
    assert not responses[0].HasField("sentiment")  # no sentiment labels in CLINC150: no sentiment is made up


def test_quantization_writes_nothing_in_the_working_directory(tmp_path, monkeypatch):
    """ONNX tools may write temporaries (``<uuid>.data`` as large as the model) relative to the working
    directory: quantization runs in a folder of its own, so only the model it was asked for appears."""
    import onnxruntime.quantization

    quantize_static = onnxruntime.quantization.quantize_static

    def writes_beside_itself(*args, **kwargs):  # what such a tool does
        Path("0b5e1c2a-external.data").write_bytes(b"temporary")
        return quantize_static(*args, **kwargs)

    monkeypatch.setattr(onnxruntime.quantization, "quantize_static", writes_beside_itself)
    folder = build_tiny_model(tmp_path / "repository")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    out = tmp_path / "out" / "model.onnx"
    out.parent.mkdir()
    tokenize = _Tokenize(encoder_dir() / "tokenizer.json", 16)
    quantize_static_int8(folder / "model.onnx", out, tokenize, ["cancel my order", "where is it"])
    assert Path.cwd() == work and list(work.iterdir()) == []
    assert [p.name for p in out.parent.iterdir()] == ["model.onnx"]
    ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])


def test_int8_serves_only_where_it_costs_nothing_measurable():
    from infogap_server.training.quantize import int8_passes

    fp32 = {"held_out_intent": 0.9747, "dev_intent": 0.93, "embedding_cosine": 1.0}
    close = {"held_out_intent": 0.9743, "dev_intent": 0.93, "embedding_cosine": 0.9976}
    assert int8_passes(close, fp32, 0.002, 0.99)  # 0.04 points, cosine 0.998: the cosine is not a top-1 figure
    assert not int8_passes({**close, "dev_intent": 0.925}, fp32, 0.002, 0.99)  # 0.5 points on one set
    assert not int8_passes({**close, "embedding_cosine": 0.944}, fp32, 0.002, 0.99)
    assert int8_passes({**close, "dev_intent": 0.94}, fp32, 0.002, 0.99)  # better than fp32 is no loss
