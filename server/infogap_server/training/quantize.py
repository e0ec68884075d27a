"""int8 quantization of the text model for serving.

Static (calibrated) int8, not dynamic. Dynamic int8 computes one activation scale per tensor from the batch at
hand, padding rows included, so the same message scored differently depending on what it was batched with: on
the default model, 13 to 19 of 320 messages changed their top intent between "alone" and "in a mixed batch of
32", and probabilities moved by up to 0.32. With static scales fixed at build time, a message's scores do not
depend on its batch, which the gateway's micro-batcher and Triton's dynamic batcher both need.

BERT's feed-forward layers carry activation outliers that a per-tensor int8 scale resolves badly, so candidate
exclusions are tried in order and the first whose held-out accuracy stays within ``max_accuracy_drop`` of fp32
is kept (chosen on the held-out split, never on the test set).

ONNX tools may write temporaries (external-data files named ``<uuid>.data``, as large as the model) relative to
the working directory; quantization therefore runs in a temporary folder of its own (:func:`scratch_directory`),
so nothing it writes lands in the checkout.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from infogap_server.models.tensors import TEXT_INPUTS

log = logging.getLogger("infogap.build")

Tokenize = Callable[[list[str]], tuple[np.ndarray, np.ndarray]]

#: Candidate sets of MatMuls kept in float, tried in this order (fewest exclusions first).
CANDIDATES: tuple[tuple[str, ...], ...] = ((), ("ffn_down",), ("ffn_down", "ffn_up"))


def _matmuls(model_path: Path, group: str) -> list[str]:
    import onnx

    names = [n.name for n in onnx.load(str(model_path), load_external_data=False).graph.node if n.op_type == "MatMul"]
    if group == "ffn_down":  # the feed-forward down-projection, whose input (after GELU) holds the outliers
        return [n for n in names if "/output/dense/" in n and "/attention/" not in n]
    if group == "ffn_up":
        return [n for n in names if "/intermediate/dense/" in n]
    raise ValueError(group)


@contextlib.contextmanager
def scratch_directory(prefix: str = "infogap-quantize-") -> Iterator[Path]:
    """A temporary folder that is also the working directory while the block runs; removed afterwards with
    whatever was written there. The working directory is process-wide: for the build's own process only."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, contextlib.chdir(tmp):
        yield Path(tmp)


def quantize_static_int8(
    fp32: Path, out: Path, tokenize: Tokenize, calibration_texts: Sequence[str], exclude: Sequence[str] = ()
) -> None:
    """QDQ int8: per-channel int8 weights, uint8 activations with MinMax scales calibrated on the given texts.
    Only ``out`` is written outside a temporary folder."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            batches = [calibration_texts[i : i + 16] for i in range(0, len(calibration_texts), 16)]
            self._it = iter(dict(zip(TEXT_INPUTS, tokenize(list(b)), strict=True)) for b in batches)

        def get_next(self):
            return next(self._it, None)

    fp32, out = fp32.resolve(), out.resolve()  # the working directory changes below
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)  # the quantizer logs one INFO line per tensor through the root logger
    try:
        with scratch_directory() as scratch:
            prepared = scratch / "model.pre.onnx"
            quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
            nodes = [n for group in exclude for n in _matmuls(prepared, group)]
            quantize_static(
                str(prepared),
                str(out),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
                op_types_to_quantize=["MatMul"],
                nodes_to_exclude=nodes,
                calibrate_method=CalibrationMethod.MinMax,
                use_external_data_format=False,  # the served model is one file (well under protobuf's 2 GB)
            )
    finally:
        root.setLevel(level)


def batch_invariance(predict: Callable[[list[str]], np.ndarray], texts: Sequence[str]) -> float:
    """Largest absolute change of any probability between scoring each text alone and in one padded batch."""
    texts = list(texts)
    together = predict(texts)
    alone = np.concatenate([predict([t]) for t in texts])
    return float(np.abs(together - alone).max())


def quantize_for_serving(
    fp32: Path,
    out: Path,
    tokenize: Tokenize,
    calibration_texts: Sequence[str],
    evaluate: Callable[[Path], float],
    fp32_accuracy: float,
    max_accuracy_drop: float = 0.01,
) -> dict:
    """Quantize with the first candidate exclusion set that keeps held-out accuracy; returns what was chosen."""
    tried = []
    for exclude in CANDIDATES:
        quantize_static_int8(fp32, out, tokenize, calibration_texts, exclude)
        accuracy = evaluate(out)
        tried.append({"kept_in_float": list(exclude), "held_out_accuracy": round(accuracy, 4)})
        log.info("static int8, float %s: held-out accuracy %.4f (fp32 %.4f)", list(exclude) or "none", accuracy,
                 fp32_accuracy)
        if accuracy >= fp32_accuracy - max_accuracy_drop:
            break
    return {
        "method": "ONNX Runtime static int8 (QDQ): per-channel int8 weights, uint8 activations, MinMax "
        "calibration on the training split",
        "kept_in_float": tried[-1]["kept_in_float"],
        "candidates": tried,
        "max_accuracy_drop": max_accuracy_drop,
    }
