"""The behaviour model's build (what ``infogap models build`` runs beside the text model): the time split, the two
baselines and the GRU trained on it, the one that is best on validation among those that can be served exported to
ONNX, and its version folder written into the model repository with labels and a model card.

The version folder holds ``model.onnx`` (calibrated probability and 90-day value out), ``labels.json`` (what serving
reads: event types, sequence limit, horizon, which candidate serves) and ``model_card.json`` (data, split dates,
every candidate's metrics on validation and test, calibration, the choice and why). It is built beside its final
place and renamed, so it appears whole or not at all.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

from infogap_server.models.behaviour import behaviour_model_config, pad_histories
from infogap_server.models.repository import (
    CARD_FILE,
    CONFIG_FILE,
    LABELS_FILE,
    MODEL_FILE,
    version_dir,
    versions,
    write_config,
)
from infogap_server.models.tensors import CHURN_PROBABILITY
from infogap_server.services.needs import EVENT_TYPES
from infogap_server.training.behaviour.data import (
    ATTRIBUTION,
    DEFAULT_EVENTS,
    HORIZON,
    SPLITS,
    Example,
    read_events,
    split_examples,
)

BEHAVIOUR_MODEL = "infogap_behaviour"
#: Candidates the build can serve (the same inputs and outputs in ONNX); the boosted baseline is reported only.
SERVABLE = ("gru", "rfm_logistic")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def _rfm_module(pipeline, splits: dict[str, list[Example]]):
    """The RFM logistic regression as an exportable module: a ridge value head on the same standardized features,
    and a temperature on validation like the GRU's."""
    from sklearn.linear_model import Ridge

    from infogap_server.training.behaviour.baselines import matrix
    from infogap_server.training.behaviour.export import ExportedRfmLogistic
    from infogap_server.training.behaviour.gru import fit_temperature

    x_train, _ = matrix(splits["train"], sequence=False)
    values = np.log1p([x.value for x in splits["train"]])
    ridge = Ridge(alpha=1.0).fit(pipeline[0].transform(x_train), values)
    x_val, y_val = matrix(splits["validation"], sequence=False)
    temperature = fit_temperature(_logit(pipeline.predict_proba(x_val)[:, 1]), y_val)
    return ExportedRfmLogistic(pipeline, ridge.coef_, float(ridge.intercept_), temperature), temperature


def _rfm_test_ece(pipeline, splits: dict[str, list[Example]], temperature: float) -> tuple[float, float]:
    """Test ECE of the RFM logistic regression with its temperature, and without."""
    from infogap_server.training.behaviour.baselines import matrix, metrics

    x, y = matrix(splits["test"], sequence=False)
    logits = _logit(pipeline.predict_proba(x)[:, 1])
    return metrics(y, 1 / (1 + np.exp(-logits / temperature)))["ece"], metrics(y, 1 / (1 + np.exp(-logits)))["ece"]


def _check_export(module, path: Path, examples: list[Example]) -> float:
    """Largest difference between the exported graph and the module on real histories (batched, padded)."""
    import onnxruntime as ort
    import torch

    from infogap_server.training.behaviour.gru import encode

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for start in range(0, len(examples), 256):
        arrays = pad_histories([encode(x) for x in examples[start:start + 256]])
        with torch.no_grad():
            expected = module(**{k: torch.from_numpy(v) for k, v in arrays.items()})[0].numpy()
        got = session.run([CHURN_PROBABILITY], arrays)[0]
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def build_behaviour_model(
    repository: Path,
    *,
    name: str = BEHAVIOUR_MODEL,
    version: int | None = None,
    events_path: Path = DEFAULT_EVENTS,
    epochs: int = 12,
    threads: int | None = None,
    log=print,
) -> Path:
    """Train the candidates, serve the best on validation, write ``<repository>/<name>/<version>``; returns it."""
    from infogap_server.training.behaviour.baselines import fit_baselines
    from infogap_server.training.behaviour.export import ExportedBehaviour, export_onnx
    from infogap_server.training.behaviour.gru import MAX_EVENTS, fit_gru

    started = time.perf_counter()
    events = read_events(events_path)
    splits = split_examples(events)
    config_path = repository / name / CONFIG_FILE
    if not config_path.is_file():  # before the work, not after: a repository we cannot write fails first
        write_config(repository, name, behaviour_model_config(name))
    report, fitted = fit_baselines(splits)
    gru, gru_temperature, gru_report = fit_gru(splits, epochs=epochs, threads=threads, log=log)
    report["gru"] = {split: gru_report[split] for split in ("validation", "test")}
    served = max(SERVABLE, key=lambda k: report[k]["validation"]["roc_auc"])
    best = max(report, key=lambda k: report[k]["validation"]["roc_auc"])
    if served == "gru":
        module = ExportedBehaviour(gru, gru_temperature, gru_report["value_scale"])
        temperature = gru_temperature
        served_ece, served_ece_before = report["gru"]["test"]["ece"], report["gru"]["test"]["ece_before_calibration"]
    else:
        module, temperature = _rfm_module(fitted["rfm_logistic"], splits)
        served_ece, served_ece_before = _rfm_test_ece(fitted["rfm_logistic"], splits, temperature)
    reason = (f"{served} has the highest validation ROC AUC ({report[served]['validation']['roc_auc']:.4f})"
              + ("" if best == served else f"; {best} is higher ({report[best]['validation']['roc_auc']:.4f}) but "
                 "has no ONNX export here, so the best servable candidate serves"))
    gain = report["gru"]["test"]["roc_auc"] - report["rfm_logistic"]["test"]["roc_auc"]

    present = versions(repository, name)
    version = version if version is not None else (present[-1] + 1 if present else 1)
    trained_types = sorted({e.type for e in events})
    with tempfile.TemporaryDirectory(prefix=".build-", dir=repository / name) as tmp:
        out = Path(tmp) / "out"
        out.mkdir()
        export_onnx(module, out / MODEL_FILE)
        export_error = _check_export(module, out / MODEL_FILE, splits["test"])
        if export_error > 1e-4:
            raise RuntimeError(f"the exported behaviour model differs from the trained one by {export_error:.2e}")
        labels = {
            "event_types": list(EVENT_TYPES),
            "trained_event_types": trained_types,
            "max_events": MAX_EVENTS,
            "horizon_days": HORIZON.days,
            "served": served,
        }
        (out / LABELS_FILE).write_text(json.dumps(labels, indent=2) + "\n", encoding="utf-8")
        card = {
            "model": name,
            "version": version,
            "task": f"churn (no order in the {HORIZON.days} days after the scoring time) and {HORIZON.days}-day value",
            "data": {
                "file": events_path.name,
                "attribution": ATTRIBUTION,
                "events": len(events),
                "customers": len({e.customer for e in events}),
                "first_event": min(e.time for e in events).isoformat(),
                "last_event": max(e.time for e in events).isoformat(),
                "event_types": trained_types,
            },
            "split": {
                split: {
                    "cutoffs": [c.date().isoformat() for c in cutoffs],
                    "label_window_days": HORIZON.days,
                    "last_label_day": (max(cutoffs) + HORIZON - timedelta(days=1)).date().isoformat(),
                    "examples": len(splits[split]),
                    "churn_rate": round(float(np.mean([x.churned for x in splits[split]])), 4),
                }
                for split, cutoffs in SPLITS.items()
            },
            "candidates": report,
            "served": served,
            "why": reason,
            "goal": {
                "gru_test_roc_auc_over_rfm_logistic": round(gain, 4),
                "target": 0.02,
                "reached": bool(gain >= 0.02),
            },
            "calibration": {
                "method": "temperature scaling of the churn logit, fitted on the validation split",
                "temperature": round(temperature, 4),
                "test_ece": served_ece,
                "test_ece_before": served_ece_before,
                "note": "the baselines' ECE in 'candidates' is scikit-learn's probabilities, not temperature-scaled",
            },
            "value_90d": {
                "method": "the GRU's value head (fitted on log1p spend), times one factor fitted on validation so "
                          "that the mean forecast is the mean spend; compared with the naive forecast 'the last "
                          "90 days repeat'",
                "scale": gru_report["value_scale"],
                **gru_report["value"],
            } if served == "gru" else None,
            "gru": {"epochs": epochs, "hidden": gru.gru.hidden_size, "max_events": MAX_EVENTS,
                    "train_seconds": gru_report["train_seconds"]},
            "export_max_abs_error": float(f"{export_error:.2e}"),
            "limits": (
                "Trained on one UK online shop's invoices (orders and cancellations only): events of the other "
                "types (contact, return, complaint, refund) are not fed to the model. Values are in that shop's "
                "currency (GBP) and scale."
            ),
            "build_seconds": round(time.perf_counter() - started, 1),
        }
        (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        target = version_dir(repository, name, version)
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    log(f"wrote {target}: {served} serves ({reason}); {time.perf_counter() - started:.0f}s")
    return target

