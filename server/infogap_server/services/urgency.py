"""Urgency of a message from explicit time pressure, escalation words, shouting and the model's sentiment.

Transparent rules over the model's sentiment output, so every score comes with the signals that raised it.
"""

from __future__ import annotations

from dataclasses import dataclass

from infogap_server.services.patterns import compile_pattern

_TIME_PRESSURE = compile_pattern(
    "urgency.time_pressure",
    r"\b(urgent(ly)?|asap|a\.s\.a\.p|immediately|right now|right away|at once|today|tonight|emergency|"
    r"as soon as possible|by tomorrow|deadline|hurry|quickly)\b",
    ignore_case=True,
)
_ESCALATION = compile_pattern(
    "urgency.escalation",
    r"\b(lawyer|legal action|sue|chargeback|dispute|report you|trading standards|never again|unacceptable|"
    r"ridiculous|scam|fraud|last time)\b",
    ignore_case=True,
)

_WEIGHTS = {"time_pressure": 0.4, "escalation_language": 0.3, "shouting": 0.15, "negative_sentiment": 0.35}


@dataclass(frozen=True)
class UrgencyResult:
    level: str  # "low" | "medium" | "high"
    score: float
    signals: tuple[str, ...]


def assess_urgency(text: str, negative_probability: float) -> UrgencyResult:
    signals: list[str] = []
    if _TIME_PRESSURE.search(text):
        signals.append("time_pressure")
    if _ESCALATION.search(text):
        signals.append("escalation_language")
    letters = [c for c in text if c.isalpha()]
    if text.count("!") >= 2 or (len(letters) >= 8 and sum(c.isupper() for c in letters) / len(letters) > 0.7):
        signals.append("shouting")
    score = sum(_WEIGHTS[s] for s in signals)
    score += _WEIGHTS["negative_sentiment"] * negative_probability
    if negative_probability >= 0.5:
        signals.append("negative_sentiment")
    score = min(1.0, score)
    level = "high" if score >= 0.6 else "medium" if score >= 0.3 else "low"
    return UrgencyResult(level, round(score, 4), tuple(signals))
