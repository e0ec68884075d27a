"""The substring tests that let most messages skip pattern passes (entities, urgency) change no answer: on the
project's messages, the behavioural suite's and crafted edge cases, the results equal full pattern passes."""

from __future__ import annotations

import pytest
from infogap_server.services import entities, urgency
from infogap_server.services.patterns import adversarial_texts
from infogap_server.training.build import DEFAULT_TEST, DEFAULT_TRAIN, read_corpus

EDGE_CASES = [
    "ORDER 12345 is late", "Order no. 99-123 never came", "#A12345", "# 123", "order#1234", "my ordeR nr 5567x",
    "yeſterday I paid 30 EUR", "yeſterday was bad",
    "YESTERDAY", "toDAY by 5", "it came on the 3rd of ſept", "12/11/2024", "2024-02-30",
    "mail me at Someone.Name+tag@example.co.uk", "no digits, no at sign", "€45,50 twice", "45 dollars", "£ 3",
    "URGENT!!", "I WANT MY MONEY BACK NOW", "ⅧⅧⅧⅧⅧⅧⅧⅧ ok", "a.s.a.p please", "A.S.A.P", "this is a ſcam", "SUE",
    "pursue the matter", "issue", "legal  action", "right\\tnow", "by tomorrow", "quickly!", "ＵＲＧＥＮＴ",
    "ΣΟΣ urgent", "ǅ ǈ ǋ Ǳ", "K Kelvin ſ ß ẞ İ ı",
]


def _texts() -> list[str]:
    texts = [e.text for e in read_corpus(DEFAULT_TEST)] + [e.text for e in read_corpus(DEFAULT_TRAIN)][:1500]
    return texts + EDGE_CASES + list(adversarial_texts(600).values())


def test_entity_prefilters_change_no_answer(monkeypatch):
    texts = _texts()
    filtered = [entities.extract_entities(t) for t in texts]
    monkeypatch.setattr(entities, "_NEEDS", {kind: (lambda text, lower: True) for kind in entities._NEEDS})
    full = [entities.extract_entities(t) for t in texts]
    assert filtered == full
    assert sum(map(bool, full)) > 100  # the comparison covers messages with entities


@pytest.mark.parametrize("pattern,words", [(urgency._TIME_PRESSURE, urgency._TIME_PRESSURE_WORDS),
                                           (urgency._ESCALATION, urgency._ESCALATION_WORDS)])
def test_urgency_word_tests_change_no_answer(pattern, words):
    hits = 0
    for text in _texts():
        matched = pattern.search(text) is not None
        hits += matched
        if matched:  # a match implies one of the words is a substring of the folded text
            lower = entities.folded(text)
            assert any(w in lower for w in words), text
    assert hits > 10


def test_shouting_counts_capitals_among_letters():
    assert urgency._shouting("WHERE IS MY PARCEL")
    assert not urgency._shouting("Where is my parcel")
    assert not urgency._shouting("ⅧⅧⅧⅧⅧⅧⅧⅧ ok")  # numerals that are "upper" but not letters
    assert not urgency._shouting("ABC")  # fewer than 8 letters
