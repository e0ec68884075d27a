"""IdentifyNeeds as domain logic: validate, run the text model, rank, flag out-of-scope, add sentiment, urgency
and entities."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from infogap_server.errors import InvalidArgument
from infogap_server.models.scoring import score as oos_score
from infogap_server.services.entities import Entity, extract_entities
from infogap_server.services.patterns import compile_pattern
from infogap_server.services.text_model import TextModel
from infogap_server.services.textwork import run_text_work
from infogap_server.services.urgency import UrgencyResult, assess_urgency
from infogap_server.settings import Settings

if TYPE_CHECKING:
    from infogap_server.services.churn import ChurnAssessment, ChurnService

# BCP-47 as callers write it: a 2-3 letter language, then subtags of 1-8 letters or digits, in either case. The
# classes spell out both cases instead of matching case-insensitively: RE2's case folding would let "ſ" (long s) or
# the Kelvin sign stand for an ASCII letter.
_LANGUAGE_CODE = compile_pattern("request.language", r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
EVENT_TYPES = ("order", "contact", "return", "complaint", "cancellation", "refund")


@dataclass(frozen=True)
class BehaviorEvent:
    type: str  # one of EVENT_TYPES
    time: datetime | None
    amount: float
    item_count: int


@dataclass(frozen=True)
class NeedsQuery:
    text: str
    customer_id: str = ""
    language: str = ""
    top_k: int = 0
    history: tuple[BehaviorEvent, ...] = ()


@dataclass(frozen=True)
class RankedNeed:
    intent: str
    score: float


@dataclass(frozen=True)
class SentimentResult:
    label: str
    score: float
    probabilities: dict[str, float]


@dataclass(frozen=True)
class NeedsResult:
    needs: list[RankedNeed]
    out_of_scope: bool
    sentiment: SentimentResult | None  # None when the model has no trained sentiment head
    urgency: UrgencyResult
    entities: list[Entity]
    model_name: str
    model_version: str
    churn_risk: float | None = None
    history_events_used: int = 0
    history_from_store: bool = False
    #: The behaviour model that gave churn_risk (name, version), when it did.
    behaviour_model: tuple[str, str] | None = None
    #: The model's intents and every intent's probability, in the same order, and the message's embedding: what
    #: Recommend and TrackSession read (IdentifyNeeds answers only the top ones, so the mapping is built on demand).
    intents: tuple[str, ...] = ()
    probabilities: np.ndarray | None = None
    embedding: np.ndarray | None = None

    @functools.cached_property
    def intent_probabilities(self) -> dict[str, float]:
        """Every intent's probability, intent -> p."""
        if self.probabilities is None:
            return {}
        return {intent: float(p) for intent, p in zip(self.intents, self.probabilities, strict=True)}


class NeedsService:
    """Answers IdentifyNeeds from the text model."""

    def __init__(
        self,
        settings: Settings,
        text_model: TextModel,
        stored_history: Callable[[str], Awaitable[tuple[BehaviorEvent, ...]]] | None = None,
        churn: ChurnService | None = None,
    ) -> None:
        self._settings = settings
        self._model = text_model
        self._accepted_languages: set[str] = set()  # codes that passed _check_language
        # Churn risk from the history (the request's or the stored one), when a behaviour model is served.
        self._churn = churn
        # A request naming a customer and carrying no history gets the customer's stored events.
        self._stored_history = stored_history
        threshold = settings.out_of_scope_threshold
        self._threshold = text_model.info.out_of_scope_threshold if threshold is None else threshold

    def validate(self, query: NeedsQuery) -> tuple[str, int]:
        """The language and top_k to use; raises InvalidArgument naming the field and the reason."""
        s = self._settings
        if not query.text or not query.text.strip():
            raise InvalidArgument("text", "must not be empty or whitespace only")
        validate_lengths(query.text, query.customer_id, s.max_text_chars)
        language = query.language or s.default_language
        if language not in self._accepted_languages:
            self._check_language(language)
        top_k = query.top_k or s.default_top_k
        n_intents = len(self._model.info.intents)
        if not 1 <= top_k <= min(s.max_top_k, n_intents):
            raise InvalidArgument("top_k", f"is {query.top_k}; it must be between 1 and {min(s.max_top_k, n_intents)}")
        validate_history(query.history, s.max_history_events)
        return language, top_k

    def _check_language(self, language: str) -> None:
        """A language code not seen before: checked, and remembered once accepted (a handful of codes in practice;
        the memory is bounded all the same)."""
        s = self._settings
        # The value is echoed in no error: only what passed validation (the primary subtag) is quoted back.
        if len(language) > 35 or not _LANGUAGE_CODE.fullmatch(language):
            raise InvalidArgument("language", "is not a BCP-47 language code such as 'en' or 'en-GB'")
        primary = language.split("-")[0].lower()
        if primary not in s.supported_languages:
            raise InvalidArgument(
                "language", f"{primary!r} is not supported; supported: {', '.join(s.supported_languages)}"
            )
        if len(self._accepted_languages) < 256:
            self._accepted_languages.add(language)

    async def identify(self, query: NeedsQuery) -> NeedsResult:
        _, top_k = self.validate(query)
        history, from_store = query.history, False
        if not history and query.customer_id and self._stored_history is not None:
            history, from_store = await self._stored_history(query.customer_id), True
        churn: ChurnAssessment | None = None
        if history and self._churn is not None:  # both models at once: the latency is the slower one's
            now = datetime.now(UTC).replace(tzinfo=None)
            prediction, churn = await asyncio.gather(
                self._model.predict(query.text), self._churn.assess(history, now)
            )
        else:
            prediction = await self._model.predict(query.text)
        info = self._model.info
        probs = prediction.intent_probs
        order = np.argsort(-probs, kind="stable")[:top_k]
        needs = [RankedNeed(info.intents[i], float(probs[i])) for i in order]
        sentiment = None
        if info.sentiment_trained:
            sentiment_probs = {
                label: float(p) for label, p in zip(info.sentiments, prediction.sentiment_probs, strict=True)
            }
            label = max(sentiment_probs, key=sentiment_probs.__getitem__)
            sentiment = SentimentResult(label, sentiment_probs[label], sentiment_probs)
        negative = sentiment.probabilities.get("negative", 0.0) if sentiment else 0.0
        entities, urgency = await run_text_work(len(query.text), _analyse_text, query.text, negative)
        in_scope = oos_score(info.out_of_scope_score, prediction.intent_logits[None], prediction.embedding[None],
                             info.centroids)[0]
        return NeedsResult(
            needs=needs,
            out_of_scope=bool(in_scope < self._threshold),
            sentiment=sentiment,
            urgency=urgency,
            entities=entities,
            model_name=info.name,
            model_version=str(info.version),
            churn_risk=None if churn is None else churn.risk,
            history_events_used=len(history),
            history_from_store=from_store,
            behaviour_model=None if churn is None else (churn.model_name, str(churn.model_version)),
            intents=tuple(info.intents),
            probabilities=probs,
            embedding=prediction.embedding,
        )


def validate_lengths(text: str, customer_id: str, max_text_chars: int) -> None:
    """The limits every call reading a customer's message shares: InvalidArgument naming the field."""
    if len(text) > max_text_chars:
        raise InvalidArgument("text", f"is {len(text)} characters; the maximum is {max_text_chars}")
    if len(customer_id) > 128:
        raise InvalidArgument("customer_id", "is longer than 128 characters")


def validate_history(history: tuple[BehaviorEvent, ...], max_events: int) -> None:
    """A request's behaviour history (IdentifyNeeds, Recommend): InvalidArgument naming the event and field."""
    if len(history) > max_events:
        raise InvalidArgument("history", f"has {len(history)} events; the maximum is {max_events}")
    for i, event in enumerate(history):
        if event.type not in EVENT_TYPES:
            raise InvalidArgument(f"history[{i}].type", "must be set to a known event type")
        if event.amount < 0 or not np.isfinite(event.amount):
            raise InvalidArgument(f"history[{i}].amount", "must be a finite number >= 0")
        if event.item_count < 0:
            raise InvalidArgument(f"history[{i}].item_count", "must be >= 0")


def _analyse_text(text: str, negative_probability: float) -> tuple[list[Entity], UrgencyResult]:
    return extract_entities(text), assess_urgency(text, negative_probability)
