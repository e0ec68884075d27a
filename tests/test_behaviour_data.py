"""The behaviour model's data stage and baselines (issue 11, stages 1-2): the shipped figures-only event file is
exactly what the ingest path's conversion and cleaning make of the UCI file, the split is by time with label
windows that never reach into a later split's, labels are right, and the baselines learn something."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from infogap_server.training.behaviour import baselines
from infogap_server.training.behaviour.data import (
    DEFAULT_EVENTS,
    HORIZON,
    SPLITS,
    TEST_CUTOFF,
    Event,
    derive_events,
    examples_at,
    read_events,
    split_examples,
    write_events,
)
from infogap_server.training.cli_train import ONLINE_RETAIL


def test_the_shipped_event_file_is_what_the_ingest_path_makes_of_the_source(tmp_path):
    events = derive_events(ONLINE_RETAIL)
    write_events(tmp_path / "events.csv.gz", events)
    assert (tmp_path / "events.csv.gz").read_bytes() == DEFAULT_EVENTS.read_bytes(), (
        "the shipped file is stale: run `infogap data online-retail-events`"
    )
    assert read_events(DEFAULT_EVENTS) == events
    assert len(events) == 22_181  # the import's 22,190 invoices less 9 duplicate contents
    assert {e.type for e in events} == {"order", "cancellation"}
    customers = sorted({e.customer for e in events})
    assert customers == list(range(1, len(customers) + 1))  # renumbered: no source id in the file
    assert all(e.amount >= 0 and e.item_count >= 0 for e in events)


def test_splits_are_in_time_order_and_label_windows_never_overlap_a_later_split():
    train, validation, test = SPLITS["train"], SPLITS["validation"], SPLITS["test"]
    assert max(train) + HORIZON <= min(validation) and max(validation) + HORIZON <= min(test)
    assert list(train) == sorted(train)
    assert TEST_CUTOFF + HORIZON <= datetime(2011, 12, 10)  # the data's last day closes the test labels


def test_labels_come_from_the_ninety_days_after_the_cutoff():
    cutoff = datetime(2011, 3, 1)
    day = timedelta(days=1)
    events = [
        Event(1, cutoff - 10 * day, "order", 10.0, 1),
        Event(1, cutoff + 30 * day, "order", 25.0, 2),  # within the horizon: not churned
        Event(1, cutoff + 40 * day, "cancellation", 5.0, 1),
        Event(2, cutoff - 50 * day, "order", 7.0, 1),
        Event(2, cutoff + 95 * day, "order", 9.0, 1),  # after the horizon: churned
        Event(3, cutoff + 1 * day, "order", 1.0, 1),  # no history before the cutoff: no example
    ]
    by_customer = {x.customer: x for x in examples_at(events, cutoff)}
    assert sorted(by_customer) == [1, 2]
    assert not by_customer[1].churned and by_customer[1].value == 20.0
    assert by_customer[2].churned and by_customer[2].value == 0.0
    assert [e.time for e in by_customer[1].history] == [cutoff - 10 * day]


def test_metrics_see_calibration():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=20_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    assert baselines.expected_calibration_error(y, p) < 0.02
    assert baselines.expected_calibration_error(y, np.clip(p + 0.3, 0, 1)) > 0.2


def test_baselines_learn_churn_on_the_test_period():
    report, _ = baselines.fit_baselines(split_examples(read_events(DEFAULT_EVENTS)))
    for name in ("rfm_logistic", "rfm_seq_boosted"):
        test = report[name]["test"]
        assert test["examples"] > 3000
        assert test["roc_auc"] > 0.65, (name, test)
        assert test["pr_auc"] > test["churn_rate"]  # better than ranking at random


def test_gru_learns_churn_and_padding_never_changes_a_score():
    import torch
    from infogap_server.training.behaviour.gru import batch_tensors, fit_gru

    splits = split_examples(read_events(DEFAULT_EVENTS))
    model, temperature, report = fit_gru(splits, epochs=3, threads=2, log=lambda _: None)
    assert report["test"]["roc_auc"] > 0.7 and report["test"]["pr_auc"] > report["test"]["churn_rate"]
    assert 0.25 <= temperature <= 8.0
    # Padded per batch: a short history scored alone and beside a long one gets the same logit.
    short = min(splits["test"], key=lambda x: len(x.history))
    long = max(splits["test"], key=lambda x: len(x.history))
    model.eval()
    with torch.no_grad():
        alone, _ = model(**batch_tensors([short]))
        together, _ = model(**batch_tensors([short, long]))
    assert abs(float(alone[0]) - float(together[0])) < 1e-5


def test_onnx_export_scores_like_the_trained_model_at_any_batch_and_length(tmp_path):
    import onnxruntime as ort
    import torch
    from infogap_server.training.behaviour.export import ExportedBehaviour, export_onnx
    from infogap_server.training.behaviour.gru import batch_tensors, fit_gru

    splits = split_examples(read_events(DEFAULT_EVENTS))
    model, temperature, _ = fit_gru(splits, epochs=1, threads=2, log=lambda _: None)
    session = ort.InferenceSession(str(export_onnx(ExportedBehaviour(model, temperature), tmp_path / "b.onnx")),
                                   providers=["CPUExecutionProvider"])
    model.eval()
    longest = sorted(splits["test"], key=lambda x: -len(x.history))[:5]
    for examples in (splits["test"][:1], splits["test"][100:117], longest):
        tensors = batch_tensors(examples)
        with torch.no_grad():
            logits, _ = model(**tensors)
        expected = torch.sigmoid(logits / temperature).numpy()
        feed = {k: v.numpy() for k, v in tensors.items()}
        feed["lengths"] = feed["lengths"].reshape(-1, 1)
        probability, value = session.run(None, feed)
        assert probability.shape == (len(examples), 1) and (value >= 0).all()
        assert np.abs(probability[:, 0] - expected).max() < 1e-5


def test_the_rfm_logistic_regression_exports_with_the_same_inputs(tmp_path):
    """A build where the baseline is best on validation serves it: its ONNX form computes the RFM features from
    the sequence inputs and scores like scikit-learn (calibration aside)."""
    import onnxruntime as ort
    from infogap_server.models.behaviour import pad_histories
    from infogap_server.training.behaviour.build import _rfm_module
    from infogap_server.training.behaviour.export import export_onnx
    from infogap_server.training.behaviour.gru import encode

    splits = split_examples(read_events(DEFAULT_EVENTS))
    _, fitted = baselines.fit_baselines(splits)
    pipeline = fitted["rfm_logistic"]
    module, temperature = _rfm_module(pipeline, splits)
    session = ort.InferenceSession(str(export_onnx(module, tmp_path / "rfm.onnx")), providers=["CPUExecutionProvider"])
    examples = [x for x in splits["test"] if len(x.history) <= 200][:300]  # the model keeps the latest 200
    probability, value = session.run(None, pad_histories([encode(x) for x in examples]))
    x, _ = baselines.matrix(examples, sequence=False)
    logit = np.log(pipeline.predict_proba(x)[:, 1]) - np.log(pipeline.predict_proba(x)[:, 0])
    expected = 1 / (1 + np.exp(-logit / temperature))
    assert np.abs(probability[:, 0] - expected).max() < 1e-3
    assert (value >= 0).all() and np.isfinite(value).all()
