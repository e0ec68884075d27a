"""Labelled intent data from CSV, TSV or JSON Lines files, checked before any training starts.

Every problem fails fast with the file, the line and what is wrong: an unreadable encoding, missing columns, an
empty text or label, a sentiment outside negative/neutral/positive, fewer than two classes.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from infogap_server.models.tensors import ASPECTS

SENTIMENTS = ("negative", "neutral", "positive")


class DataError(ValueError):
    """A training file cannot be used; the message names the file, the line and the problem."""


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    sentiment: str | None = None  # None when the data has no sentiment labels


@dataclass(frozen=True)
class FeedbackExample:
    """A feedback text with its overall sentiment and its complaint aspects (possibly none)."""

    text: str
    sentiment: str
    aspects: tuple[str, ...]


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte {raw[exc.start]:#04x} at offset {exc.start})") from None


def read_labelled(
    path: Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    sentiment_column: str | None = None,
) -> list[Example]:
    """Examples from ``path``: .csv and .tsv need a header row with the columns; .jsonl/.json has one object per
    line with those keys. ``sentiment_column`` is optional; when given, every row needs a valid sentiment."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    text = _decode(path)
    suffix = path.suffix.lower()
    rows: list[tuple[int, dict]] = []
    if suffix in (".csv", ".tsv"):
        if suffix == ".tsv":  # tab-separated, no quoting: a text may start with a quotation mark
            reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
        else:
            reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = reader.fieldnames or []
        wanted = [c for c in (text_column, label_column, sentiment_column) if c]
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise DataError(f"{path}:1: missing column(s) {', '.join(missing)}; the header has {', '.join(columns)}")
        for row in reader:
            rows.append((reader.line_num, row))
    elif suffix in (".jsonl", ".json", ".ndjson"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not a JSON object ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: not a JSON object")
            for column in (text_column, label_column, sentiment_column):
                if column and column not in row:
                    raise DataError(f"{path}:{number}: missing key {column!r}")
            rows.append((number, row))
    else:
        raise DataError(f"{path}: unknown format {suffix!r}; use .csv, .tsv or .jsonl")

    examples = []
    for number, row in rows:
        value = str(row.get(text_column) or "").strip()
        label = str(row.get(label_column) or "").strip()
        if not value:
            raise DataError(f"{path}:{number}: empty {text_column}")
        if not label:
            raise DataError(f"{path}:{number}: empty {label_column}")
        sentiment = None
        if sentiment_column:
            sentiment = str(row.get(sentiment_column) or "").strip().lower()
            if sentiment not in SENTIMENTS:
                raise DataError(f"{path}:{number}: {sentiment_column} {sentiment!r} is not one of {SENTIMENTS}")
        examples.append(Example(value, label, sentiment))
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


def check_classes(path: Path, examples: list[Example], oos_label: str | None) -> list[str]:
    """The in-scope intents, sorted; at least two are needed to train a classifier."""
    intents = sorted({e.intent for e in examples if e.intent != oos_label})
    if len(intents) < 2:
        raise DataError(f"{path}: only {len(intents)} class ({', '.join(intents) or 'none'}); at least 2 are needed")
    return intents


def check_split(
    train_path: Path, train: list[Example], valid_path: Path | None, valid: list[Example] | None, oos_label: str | None
) -> None:
    """Before any training: at least two intents, validation labels must be training intents (or out of
    scope), validation needs in-scope examples, and without validation data every intent needs two examples (one
    may be held out)."""
    intents = set(check_classes(train_path, train, oos_label))
    if valid is not None and valid_path is not None:
        in_scope = [e for e in valid if e.intent != oos_label]
        if not in_scope:
            raise DataError(f"{valid_path}: no in-scope examples; validation needs examples of the intents")
        unknown = sorted({e.intent for e in in_scope} - intents)
        if unknown:
            raise DataError(f"{valid_path}: label(s) not in the training data: {', '.join(unknown[:10])}")
        return
    counts: dict[str, int] = {}
    for e in train:
        if e.intent != oos_label:
            counts[e.intent] = counts.get(e.intent, 0) + 1
    single = sorted(k for k, n in counts.items() if n < 2)
    if single:
        raise DataError(f"{train_path}: intent(s) with one example ({', '.join(single[:10])}); without --valid "
                        "each intent needs at least 2, one of them held out")


def read_feedback(path: Path) -> list[FeedbackExample]:
    """A feedback corpus: JSON Lines of ``{"text", "sentiment", "aspects": [...]}`` (training/data/FEEDBACK.md).
    Fails on the first bad line with the file, the line and the problem."""
    examples = []
    for number, line in enumerate(_decode(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{number}: not a JSON object")
        text = str(row.get("text") or "").strip()
        sentiment = str(row.get("sentiment") or "").strip().lower()
        aspects = row.get("aspects", [])
        if not text:
            raise DataError(f"{path}:{number}: empty text")
        if sentiment not in SENTIMENTS:
            raise DataError(f"{path}:{number}: sentiment {sentiment!r} is not one of {SENTIMENTS}")
        if not isinstance(aspects, list) or any(a not in ASPECTS for a in aspects):
            raise DataError(f"{path}:{number}: aspects {aspects!r} must be a list of names from {ASPECTS}")
        examples.append(FeedbackExample(text, sentiment, tuple(dict.fromkeys(aspects))))
    if not examples:
        raise DataError(f"{path}: no feedback texts")
    return examples
