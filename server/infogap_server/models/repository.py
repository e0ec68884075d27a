"""The Triton-layout model repository, as serving reads it and training writes it: ``<repo>/<model>/config.pbtxt``
and numbered version folders.

A text model's version folder holds ``model.onnx``, ``tokenizer.json`` (tokenization happens in the gateway),
``labels.json`` (what serving needs: label lists, out-of-scope threshold, token budget) and the model card.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from google.protobuf import text_format

# Triton's model configuration schema (the protobuf message behind config.pbtxt). Only the schema is used here;
# the Triton client itself stays in backends/triton.py.
from tritonclient.grpc import model_config_pb2

from infogap_server.errors import Unavailable
from infogap_server.models.tensors import (
    ASPECT_LOGITS,
    ASPECTS,
    ATTENTION_MASK,
    EMBEDDING,
    INPUT_IDS,
    INTENT_LOGITS,
    SENTIMENT_LOGITS,
)

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
LABELS_FILE = "labels.json"
CARD_FILE = "model_card.json"
CENTROIDS_FILE = "centroids.npy"
CONFIG_FILE = "config.pbtxt"


def versions(repository: Path, model: str) -> list[int]:
    """Versions of ``model`` present in the repository (folders with a model file), ascending."""
    folder = repository / model
    if not folder.is_dir():
        return []
    found = [int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit() and (p / MODEL_FILE).is_file()]
    return sorted(found)


def resolve_version(repository: Path, model: str, requested: int | None) -> int:
    """The requested version, or the highest present (Triton's default ``latest: 1`` policy)."""
    present = versions(repository, model)
    if requested is not None:
        if requested not in present:
            raise Unavailable(f"model {model} version {requested} is not in the model repository")
        return requested
    if not present:
        raise Unavailable(f"model {model} is not in the model repository {repository}; run `infogap models build`")
    return present[-1]


@dataclass(frozen=True)
class ModelConfig:
    """What the gateway takes from a model's config.pbtxt: tensor names, the batch limit."""

    name: str
    max_batch_size: int
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    output_dims: dict[str, tuple[int, ...]]

    @classmethod
    def read(cls, repository: Path, model: str, config_name: str | None = None) -> ModelConfig:
        """``<model>/config.pbtxt``, or ``<model>/configs/<config_name>.pbtxt`` like Triton's --model-config-name."""
        folder = repository / model
        path = folder / "configs" / f"{config_name}.pbtxt" if config_name else folder / CONFIG_FILE
        try:
            parsed = text_format.Parse(path.read_text(encoding="utf-8"), model_config_pb2.ModelConfig())
        except (OSError, text_format.ParseError) as exc:
            raise Unavailable(f"model {model}: unreadable {path.name} ({exc})") from exc
        return cls(
            name=parsed.name or model,
            max_batch_size=parsed.max_batch_size,
            inputs=tuple(i.name for i in parsed.input),
            outputs=tuple(o.name for o in parsed.output),
            output_dims={o.name: tuple(o.dims) for o in parsed.output},
        )


def text_model_config(
    name: str,
    n_intents: int,
    *,
    n_aspects: int = len(ASPECTS),
    embedding_dim: int = 384,
    runtime: str = 'backend: "onnxruntime"',
    kind: str = "KIND_CPU",
    max_batch_size: int = 64,
    max_queue_delay_us: int = 2000,
) -> str:
    """Triton configuration of a text model (the shape of model_repository/infogap_text/config.pbtxt)."""
    return f"""# Written by infogap for a model with {n_intents} intents; training later checks only the dims.
name: "{name}"
{runtime}
max_batch_size: {max_batch_size}
input [
  {{ name: "{INPUT_IDS}" data_type: TYPE_INT64 dims: [ -1 ] }},
  {{ name: "{ATTENTION_MASK}" data_type: TYPE_INT64 dims: [ -1 ] }}
]
output [
  {{ name: "{INTENT_LOGITS}" data_type: TYPE_FP32 dims: [ {n_intents} ] }},
  {{ name: "{SENTIMENT_LOGITS}" data_type: TYPE_FP32 dims: [ 3 ] }},
  {{ name: "{EMBEDDING}" data_type: TYPE_FP32 dims: [ {embedding_dim} ] }},
  {{ name: "{ASPECT_LOGITS}" data_type: TYPE_FP32 dims: [ {n_aspects} ] }}
]
dynamic_batching {{
  preferred_batch_size: [ 8, 16, 32 ]
  max_queue_delay_microseconds: {max_queue_delay_us}
}}
instance_group [ {{ count: 1 kind: {kind} }} ]
version_policy: {{ latest: {{ num_versions: 1 }} }}
"""


def write_config(repository: Path, model: str, text: str) -> Path:
    """Write ``<model>/config.pbtxt`` beside its place and rename it there: a reader (Triton polling the
    repository, a starting gateway) sees the old file or the new one, never half of one."""
    folder = repository / model
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CONFIG_FILE
    partial = folder / f".{CONFIG_FILE}.partial"
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return path


def write_or_check_text_config(repository: Path, model: str, n_intents: int, *, new_taxonomy: bool = False) -> None:
    """A new text model gets a config.pbtxt; an existing one must declare this model's number of intents, unless
    the build brings a ``new_taxonomy`` (the default model's intents grew): then :func:`bring_text_config_forward`
    declares the new number once the new version is in place, and until then the old version still loads."""
    path = repository / model / CONFIG_FILE
    if not path.is_file():
        write_config(repository, model, text_model_config(model, n_intents))
        return
    declared = ModelConfig.read(repository, model).output_dims.get(INTENT_LOGITS)
    if declared != (n_intents,) and not new_taxonomy:
        raise ValueError(f"{path} declares {INTENT_LOGITS} {declared}, but the model has {n_intents} intents")


def _with_intent_dims(text: str, n_intents: int) -> str:
    """The configuration text with the intent output's ``dims: [ N ]`` set to ``n_intents``, everything else
    (comments, layout) as it was; unchanged when the output or its dims are not found. A plain scan: serving
    code uses no backtracking regular expressions."""
    name = text.find(f'"{INTENT_LOGITS}"')
    dims = text.find("dims:", name) if name >= 0 else -1
    opening = text.find("[", dims) if dims >= 0 else -1
    closing = text.find("]", opening) if opening >= 0 else -1
    end = text.find("}", name) if name >= 0 else -1
    if closing < 0 or (0 <= end < dims) or not text[opening + 1 : closing].strip().isdigit():
        return text
    return f"{text[:opening + 1]} {n_intents} {text[closing:]}"


def bring_text_config_forward(repository: Path, model: str, n_intents: int) -> list[str]:
    """Make a configuration written by an older build declare what the newest version serves: the aspect output
    (added with the aspect head) and this number of intents. A build calls it once its new version is in place;
    until then the old version, which the old configuration describes, still loads. Returns what changed."""
    path = repository / model / CONFIG_FILE
    text = path.read_text(encoding="utf-8")
    # The number of intents alone: changed in the text, so that the file keeps its comments and layout.
    resized = _with_intent_dims(text, n_intents)
    changes = []
    if resized != text:
        changes.append(f"{INTENT_LOGITS} dims -> [{n_intents}]")
        write_config(repository, model, resized)
        for variant in sorted((repository / model / "configs").glob("*.pbtxt")):  # e.g. the GPU placement
            before = variant.read_text(encoding="utf-8")
            after = _with_intent_dims(before, n_intents)
            if after != before:
                tmp = variant.with_suffix(".pbtxt.tmp")
                tmp.write_text(after, encoding="utf-8")
                tmp.replace(variant)
    parsed = text_format.Parse(resized, model_config_pb2.ModelConfig())
    if ASPECT_LOGITS not in [o.name for o in parsed.output]:
        parsed.output.add(name=ASPECT_LOGITS, data_type=model_config_pb2.TYPE_FP32, dims=[len(ASPECTS)])
        changes.append("aspect output added")
    for output in parsed.output:
        if output.name == INTENT_LOGITS and list(output.dims) != [n_intents]:
            changes.append(f"{INTENT_LOGITS} {list(output.dims)} -> [{n_intents}]")
            del output.dims[:]
            output.dims.append(n_intents)
    if len(changes) > int(resized != text):  # more than the number of intents: rewritten whole
        header = f"# Brought forward by infogap models build: {'; '.join(changes)}.\n"
        text = header + text_format.MessageToString(parsed)
        write_config(repository, model, text)
    return changes


def outdated_text_model(repository: Path, model: str, intents: list[str]) -> str | None:
    """Why the newest version of the default text model should be rebuilt by ``models build --if-missing``, or
    None: it predates the aspect head (its labels.json lists no aspects), or it was built from the default corpus
    when that had other intents than ``intents`` (the corpus's now). A model trained on other data is kept."""
    present = versions(repository, model)
    if not present:
        return None
    folder = version_dir(repository, model, present[-1])
    try:
        labels = json.loads((folder / LABELS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # unreadable: serving reports it; a build would not mend it
    if "aspects" not in labels:
        return "it predates the aspect head"
    try:
        sources = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))["data"]["sources"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if sources.get("train") == "intents_en_train.tsv" and sorted(labels.get("intents", [])) != sorted(intents):
        return f"it was built on {len(labels.get('intents', []))} intents; the default corpus now has {len(intents)}"
    return None


def version_dir(repository: Path, model: str, version: int) -> Path:
    return repository / model / str(version)


def model_file(repository: Path, model: str, version: int) -> Path:
    return version_dir(repository, model, version) / MODEL_FILE


@dataclass(frozen=True)
class TextModelInfo:
    """What the gateway needs to serve a text model, read from its version folder."""

    name: str
    version: int
    intents: tuple[str, ...]
    sentiments: tuple[str, ...]
    out_of_scope_threshold: float
    max_sequence_tokens: int
    tokenizer_path: Path
    #: Which in-scope score the threshold applies to: max_prob, energy or centroid (models/scoring.py).
    out_of_scope_score: str = "max_prob"
    #: Whether the sentiment head was trained (the data had sentiment labels).
    sentiment_trained: bool = True
    #: Unit-length class centroids of the embedding, for the centroid score.
    centroids: np.ndarray | None = None
    #: The complaint aspects of the aspect output, in order; empty for a model built before the aspect head.
    aspects: tuple[str, ...] = ()
    #: Whether the aspect head was trained (on a feedback corpus); an untrained head's output is not used.
    aspect_trained: bool = False
    #: An aspect is found when its probability is at least this (chosen by the build on held-out feedback).
    aspect_threshold: float = 0.5

    @classmethod
    def read(cls, repository: Path, model: str, version: int) -> TextModelInfo:
        folder = version_dir(repository, model, version)
        try:
            labels = json.loads((folder / LABELS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise Unavailable(f"model {model} version {version}: unreadable {LABELS_FILE}") from exc
        tokenizer = folder / TOKENIZER_FILE
        if not tokenizer.is_file():
            raise Unavailable(f"model {model} version {version}: {TOKENIZER_FILE} is missing")
        score = labels.get("out_of_scope_score", "max_prob")
        centroids = None
        if score == "centroid":
            try:
                centroids = np.load(folder / CENTROIDS_FILE)
            except OSError as exc:
                raise Unavailable(f"model {model} version {version}: {CENTROIDS_FILE} is missing") from exc
        return cls(
            name=model,
            version=version,
            intents=tuple(labels["intents"]),
            sentiments=tuple(labels["sentiments"]),
            out_of_scope_threshold=float(labels["out_of_scope_threshold"]),
            max_sequence_tokens=int(labels["max_sequence_tokens"]),
            tokenizer_path=tokenizer,
            out_of_scope_score=score,
            sentiment_trained=bool(labels.get("sentiment_trained", True)),
            centroids=centroids,
            aspects=tuple(labels.get("aspects", ())),
            aspect_trained=bool(labels.get("aspect_trained", False)),
            aspect_threshold=float(labels.get("aspect_threshold", 0.5)),
        )
