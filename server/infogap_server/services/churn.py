"""Churn risk as domain logic: a customer's events scored by the behaviour model, and the history signals that
raised the risk most, measured on the model itself.

Explanations are what-ifs, not rules: each signal found in the history (no order for a while, recent cancellations)
is taken away in a copy of the history, the copy is scored by the same model in the same batch, and the signal's
contribution is how much the risk falls without it. Only signals that lower the risk by at least
``MIN_CONTRIBUTION`` are named, largest first. A history with no event of a type the model was trained on gets no
risk at all (None), never a made-up one.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from infogap_server.services.behaviour_model import BehaviourModel, BehaviourPrediction
from infogap_server.services.needs import BehaviorEvent

#: "No order for N days" is a signal from this many days on.
NO_ORDER_SIGNAL_DAYS = 30
#: The what-if for it: the customer's typical order placed this many days before the scoring time.
WHAT_IF_ORDER_DAYS = 7
#: Events of other trained types (cancellations) count as a signal within this window.
RECENT_WINDOW_DAYS = 90
#: Smallest fall in risk (probability points) for a signal to be named.
MIN_CONTRIBUTION = 0.01
MAX_REASONS = 3


@dataclass(frozen=True)
class ChurnReason:
    #: no_recent_order, or recent_<type>s (recent_cancellations).
    signal: str
    #: In words, for example "no order for 120 days".
    description: str
    #: How much the risk falls when the signal is taken away (0-1).
    contribution: float


@dataclass(frozen=True)
class ChurnAssessment:
    risk: float
    value_90d: float
    #: Events the model read (of the types it was trained on, the latest max_events).
    events_used: int
    reasons: tuple[ChurnReason, ...]
    model_name: str
    model_version: int


def _naive_utc(events: Iterable[BehaviorEvent]) -> list[BehaviorEvent]:
    out = []
    for e in events:
        if e.time is not None and e.time.tzinfo is not None:
            e = replace(e, time=e.time.astimezone(UTC).replace(tzinfo=None))
        out.append(e)
    return out


class ChurnService:
    """Scores histories with one version of the behaviour model."""

    def __init__(self, model: BehaviourModel) -> None:
        self._model = model

    @property
    def model(self) -> BehaviourModel:
        return self._model

    async def assess(
        self, events: Sequence[BehaviorEvent], as_of: datetime, *, explain: bool = False
    ) -> ChurnAssessment | None:
        """The risk (and, with ``explain``, the reasons) of ``events`` at ``as_of`` (naive UTC); None when the
        model has nothing to read."""
        as_of = as_of.astimezone(UTC).replace(tzinfo=None) if as_of.tzinfo else as_of
        history = _naive_utc(events)
        encoded = self._model.encode(history, as_of)
        if encoded is None:
            return None
        what_ifs = self._what_ifs(history, as_of) if explain else []
        variants = [self._model.encode(h, as_of) for _, _, h in what_ifs]
        predictions: list[BehaviourPrediction] = await asyncio.gather(
            self._model.predict(encoded), *(self._model.predict(v) for v in variants if v is not None)
        )
        base, rest = predictions[0], iter(predictions[1:])
        reasons = []
        for (signal, description, _), variant in zip(what_ifs, variants, strict=True):
            if variant is None:
                continue  # taking the signal away left nothing to score: it explains nothing on its own
            fall = base.churn_probability - next(rest).churn_probability
            if fall >= MIN_CONTRIBUTION:
                reasons.append(ChurnReason(signal, description, round(fall, 4)))
        reasons.sort(key=lambda r: -r.contribution)
        info = self._model.info
        return ChurnAssessment(
            risk=base.churn_probability,
            value_90d=base.value_90d,
            events_used=len(encoded),
            reasons=tuple(reasons[:MAX_REASONS]),
            model_name=info.name,
            model_version=info.version,
        )

    def _what_ifs(self, history: list[BehaviorEvent], as_of: datetime) -> list[tuple[str, str, list[BehaviorEvent]]]:
        """(signal, description, the history without it) for each signal present."""
        known = set(self._model.info.trained_event_types)
        dated = [e for e in history if e.time is not None and e.type in known and e.time <= as_of]
        found = []
        orders = [e for e in dated if e.type == "order"]
        if "order" in known and orders:
            days = (as_of - max(e.time for e in orders)).days
            if days >= NO_ORDER_SIGNAL_DAYS:
                typical = BehaviorEvent(
                    "order", as_of - timedelta(days=WHAT_IF_ORDER_DAYS),
                    statistics.median(e.amount for e in orders), round(statistics.median(e.item_count for e in orders)),
                )
                found.append(("no_recent_order", f"no order for {days} days", [*history, typical]))
        since = as_of - timedelta(days=RECENT_WINDOW_DAYS)
        for kind in sorted(known - {"order"}):
            recent = [e for e in dated if e.type == kind and e.time > since]
            if recent:
                n = len(recent)
                without = [e for e in history if not any(e is r for r in recent)]
                plural = f"{kind}s" if n != 1 else kind
                found.append((f"recent_{kind}s", f"{n} {plural} in the last {RECENT_WINDOW_DAYS} days", without))
        return found
