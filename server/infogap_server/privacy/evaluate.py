"""Recall and precision of :func:`~infogap_server.privacy.redaction.redact` on the planted-PII set.

Definitions (per type, and overall):

- **recall**: the share of gold spans that are gone from the redacted text, that is every character of the gold
  value lies inside some predicted span (of any type: a phone number redacted as a card is still not leaked).
- **precision**: the share of predicted spans that overlap a gold span of the same type.
- **exact**: the share of predicted spans equal to a gold span of the same type (how tight the boundaries are).

Run ``python -m infogap_server.privacy.evaluate`` for the table. Development tooling, not serving code.
"""

from __future__ import annotations

from infogap_server.privacy.planted import PII_TYPES, PlantedText, planted_texts
from infogap_server.privacy.redaction import find_spans


def _covered(gold: tuple[str, int, int], predicted: tuple[tuple[str, int, int], ...]) -> bool:
    _, start, end = gold
    position = start
    for _, a, b in predicted:  # sorted and never overlapping
        if a <= position < b:
            position = b
            if position >= end:
                return True
    return position >= end


def _overlaps(a: tuple[str, int, int], b: tuple[str, int, int]) -> bool:
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


def evaluate(texts: list[PlantedText] | None = None) -> dict:
    """Counts and ratios per type and overall on ``texts`` (by default :func:`planted_texts`): ``{"texts",
    "texts_with_pii", "texts_without_pii", "clean_texts_redacted", "types": {type: {...}}, "overall": {...}}``, each
    ``{...}`` with ``gold``, ``recalled``, ``recall``, ``predicted``, ``correct``, ``precision``, ``exact``. A ratio
    with nothing to count is 1.0."""
    texts = planted_texts() if texts is None else texts
    counts = {kind: dict.fromkeys(("gold", "recalled", "predicted", "correct", "exact_spans"), 0) for kind in PII_TYPES}
    clean_redacted = 0
    for planted in texts:
        predicted = find_spans(planted.text)
        if not planted.spans and predicted:
            clean_redacted += 1
        gold = set(planted.spans)
        for span in planted.spans:
            counts[span[0]]["gold"] += 1
            counts[span[0]]["recalled"] += _covered(span, predicted)
        for span in predicted:
            counts[span[0]]["predicted"] += 1
            counts[span[0]]["correct"] += any(_overlaps(span, g) for g in planted.spans)
            counts[span[0]]["exact_spans"] += span in gold
    overall = {key: sum(c[key] for c in counts.values()) for key in counts[PII_TYPES[0]]}
    return {
        "texts": len(texts),
        "texts_with_pii": sum(1 for t in texts if t.spans),
        "texts_without_pii": sum(1 for t in texts if not t.spans),
        "clean_texts_redacted": clean_redacted,
        "types": {kind: _ratios(c) for kind, c in counts.items()},
        "overall": _ratios(overall),
    }


def _ratios(c: dict[str, int]) -> dict[str, float | int]:
    def ratio(a: int, b: int) -> float:
        return a / b if b else 1.0

    return {
        "gold": c["gold"], "recalled": c["recalled"], "recall": ratio(c["recalled"], c["gold"]),
        "predicted": c["predicted"], "correct": c["correct"], "precision": ratio(c["correct"], c["predicted"]),
        "exact": ratio(c["exact_spans"], c["predicted"]),
    }


def format_table(result: dict) -> str:
    """The result of :func:`evaluate` as a plain-text table."""
    lines = [
        f"{result['texts']} texts: {result['texts_with_pii']} with planted PII, {result['texts_without_pii']} without "
        f"({result['clean_texts_redacted']} of those had something redacted)",
        f"{'type':<9} {'gold':>5} {'recalled':>8} {'recall':>7} {'predicted':>9} {'correct':>7} {'precision':>9} "
        f"{'exact':>6}",
    ]
    rows = [*result["types"].items(), ("overall", result["overall"])]
    for kind, r in rows:
        lines.append(
            f"{kind:<9} {r['gold']:>5} {r['recalled']:>8} {r['recall']:>7.3f} {r['predicted']:>9} {r['correct']:>7} "
            f"{r['precision']:>9.3f} {r['exact']:>6.3f}"
        )
    return "\n".join(lines)


def main() -> None:
    """Print the table for the default planted set."""
    print(format_table(evaluate()))


if __name__ == "__main__":
    main()
