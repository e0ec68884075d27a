"""Baseline: Microsoft Presidio's own pattern recognizers on infogap's planted-PII set, scored with the same
definitions as ``infogap privacy evaluate`` (recall: the planted value is covered; precision: a result overlaps a
planted value of its type). No spaCy model and no NLP engine: the recognizers are called directly, which is what
"Presidio's pattern recognizers without a spaCy model" means. Presidio is not a dependency of infogap; run this in
its own virtual environment:

    python3.11 -m venv /tmp/presidio-venv
    /tmp/presidio-venv/bin/pip install presidio-analyzer google-re2==1.1.20251105
    PYTHONPATH=server /tmp/presidio-venv/bin/python scripts/presidio_baseline.py

(Its EmailRecognizer tries to download the public suffix list at run time; without internet it logs the failure
and goes on.)
"""

import time

from infogap_server.privacy import evaluate as ev
from infogap_server.privacy.planted import planted_texts
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
)

recognizers = {
    "email": EmailRecognizer(),
    "phone": PhoneRecognizer(supported_regions=("GB", "US", "DE", "FR", "IE", "ES", "IT", "NL", "IN", "AU", "CA")),
    "card": CreditCardRecognizer(), "iban": IbanRecognizer(), "ip": IpRecognizer(),
}
entity = {
    "email": "EMAIL_ADDRESS", "phone": "PHONE_NUMBER", "card": "CREDIT_CARD", "iban": "IBAN_CODE", "ip": "IP_ADDRESS",
}
texts = planted_texts()
counts = {k: dict(gold=0, recalled=0, predicted=0, correct=0) for k in recognizers}
started = time.perf_counter()
for t in texts:
    spans = []
    for kind, rec in recognizers.items():
        for r in rec.analyze(t.text, [entity[kind]], None):
            if r.score > 0:  # AnalyzerEngine default: every result above 0
                spans.append((kind, r.start, r.end))
    spans.sort(key=lambda s: (s[1], -s[2]))
    for kind in recognizers:
        gold = [g for g in t.spans if g[0] == kind]
        counts[kind]["gold"] += len(gold)
        counts[kind]["recalled"] += sum(ev._covered(g, tuple(sorted(spans, key=lambda s: s[1]))) for g in gold)
        mine = [s for s in spans if s[0] == kind]
        counts[kind]["predicted"] += len(mine)
        counts[kind]["correct"] += sum(any(ev._overlaps(s, g) for g in t.spans if g[0] == kind) for s in mine)
print(f"{len(texts)} texts, {time.perf_counter() - started:.1f}s")
for k, c in counts.items():
    r = c["recalled"] / c["gold"]
    p = c["correct"] / c["predicted"] if c["predicted"] else 1.0
    print(f"{k:<6} gold {c['gold']:>4} recall {r:.3f} predicted {c['predicted']:>4} precision {p:.3f}")
