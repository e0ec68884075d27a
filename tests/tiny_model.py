"""A tiny ONNX text model with the real model's inputs and outputs, built in a fixture to keep unit tests fast.

Each intent has a keyword token whose embedding votes for it; the model sums the votes of the message's tokens.
So "cancel ..." is cancel_order and a message with no keyword scores every intent alike (out of scope).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from infogap_server.models.repository import text_model_config, write_config
from infogap_server.models.tensors import ATTENTION_MASK, EMBEDDING, INPUT_IDS, INTENT_LOGITS, SENTIMENT_LOGITS
from infogap_server.training.build import encoder_dir
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer

INTENTS = ["cancel_order", "complaint", "get_refund", "track_order"]
KEYWORDS = {"cancel_order": "cancel", "complaint": "complain", "get_refund": "money", "track_order": "where"}
SENTIMENT_WORDS = {"negative": "angry", "neutral": "please", "positive": "thanks"}
SENTIMENTS = ["negative", "neutral", "positive"]
EMBED_DIM = 8


def build_tiny_model(repository: Path, name: str = "infogap_text", version: int = 1) -> Path:
    tokenizer_src = encoder_dir() / "tokenizer.json"
    tok = Tokenizer.from_file(str(tokenizer_src))
    vocab = tok.get_vocab_size()
    n_i, n_s = len(INTENTS), len(SENTIMENTS)
    table = np.zeros((vocab, n_i + n_s + EMBED_DIM), dtype=np.float32)
    for i, intent in enumerate(INTENTS):
        table[tok.token_to_id(KEYWORDS[intent]), i] = 6.0
    for j, label in enumerate(SENTIMENTS):
        table[tok.token_to_id(SENTIMENT_WORDS[label]), n_i + j] = 6.0
    rng = np.random.default_rng(0)
    table[:, n_i + n_s :] = rng.normal(size=(vocab, EMBED_DIM)).astype(np.float32)

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
    labels = {"intents": INTENTS, "sentiments": SENTIMENTS, "out_of_scope_threshold": 0.5, "max_sequence_tokens": 64}
    (folder / "labels.json").write_text(json.dumps(labels))
    return folder
