"""SubmitFeedback as domain logic: validate, read the text with the text model, redact it, store it once.

The text model reads the customer's words as written (in memory only): one encoder pass gives the sentiment and
the complaint aspects. The store gets the words redacted, under the customer's pseudonym, with the aspects found
and the keywords of the redacted text (so a keyword is never personal data). A feedback id is stored once per
customer: a second submission (a retry, a replica that got the same call) returns the first one's receipt, read
back from the store (its aspects and keywords too), with ``duplicate`` set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from infogap_server.errors import InvalidArgument, Unavailable
from infogap_server.privacy.redaction import redact
from infogap_server.services.keywords import KeywordExtractor
from infogap_server.services.needs import SentimentResult
from infogap_server.services.patterns import CLIENT_ID, CLIENT_ID_RULE, DECISION_ID
from infogap_server.services.text_model import TextModel
from infogap_server.services.textwork import run_text_work
from infogap_server.settings import Settings
from infogap_server.store.base import FeedbackRow, FeedbackStore

ASPECT, KEYWORD = "aspect", "keyword"


@dataclass(frozen=True)
class FeedbackSubmission:
    feedback_id: str
    customer_id: str
    rating: int
    text: str = ""
    session_id: str = ""
    intent: str = ""
    plan_id: str = ""
    decision_id: str = ""
    resolved: bool | None = None  # None: not asked


@dataclass(frozen=True)
class FeedbackReceiptResult:
    feedback_id: str
    duplicate: bool
    sentiment: SentimentResult | None
    stored_at: datetime
    #: (name, version) of the text model that read the text; None without text.
    model: tuple[str, str] | None
    #: The aspects found, (name, probability), most probable first.
    aspects: tuple[tuple[str, float], ...] = ()
    #: The keywords, (term, relevance), most relevant first.
    keywords: tuple[tuple[str, float], ...] = ()


class FeedbackService:
    """SubmitFeedback on the store, with the text model serving now (set by the server as versions change)."""

    def __init__(self, settings: Settings, store: FeedbackStore, pseudonym: Callable[[str], str],
                 segment: Callable[[str], Awaitable[str]],
                 on_stored: Callable[[FeedbackRow, Sequence[str]], None] = lambda row, aspects: None) -> None:
        self._settings = settings
        self._store = store
        self._pseudonym = pseudonym  # the customer layer's keyed pseudonym
        self._segment = segment  # the customer's RFM segment now, kept with the feedback for insights
        self._on_stored = on_stored  # metrics: called once per feedback stored (not for duplicates)
        self.text_model: TextModel | None = None
        self._keywords = KeywordExtractor(settings.feedback_keywords)

    def validate(self, f: FeedbackSubmission, model: TextModel) -> None:
        """Raise InvalidArgument naming the first field that is wrong, and why."""
        if not f.feedback_id:
            raise InvalidArgument("feedback_id", "is required (it makes a resent feedback count once)")
        if not CLIENT_ID.fullmatch(f.feedback_id):
            raise InvalidArgument("feedback_id", CLIENT_ID_RULE)
        if not f.customer_id.strip():
            raise InvalidArgument("customer_id", "is required")
        if len(f.customer_id) > 128:
            raise InvalidArgument("customer_id", "is longer than 128 characters")
        if not 1 <= f.rating <= 5:
            raise InvalidArgument("rating", f"is {f.rating}; it must be between 1 and 5")
        if len(f.text) > self._settings.max_text_chars:
            limit = self._settings.max_text_chars
            raise InvalidArgument("text", f"is {len(f.text)} characters; the maximum is {limit}")
        for field, value in (("session_id", f.session_id), ("plan_id", f.plan_id)):
            if value and not CLIENT_ID.fullmatch(value):
                raise InvalidArgument(field, CLIENT_ID_RULE)
        if f.decision_id and not DECISION_ID.fullmatch(f.decision_id):
            raise InvalidArgument("decision_id", "must be 32 lower-case hexadecimal digits, as Recommend returns it")
        if f.intent and f.intent not in model.info.intents:
            raise InvalidArgument("intent", "is not an intent of the served text model")

    async def submit(self, f: FeedbackSubmission) -> FeedbackReceiptResult:
        model = self.text_model
        if model is None:
            raise Unavailable("the text model is loading; retry shortly")
        self.validate(f, model)
        text = f.text.replace("\x00", "")  # PostgreSQL's text cannot hold NUL, and it carries nothing
        sentiment, model_name, aspects = None, "", []
        info = model.info
        reads_aspects = info.aspect_trained and bool(info.aspects)
        if text.strip() and (info.sentiment_trained or reads_aspects):
            prediction = await model.predict(text)
            model_name = f"{info.name}:{info.version}"
            if info.sentiment_trained:
                probabilities = {
                    label: float(p) for label, p in zip(info.sentiments, prediction.sentiment_probs, strict=True)
                }
                label = max(probabilities, key=probabilities.__getitem__)
                sentiment = SentimentResult(label, probabilities[label], probabilities)
            if reads_aspects:
                scored = zip(info.aspects, prediction.aspect_probs, strict=True)
                found = ((a, round(float(p), 4)) for a, p in scored if p >= info.aspect_threshold)
                aspects = sorted(found, key=lambda ap: (-ap[1], ap[0]))
        redacted = await run_text_work(len(text), lambda t: redact(t).text, text) if text else ""
        # YAKE is pure Python: on a worker thread, so a long text does not hold the event loop in one piece.
        keywords = await asyncio.to_thread(self._keywords.extract, redacted) if redacted.strip() else []
        terms = [(ASPECT, a, p) for a, p in aspects] + [(KEYWORD, k, r) for k, r in keywords]
        segment = await self._segment(f.customer_id)
        row = FeedbackRow(
            customer_key=self._pseudonym(f.customer_id),
            feedback_id=f.feedback_id,
            rating=f.rating,
            text=redacted,
            session_id=f.session_id,
            intent=f.intent,
            plan_id=f.plan_id,
            decision_id=f.decision_id,
            sentiment=sentiment.label if sentiment else "",
            sentiment_negative=sentiment.probabilities.get("negative") if sentiment else None,
            sentiment_neutral=sentiment.probabilities.get("neutral") if sentiment else None,
            sentiment_positive=sentiment.probabilities.get("positive") if sentiment else None,
            segment=segment,
            model=model_name,
            resolved=f.resolved,
        )
        stored, duplicate = await self._store.add_feedback(row, terms)
        if duplicate:  # the first submission's reading of its text, as stored with it
            assert stored.sequence is not None
            terms = await self._store.feedback_terms(stored.sequence)
        else:
            self._on_stored(stored, [a for a, _ in aspects])
        return receipt_of(stored, duplicate, terms)


def receipt_of(row: FeedbackRow, duplicate: bool,
               terms: Sequence[tuple[str, str, float]] = ()) -> FeedbackReceiptResult:
    """The receipt of a stored row and its stored terms (the first submission's, for a duplicate)."""
    sentiment = None
    if row.sentiment:
        probabilities = {"negative": row.sentiment_negative or 0.0, "neutral": row.sentiment_neutral or 0.0,
                         "positive": row.sentiment_positive or 0.0}
        sentiment = SentimentResult(row.sentiment, probabilities[row.sentiment], probabilities)
    model = tuple(row.model.rsplit(":", 1)) if row.model else None
    assert row.received_at is not None

    def of(kind: str) -> tuple[tuple[str, float], ...]:
        found = ((term, score) for k, term, score in terms if k == kind)
        return tuple(sorted(found, key=lambda ts: (-ts[1], ts[0])))

    return FeedbackReceiptResult(row.feedback_id, duplicate, sentiment, row.received_at,
                                 model, of(ASPECT), of(KEYWORD))  # type: ignore[arg-type]
