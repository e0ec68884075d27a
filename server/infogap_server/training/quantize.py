"""int8 quantization of the text model for serving.

Static (calibrated) int8, not dynamic. Dynamic int8 computes one activation scale per tensor from the batch at
hand, padding rows included, so the same message scored differently depending on what it was batched with: on
the default model, 13 to 19 of 320 messages changed their top intent between "alone" and "in a mixed batch of
32", and probabilities moved by up to 0.32. With static scales fixed at build time, a message's scores do not
depend on its batch, which the gateway's micro-batcher and Triton's dynamic batcher both need.

BERT's feed-forward layers carry activation outliers that a per-tensor int8 scale resolves badly, so candidate
sets of layers kept in float are tried, and int8 serves only where it costs nothing measurable: top-1 within 0.2
points of fp32 on every validation set and an embedding cosine of at least 0.99 to fp32. Otherwise fp32 serves
(chosen on validation data, never on the test set).

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


def int8_passes(figures: dict[str, float], reference: dict[str, float], max_top1_drop: float,
                min_cosine: float) -> bool:
    """Whether an int8 candidate costs nothing measurable: every top-1 accuracy of ``figures`` at most
    ``max_top1_drop`` below fp32's (``reference``), and its embedding's mean cosine to fp32's at least
    ``min_cosine`` (the cosine is a bar of its own, not a top-1 figure)."""
    drops = [reference[k] - v for k, v in figures.items() if k in reference and k != "embedding_cosine"]
    return max(drops, default=0.0) <= max_top1_drop + 1e-9 and figures["embedding_cosine"] >= min_cosine


def quantize_for_serving(
    fp32: Path,
    out: Path,
    tokenize: Tokenize,
    calibration_texts: Sequence[str],
    evaluate: Callable[[Path], dict[str, float]],
    reference: dict[str, float],
    max_top1_drop: float = 0.002,
    min_cosine: float = 0.99,
) -> dict:
    """Serve int8 only where it costs nothing measurable: the candidate exclusion sets are tried from the most
    layers kept in float to the fewest, and int8 is served when on every validation set of ``evaluate`` (top-1
    accuracies; the fp32 figures in ``reference``) it loses at most ``max_top1_drop`` and its embedding keeps a
    mean cosine of at least ``min_cosine`` to fp32 (``evaluate``'s ``embedding_cosine``). The passing candidate
    with the fewest float layers is kept; when none passes, fp32 is served.

    ``out`` receives the int8 model either way (the one served, or the closest to passing, for benchmarks);
    ``served`` in the result says which precision serves."""

    def passes(figures: dict[str, float]) -> bool:
        return int8_passes(figures, reference, max_top1_drop, min_cosine)

    tried: list[dict] = []
    chosen: Path | None = None
    with tempfile.TemporaryDirectory(prefix="infogap-int8-") as tmp:
        for n, exclude in enumerate(reversed(CANDIDATES)):  # most float first: if that fails, none will pass
            candidate = Path(tmp) / f"candidate{n}.onnx"
            quantize_static_int8(fp32, candidate, tokenize, calibration_texts, exclude)
            figures = evaluate(candidate)
            ok = passes(figures)
            tried.append({"kept_in_float": list(exclude), **{k: round(v, 4) for k, v in figures.items()},
                          "passes": ok})
            log.info("static int8, float %s: %s (fp32 %s) %s", list(exclude) or "none", figures, reference,
                     "passes" if ok else "does not pass")
            if not ok:
                if chosen is None:
                    chosen = candidate  # the closest to passing, kept for benchmarks
                break
            chosen = candidate
        assert chosen is not None
        out.parent.mkdir(parents=True, exist_ok=True)
        chosen.replace(out)
    served = next((t for t in reversed(tried) if t["passes"]), None)
    return {
        "method": "ONNX Runtime static int8 (QDQ): per-channel int8 weights, uint8 activations, MinMax "
        "calibration on the training split",
        "served": "int8" if served else "fp32",
        "why": (f"int8 with {served['kept_in_float'] or 'no'} layers in float loses at most {max_top1_drop:.1%} "
                f"top-1 on every validation set and keeps embedding cosine >= {min_cosine}") if served else
        (f"no int8 candidate keeps every validation top-1 within {max_top1_drop:.1%} of fp32 and embedding cosine "
         f">= {min_cosine}: fp32 serves"),
        "kept_in_float": served["kept_in_float"] if served else None,
        "fp32": {k: round(v, 4) for k, v in reference.items()},
        "candidates": tried,
        "max_top1_drop": max_top1_drop,
        "min_embedding_cosine": min_cosine,
    }
