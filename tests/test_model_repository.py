"""The model repository as both backends read it: config.pbtxt, its GPU variant, versions."""

from __future__ import annotations

import pytest
from infogap_server.backends.embedded import EmbeddedBackend
from infogap_server.errors import Unavailable
from infogap_server.model_repository import ModelConfig, resolve_version
from infogap_server.settings import PROJECT_ROOT, Settings

from tests.tiny_model import build_tiny_model

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
    assert config.outputs == ("intent_logits", "sentiment_logits", "embedding")
    assert config.output_dims["embedding"] == (384,)
    assert config.max_batch_size >= 32


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
