"""Urgency of a message from explicit time pressure, escalation words, shouting and the model's sentiment.

Transparent rules over the model's sentiment output, so every score comes with the signals that raised it.
"""

from __future__ import annotations

from dataclasses import dataclass

from infogap_server.services.entities import folded
from infogap_server.services.patterns import compile_pattern

#: The words and phrases of each signal. A pattern matches them as whole words; a message containing none of them
#: as a substring (after case folding) cannot match, so most messages skip the pattern passes.
_TIME_PRESSURE_WORDS = ("urgent", "urgently", "asap", "a.s.a.p", "immediately", "right now", "right away", "at once",
                        "today", "tonight", "emergency", "as soon as possible", "by tomorrow", "deadline", "hurry",
                        "quickly")
_ESCALATION_WORDS = ("lawyer", "legal action", "sue", "chargeback", "dispute", "report you", "trading standards",
                     "never again", "unacceptable", "ridiculous", "scam", "fraud", "last time")


def _whole_words(words: tuple[str, ...]) -> str:
    return r"\b(" + "|".join(w.replace(".", r"\.") for w in words) + r")\b"


_TIME_PRESSURE = compile_pattern("urgency.time_pressure", _whole_words(_TIME_PRESSURE_WORDS), ignore_case=True)
_ESCALATION = compile_pattern("urgency.escalation", _whole_words(_ESCALATION_WORDS), ignore_case=True)

_WEIGHTS = {"time_pressure": 0.4, "escalation_language": 0.3, "shouting": 0.15, "negative_sentiment": 0.35}


@dataclass(frozen=True)
class UrgencyResult:
    level: str  # "low" | "medium" | "high"
    score: float
    signals: tuple[str, ...]


def assess_urgency(text: str, negative_probability: float) -> UrgencyResult:
    signals: list[str] = []
    lower = folded(text)
    if any(w in lower for w in _TIME_PRESSURE_WORDS) and _TIME_PRESSURE.search(text):
        signals.append("time_pressure")
    if any(w in lower for w in _ESCALATION_WORDS) and _ESCALATION.search(text):
        signals.append("escalation_language")
    if text.count("!") >= 2 or _shouting(text):
        signals.append("shouting")
    score = sum(_WEIGHTS[s] for s in signals)
    score += _WEIGHTS["negative_sentiment"] * negative_probability
    if negative_probability >= 0.5:
        signals.append("negative_sentiment")
    score = min(1.0, score)
    level = "high" if score >= 0.6 else "medium" if score >= 0.3 else "low"
    return UrgencyResult(level, round(score, 4), tuple(signals))


def _shouting(text: str) -> bool:
    """At least 8 letters, over 70% of them capitals (counted by C-level string methods, not a Python loop)."""
    letters = sum(map(str.isalpha, text))
    return letters >= 8 and sum(map(str.isupper, filter(str.isalpha, text))) / letters > 0.7
