"""Entities, urgency, settings: the parts of IdentifyNeeds that need no model."""

from __future__ import annotations

import pytest
from infogap_server.services.entities import extract_entities
from infogap_server.services.urgency import assess_urgency
from infogap_server.settings import Settings
from pydantic import ValidationError


def test_entities_order_amount_date_email():
    text = "Order #A12345 cost $49.99 on March 3rd 2025, refund 20 euros to jo.doe@example.com by 2025-04-01"
    found = [(e.type, e.normalized) for e in extract_entities(text)]
    assert found == [
        ("order_number", "A12345"),
        ("amount", "49.99 USD"),
        ("date", "2025-03-03"),
        ("amount", "20.00 EUR"),
        ("email", "jo.doe@example.com"),
        ("date", "2025-04-01"),
    ]
    for e in extract_entities(text):
        assert text[e.start : e.end].strip() == e.text


def test_entities_order_word_form_and_nothing_in_plain_text():
    assert [(e.type, e.normalized) for e in extract_entities("where is order 7781-22?")] == [
        ("order_number", "7781-22")
    ]
    assert extract_entities("I would like to change my password") == []


def test_unicode_case_variants_of_month_names_do_not_crash():
    # "ſ" (long s) matches "s" case-insensitively but lower() keeps it: the month lookup must not fail
    found = extract_entities("meet on 1 ſep please, or auguſt 5")
    assert [e.type for e in found] == ["date", "date"]
    assert found[0].normalized == "--09-01"


def test_urgency_rises_with_time_pressure_and_negative_sentiment():
    calm = assess_urgency("could you tell me your opening hours", negative_probability=0.05)
    hot = assess_urgency("I need this fixed TODAY, this is unacceptable!!", negative_probability=0.9)
    assert calm.level == "low" and calm.signals == ()
    assert hot.level == "high"
    assert {"time_pressure", "escalation_language", "negative_sentiment"} <= set(hot.signals)
    assert 0.0 <= calm.score < hot.score <= 1.0


def test_settings_read_environment_with_prefix(monkeypatch):
    monkeypatch.setenv("INFOGAP_MAX_BATCH_SIZE", "7")
    monkeypatch.setenv("INFOGAP_PORT", "6000")
    s = Settings()
    assert s.max_batch_size == 7 and s.port == 6000
    with pytest.raises(ValidationError):
        s.port = 1  # frozen


def test_settings_reject_inconsistent_values():
    with pytest.raises(ValidationError):
        Settings(default_top_k=5, max_top_k=3)
    with pytest.raises(ValidationError):
        Settings(max_batch_size=0)


def test_every_setting_is_documented_in_the_readme():
    from infogap_server.settings import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text()
    missing = [name for name in Settings.model_fields if f"`INFOGAP_{name.upper()}`" not in readme]
    assert missing == []
