"""Every regular expression the server applies to caller text, compiled with RE2.

Python's ``re`` backtracks: a pattern with adjacent optional runs can take time cubic (or worse) in the length of
the text, and it runs on the event loop, so one crafted message could stall every call. RE2 (package
``google-re2``) compiles to an automaton and matches in time linear in the text, whatever the pattern; it has no
backreferences or look-around, which these patterns do not need. Serving code compiles patterns only through
:func:`compile_pattern` (a test checks that no serving module imports ``re``), so each one is in :data:`PATTERNS`,
where the tests and ``infogap bench --paths patterns`` run it over adversarial text.

Differences from ``re`` worth knowing: ``\\d``, ``\\w`` and ``\\b`` are ASCII in RE2 (use ``\\p{L}``/``\\p{N}`` for
Unicode letters and digits); case-insensitive matching folds Unicode case (``ſ`` matches ``s``).
"""

from __future__ import annotations

import re2

#: Every compiled pattern applied to caller text, by name.
PATTERNS: dict[str, re2._Regexp] = {}


def compile_pattern(name: str, pattern: str, *, ignore_case: bool = False) -> re2._Regexp:
    """Compile ``pattern`` with RE2 and register it under ``name`` (names are unique)."""
    if name in PATTERNS:
        raise ValueError(f"pattern {name!r} is registered twice")
    options = re2.Options()
    options.case_sensitive = not ignore_case
    compiled = re2.compile(pattern, options)
    PATTERNS[name] = compiled
    return compiled


def adversarial_texts(length: int) -> dict[str, str]:
    """Texts of exactly ``length`` characters built to make a backtracking engine work hard on the patterns above:
    long runs of what the patterns repeat (spaces, digits, letters, separators), prefixes that almost match
    followed by such runs, and repeated near-matches. Used by the tests and the benchmark."""
    fragments = {
        "spaces": " ",
        "digits": "1",
        "letters": "a",
        "hashes": "#",
        "dashes": "-",
        "at_signs": "a@",
        "dots": "a.",
        "order_words": "order ",
        "order_number_words": "order number: ",
        "currency": "$1",
        "decimals": "1.",
        "months": "jan ",
        "ordinal_dates": "1st of ",
        "years": ", 2024",
        "slashes": "1/",
        "urgent_words": "urgent",
        "newlines": "\n",
        "non_ascii": "é",
    }
    texts = {name: (fragment * (length // len(fragment) + 1))[:length] for name, fragment in fragments.items()}
    prefixes = {
        "order_then_spaces": "MRK9001ZQ order",
        "hash_then_spaces": "#A1",
        "email_then_dots": "jo.doe@example",
        "amount_then_spaces": "$",
        "date_then_spaces": "3rd of",
    }
    for name, prefix in prefixes.items():
        texts[name] = (prefix + " " * length)[:length]
    texts["order_almost"] = ("order #" + "1-" * length)[:length]
    texts["email_almost"] = ("a." * (length // 2) + "@")[-length:]
    return texts


#: Ids a caller chooses (request, event, feedback, session and plan ids): id-shaped so that no other text reaches a
#: log or a key, and the reason given when one is not.
CLIENT_ID = compile_pattern("client_id", r"[A-Za-z0-9._:/+=-]{1,128}")
CLIENT_ID_RULE = "must be at most 128 characters, each a letter, a digit or one of . _ : / + = -"
#: A Recommend decision id (RecommendResponse.decision_id, SubmitFeedbackRequest.decision_id, the decision log's
#: key): 32 lower-case hexadecimal digits, a UUID without dashes.
DECISION_ID = compile_pattern("decision_id", r"[0-9a-f]{32}")
