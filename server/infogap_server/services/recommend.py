"""Recommend as domain logic: the plans for a customer's need, ranked by the policy in service, with reasons, each
answer logged as a decision (what the policy saw, every candidate's probability, the seed) before it is returned.

Order of work: validate; read the text (the text model through :class:`NeedsService`: intent probabilities,
sentiment, urgency, out of scope, embedding) when there is one; know the customer (history from the request or the
store, churn risk from the behaviour model, RFM segment); filter the catalogue's plans for the intent by their
eligibility rules; build the features (:mod:`infogap_server.policies.ranking`); score with the policy; draw the
first plan from its pmf with a generator seeded by the decision id (so :func:`replay` draws it again); rank the
rest by the policy's value; log the decision; answer.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from infogap_server.errors import InvalidArgument, Unavailable
from infogap_server.policies.bandit import decision_seed, sample
from infogap_server.policies.ranking import PlanInput, Policy, PolicyHolder, context_features, plan_features
from infogap_server.services.catalogue import CHANNELS, Catalogue, CatalogueHolder, Context, Plan
from infogap_server.services.customers import rfm as rfm_of
from infogap_server.services.customers import segment as segment_of
from infogap_server.services.customers import to_utc_naive
from infogap_server.services.needs import (
    BehaviorEvent,
    NeedsQuery,
    NeedsService,
    validate_history,
    validate_lengths,
)
from infogap_server.services.patterns import compile_pattern
from infogap_server.services.text_model import TextModel
from infogap_server.settings import Settings
from infogap_server.store.base import Candidate, DecisionRow, DecisionStore

if TYPE_CHECKING:
    from infogap_server.services.churn import ChurnService

#: Events counted as "recent" context: within this many days of the contact.
RECENT_DAYS = 90
RECENT_TYPES = ("complaint", "return", "refund", "cancellation")
#: A churn risk at or above this reads "high" in a reason.
HIGH_CHURN = 0.5
#: Peer ratings shown as a reason from this many ratings on.
PEER_REASON_MIN = 3
_INTENT = compile_pattern("recommend.intent", r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class RecommendQuery:
    intent: str = ""
    text: str = ""
    customer_id: str = ""
    history: tuple[BehaviorEvent, ...] = ()
    top_k: int = 0
    channel: str = ""
    order_age_days: float | None = None
    order_amount: float | None = None
    explain: bool = False


@dataclass(frozen=True)
class RankedPlan:
    plan: Plan
    probability: float
    expected_satisfaction: float
    reasons: tuple[str, ...]
    unchecked: tuple[str, ...]


@dataclass(frozen=True)
class RecommendResult:
    plans: tuple[RankedPlan, ...]
    decision_id: str
    policy_version: str
    catalogue_version: str
    intent: str
    out_of_scope: bool = False
    explored: bool = False
    excluded: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: (name, version) of the text model that read the text; None without text.
    model: tuple[str, str] | None = None


@dataclass(frozen=True)
class _Customer:
    history: tuple[BehaviorEvent, ...]
    churn: float | None
    segment: str | None
    rfm: tuple[int, int, int] | None


def replay(row: DecisionRow) -> str:
    """The first plan a logged decision draws again from its candidates' probabilities and its seed."""
    return row.candidates[sample([c.probability for c in row.candidates], row.seed)].plan_id


class RecommendService:
    """Answers Recommend from the catalogue in service, the policy in service and the models in service."""

    def __init__(self, settings: Settings, catalogue: CatalogueHolder, policies: PolicyHolder, store: DecisionStore,
                 pseudonym: Callable[[str], str],
                 stored_history: Callable[[str], Awaitable[tuple[BehaviorEvent, ...]]] | None = None) -> None:
        self._settings = settings
        self._catalogue = catalogue
        self._policies = policies
        self._store = store
        self._pseudonym = pseudonym
        self._stored_history = stored_history
        #: Set by the server as model versions change.
        self.needs: NeedsService | None = None
        self.text_model: TextModel | None = None
        self.churn: ChurnService | None = None
        # Plan description embeddings, once per (catalogue version, text model version).
        self._descriptions: dict[tuple[str, str, int], dict[str, np.ndarray]] = {}
        self._descriptions_lock = asyncio.Lock()

    # --- validation ----------------------------------------------------------------------------------------

    def validate(self, q: RecommendQuery, catalogue: Catalogue) -> int:
        """The top_k to use; raises InvalidArgument naming the field and the reason."""
        s = self._settings
        if not q.intent and not (q.text and q.text.strip()):
            raise InvalidArgument("intent", "either intent or text is required")
        if q.intent:
            if len(q.intent) > 64 or not _INTENT.fullmatch(q.intent):
                raise InvalidArgument("intent", "must be an intent name: lower-case letters, digits and underscores")
            if q.intent not in catalogue.intents:
                raise InvalidArgument("intent", f"{q.intent!r} is served by no plan of the catalogue")
        validate_lengths(q.text, q.customer_id, s.max_text_chars)
        if not 0 <= q.top_k <= s.max_top_k:
            raise InvalidArgument("top_k", f"is {q.top_k}; it must be between 1 and {s.max_top_k} (0: the default)")
        if q.channel and q.channel not in CHANNELS:
            raise InvalidArgument("channel", f"must be one of {', '.join(CHANNELS)} (or empty: unknown)")
        for name in ("order_age_days", "order_amount"):
            value = getattr(q, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise InvalidArgument(name, "must be a finite number, at least 0")
        validate_history(q.history, s.max_history_events)
        return q.top_k or s.default_top_k

    # --- the call --------------------------------------------------------------------------------------------

    async def recommend(self, q: RecommendQuery) -> RecommendResult:
        catalogue = self._catalogue.current
        policy = self._policies.current  # one whole version for the whole call
        top_k = self.validate(q, catalogue)
        now = datetime.now(UTC).replace(tzinfo=None)
        customer = await self._customer(q, now, with_churn=not (q.text and q.text.strip()))
        intent, intent_p, negative, urgency, embedding, model = q.intent, 1.0, None, None, None, None
        if q.text and q.text.strip():
            needs_service, text_model = self.needs, self.text_model
            if needs_service is None or text_model is None:
                raise Unavailable("the text model is loading; retry shortly")
            needs = await needs_service.identify(
                NeedsQuery(text=q.text, customer_id=q.customer_id, top_k=1, history=customer.history))
            model = (needs.model_name, needs.model_version)
            customer = _Customer(customer.history, needs.churn_risk, customer.segment, customer.rfm)
            if not intent:
                if needs.out_of_scope:
                    return RecommendResult((), "", policy.version, catalogue.version, "", out_of_scope=True,
                                           model=model)
                intent = needs.needs[0].intent  # one no plan serves gets no plan (the server logs such intents)
            intent_p = needs.intent_probabilities.get(intent, 0.0)
            negative = needs.sentiment.probabilities.get("negative") if needs.sentiment else None
            urgency = needs.urgency.score
            embedding = needs.embedding
        filtered = catalogue.filter(Context(
            intent=intent, order_age_days=q.order_age_days, order_amount=q.order_amount, segment=customer.segment,
            churn_risk=customer.churn, channel=q.channel or None))
        excluded = filtered.reasons if q.explain else {}
        if not filtered.eligible:
            return RecommendResult((), "", policy.version, catalogue.version, intent, excluded=excluded, model=model)
        similar = await self._similarities(catalogue, embedding, [v.plan for v in filtered.eligible])
        context = context_features(
            intent=intent, intent_p=intent_p, negative=negative, urgency=urgency, churn=customer.churn,
            segment=customer.segment, rfm=customer.rfm, recent=_recent(customer.history, now),
            channel=q.channel or None)
        inputs = [PlanInput(v.plan.id, v.plan.kind, float(v.plan.cost), v.plan.affinity(intent),
                            similar.get(v.plan.id, 0.0), v.plan.requires_approval) for v in filtered.eligible]
        peers = [policy.peer(customer.segment, p.plan_id) for p in inputs]
        actions = [plan_features(p, peer) for p, peer in zip(inputs, peers, strict=True)]
        values, pmf = policy.score(context, actions)
        decision_id = uuid.uuid4().hex
        seed = decision_seed(decision_id) >> 1  # the store keeps a signed 64-bit integer
        first = sample(pmf, seed)
        rest = sorted((i for i in range(len(actions)) if i != first), key=lambda i: -values[i])
        order = [first, *rest][:top_k]
        explored = values[first] < max(values)
        row = DecisionRow(
            decision_id=decision_id, customer_key=self._pseudonym(q.customer_id) if q.customer_id else "",
            policy_version=policy.version, catalogue_version=catalogue.version, seed=seed, intent=intent,
            context=context,
            candidates=tuple(Candidate(p.plan_id, pmf[i], values[i], actions[i]) for i, p in enumerate(inputs)),
            chosen=tuple(inputs[i].plan_id for i in order))
        await self._store.add_decision(row)  # answered only once the decision is committed
        ranked = tuple(
            RankedPlan(
                plan=filtered.eligible[i].plan, probability=pmf[i],
                expected_satisfaction=_expected(policy, values[i], inputs[i].prior),
                reasons=reasons_for(inputs[i], peers[i], policy, intent=intent, churn=customer.churn,
                                    segment=customer.segment, most_similar=max(similar.values(), default=0.0),
                                    explored=(i == first and explored)),
                unchecked=filtered.eligible[i].unchecked)
            for i in order)
        return RecommendResult(ranked, decision_id, policy.version, catalogue.version, intent, explored=explored,
                               excluded=excluded, model=model)

    # --- the pieces ------------------------------------------------------------------------------------------

    async def _customer(self, q: RecommendQuery, now: datetime, *, with_churn: bool) -> _Customer:
        history = q.history
        if not history and q.customer_id and self._stored_history is not None:
            history = await self._stored_history(q.customer_id)
        churn = None
        if with_churn and history and self.churn is not None:
            assessment = await self.churn.assess(history, now)
            churn = None if assessment is None else assessment.risk
        by_type: dict[str, tuple[int, int, datetime]] = {}
        for event in history:
            if event.time is None:
                continue
            time = to_utc_naive(event.time)
            count, minor, last = by_type.get(event.type, (0, 0, time))
            by_type[event.type] = (count + 1, minor + round(event.amount * 100), max(last, time))
        if not by_type:
            return _Customer(history, churn, None, None)
        r = rfm_of(by_type, now)
        return _Customer(history, churn, segment_of(r), (r.recency_score, r.frequency_score, r.monetary_score))

    async def _similarities(self, catalogue: Catalogue, embedding: np.ndarray | None,
                            plans: Sequence[Plan]) -> dict[str, float]:
        if embedding is None or self.text_model is None:
            return {}
        vectors = await self._description_vectors(catalogue, self.text_model)
        unit = embedding / (np.linalg.norm(embedding) or 1.0)
        return {p.id: float(np.dot(unit, vectors[p.id])) for p in plans if p.id in vectors}

    async def _description_vectors(self, catalogue: Catalogue, model: TextModel) -> dict[str, np.ndarray]:
        key = (catalogue.version, model.info.name, model.info.version)
        found = self._descriptions.get(key)
        if found is not None:
            return found
        async with self._descriptions_lock:
            found = self._descriptions.get(key)
            if found is None:
                predictions = await asyncio.gather(*(model.predict(p.description) for p in catalogue.plans))
                found = {p.id: e.embedding / (np.linalg.norm(e.embedding) or 1.0)
                         for p, e in zip(catalogue.plans, predictions, strict=True)}
                self._descriptions = {key: found}  # older versions are no longer served
        return found


def _recent(history: Sequence[BehaviorEvent], now: datetime) -> dict[str, int]:
    since = now - timedelta(days=RECENT_DAYS)
    counts = dict.fromkeys(RECENT_TYPES, 0)
    for event in history:
        if event.type in counts and event.time is not None and to_utc_naive(event.time) >= since:
            counts[event.type] += 1
    return counts


def _expected(policy: Policy, value: float, prior: float) -> float:
    """The learned policy's estimated reward, or the prior affinity under the prior policy, within [0, 1]."""
    return min(1.0, max(0.0, value if policy.learned else prior))


def reasons_for(plan: PlanInput, peer, policy: Policy, *, intent: str, churn: float | None, segment: str | None,
                most_similar: float, explored: bool) -> tuple[str, ...]:
    """Why a plan is in the answer, most important first, in words a service agent reads."""
    reasons: list[str] = []
    if explored:
        reasons.append("shown first to learn how customers like it (exploration)")
    learned = None
    if policy.learned and peer is not None and peer.count >= PEER_REASON_MIN:
        own_segment = segment is not None and plan.plan_id in policy.peers.get(segment, {})
        who = f"customers in segment {segment}" if own_segment else "customers like this"
        learned = f"learned: {who} rated it {peer.mean:.1f} ({peer.count} ratings)"
    prior = f"serves {intent} (prior {plan.prior:.2f})"
    reasons.extend([learned, prior] if learned else [prior])
    if churn is not None and churn >= HIGH_CHURN and plan.kind in ("offer", "contact"):
        reasons.append(f"customer at high churn risk ({churn:.2f})")
    if plan.similar > 0 and plan.similar >= most_similar - 1e-9:
        reasons.append(f"similar to the message ({plan.similar:.2f})")
    if plan.cost == 0:
        reasons.append("costs the business nothing")
    if plan.requires_approval:
        reasons.append("needs a team lead's approval")
    return tuple(reasons)
