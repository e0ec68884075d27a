"""A tiny ONNX text model with the real model's inputs and outputs, built in a fixture to keep unit tests fast.

Each intent has a keyword token whose embedding votes for it; the model sums the votes of the message's tokens.
So "cancel ..." is cancel_order and a message with no keyword scores every intent alike (out of scope). Aspects
work the same way: "late" names delivery_delay, "broken" damaged_item, "rude" staff_attitude (probability 0.88
for one mention, 0.12 with none).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from infogap_server.models.repository import text_model_config, write_config
from infogap_server.models.tensors import (
    ASPECT_LOGITS,
    ASPECTS,
    ATTENTION_MASK,
    EMBEDDING,
    INPUT_IDS,
    INTENT_LOGITS,
    SENTIMENT_LOGITS,
)
from infogap_server.training.build import encoder_dir
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer

INTENTS = ["cancel_order", "complaint", "get_refund", "track_order"]
KEYWORDS = {"cancel_order": "cancel", "complaint": "complain", "get_refund": "money", "track_order": "where"}
SENTIMENT_WORDS = {"negative": "angry", "neutral": "please", "positive": "thanks"}
SENTIMENTS = ["negative", "neutral", "positive"]
ASPECT_WORDS = {"late": "delivery_delay", "broken": "damaged_item", "rude": "staff_attitude"}
ASPECT_BIAS = -2.0  # sigmoid(-2) = 0.12 without the word; one mention adds 4: sigmoid(2) = 0.88
EMBED_DIM = 8


def build_tiny_model(repository: Path, name: str = "infogap_text", version: int = 1) -> Path:
    tokenizer_src = encoder_dir() / "tokenizer.json"
    tok = Tokenizer.from_file(str(tokenizer_src))
    vocab = tok.get_vocab_size()
    n_i, n_s, n_a = len(INTENTS), len(SENTIMENTS), len(ASPECTS)
    table = np.zeros((vocab, n_i + n_s + EMBED_DIM + n_a), dtype=np.float32)
    for i, intent in enumerate(INTENTS):
        table[tok.token_to_id(KEYWORDS[intent]), i] = 6.0
    for j, label in enumerate(SENTIMENTS):
        table[tok.token_to_id(SENTIMENT_WORDS[label]), n_i + j] = 6.0
    rng = np.random.default_rng(0)
    table[:, n_i + n_s : n_i + n_s + EMBED_DIM] = rng.normal(size=(vocab, EMBED_DIM)).astype(np.float32)
    for word, aspect in ASPECT_WORDS.items():
        table[tok.token_to_id(word), n_i + n_s + EMBED_DIM + ASPECTS.index(aspect)] = 4.0

    nodes = [
        helper.make_node("Gather", ["table", INPUT_IDS], ["tok"], axis=0),  # [B, L, F]
        helper.make_node("Cast", [ATTENTION_MASK], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis_last"], ["mask3"]),  # [B, L, 1]
        helper.make_node("Mul", ["tok", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis_seq"], ["summed"], keepdims=0),  # [B, F]
        helper.make_node("Slice", ["summed", "i_start", "i_end", "axis_last"], [INTENT_LOGITS]),
        helper.make_node("Slice", ["summed", "s_start", "s_end", "axis_last"], [SENTIMENT_LOGITS]),
        helper.make_node("Slice", ["summed", "e_start", "e_end", "axis_last"], ["raw_embedding"]),
        helper.make_node("LpNormalization", ["raw_embedding"], [EMBEDDING], axis=-1, p=2),
        helper.make_node("Slice", ["summed", "a_start", "a_end", "axis_last"], ["raw_aspects"]),
        helper.make_node("Add", ["raw_aspects", "aspect_bias"], [ASPECT_LOGITS]),
    ]
    def ints(name, v):
        return numpy_helper.from_array(np.array(v, dtype=np.int64), name)
    initializers = [
        numpy_helper.from_array(table, "table"),
        ints("axis_last", [-1]),
        ints("axis_seq", [1]),
        ints("i_start", [0]),
        ints("i_end", [n_i]),
        ints("s_start", [n_i]),
        ints("s_end", [n_i + n_s]),
        ints("e_start", [n_i + n_s]),
        ints("e_end", [n_i + n_s + EMBED_DIM]),
        ints("a_start", [n_i + n_s + EMBED_DIM]),
        ints("a_end", [n_i + n_s + EMBED_DIM + n_a]),
        numpy_helper.from_array(np.full((n_a,), ASPECT_BIAS, dtype=np.float32), "aspect_bias"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_text",
        [
            helper.make_tensor_value_info(INPUT_IDS, TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(ATTENTION_MASK, TensorProto.INT64, ["batch", "sequence"]),
        ],
        [
            helper.make_tensor_value_info(INTENT_LOGITS, TensorProto.FLOAT, ["batch", n_i]),
            helper.make_tensor_value_info(SENTIMENT_LOGITS, TensorProto.FLOAT, ["batch", n_s]),
            helper.make_tensor_value_info(EMBEDDING, TensorProto.FLOAT, ["batch", EMBED_DIM]),
            helper.make_tensor_value_info(ASPECT_LOGITS, TensorProto.FLOAT, ["batch", n_a]),
        ],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder = repository / name / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "model.onnx")
    shutil.copy(tokenizer_src, folder / "tokenizer.json")
    write_config(repository, name, text_model_config(name, n_i, embedding_dim=EMBED_DIM, max_batch_size=16))
    labels = {"intents": INTENTS, "sentiments": SENTIMENTS, "out_of_scope_threshold": 0.5, "max_sequence_tokens": 64,
              "aspects": list(ASPECTS), "aspect_trained": True}
    (folder / "labels.json").write_text(json.dumps(labels))
    return folder


#: The tiny behaviour model: the churn logit grows with the days since the last event (0 at 30 days) and with each
#: cancellation in the sequence; the value is 10 per event. Enough to see padding, batching and explanations.
TINY_RECENCY_WEIGHT = 1.5
TINY_CANCELLATION_WEIGHT = 0.8


def tiny_churn(days_since_last: float, cancellations: int) -> float:
    """What the tiny behaviour model answers, computed here to check the served one against."""
    recency = np.log1p(days_since_last) - np.log1p(30.0)
    logit = TINY_RECENCY_WEIGHT * recency + TINY_CANCELLATION_WEIGHT * cancellations
    return float(1 / (1 + np.exp(-logit)))


def build_tiny_behaviour_model(repository: Path, name: str = "infogap_behaviour", version: int = 1) -> Path:
    from infogap_server.models.behaviour import behaviour_model_config
    from infogap_server.models.tensors import (
        CHURN_PROBABILITY,
        EVENT_NUMBERS,
        EVENT_TYPE_IDS,
        HISTORY_LENGTHS,
        LOG_DAYS_SINCE_LAST,
        VALUE_90D,
    )
    from infogap_server.services.needs import EVENT_TYPES

    cancellation = EVENT_TYPES.index("cancellation") + 1

    def const(name, value, dtype=np.float32):
        return numpy_helper.from_array(np.array(value, dtype=dtype), name)

    nodes = [
        helper.make_node("Equal", [EVENT_TYPE_IDS, "cancellation_id"], ["is_cancellation"]),
        helper.make_node("Cast", ["is_cancellation"], ["cancel_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["cancel_f", "axis_events"], ["cancellations"], keepdims=1),  # [B, 1]
        helper.make_node("Sub", [LOG_DAYS_SINCE_LAST, "log_30"], ["recency"]),
        helper.make_node("Mul", ["recency", "w_recency"], ["recency_part"]),
        helper.make_node("Mul", ["cancellations", "w_cancel"], ["cancel_part"]),
        helper.make_node("Add", ["recency_part", "cancel_part"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], [CHURN_PROBABILITY]),
        helper.make_node("Cast", [HISTORY_LENGTHS], ["length_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["length_f", "per_event"], [VALUE_90D]),
        # event_numbers must be an input of the graph (config and gateway send it); it adds nothing here.
        helper.make_node("ReduceSum", [EVENT_NUMBERS, "axis_all"], ["unused"], keepdims=0),
    ]
    initializers = [
        const("cancellation_id", cancellation, np.int64),
        const("axis_events", [1], np.int64),
        const("axis_all", [1, 2], np.int64),
        const("log_30", np.log1p(30.0)),
        const("w_recency", TINY_RECENCY_WEIGHT),
        const("w_cancel", TINY_CANCELLATION_WEIGHT),
        const("per_event", 10.0),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_behaviour",
        [
            helper.make_tensor_value_info(EVENT_TYPE_IDS, TensorProto.INT64, ["batch", "events"]),
            helper.make_tensor_value_info(EVENT_NUMBERS, TensorProto.FLOAT, ["batch", "events", 3]),
            helper.make_tensor_value_info(HISTORY_LENGTHS, TensorProto.INT64, ["batch", 1]),
            helper.make_tensor_value_info(LOG_DAYS_SINCE_LAST, TensorProto.FLOAT, ["batch", 1]),
        ],
        [
            helper.make_tensor_value_info(CHURN_PROBABILITY, TensorProto.FLOAT, ["batch", 1]),
            helper.make_tensor_value_info(VALUE_90D, TensorProto.FLOAT, ["batch", 1]),
        ],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder = repository / name / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "model.onnx")
    write_config(repository, name, behaviour_model_config(name, max_batch_size=16))
    labels = {"event_types": list(EVENT_TYPES), "trained_event_types": ["cancellation", "order"], "max_events": 50,
              "horizon_days": 90, "served": "tiny"}
    (folder / "labels.json").write_text(json.dumps(labels))
    return folder
