"""Keywords of feedback text, by YAKE (Campos et al., 2020): an unsupervised, per-text statistical extractor (word
position, frequency, casing, context spread), so it needs no model, no corpus and no download, and a keyword can
be a word the text model never saw.

It reads the redacted text, so a keyword is never personal data; the redaction placeholders (``<PHONE>`` ...) are
not keywords. YAKE scores lower for more relevant; the relevance reported is ``1 / (1 + score)``: 0 to 1, higher is
more relevant.
"""

from __future__ import annotations

import logging

import yake

from infogap_server.privacy.redaction import TYPES

log = logging.getLogger("infogap.keywords")

#: Longest keyword, in words.
MAX_WORDS = 2
#: Stored term length limit (feedback_terms.term).
MAX_TERM_CHARS = 64
#: YAKE's threshold for dropping a candidate that repeats a better one (0.7: "late delivery" and "late" both stay
#: only when they differ enough).
DEDUPLICATION = 0.7
#: What is left of a redaction placeholder once YAKE has dropped its brackets: "<PHONE>" reads as "PHONE".
REDACTION_PLACEHOLDERS = {kind.upper() for kind in TYPES}


class KeywordExtractor:
    """``extract(text)``: up to ``count`` (keyword, relevance) pairs, most relevant first, lower case."""

    def __init__(self, count: int) -> None:
        self.count = count
        # Asks for more than it returns: placeholders and duplicates after lower-casing are dropped below.
        self._yake = yake.KeywordExtractor(lan="en", n=MAX_WORDS, top=count * 2 + 4, dedupLim=DEDUPLICATION)

    def extract(self, text: str) -> list[tuple[str, float]]:
        if self.count <= 0 or not text.strip():
            return []
        try:
            found = self._yake.extract_keywords(text)
        except Exception as exc:  # noqa: BLE001 - a keyword failure must not lose the feedback; the type is logged
            log.warning("keyword extraction failed (%s); the feedback is stored without keywords", type(exc).__name__)
            return []
        keywords: dict[str, float] = {}
        for phrase, score in found:
            term = " ".join(phrase.lower().split())
            if (not term or len(term) > MAX_TERM_CHARS or any(w in REDACTION_PLACEHOLDERS for w in phrase.split())
                    or not any(c.isalpha() for c in term) or term in keywords):
                continue
            keywords[term] = round(1.0 / (1.0 + max(0.0, float(score))), 4)
            if len(keywords) == self.count:
                break
        return sorted(keywords.items(), key=lambda kv: (-kv[1], kv[0]))
