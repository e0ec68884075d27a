"""The model repository as both backends read it (config.pbtxt, its GPU variant, versions), and the model registry
that loads, warms and swaps the versions the gateway serves."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import infogap_server
import numpy as np
import pytest
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.backends.embedded import EmbeddedBackend
from infogap_server.errors import Unavailable
from infogap_server.models.registry import ModelRegistry
from infogap_server.models.repository import (
    ModelConfig,
    TextModelInfo,
    bring_text_config_forward,
    outdated_text_model,
    resolve_version,
    write_or_check_text_config,
)
from infogap_server.models.tensors import ASPECTS
from infogap_server.services.text_model import TextModel
from infogap_server.settings import PROJECT_ROOT, Settings

from tests.conftest import channel_to
from tests.tiny_model import build_tiny_behaviour_model, build_tiny_model

REPOSITORY = PROJECT_ROOT / "model_repository"


def test_gpu_config_variant_differs_only_in_placement_and_optimization():
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    def parse(path):
        return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())

    cpu = parse(REPOSITORY / "infogap_text" / "config.pbtxt")
    gpu = parse(REPOSITORY / "infogap_text" / "configs" / "gpu.pbtxt")
    assert [g.kind for g in cpu.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_CPU]
    assert [g.kind for g in gpu.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_GPU]
    assert [a.name for a in gpu.optimization.execution_accelerators.gpu_execution_accelerator] == ["tensorrt"]
    for config in (cpu, gpu):
        config.ClearField("instance_group")
        config.ClearField("optimization")
    assert cpu == gpu


def test_config_declares_what_the_gateway_sends_and_reads():
    config = ModelConfig.read(REPOSITORY, "infogap_text")
    assert config.inputs == ("input_ids", "attention_mask")
    assert config.outputs == ("intent_logits", "sentiment_logits", "embedding", "aspect_logits")
    assert config.output_dims["embedding"] == (384,)
    assert config.output_dims["aspect_logits"] == (len(ASPECTS),)
    assert config.max_batch_size >= 32


def test_a_configuration_and_model_from_before_the_aspect_head_are_brought_forward(tmp_path):
    build_tiny_model(tmp_path)
    config = tmp_path / "infogap_text" / "config.pbtxt"
    labels = tmp_path / "infogap_text" / "1" / "labels.json"
    intents = json.loads(labels.read_text())["intents"]
    assert outdated_text_model(tmp_path, "infogap_text", intents) is None
    # As a build before the aspect head wrote them: no aspect output declared, no aspects in labels.json.
    config.write_text(config.read_text().replace(',\n  { name: "aspect_logits" data_type: TYPE_FP32 dims: [ 12 ] }',
                                                 ""))
    labels.write_text(json.dumps({k: v for k, v in json.loads(labels.read_text()).items()
                                  if k not in ("aspects", "aspect_trained")}))
    assert "aspect_logits" not in ModelConfig.read(tmp_path, "infogap_text").outputs
    # so `models build --if-missing` builds a newer version
    assert outdated_text_model(tmp_path, "infogap_text", intents) == "it predates the aspect head"
    write_or_check_text_config(tmp_path, "infogap_text", 4)  # what that build checks first: nothing changes
    assert "aspect_logits" not in ModelConfig.read(tmp_path, "infogap_text").outputs  # version 1 still loads
    assert bring_text_config_forward(tmp_path, "infogap_text", 4) == ["aspect output added"]  # new version in place
    assert bring_text_config_forward(tmp_path, "infogap_text", 4) == []
    upgraded = ModelConfig.read(tmp_path, "infogap_text")
    assert upgraded.outputs == ("intent_logits", "sentiment_logits", "embedding", "aspect_logits")
    assert upgraded.output_dims["aspect_logits"] == (len(ASPECTS),) and upgraded.max_batch_size == 16
    with pytest.raises(ValueError, match="5 intents"):
        write_or_check_text_config(tmp_path, "infogap_text", 5)


def test_a_default_model_built_on_an_older_taxonomy_is_rebuilt_and_its_configuration_follows(tmp_path):
    """The default corpus grew from 27 to 32 intents: `models build --if-missing` rebuilds a default model built
    on the old intents, the build may declare the new number, and the configuration follows once it serves. A
    model trained on other data is kept."""
    build_tiny_model(tmp_path)
    config = tmp_path / "infogap_text" / "config.pbtxt"
    folder = tmp_path / "infogap_text" / "1"
    intents = json.loads((folder / "labels.json").read_text())["intents"]
    card = {"data": {"sources": {"train": "intents_en_train.tsv"}}}
    (folder / "model_card.json").write_text(json.dumps(card))
    assert outdated_text_model(tmp_path, "infogap_text", intents) is None
    grown = [*intents, "return_item"]
    assert outdated_text_model(tmp_path, "infogap_text", grown) == (
        f"it was built on {len(intents)} intents; the default corpus now has {len(grown)}")
    card["data"]["sources"]["train"] = "my_own.csv"
    (folder / "model_card.json").write_text(json.dumps(card))
    assert outdated_text_model(tmp_path, "infogap_text", grown) is None  # someone else's model: kept
    write_or_check_text_config(tmp_path, "infogap_text", len(grown), new_taxonomy=True)  # allowed, nothing changes
    assert ModelConfig.read(tmp_path, "infogap_text").output_dims["intent_logits"] == (len(intents),)
    before = config.read_text()
    assert bring_text_config_forward(tmp_path, "infogap_text", len(grown)) == [f"intent_logits dims -> [{len(grown)}]"]
    assert config.read_text() == before.replace(f"dims: [ {len(intents)} ]", f"dims: [ {len(grown)} ]", 1)
    assert ModelConfig.read(tmp_path, "infogap_text").output_dims["intent_logits"] == (len(grown),)


def test_highest_version_is_served_unless_one_is_pinned(tmp_path):
    build_tiny_model(tmp_path, version=1)
    build_tiny_model(tmp_path, version=3)
    (tmp_path / "infogap_text" / "2").mkdir()  # a folder without a model file is not a version
    assert resolve_version(tmp_path, "infogap_text", None) == 3
    assert resolve_version(tmp_path, "infogap_text", 1) == 1
    with pytest.raises(Unavailable):
        resolve_version(tmp_path, "infogap_text", 2)


async def test_embedded_backend_refuses_a_model_that_does_not_match_its_config(tmp_path):
    build_tiny_model(tmp_path)
    config = tmp_path / "infogap_text" / "config.pbtxt"
    config.write_text(config.read_text().replace('"embedding"', '"sentence_vector"'))
    backend = EmbeddedBackend(Settings(model_repository=tmp_path))
    with pytest.raises(Unavailable, match="does not match its config.pbtxt"):
        await backend.load("infogap_text", 1)
    await backend.close()


async def test_embedded_batch_limit_comes_from_config(tiny_repository):
    backend = EmbeddedBackend(Settings(model_repository=tiny_repository))
    await backend.load("infogap_text", 1)
    assert backend.max_batch_size["infogap_text"] == 16
    await backend.close()


def test_tensorrt_build_skips_with_a_clear_reason_where_absent(tmp_path):
    from infogap_server.training.tensorrt import TensorRTUnavailable, build_engine, tensorrt_available

    reason = tensorrt_available()
    if reason is None:
        pytest.skip("TensorRT is present here: the engine build is exercised by test_tensorrt_engine_build")
    with pytest.raises(TensorRTUnavailable):
        build_engine(tmp_path / "model.onnx", tmp_path / "model.plan")


def test_tensorrt_engine_build(tmp_path):
    from infogap_server.training.tensorrt import Profile, build_engine, tensorrt_available

    reason = tensorrt_available()
    if reason:
        pytest.skip(f"TensorRT path not testable here: {reason}")
    folder = build_tiny_model(tmp_path)
    build_engine(folder / "model.onnx", tmp_path / "model.plan", Profile((1, 1), (4, 16), (16, 64)))
    assert (tmp_path / "model.plan").stat().st_size > 0


# --- the model registry: load, warm, serve; a new version takes over only once warmed --------------------------


class _RecordingBackend(EmbeddedBackend):
    """The embedded backend, writing down when versions are loaded and released."""

    def __init__(self, settings: Settings, events: list[str]) -> None:
        super().__init__(settings)
        self.events = events

    async def load(self, model: str, version: int) -> None:
        self.events.append(f"load {version}")
        await super().load(model, version)

    async def unload(self, model: str, version: int) -> None:
        self.events.append(f"unload {version}")
        await super().unload(model, version)


class _RecordedTextModel(TextModel):
    def __init__(self, info, backend, settings, events: list[str], before_warm=None) -> None:
        super().__init__(info, backend, settings)
        self.events, self.before_warm = events, before_warm

    async def warm(self) -> None:
        if self.before_warm is not None:
            await self.before_warm(self)
        self.events.append(f"warm {self.info.version}")
        await super().warm()

    async def stop(self, drain_s: float = 0.0) -> None:
        self.events.append(f"stop {self.info.version}")
        await super().stop(drain_s)


@contextlib.asynccontextmanager
async def _registry(repository: Path, version: int | None = None, before_warm=None):
    settings = Settings(model_repository=repository, grace_period_s=2.0)
    events: list[str] = []
    backend = _RecordingBackend(settings, events)
    registry = ModelRegistry(settings, backend)

    def build(name: str, v: int) -> TextModel:
        return _RecordedTextModel(TextModelInfo.read(repository, name, v), backend, settings, events, before_warm)

    registry.register("infogap_text", build, version=version,
                      on_serve=lambda model: events.append(f"serve {model.info.version}"))
    try:
        yield registry, backend, events
    finally:
        await registry.close()
        await backend.close()


async def _top_intent(model: TextModel, text: str) -> str:
    prediction = await model.predict(text)
    return model.info.intents[int(np.argmax(prediction.intent_probs))]


async def test_registry_loads_warms_and_serves_the_tiny_model(tiny_repository):
    async with _registry(tiny_repository) as (registry, backend, events):
        assert not registry.ready
        with pytest.raises(Unavailable, match="not loaded yet"):
            registry.get("infogap_text")
        await registry.load_all()
        assert events == ["load 1", "warm 1", "serve 1"]
        assert registry.names == ("infogap_text",) and registry.version("infogap_text") == 1
        assert registry.is_ready("infogap_text") and registry.ready
        assert await _top_intent(registry.get("infogap_text"), "please cancel my order") == "cancel_order"
        assert await registry.load("infogap_text") == 1  # the version serving: nothing happens
        assert events == ["load 1", "warm 1", "serve 1"]
        with pytest.raises(Unavailable, match="not served by this gateway"):
            registry.get("infogap_behaviour")
    assert events[-2:] == ["stop 1", "unload 1"]


async def test_swap_loads_and_warms_the_new_version_before_releasing_the_old(tmp_path):
    build_tiny_model(tmp_path, version=1)
    build_tiny_model(tmp_path, version=2)
    old_answers = []

    async def old_still_serves(new: TextModel) -> None:
        if new.info.version == 2:  # while the new version warms, callers still get the old one, and it works
            old = registry.get("infogap_text")
            assert old.info.version == 1 and registry.version("infogap_text") == 1
            old_answers.append(await _top_intent(old, "where is my parcel"))

    async with _registry(tmp_path, version=1, before_warm=old_still_serves) as (registry, backend, events):
        await registry.load_all()
        old = registry.get("infogap_text")
        assert await registry.swap("infogap_text", 2) == 2
        assert old_answers == ["track_order"]
        assert events == ["load 1", "warm 1", "serve 1", "load 2", "warm 2", "serve 2", "stop 1", "unload 1"]
        new = registry.get("infogap_text")
        assert new is not old and new.info.version == 2
        assert await _top_intent(new, "I want my money back") == "get_refund"
        assert await backend.is_ready("infogap_text", 2) and not await backend.is_ready("infogap_text", 1)


async def test_swap_answers_the_calls_in_flight_on_the_old_version(tmp_path):
    build_tiny_model(tmp_path, version=1)
    build_tiny_model(tmp_path, version=2)
    async with _registry(tmp_path, version=1) as (registry, _, _):
        await registry.load_all()
        old = registry.get("infogap_text")
        calls = [asyncio.ensure_future(_top_intent(old, f"cancel order {i}")) for i in range(40)]
        await asyncio.sleep(0)  # the calls are queued in the old version's batcher
        await registry.swap("infogap_text", 2)
        assert await asyncio.gather(*calls) == ["cancel_order"] * 40


async def test_a_version_that_fails_to_load_or_warm_leaves_the_old_one_serving(tmp_path):
    build_tiny_model(tmp_path, version=1)
    (build_tiny_model(tmp_path, version=2) / "model.onnx").write_bytes(b"not an onnx model")
    (build_tiny_model(tmp_path, version=3) / "labels.json").unlink()  # the backend loads it; building it fails
    async with _registry(tmp_path, version=1) as (registry, backend, events):
        await registry.load_all()
        old = registry.get("infogap_text")
        for version in (2, 3):
            with pytest.raises(Exception):  # noqa: B017 - ONNX Runtime's own error for 2, Unavailable for 3
                await registry.swap("infogap_text", version)
            assert registry.get("infogap_text") is old and registry.version("infogap_text") == 1
            assert registry.ready
            assert not await backend.is_ready("infogap_text", version)  # released again
            assert await _top_intent(old, "please cancel") == "cancel_order"
        assert events == ["load 1", "warm 1", "serve 1", "load 2", "unload 2", "load 3", "unload 3"]
        with pytest.raises(Unavailable, match="version 7 is not in the model repository"):
            await registry.swap("infogap_text", 7)
        assert registry.version("infogap_text") == 1


async def test_server_swaps_each_model_without_failing_a_call(start_server, tmp_path):
    """Two served models, each swapped to a new version while calls that use both are running."""
    for version in (1, 2):
        build_tiny_model(tmp_path, version=version)
        build_tiny_behaviour_model(tmp_path, version=version)
    server = await start_server(tmp_path, text_model_version=1, behaviour_model_version=1)
    async with channel_to(server) as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        order = pb.BehaviorEvent(type=pb.BEHAVIOR_EVENT_TYPE_ORDER, amount=20, item_count=1)
        order.time.FromDatetime(datetime.now(UTC) - timedelta(days=30))
        request = pb.IdentifyNeedsRequest(text="where is my parcel", history=[order])
        first = await stub.IdentifyNeeds(request, timeout=5)
        assert (first.model.version, first.behaviour_model.version) == ("1", "1")
        for name in ("infogap_text", "infogap_behaviour"):
            calls = [stub.IdentifyNeeds(request, timeout=10) for _ in range(50)]
            swapped, *responses = await asyncio.gather(server.models.swap(name, 2), *calls)
            assert swapped == 2
            assert all(r.needs[0].intent == "track_order" and r.HasField("churn_risk") for r in responses)
        last = await stub.IdentifyNeeds(request, timeout=5)
        assert (last.model.version, last.behaviour_model.version) == ("2", "2")


def test_training_imports_models_and_serving_never_imports_training():
    """The import direction of the design: ``training -> models``, never the reverse, and nothing in serving
    imports training or torch, not even inside a function. The development tools (bench, soak and faults, fuzz, the
    command line's build and train commands, local Triton) sit outside the serving import graph."""
    package = Path(infogap_server.__file__).parent
    outside_serving = {"training", "learning", "triton", "bench.py", "bench_floor.py", "endurance.py", "fuzz.py",
                       "cli.py"}
    offenders = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] in outside_serving:
            continue
        forbidden = ("infogap_server.training", "infogap_server.learning", "torch", "transformers")
        if relative.parts[0] == "models":  # the shared contract depends on no service either
            forbidden += ("infogap_server.services", "infogap_server.servicer", "infogap_server.server")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{relative}: {name}" for name in names
                          if any(name == f or name.startswith(f + ".") for f in forbidden)]
    assert offenders == []
