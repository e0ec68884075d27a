"""PII redaction for free text: every span of personal data is replaced by a placeholder such as ``<EMAIL>``.

Free text is redacted before it is stored or logged (see the design notes, "Privacy"). Seven kinds are found:
email addresses, phone numbers, payment cards (Luhn-checked), IBANs (ISO 7064 mod-97-checked), IP addresses,
street addresses (with UK postcodes and US state + ZIP) and personal names. What customer service needs stays:
order numbers, amounts, dates, times, product codes and quantities are left alone, so precision matters as much as
recall. Patterns find candidates; small checks in Python (checksums, digit counts, the word before a number, lists
of words that are not names) decide. Names are found from cues ("my name is", titles, greetings, sign-offs) and from
a list of common given names followed by a capitalised surname; a name with neither is missed.

Microsoft Presidio was considered and is not used: its named-entity recognition needs a spaCy model that this
machine cannot install, and its pattern recognizers run on Python's backtracking ``re``, which a crafted message can
stall. Every pattern here is RE2 (:mod:`infogap_server.services.patterns`), linear in the length of the text, and
registered, so the hardening tests run each over adversarial text.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import accumulate

from infogap_server.services.patterns import compile_pattern

#: The kinds of personal data, in the order they claim text: a span claimed by an earlier kind is not reused.
TYPES = ("email", "iban", "card", "ip", "phone", "address", "name")
#: The placeholder that replaces a span of each kind.
PLACEHOLDERS = {kind: f"<{kind.upper()}>" for kind in TYPES}


@dataclass(frozen=True)
class Redaction:
    """The redacted ``text``; ``spans`` as ``(type, start, end)`` in the original text (sorted, never overlapping);
    ``counts`` of spans by type (types with no span are absent)."""

    text: str
    spans: tuple[tuple[str, int, int], ...]
    counts: dict[str, int]


def redact(text: str) -> Redaction:
    """Find the personal data in ``text`` and replace each span with its placeholder (see :data:`PLACEHOLDERS`).

    Linear in the length of the text: RE2 patterns, and checks in Python bounded per candidate."""
    spans = find_spans(text)
    pieces = []
    position = 0
    for kind, start, end in spans:
        pieces.append(text[position:start])
        pieces.append(PLACEHOLDERS[kind])
        position = end
    pieces.append(text[position:])
    return Redaction("".join(pieces), spans, dict(Counter(kind for kind, _, _ in spans)))


def find_spans(text: str) -> tuple[tuple[str, int, int], ...]:
    """The spans :func:`redact` replaces: ``(type, start, end)``, sorted by start, never overlapping."""
    source = _Text(text)
    starts: list[int] = []
    claimed: list[tuple[str, int, int]] = []
    for kind, detector in _DETECTORS:
        for start, end in detector(source):
            # Claimed spans never overlap, so the neighbours found by one bisection are the only candidates to clash.
            i = bisect.bisect_right(starts, start)
            if (i > 0 and claimed[i - 1][2] > start) or (i < len(claimed) and claimed[i][1] < end):
                continue
            starts.insert(i, start)
            claimed.insert(i, (kind, start, end))
    return tuple(claimed)


# --- shared checks ---------------------------------------------------------------------------------------------

_DIGITS = frozenset("0123456789")
# Letters as explicit ranges of the scripts written with capitals (Latin, Greek, Cyrillic): RE2 compiles \p{L} into
# thousands of instructions per use, enough for its DFA to run out of memory and fall back to the slower NFA.
# Latin Extended-A/B and Additional mix both cases, so they are in both classes.
_UPPER = "A-ZÀ-ÖØ-ÞĀ-ɏΆ-ΏΑ-ΩЀ-ЯḀ-ỿ"
_LOWER = "a-zß-öø-ÿĀ-ɏά-ώα-ωа-џḀ-ỿ"
_LETTER = _UPPER + _LOWER
_JOINERS = frozenset("-./:")  # characters that glue two numbers into one token ("1.2", "12-34", "10:30")

# A number right after one of these labels is an order, invoice, tracking or product number, or an amount: customer
# service needs it, so it is not personal data even when its digits would pass for a phone or a card.
_LABEL_BEFORE = compile_pattern(
    "redact.label_before",
    r"(?:\b(?:order|invoice|tracking|track|parcel|package|shipment|consignment|reference|ref|ticket|case|serial|sku"
    r"|part|model|product|item|article|batch|lot|booking|confirmation|receipt|transaction|voucher|coupon|gift\s+card"
    r"|membership|loyalty|customer|version|firmware|build|release|ver|v|isbn|ean|upc|gtin|imei|asin|barcode)"
    r"\s*(?:number|num|no\.?|nr\.?|id|code|#)?\s*(?:is|was)?\s*[:#]?\s*|#\s*|[$€£¥]\s*)$",
    ignore_case=True,
)
_LABEL_WINDOW = 40  # characters before a number in which a label is looked for (the longest label is ~30)


def _labelled(text: str, start: int) -> bool:
    return _LABEL_BEFORE.search(text[max(0, start - _LABEL_WINDOW):start]) is not None


def _clear_before(text: str, start: int) -> bool:
    """Whether nothing glues ``text[start]`` to what precedes it: no letter or digit, no joiner after one, no digit
    and a space (so a number is not the tail of a longer one, a date or a code such as ``XR-555-123-4567``)."""
    if start == 0:
        return True
    before = text[start - 1]
    if before.isalnum() or before == "_":
        return False
    if start > 1 and before in _JOINERS and text[start - 2].isalnum():
        return False
    return not (start > 1 and before == " " and text[start - 2] in _DIGITS)


def _clear_after(text: str, end: int) -> bool:
    """Whether nothing glues ``text[end - 1]`` to what follows: no letter or digit, no joiner before one."""
    if end >= len(text):
        return True
    after = text[end]
    if after.isalnum() or after == "_":
        return False
    return not (end + 1 < len(text) and after in _JOINERS and text[end + 1].isalnum())


def _isolated_number(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` stands alone (see :func:`_clear_before` and :func:`_clear_after`)."""
    return _clear_before(text, start) and _clear_after(text, end)


def _digit_groups(candidate: str) -> list[tuple[int, int]]:
    """Offsets of the runs of digits in ``candidate``."""
    groups = []
    start = None
    for i, ch in enumerate(candidate):
        if ch in _DIGITS:
            if start is None:
                start = i
        elif start is not None:
            groups.append((start, i))
            start = None
    if start is not None:
        groups.append((start, len(candidate)))
    return groups


class _Found:
    """A match with its group spans in characters (the part of ``re2._Match`` the checks use)."""

    __slots__ = ("string", "_spans")

    def __init__(self, string: str, spans: list[tuple[int, int]]) -> None:
        self.string = string
        self._spans = spans

    def span(self, group: int = 0) -> tuple[int, int]:
        return self._spans[group]

    def start(self, group: int = 0) -> int:
        return self._spans[group][0]

    def end(self, group: int = 0) -> int:
        return self._spans[group][1]

    def group(self, group: int = 0) -> str:
        start, end = self._spans[group]
        return self.string[start:end]


class _Text:
    """A text and its UTF-8 bytes, encoded once. The re2 wrapper encodes a ``str`` again on every call, so searching
    a ``str`` again and again from later positions would be quadratic; searching the bytes is not, and offsets are
    mapped back to characters here."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.data = text.encode("utf-8", "surrogatepass")
        self._byte_offsets: list[int] | None = None
        if len(self.data) != len(text):
            sizes = (1 if c < "\x80" else 2 if c < "\u0800" else 3 if c < "\U00010000" else 4 for c in text)
            self._byte_offsets = [0, *accumulate(sizes)]

    def _char(self, offset: int) -> int:
        if self._byte_offsets is None or offset < 0:
            return offset
        return bisect.bisect_left(self._byte_offsets, offset)

    def _found(self, m, groups: int) -> _Found:
        return _Found(self.text, [tuple(map(self._char, m.span(i))) for i in range(groups + 1)])

    def search(self, pattern, position: int) -> _Found | None:
        """The first match starting at or after character ``position``."""
        start = position if self._byte_offsets is None else self._byte_offsets[position]
        m = pattern.search(self.data, start)
        return None if m is None else self._found(m, pattern.groups)

    def finditer(self, pattern) -> Iterator[_Found]:
        for m in pattern.finditer(self.data):
            yield self._found(m, pattern.groups)


def _scan(pattern, source: _Text, check: Callable[[_Found], tuple[int, int] | None]) -> Iterator[tuple[int, int]]:
    """Spans of the matches of a pattern whose matches are short, each kept when ``check`` returns a span. A rejected
    match is searched again one character later, so a bad candidate cannot hide a good one that starts inside it;
    the work stays linear because the matches are bounded in length."""
    position = 0
    while position <= len(source.text):
        m = source.search(pattern, position)
        if m is None:
            return
        span = check(m)
        if span is None:
            position = m.start() + 1
        else:
            yield span
            position = max(span[1], m.start() + 1)


# --- email -----------------------------------------------------------------------------------------------------

_EMAIL = compile_pattern(
    "redact.email",
    r"[" + _LETTER + r"0-9_%+-]+(?:\.[" + _LETTER + r"0-9_%+-]+)*@[" + _LETTER + r"0-9-]+(?:\.[" + _LETTER
    + r"0-9-]+)*\.[" + _LETTER + r"]{2,24}",
)


def _emails(source: _Text) -> Iterator[tuple[int, int]]:
    for m in source.finditer(_EMAIL):
        yield m.span()


# --- IBAN ------------------------------------------------------------------------------------------------------

#: Length of the IBAN of each country that issues them (SWIFT IBAN registry): the exact length is part of the check.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "BY": 28,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19,
    "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

# Country code, check digits, then up to 32 letters or digits, a single space allowed before each (groups of four
# are the printed form); the exact length is cut from the country's entry above.
_IBAN = compile_pattern("redact.iban", r"\b[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,32}")


def iban_valid(compact: str) -> bool:
    """ISO 7064 mod 97-10 check of an IBAN without spaces: the country code and check digits moved to the end,
    letters as numbers (A=10 ... Z=35), the whole number mod 97 is 1."""
    rearranged = compact[4:] + compact[:4]
    if not rearranged.isascii() or not rearranged.isalnum():
        return False
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _iban_check(m: _Found) -> tuple[int, int] | None:
    text = m.string
    start, end = m.span()
    length = IBAN_LENGTHS.get(text[start:start + 2].upper())
    if length is None or not _isolated_word_start(text, start):
        return None
    offsets = [i for i in range(start, end) if text[i] != " "]
    if len(offsets) < length:
        return None
    stop = offsets[length - 1] + 1
    if stop < len(text) and text[stop].isalnum():  # the last character is in the middle of a word
        return None
    compact = "".join(text[i] for i in offsets[:length]).upper()
    return (start, stop) if iban_valid(compact) else None


def _isolated_word_start(text: str, start: int) -> bool:
    return start == 0 or not (text[start - 1].isalnum() or text[start - 1] in "-_/")


def _ibans(source: _Text) -> Iterator[tuple[int, int]]:
    return _scan(_IBAN, source, _iban_check)


# --- payment cards ---------------------------------------------------------------------------------------------

# Runs of digit groups (three or more digits each) joined by one space or dash; which part of a run is a card is
# decided in Python: 13 to 19 digits at group boundaries, a card's first digit, the Luhn check.
_CARD_RUN = compile_pattern("redact.card", r"\b\d{3,19}(?:[ -]\d{3,19})*\b")


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a card number given as digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_number_plausible(digits: str) -> bool:
    # Issuer prefixes: 2221-2720 and 51-55 Mastercard, 3 Amex/Diners/JCB, 4 Visa, 5 and 6 Maestro/Discover/UnionPay.
    # Luhn alone passes one random number in ten; the prefix halves that, and rules out runs of one digit.
    first = digits[0]
    if first not in "23456" or len(set(digits)) == 1:
        return False
    return first != "2" or 2221 <= int(digits[:4]) <= 2720


def _cards(source: _Text) -> Iterator[tuple[int, int]]:
    text = source.text
    for m in source.finditer(_CARD_RUN):
        start, end = m.span()
        if _labelled(text, start) or not _isolated_number(text, start, end):
            continue
        yield from _cards_in_run(text, start, m.group(0))


def _cards_in_run(text: str, offset: int, run: str) -> Iterator[tuple[int, int]]:
    groups = _digit_groups(run)
    i = 0
    while i < len(groups):
        found = None
        count = 0
        for j in range(i, len(groups)):
            count += groups[j][1] - groups[j][0]
            if count > 19:
                break
            if count >= 13 and _card_window(run, groups[i:j + 1]):
                found = j  # the longest window from group i wins (a 19-digit card over its 16-digit prefix)
        if found is None:
            i += 1
            continue
        yield offset + groups[i][0], offset + groups[found][1]
        i = found + 1


def _card_window(run: str, groups: list[tuple[int, int]]) -> bool:
    if len(groups) > 1:
        # Printed cards come in groups of 4 (4-6-5 Amex, 4-6-4 Diners), with one kind of separator.
        if any(not 3 <= b - a <= 6 for a, b in groups):
            return False
        if len({run[b] for _, b in groups[:-1]}) != 1:
            return False
    digits = "".join(run[a:b] for a, b in groups)
    return _card_number_plausible(digits) and luhn_valid(digits)


# --- IP addresses ----------------------------------------------------------------------------------------------

_IPV4 = compile_pattern("redact.ipv4", r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
# Hex groups and colons in any of the forms of RFC 4291 (full, "::"-compressed, IPv4 tail); ``ipaddress`` decides.
_IPV6 = compile_pattern(
    "redact.ipv6",
    r"(?:[0-9A-Fa-f]{1,4}:|:)(?:[0-9A-Fa-f]{0,4}:){1,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?",
)


def _ipv4_check(m: _Found) -> tuple[int, int] | None:
    text = m.string
    start, end = m.span()
    end = _with_port(text, end)
    if not _isolated_number(text, start, end) or _labelled(text, start):
        return None
    if any(int(octet) > 255 for octet in m.group(0).split(".")):
        return None
    return start, end


def _with_port(text: str, end: int) -> int:
    """``end`` moved past a port ("192.168.1.20:8080"): the address and its port go together."""
    if end >= len(text) or text[end] != ":":
        return end
    stop = end + 1
    while stop < len(text) and stop <= end + 5 and text[stop] in _DIGITS:
        stop += 1
    return stop if stop > end + 1 else end


def _ipv6_check(m: _Found) -> tuple[int, int] | None:
    text = m.string
    start, end = m.span()
    candidate = m.group(0)
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] in ":."):
        return None
    if end < len(text) and (text[end].isalnum() or text[end] == ":"):
        return None
    # Fewer than three groups (such as "10:30::") are times or ratios far more often than addresses.
    if sum(1 for part in candidate.split(":") if part) < 3 and "::" not in candidate[1:-1]:
        return None
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return None
    return start, end


def _ips(source: _Text) -> Iterator[tuple[int, int]]:
    yield from _scan(_IPV4, source, _ipv4_check)
    yield from _scan(_IPV6, source, _ipv6_check)


# --- phone numbers ---------------------------------------------------------------------------------------------

# +44 20 7946 0958, +1-202-555-0143, +44 (0)20 7946 0958, 0033 1 23 45 67 89, +919876543210
_PHONE_INTERNATIONAL = compile_pattern(
    "redact.phone_international",
    r"(?:\+|\b00 ?)[1-9]\d{0,2}(?:[ .-]?\(0\))?[ .-]?\(?\d{1,5}\)?(?:[ .-]?\d{1,5}){1,5}",
)
# North American: (555) 123-4567, 555-123-4567, 555.123.4567, 1-800-555-0199
_PHONE_NANP = compile_pattern(
    "redact.phone_nanp",
    r"(?:\b1[ .-]?)?(?:\([2-9]\d{2}\)|\b[2-9]\d{2})[ .-]?\d{3}[ .-]?\d{4}\b",
)
# With a trunk prefix 0: 07700 900123, 020 7946 0958, 0161 496 0000, 01 23 45 67 89, 030 12345678, (020) 7946 0958
_PHONE_TRUNK = compile_pattern(
    "redact.phone_trunk",
    r"(?:\(0\d{1,4}\)|\b0\d{1,4})(?:[ .-]?\d{2,4}){1,4}\b",
)


def _looks_like_date(candidate: str) -> bool:
    # 12.05.2024 10 or 2024-05-12 1030: a date followed by more digits has a phone's digit count
    groups = _digit_groups(candidate)
    if len(groups) < 3:
        return False
    (a0, a1), (b0, b1), (c0, c1) = groups[:3]
    separators = {candidate[a1:b0], candidate[b1:c0]}
    if len(separators) != 1 or separators.pop() not in (".", "/", "-"):
        return False
    lengths = (a1 - a0, b1 - b0, c1 - c0)
    return (lengths[0] <= 2 and lengths[1] <= 2 and lengths[2] in (2, 4)) or lengths == (4, 2, 2)


def _phone_checker(digit_counts: range, *, international: bool = False):
    def check(m: _Found) -> tuple[int, int] | None:
        text = m.string
        start = m.start()
        candidate = m.group(0)
        if _labelled(text, start) or _looks_like_date(candidate) or not _clear_before(text, start):
            return None
        counted = candidate.replace("(0)", "", 1) if international else candidate
        # A trailing group may belong to the sentence ("+44 20 7946 0958 2024"): the longest prefix that ends on a
        # group boundary, has a phone's digit count and balanced brackets wins.
        groups = _digit_groups(counted)
        for last in range(len(groups) - 1, -1, -1):
            prefix = counted[:groups[last][1]]
            digits = sum(ch in _DIGITS for ch in prefix)
            if digits not in digit_counts or prefix.count("(") != prefix.count(")"):
                continue
            end = start + _original_end(candidate, counted, groups[last][1])
            if _clear_after(text, end):
                return start, end
        return None

    return check


def _original_end(candidate: str, counted: str, end_in_counted: int) -> int:
    # ``counted`` is ``candidate`` without one "(0)"; map an offset back past it when it lies after the removal.
    if counted == candidate:
        return end_in_counted
    removed_at = candidate.index("(0)")
    return end_in_counted + 3 if end_in_counted > removed_at else end_in_counted


def _phones(source: _Text) -> Iterator[tuple[int, int]]:
    yield from _scan(_PHONE_INTERNATIONAL, source, _phone_checker(range(8, 16), international=True))
    yield from _scan(_PHONE_NANP, source, _phone_checker(range(10, 12)))
    yield from _scan(_PHONE_TRUNK, source, _phone_checker(range(10, 12)))


# --- street addresses ------------------------------------------------------------------------------------------

# A dot belongs to an abbreviation ("Baker St."), never to a full word ("Baker Street." ends a sentence).
_STREET_WORDS = (
    "street|road|avenue|lane|drive|boulevard|way|court|close|place|terrace|crescent|square|grove|gardens|mews"
    "|parkway|highway|circle|trail|walk"
)
_STREET_ABBREVIATIONS = "st|rd|ave|av|ln|dr|blvd|ct|pl|terr|tce|cres|sq|gdns|pkwy|hwy|cir"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}"
_US_STATE_ZIP = r"[A-Z]{2} \d{5}(?:-\d{4})?"
_PLACE_WORD = "[" + _UPPER + "][" + _LETTER + "'’-]+"
_CAPITALISED = "[" + _UPPER + "][" + _LOWER + "]+"
_ADDRESS = compile_pattern(
    "redact.address",
    r"(?:(?i:flat|apt\.?|apartment|unit|suite)\s*\d{1,4}[A-Za-z]?,?\s+)?"
    r"\d{1,5}[A-Za-z]?(?:[-/]\d{1,4}[A-Za-z]?)?,?[ \t]+"
    r"(?P<words>(?:(?:[" + _LETTER + "][" + _LETTER + r"'’.-]*|\d{1,3}(?i:st|nd|rd|th))[ \t]+){1,4})"
    r"(?i:(?:" + _STREET_WORDS + r")\b|(?:" + _STREET_ABBREVIATIONS + r")\b\.?)"
    r"(?: (?:N|S|E|W|NE|NW|SE|SW)\b)?"
    r"(?P<city>,?\s+" + _CAPITALISED + r"(?:[ -]" + _CAPITALISED + r"){0,2})?"
    r"(?P<postcode>,?\s+(?:" + _UK_POSTCODE + "|" + _US_STATE_ZIP + r"))?",
)
# Continental forms: Hauptstraße 5, 10115 Berlin / 12 rue de la Paix, 75002 Paris / Calle Mayor 5, 28013 Madrid
_ADDRESS_GERMAN = compile_pattern(
    "redact.address_german",
    r"\b" + _CAPITALISED + r"(?:straße|strasse|str\.|weg|platz|allee|gasse) \d{1,4}[a-z]?"
    r"(?:,? (?:D-)?\d{5} " + _CAPITALISED + r"(?:[ -]" + _CAPITALISED + r")?)?",
)
_ADDRESS_FRENCH = compile_pattern(
    "redact.address_french",
    r"\b\d{1,4}(?: ?(?:bis|ter))?,? (?:(?i:rue|boulevard|bd|allée|allee|chemin|impasse|quai)|avenue|place|cours) "
    r"(?:(?:de la|de l'|du|des|de|d'|la|le|les|l')\s*)?" + _PLACE_WORD + r"(?:[ -]" + _PLACE_WORD + r"){0,3}"
    r"(?:,? \d{5} " + _CAPITALISED + r"(?:[ -]" + _CAPITALISED + r"){0,2})?",
)
_ADDRESS_SOUTHERN = compile_pattern(
    "redact.address_southern",
    r"\b(?:Calle|Avenida|Avda\.|Carrer|Rua|Piazza|Viale|Corso) (?:(?:de la|del|de|dos|da|do|della|di) )?"
    + _PLACE_WORD + r"(?: " + _PLACE_WORD + r"){0,2},? \d{1,4}(?:,? \d{5} " + _CAPITALISED + r"(?: " + _CAPITALISED
    + r")?)?",
)
# A postcode alone is an address only after a cue (otherwise "M2 1TB" or "XR2 5GB" would go too).
_POSTCODE_CUED = compile_pattern(
    "redact.postcode",
    r"(?i:\bpost ?code|\bpostal code|\bzip(?: ?code)?)(?: (?i:is|was))?\s*[:\-]?\s*"
    r"(?P<code>[A-Za-z]{1,2}\d[A-Za-z\d]? ?\d[A-Za-z]{2}|\d{5}(?:-\d{4})?)\b",
)
# Lowercase street names ("12 baker street") are addresses only after one of these.
_ADDRESS_CUE = compile_pattern(
    "redact.address_cue",
    r"(?i:\blive at|\bliving at|\baddress is|\baddress:|\bdeliver(?:ed|y)? to|\bship(?:ped)? to"
    r"|\bsen[dt](?: it| them)? to|\bmoved to|\bbased at|\blocated at|\bpost(?:ed)? to)\s*(?:the )?\s*$",
)
# Words that, before a suffix, make a product or a phrase rather than a street: "2 Portable SSD Drive", "No Way".
_NOT_STREET_WORDS = frozenset(
    "hard flash usb ssd hdd portable external thumb pen disk disc google one cloud test wheel solid state optical dvd"
    " cd floppy network shared zip no milky right wrong long easy the a an my your our this that and or of for to in"
    " on at by with from".split()
)


def _address_check(m: _Found) -> tuple[int, int] | None:
    text = m.string
    start, end = m.span()
    # "#12 ...", "$12 ...", "order 12 ...", "x 2 12 ...": the number is not a house number
    if _labelled(text, start) or not _isolated_word_start(text, start) or not _clear_before(text, start):
        return None
    words_start, words_end = m.span(_ADDRESS.groupindex["words"])
    words = text[words_start:words_end].split()
    if any(word.lower() in _NOT_STREET_WORDS for word in words):
        return None
    if not all(word[0].isupper() or word[0] in _DIGITS for word in words):
        if _ADDRESS_CUE.search(text[max(0, start - _LABEL_WINDOW):start]) is None:
            return None
    city_start, city_end = m.span(_ADDRESS.groupindex["city"])
    if city_start >= 0 and m.start(_ADDRESS.groupindex["postcode"]) < 0:
        # "12 Baker Street Thanks", "12 Baker Street, Anna Smith": without a postcode after them, the words after the
        # street may not all be a city.
        words = [(a, b) for a, b in _words(text, city_start, city_end) if text[a:b] != ","]
        places = 0
        while places < len(words) and not _non_place(text[words[places][0]:words[places][1]]):
            places += 1
        if places < len(words):
            end = words[places - 1][1] if places else city_start
    return start, end


def _non_place(word: str) -> bool:
    word = word.strip(",").split("-")[0]
    return word in _NOT_NAMES or word in GIVEN_NAMES


def _simple_check(m: _Found) -> tuple[int, int] | None:
    return None if _labelled(m.string, m.start()) else m.span()


def _postcode_check(m: _Found) -> tuple[int, int] | None:
    return m.span(_POSTCODE_CUED.groupindex["code"])


def _addresses(source: _Text) -> Iterator[tuple[int, int]]:
    yield from _scan(_ADDRESS, source, _address_check)
    yield from _scan(_ADDRESS_GERMAN, source, _simple_check)
    yield from _scan(_ADDRESS_FRENCH, source, _simple_check)
    yield from _scan(_ADDRESS_SOUTHERN, source, _simple_check)
    yield from _scan(_POSTCODE_CUED, source, _postcode_check)


# --- personal names --------------------------------------------------------------------------------------------

#: Common given names, international; followed by a capitalised surname they make a name without any cue. Names that
#: are also common words, months, places or brands ("Will", "May", "Victoria", "Austin", "Rose") are left out: the
#: cues still find them.
GIVEN_NAMES = frozenset(
    # English-speaking countries
    "James John Robert Michael David Richard Joseph Thomas Charles Christopher Daniel Matthew Anthony Steven Paul"
    " Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward Jason Jeffrey Ryan Jacob Gary Nicholas Eric"
    " Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel Gregory Alexander Frank Patrick Raymond Jack Dennis"
    " Jerry Tyler Aaron Adam Nathan Henry Douglas Zachary Peter Kyle Noah Ethan Jeremy Walter Keith Roger Sean Gerald"
    " Carl Harold Dylan Arthur Lawrence Jesse Bryan Bruce Gabriel Logan Alan Albert Elijah Wayne Randy Vincent Liam"
    " Oliver Harry Charlie Oscar Archie Alfie Freddie Theo Tom Tommy Ben Sam Dan Rob Mike Steve Chris Matt Nick Tony"
    " Andy Pete Jim Jimmy Danny Ian Neil Gavin Craig Stuart Graham Colin Martin Simon Rhys Owen Callum Connor Declan"
    " Finn Seamus Ciaran Niall Eoin Cormac Maria Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah"
    " Karen"
    " Nancy Lisa Margaret Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie Rebecca"
    " Laura Sharon Cynthia Kathleen Amy Shirley Angela Helen Anna Brenda Pamela Nicole Samantha Katherine Emma Ruth"
    " Christine Catherine Rachel Carolyn Janet Heather Diane Julie Joyce Evelyn Joan Kelly Christina Lauren Judith"
    " Megan Cheryl Andrea Hannah Martha Jacqueline Gloria Ann Teresa Kathryn Sara Janice Jean Alice Abigail Julia"
    " Judy Sophia Olivia Isabella Ava Mia Charlotte Amelia Ella Chloe Lily Sophie Lucy Holly Zoe Katie Ellie Freya"
    " Isla Imogen Niamh Aoife Siobhan Saoirse Caitlin Bethany Gemma Kirsty Claire Fiona Kate Jane Jenny Sally Nina"
    " Anne Grace Mark"
    # Spanish, Portuguese, Latin America
    " Carlos Miguel Javier Alejandro Pablo Diego Sergio Jorge Luis Manuel Antonio Francisco Pedro Rafael Fernando"
    " Andrés Raúl Álvaro Iván Joaquín Mateo Santiago Lucía Sofía Carmen Isabel Elena Marta Paula Ana Cristina Pilar"
    " Beatriz Camila Valentina Gabriela Daniela Mariana Inês João Tiago Gonçalo Rui José María Juan Alejandra"
    # French
    " Pierre Louis Nicolas Julien Antoine Mathieu Sébastien Olivier François Philippe Guillaume Théo Lucas Camille"
    " Léa Manon Chloé Juliette Amélie Élodie Céline Aurélie Margaux Inès Clément Maxime Baptiste Hélène Mathilde"
    # German, Dutch, Nordic
    " Hans Jürgen Klaus Stefan Andreas Markus Tobias Florian Lukas Jonas Felix Maximilian Leon Niklas Katharina Anja"
    " Sabine Petra Ursula Monika Lena Hanna Greta Johanna Sven Lars Erik Anders Nils Magnus Bjørn Søren Mads Mikkel"
    " Astrid Ingrid Sigrid Freja Maja Elin Linnea Annika Pieter Jan Joost Bram Sanne Femke Lotte Anouk Daan Ruben"
    # Italian
    " Giuseppe Giovanni Marco Luca Matteo Alessandro Francesco Lorenzo Stefano Davide Giulia Chiara Francesca"
    " Federica Alessia Martina Elisa Giorgia Simone Paolo Roberto"
    # Central and Eastern Europe, Greece, Turkey
    " Piotr Krzysztof Tomasz Paweł Michał Marcin Łukasz Jakub Kasia Katarzyna Agnieszka Magdalena Joanna Małgorzata"
    " Ewa Zofia Jiří Petr Tomáš Lucie Tereza Zsófia Bence Dmitri Dmitry Sergei Alexei Ivan Olga Natasha Tatiana"
    " Svetlana Anastasia Irina Ekaterina Yuri Andrei Mikhail Nikos Giorgos Dimitris Eleni Sofia Mehmet Mustafa Ahmet"
    " Emre Burak Elif Zeynep Ayşe Fatma"
    # Arabic, Persian
    " Mohammed Muhammad Mohamed Ahmed Ali Omar Hassan Hussein Ibrahim Youssef Yusuf Khalid Karim Tariq Hamza Bilal"
    " Fatima Aisha Layla Leila Zainab Mariam Noor Amira Yasmin Reza Mehdi Dariush Parisa Shirin Nasrin"
    # South Asia
    " Raj Rahul Amit Arjun Vikram Rohan Sanjay Suresh Ravi Anil Deepak Manoj Arun Karthik Aditya Priya Anjali Pooja"
    " Neha Divya Sunita Lakshmi Deepika Kavya Meera Aarav Ishaan Imran Asif Farhan Ayesha Sana Nadia"
    # East and South-East Asia
    " Wei Ming Hao Xiao Mei Ling Hui Jing Hiroshi Takashi Kenji Yuki Haruto Sakura Yui Aiko Keiko Naoko Minjun"
    " Seojun Jiwoo Jimin Minji Seoyeon Minh Linh Huong Quang"
    # Africa
    " Chinedu Emeka Ngozi Chiamaka Adebayo Tunde Femi Kwame Kofi Akua Abena Kwabena Thabo Sipho Lerato Nomvula"
    " Wanjiru Wambui Kamau Otieno Achieng Amara Chidi Ifeoma".split()
)

# Capitalised words that start a sentence or name a thing, never a person: after a cue ("I'm Happy", "Dear
# Customer Services", "Thanks, Looking forward") or as a "surname" ("Anna Street") they end the name.
_NOT_NAMES = frozenset(
    "I The A An My Your Our Their His Her This That These Those It Its We You He She They And But Or So Not No Yes"
    " Very Really Just Still Also Here There Now Then Today Tomorrow Yesterday Please Thanks Thank Hello Hi Hey Dear"
    " Sorry Happy Sad Upset Angry Disappointed Frustrated Writing Calling Contacting Looking Trying Going Waiting"
    " Afraid Glad Sure Unable Able Keen Interested Confused Done Back Away Okay Ok Fine Great Good Best Kind Warm"
    " Regards Cheers Sincerely Yours Customer Customers Service Services Support Team Sir Madam Manager Agent Order"
    " Orders Account Billing Sales Help Desk Helpdesk Care Department Dept Office Store Shop Online Company Corp Ltd"
    " Inc Plc Limited Group Bank Delivery Returns Refund Refunds Complaints Monday Tuesday Wednesday Thursday Friday"
    " Saturday Sunday January February March April May June July August September October November December In On"
    " At For From With To Of By About After Before If When Why How What Where Who Which As Is Was Are Were Be Been"
    " Will Would Can Could Should Must May Might Do Does Did Have Has Had Mr Mrs Ms Miss Dr Prof Street St Road Rd"
    " Avenue Ave Lane Drive Boulevard Way Court Close Place Terrace Crescent Station Square Airport Centre Center"
    " Mall Market Harbour Harbor Gardens Hospital University College School Church Bridge Hotel Airlines Airways"
    " Express Prime Plus Pro Max Mini Ultra Premium Gold Silver Black White Red Blue Green All Everyone Anyone"
    " Someone Nobody Everybody Guys Folks Friends Team's Again Regarding Re Fwd Sent Attached Update Urgent Complaint"
    " Request Question Issue Problem Feedback Note PS Ps"
    # emphasis and exclamations ("this is Unacceptable!")
    " Unacceptable Ridiculous Outrageous Terrible Awful Disgraceful Appalling Unbelievable Shocking Amazing Brilliant"
    " Excellent Perfect Wonderful Fantastic Rubbish Nonsense Wow Ugh Oops Urgently Important Annoying Useless"
    " Thrilled Delighted Pleased Satisfied Grateful Thankful Annoyed Furious Livid Gutted Stuck Lost Ready Busy Late"
    " Me Him Mate Buddy Pal Love Dude"
    # companies, shops and carriers customers write to or about
    " Amazon Apple Samsung Google Microsoft PayPal Ebay eBay Netflix Spotify Uber Deliveroo DHL UPS FedEx Hermes Evri"
    " Royal Mail Yodel DPD USPS Tesco Argos Currys Asda Sainsbury's Boots Ikea IKEA Zara Primark Walmart Target"
    " Costco Visa Mastercard Amex Klarna Vodafone Verizon Comcast Sky BT Lidl Aldi Booking Airbnb Ryanair Easyjet"
    " Everyone Everybody Folks Sirs Madams Gents Ladies Sir/Madam".split()
)
# People whose names are brands: "my Ted Baker coat" is a product, not a person (cues still find the people).
_NAME_BRANDS = frozenset(
    "Ted Baker|Calvin Klein|Tommy Hilfiger|Ralph Lauren|Michael Kors|Kate Spade|Hugo Boss|Jack Daniels|Paul Smith"
    "|Ben Sherman|Vera Wang|Marc Jacobs|Tory Burch|Jimmy Choo|Bobbi Brown|Tom Ford|Stella McCartney|Ben Jerry"
    "|Laura Ashley|Kurt Geiger|Ted Lasso|Martha Stewart|Betty Crocker|Mary Kay|Harry Potter|Peter Rabbit".split("|")
)

_NAME_WORD = "[" + _UPPER + "][" + _LOWER + "'’]*(?:" + _CAPITALISED + ")?(?:-" + _CAPITALISED + ")?"
_PARTICLE = r"(?:(?:van|von|de|der|den|da|del|della|di|du|dos|das|le|la|ten|ter|bin|ibn|al|el) )"
_INITIAL = "(?: [" + _UPPER + r"]\.)?"
_FULL_NAME = _NAME_WORD + _INITIAL + r"(?: " + _PARTICLE + r"{0,2}" + _NAME_WORD + r"){0,2}"
_NAME_START = "(?:^|[^" + _LETTER + "0-9_])"  # RE2's \b is ASCII-only: "Émile" must start a word too

# "my name is Anna Smith": strong cues, any capitalised name follows
_NAME_STRONG = compile_pattern(
    "redact.name_cue",
    r"(?i:\bmy name is|\bmy name's|\bmy names|\bname\s*:|\bthe name is|\bcall me|\bi go by|\baccount holder\s*:?"
    r"|\bcard ?holder(?: name)?\s*:?|\bfull name\s*:?|\bbooked under|\bunder the name(?: of)?)"
    r"[ \t]+(?P<name>" + _FULL_NAME + ")",
)
# "I'm Tom", "this is Anna Smith": weak cues, a known given name or two capitalised words must follow
_NAME_WEAK = compile_pattern(
    "redact.name_weak_cue",
    r"(?i:\bi am|\bi'm|\bi’m|\bim|\bthis is|\bit's|\bit’s)[ \t]+(?P<name>" + _FULL_NAME + ")",
)
# "Customer Anna Smith", "the engineer Tom": a role, then a known given name or two capitalised words
_NAME_ROLE = compile_pattern(
    "redact.name_role",
    r"(?i:\bcustomer|\bclient|\bpassenger|\brecipient|\bagent|\btechnician|\badvis[eo]r|\bengineer|\bdriver"
    r"|\bcourier|\bcolleague|\brep|\brepresentative|\bsupervisor|\boperator|\bassistant)[ \t]+(?P<name>"
    + _FULL_NAME + ")",
)
# "Tom said", "Anna Smith promised": a name reported as speaking or acting
_NAME_SAID = compile_pattern(
    "redact.name_said",
    _NAME_START + r"(?P<name>" + _FULL_NAME + r")[ \t]+(?:said|told|promised|assured|explained|confirmed|mentioned"
    r"|helped|called|emailed|replied|answered|visited)\b",
)
# "Olga was brilliant": a known given name before a verb that follows things as often as people
_NAME_WAS = compile_pattern(
    "redact.name_was",
    _NAME_START + r"(?P<name>" + _FULL_NAME + r")[ \t]+(?:was|has|had|is)\b",
)
_NAME_TITLE = compile_pattern(
    "redact.name_title",
    _NAME_START + r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Professor|Sir|Dame|Herr|Frau|Mme|Mlle|Monsieur|Madame|Señor"
    r"|Señora|Sr|Sra)\.?[ \t]+(?P<name>" + _PARTICLE + "{0,2}" + _FULL_NAME + ")",
)
_NAME_GREETING = compile_pattern(
    "redact.name_greeting",
    r"(?i:\bdear|\bhi|\bhello|\bhey|\bhiya|\bmorning|\bafternoon|\bevening|\battn:?|\battention:?)[ \t]+"
    r"(?P<name>" + _FULL_NAME + ")",
)
# "Regards, Anna Smith" / "Thanks\nTom" / "ok, thanks Tom": a sign-off, then a name that ends the line
_NAME_SIGNOFF = compile_pattern(
    "redact.name_signoff",
    r"(?m)(?:^|[.!?,])[ \t]*(?i:(?:best|kind|warm|warmest|many) regards|regards|many thanks|thanks(?: again)?"
    r"|thank you|thx|cheers|best wishes|best,|sincerely|yours (?:sincerely|faithfully|truly)|respectfully|ta,)"
    r"[ \t]*[,.!\-–—]*\s*[-–—~]?[ \t]*(?P<name>" + _FULL_NAME + r")[ \t]*[.!]?[ \t]*\r?$",
)
# A name on its own line above an address, as letters and return labels are written: "Anna Smith\n12 Baker St"
_NAME_ABOVE_ADDRESS = compile_pattern(
    "redact.name_above_address",
    r"(?m)^[ \t]*(?P<name>" + _FULL_NAME + r")[ \t]*,?[ \t]*\r?\n[ \t]*(?:(?i:flat|apt|apartment|unit|suite)\b|\d{1,5}"
    r"[A-Za-z]?,?[ \t]+[" + _UPPER + "])",
)
_NAME_HERE = compile_pattern(
    "redact.name_here",
    _NAME_START + r"(?P<name>" + _FULL_NAME + r")[ \t]+(?:here|speaking)\b",
)
# A given name from the list, an optional initial, then a capitalised surname (or two).
_NAME_GIVEN = compile_pattern(
    "redact.name_given",
    _NAME_START + r"(?P<name>(?:" + "|".join(sorted(GIVEN_NAMES, key=len, reverse=True)) + ")" + _INITIAL + " "
    + _PARTICLE + r"{0,2}" + _NAME_WORD + r"(?: " + _NAME_WORD + r")?)",
)


def _words(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Offsets of the whitespace-separated words of ``text[start:end]``."""
    words = []
    word_start = None
    for i in range(start, end):
        if text[i].isspace():
            if word_start is not None:
                words.append((word_start, i))
                word_start = None
        elif word_start is None:
            word_start = i
    if word_start is not None:
        words.append((word_start, end))
    return words


def _name_span(m: _Found, pattern, accept: Callable[[list[str], str], bool]) -> tuple[int, int] | None:
    """The span of the name captured by ``m``, cut before the first word that is not a name ("Anna Smith Thanks")
    and after a possessive ("Anna Smith's order"), kept when ``accept`` likes its words and the character after."""
    text = m.string
    start, end = m.span(pattern.groupindex["name"])
    if end < len(text) and text[end].isalpha():
        return None  # the capture stopped inside a word: "ABC" is not a name
    kept: list[tuple[int, int, str]] = []
    for a, b in _words(text, start, end):
        word = text[a:b]
        possessive = word.endswith(("'s", "’s", "'", "’"))
        word = word.removesuffix("s").rstrip("'’") if possessive else word
        if word in _NOT_NAMES or (len(word) == 1 and not kept):
            break
        kept.append((a, a + len(word), word))
        if possessive:
            break
    while kept and kept[-1][2][0].islower():  # a trailing particle ("Anna van") is not part of the name
        kept.pop()
    if not kept:
        return None
    name_end = kept[-1][1]
    if not accept([word for _, _, word in kept], text[name_end:name_end + 1]):
        return None
    return kept[0][0], name_end


def _any_name(words: list[str], after: str) -> bool:
    return True


def _known_or_full_name(words: list[str], after: str) -> bool:
    return words[0] in GIVEN_NAMES or sum(1 for w in words if w[0].isupper()) >= 2


def _known_given_name(words: list[str], after: str) -> bool:
    return words[0] in GIVEN_NAMES


def _addressed_name(words: list[str], after: str) -> bool:
    # "Hi Kalani, thanks", "this is Teodora, I ordered", "Hey it's Farai!": after a greeting or an introduction, one
    # capitalised word set off by punctuation is a name even when the list does not know it.
    return _known_or_full_name(words, after) or after in ("", ",", "!", ".", "\n", "\r")


def _given_and_surname(words: list[str], after: str) -> bool:
    return len(words) >= 2 and " ".join(words[:2]) not in _NAME_BRANDS


def _name_detector(pattern, accept: Callable[[list[str], str], bool]):
    def detect(source: _Text) -> Iterator[tuple[int, int]]:
        return _scan(pattern, source, lambda m: _name_span(m, pattern, accept))

    return detect


_NAME_DETECTORS = (
    _name_detector(_NAME_STRONG, _any_name),
    _name_detector(_NAME_TITLE, _any_name),
    _name_detector(_NAME_SIGNOFF, _any_name),
    _name_detector(_NAME_WEAK, _addressed_name),
    _name_detector(_NAME_GREETING, _addressed_name),
    _name_detector(_NAME_HERE, _known_or_full_name),
    _name_detector(_NAME_ABOVE_ADDRESS, _known_or_full_name),
    _name_detector(_NAME_ROLE, _known_or_full_name),
    _name_detector(_NAME_SAID, _known_or_full_name),
    _name_detector(_NAME_WAS, _known_given_name),
    _name_detector(_NAME_GIVEN, _given_and_surname),
)


def _names(source: _Text) -> Iterator[tuple[int, int]]:
    for detect in _NAME_DETECTORS:
        yield from detect(source)


_DETECTORS: tuple[tuple[str, Callable[[_Text], Iterator[tuple[int, int]]]], ...] = (
    ("email", _emails),
    ("iban", _ibans),
    ("card", _cards),
    ("ip", _ips),
    ("phone", _phones),
    ("address", _addresses),
    ("name", _names),
)
