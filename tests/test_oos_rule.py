"""The out-of-scope rule and the training batches, on numbers small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest
from infogap_server.training import oos
from infogap_server.training.build import Recipe, _encoder_groups, length_batches, split_out_of_scope
from infogap_server.training.data import Example


def test_threshold_takes_the_most_recall_within_the_in_scope_budget():
    # 100 in-scope messages (90 correct) and 10 out-of-scope ones; scores higher means "more in scope".
    in_scores = np.linspace(0.30, 1.0, 100)
    correct = np.ones(100, bool)
    correct[::10] = False  # 10 wrong, spread over every score level
    oos_scores = np.array([0.05, 0.1, 0.15, 0.2, 0.25, 0.45, 0.55, 0.65, 0.9, 0.95])
    scores = np.concatenate([in_scores, oos_scores])
    is_oos = np.r_[np.zeros(100, bool), np.ones(10, bool)]
    ok = np.r_[correct, np.zeros(10, bool)]

    t, in_acc, recall = oos.best_threshold(scores, ok, is_oos, max_in_scope_loss=0.0)
    # no in-scope accuracy to give: reject only below the lowest correct in-scope score (index 1, 0.307)
    assert in_acc == pytest.approx(0.90) and recall == pytest.approx(0.5) and 0.25 < t <= in_scores[1]

    t, in_acc, recall = oos.best_threshold(scores, ok, is_oos, max_in_scope_loss=0.05)
    assert in_acc == pytest.approx(0.90) and recall == pytest.approx(0.5)  # 0.45 would cost 19 points

    t, in_acc, recall = oos.best_threshold(scores, ok, is_oos, max_in_scope_loss=0.20)
    assert in_acc == pytest.approx(0.71) and recall == pytest.approx(0.6)  # rejecting 0.45 costs 19 points
    accepted = scores >= t
    assert (accepted & ok).sum() / 100 == pytest.approx(in_acc) and (~accepted & is_oos).sum() / 10 == recall

    t, in_acc, recall = oos.best_threshold(scores, ok, is_oos, max_in_scope_loss=1.0)
    assert recall == 1.0  # with no budget limit everything out of scope can be rejected


def test_choose_prefers_the_score_that_separates_better():
    rng = np.random.default_rng(0)
    n_in, n_out, k = 300, 100, 5
    labels = np.r_[rng.integers(k, size=n_in), -np.ones(n_out, int)]
    logits = rng.normal(0, 1, (n_in + n_out, k))
    logits[np.arange(n_in), labels[:n_in]] += 6.0  # in-scope: one confident intent
    logits[n_in:] *= 0.3  # out of scope: flat and small
    embeddings = rng.normal(0, 1, (n_in + n_out, 8))  # carries no information at all
    centroids = oos.class_centroids(embeddings[:n_in], labels[:n_in], k)
    rule = oos.choose(logits, embeddings, labels, centroids, 0.02, 0.005)
    assert rule["score"] in ("max_prob", "energy")
    compared = rule["compared_on_validation"]
    assert compared[rule["score"]]["validation_oos_recall"] > compared["centroid"]["validation_oos_recall"]
    result = oos.evaluate(logits, embeddings, labels, centroids, rule["score"], rule["threshold"])
    assert result["oos_recall"] > 0.9 and result["in_scope_accuracy"] >= rule["validation_top_intent_accuracy"] - 0.005


def test_without_out_of_scope_examples_a_quantile_of_in_scope_confidence_is_used():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (200, 4))
    rule = oos.choose(logits, rng.normal(size=(200, 8)), logits.argmax(1), None, 0.02, 0.005)
    assert rule["score"] == "max_prob"
    assert (oos.softmax(logits).max(1) < rule["threshold"]).mean() == pytest.approx(0.02, abs=0.006)


def test_length_batches_cover_every_example_once_with_little_padding():
    rng = np.random.default_rng(3)
    lengths = rng.integers(3, 40, size=1000)
    batches = length_batches(lengths, 32, 10, np.random.default_rng(7))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000)) and len(batches) == 32  # ceil(1000 / 32)
    padded = sum(len(b) * lengths[b].max() for b in batches)
    random_order = np.random.default_rng(7).permutation(1000)
    padded_random = sum(len(b) * lengths[b].max() for b in np.array_split(random_order, 32))
    assert padded < 0.8 * padded_random
    again = length_batches(lengths, 32, 10, np.random.default_rng(7))
    assert all((a == b).all() for a, b in zip(batches, again, strict=True))  # a seed gives the same epoch


def test_out_of_scope_examples_train_or_choose_the_threshold_never_both():
    train = [Example(f"t{i}", "oos") for i in range(10)]
    valid = [Example(f"v{i}", "oos") for i in range(4)]
    fit, held = split_out_of_scope(train, valid, Recipe())
    assert fit == train and held == valid
    fit, held = split_out_of_scope(train, [], Recipe(oos_holdout_fraction=0.3))
    assert len(held) == 3 and len(fit) == 7 and not set(fit) & set(held)
    assert split_out_of_scope(train[:1], [], Recipe()) == ([], train[:1])  # one example: the threshold's
    assert split_out_of_scope([], [], Recipe()) == ([], [])


def test_encoder_groups_hold_every_trainable_weight_once():
    torch = pytest.importorskip("torch")
    from transformers import BertConfig, BertModel

    encoder = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                                   intermediate_size=32))
    encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    groups = _encoder_groups(encoder, Recipe(encoder_lr=1e-4, layer_lr_decay=0.5))
    ids = [id(p) for g in groups for p in g["params"]]
    trainable = [id(p) for p in encoder.parameters() if p.requires_grad]
    assert sorted(ids) == sorted(trainable) and len(ids) == len(set(ids))
    assert id(encoder.embeddings.word_embeddings.weight) not in ids
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    top, bottom = encoder.encoder.layer[2], encoder.encoder.layer[0]
    assert rate[id(next(top.parameters()))] == pytest.approx(1e-4)
    assert rate[id(next(bottom.parameters()))] == pytest.approx(1e-4 * 0.25)
    assert rate[id(encoder.embeddings.position_embeddings.weight)] == pytest.approx(1e-4 * 0.125)
    assert isinstance(torch.optim.AdamW(groups), torch.optim.AdamW)
