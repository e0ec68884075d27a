"""The GPU path: the text model as a TensorRT engine (FP16, optimisation profiles over batch and sequence).

``infogap models build --tensorrt`` runs this where TensorRT and a GPU exist (the official Triton container, or a
machine with the ``tensorrt`` Python package). It writes the model ``infogap_text_trt`` with
``platform: "tensorrt_plan"`` beside ``infogap_text``, same inputs and outputs, so the gateway serves it with
``INFOGAP_TEXT_MODEL=infogap_text_trt`` (its tokenizer and labels are copied from the ONNX version).
Where TensorRT is absent this raises :class:`TensorRTUnavailable` and its tests skip saying so.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from infogap_server.models.repository import (
    CARD_FILE,
    LABELS_FILE,
    TOKENIZER_FILE,
    text_model_config,
    version_dir,
    write_config,
)
from infogap_server.models.tensors import TEXT_INPUTS

TRT_MODEL_NAME = "infogap_text_trt"


class TensorRTUnavailable(RuntimeError):
    """TensorRT (the ``tensorrt`` package and a CUDA GPU) is not available here."""


@dataclass(frozen=True)
class Profile:
    """Shapes the engine is optimised for: (batch, tokens) at minimum, optimum and maximum."""

    min_shape: tuple[int, int] = (1, 1)
    opt_shape: tuple[int, int] = (16, 32)
    max_shape: tuple[int, int] = (64, 128)


def tensorrt_available() -> str | None:
    """None when TensorRT can build here, else the reason it cannot."""
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        return f"the tensorrt Python package is not installed ({exc})"
    try:
        import tensorrt as trt

        trt.Builder(trt.Logger(trt.Logger.ERROR))
    except Exception as exc:  # no CUDA driver or GPU
        return f"TensorRT cannot create a builder (no usable GPU?): {exc}"
    return None


def build_engine(onnx_path: Path, plan_path: Path, profile: Profile = Profile(), fp16: bool = True) -> None:
    """Parse the ONNX model and serialise a TensorRT engine to ``plan_path``."""
    reason = tensorrt_available()
    if reason:
        raise TensorRTUnavailable(reason)
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    shapes = builder.create_optimization_profile()
    for name in TEXT_INPUTS:
        shapes.set_shape(name, profile.min_shape, profile.opt_shape, profile.max_shape)
    config.add_optimization_profile(shapes)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError("TensorRT failed to build the engine (see its log above)")
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    plan_path.write_bytes(bytes(engine))


def build_tensorrt_model(repository: Path, onnx_fp32: Path, source_version: int, profile: Profile = Profile()) -> Path:
    """Write ``<repository>/infogap_text_trt/<version>/model.plan`` and its config from the fp32 ONNX model."""
    import json

    source = version_dir(repository, "infogap_text", source_version)
    target = version_dir(repository, TRT_MODEL_NAME, source_version)
    build_engine(onnx_fp32, target / "model.plan", profile)
    for name in (TOKENIZER_FILE, LABELS_FILE, CARD_FILE):
        shutil.copy2(source / name, target / name)
    labels = json.loads((source / LABELS_FILE).read_text())
    config = text_model_config(
        TRT_MODEL_NAME,
        len(labels["intents"]),
        runtime='platform: "tensorrt_plan"',
        kind="KIND_GPU",
        max_batch_size=profile.max_shape[0],
        max_queue_delay_us=1000,
    )
    write_config(repository, TRT_MODEL_NAME, config)
    return target
