"""Entities worth acting on in a customer message: order numbers, amounts, dates, email addresses.

Pattern-based on purpose: these are formats, not meanings, and a pattern is exact, fast and explainable. The
patterns are RE2 (see :mod:`infogap_server.services.patterns`): linear time in the text, so a long crafted message
costs microseconds, not minutes.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from datetime import date

from infogap_server.services.patterns import compile_pattern

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
         ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"),
         ("nov", "november"), ("dec", "december")]
    )
    for m in names
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP"}
_CURRENCY_WORDS = {
    "usd": "USD", "dollar": "USD", "dollars": "USD", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "gbp": "GBP", "pound": "GBP", "pounds": "GBP",
}

_PATTERNS = [
    ("email", compile_pattern("entity.email", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    (
        "order_number",
        compile_pattern(
            "entity.order_number",
            r"(?:#\s?(?P<hash>[A-Za-z]{0,3}\d[\w-]{2,19})"
            r"|\border\s*(?:number|no\.?|nr\.?|id)?\s*[:#]?\s*(?P<word>[A-Za-z]{0,3}\d[\d-]{2,19}\w?))",
            ignore_case=True,
        ),
    ),
    (
        "amount",
        compile_pattern(
            "entity.amount",
            r"(?P<sym>[$€£])\s?(?P<num1>\d{1,6}(?:[.,]\d{1,2})?)"
            r"|(?P<num2>\d{1,6}(?:[.,]\d{1,2})?)\s?(?P<word>usd|eur|gbp|dollars?|euros?|pounds?)\b",
            ignore_case=True,
        ),
    ),
    (
        "date",
        compile_pattern(
            "entity.date",
            r"\b(?P<iso>\d{4}-\d{2}-\d{2})\b"
            r"|\b(?P<d1>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m1>" + _MONTH_RE + r")\b\.?(?:,?\s*(?P<y1>\d{4}))?"
            r"|\b(?P<m2>" + _MONTH_RE + r")\.?\s+(?P<d2>\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s*(?P<y2>\d{4}))?"
            r"|\b(?P<num>\d{1,2}/\d{1,2}/\d{2,4})\b"
            r"|\b(?P<rel>today|tomorrow|yesterday)\b",
            ignore_case=True,
        ),
    ),
]


_DIGITS = "0123456789"


def folded(text: str) -> str:
    """``text`` in lower case with the long s (U+017F) as s: what a case-insensitive pattern sees of the letters
    the substring tests below look for. (RE2 folds case by Unicode orbits; among ASCII letters only s has a member,
    the long s, that ``str.lower`` does not map to it: the Kelvin sign lowers to k.)"""
    return text.lower().replace("\u017f", "s")



def _has_digit(text: str) -> bool:
    return any(d in text for d in _DIGITS)


#: What each pattern cannot match without (checked with plain substring tests, far cheaper than a pattern pass):
#: most messages carry no email, many no number, so most passes are skipped. Each test is implied by its pattern
#: (RE2's \d is ASCII; its case folding maps no other character onto the letters of "order" or the day words).
_NEEDS = {
    "email": lambda text, lower: "@" in text,
    "order_number": lambda text, lower: _has_digit(text) and ("#" in text or "order" in lower),
    "amount": lambda text, lower: _has_digit(text),
    "date": lambda text, lower: _has_digit(text) or "today" in lower or "tomorrow" in lower or "yesterday" in lower,
}


@dataclass(frozen=True)
class Entity:
    type: str
    text: str
    start: int
    end: int
    normalized: str


#: Each pattern's group names in group order: ``m.groups()`` read once is cheaper than ``m.groupdict()``.
_GROUP_NAMES = {
    kind: tuple(sorted(pattern.groupindex, key=pattern.groupindex.__getitem__)) for kind, pattern in _PATTERNS
}


def _normalize(kind: str, m) -> str:
    names = _GROUP_NAMES[kind]
    g = dict(zip(names, m.groups(), strict=True)) if names else {}
    if kind == "order_number":
        return (g.get("hash") or g.get("word") or m.group(0)).upper()
    if kind == "amount":
        number = (g.get("num1") or g.get("num2") or "").replace(",", ".")
        currency = _CURRENCY_SYMBOLS.get(g.get("sym") or "") or _CURRENCY_WORDS.get((g.get("word") or "").lower(), "")
        return f"{float(number):.2f} {currency}".strip()
    if kind == "date":
        if g.get("iso"):
            return g["iso"]
        if g.get("m1"):
            day, month, year = g.get("d1"), g.get("m1"), g.get("y1")
        else:
            day, month, year = g.get("d2"), g.get("m2"), g.get("y2")
        if month and day:
            # casefold, not lower: the pattern matches case-insensitively, so "ſep" (long s) matches too
            try:
                number = _MONTHS[month.casefold()]
                if year:
                    return date(int(year), number, int(day)).isoformat()
                return f"--{number:02d}-{int(day):02d}"  # ISO 8601 month-day without a year
            except (ValueError, KeyError):
                return m.group(0)
        return m.group(0).lower()  # numeric dates are ambiguous (day/month order) and relative ones need a clock
    return m.group(0).lower() if kind == "email" else m.group(0)


#: Most entities returned for one message (and matches read per pattern): a real message has a handful; a crafted
#: one could have a thousand, each costing a response field.
MAX_ENTITIES = 50


def extract_entities(text: str) -> list[Entity]:
    """Entities in order of appearance, at most :data:`MAX_ENTITIES` (those of the earlier patterns first); a span
    claimed by an earlier pattern is not reused by a later one."""
    found: list[Entity] = []
    # Claimed spans never overlap, so sorted by start they are sorted by end too: one bisection finds the only two
    # neighbours a new span could overlap (a long message can hold hundreds of entities).
    starts: list[int] = []
    ends: list[int] = []
    lower = folded(text)
    for kind, pattern in _PATTERNS:
        if not _NEEDS[kind](text, lower):
            continue
        for m in itertools.islice(pattern.finditer(text), MAX_ENTITIES):
            start, end = m.span()
            i = bisect.bisect_right(starts, start)
            if (i > 0 and ends[i - 1] > start) or (i < len(starts) and starts[i] < end):
                continue
            starts.insert(i, start)
            ends.insert(i, end)
            found.append(Entity(kind, m.group(0).strip(), start, end, _normalize(kind, m)))
            if len(found) == MAX_ENTITIES:
                return sorted(found, key=lambda e: e.start)
    return sorted(found, key=lambda e: e.start)
