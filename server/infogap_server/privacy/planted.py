"""A planted-PII test set for :mod:`infogap_server.privacy.redaction`: customer-service messages written for this
project (complaints, requests, feedback, chat lines, letters), with personal data planted at known spans.

Deterministic: one seed gives the same texts. Messages with personal data plant every kind (email, phone, card,
IBAN, IP, address, name) in varied formats, some with typos, some long; messages without any carry only what
customer service needs and a redactor must leave alone: order numbers, amounts, dates, times, product codes,
quantities, tracking numbers that fail the Luhn check, brand and product names, place names that are not addresses.
About a third of the given names are outside the redactor's list of given names, so names are measured on the cues
around them, not on the list alone. Cards pass the Luhn check and IBANs the mod-97 check, computed here.

Development tooling: used by the tests and by :mod:`infogap_server.privacy.evaluate`, never by serving code.
"""

from __future__ import annotations

import random
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

#: Kinds of planted personal data (the redactor's types).
PII_TYPES = ("email", "phone", "card", "iban", "ip", "address", "name")


@dataclass(frozen=True)
class PlantedText:
    """A message and the gold spans of the personal data planted in it: ``(type, start, end)``, sorted."""

    text: str
    spans: tuple[tuple[str, int, int], ...]


# --- people ----------------------------------------------------------------------------------------------------

#: Given names that are in :data:`infogap_server.privacy.redaction.GIVEN_NAMES` (a test checks it).
KNOWN_GIVEN_NAMES = (
    "Anna", "James", "Sarah", "Tom", "Emily", "Daniel", "Olivia", "Michael", "Sophie", "David", "Priya", "Rahul",
    "Mohammed", "Fatima", "Wei", "Mei", "Hiroshi", "Yuki", "Carlos", "Lucía", "José", "María", "Pierre", "Camille",
    "Hans", "Katharina", "Sven", "Ingrid", "Giulia", "Marco", "Łukasz", "Agnieszka", "Dmitri", "Olga", "Kwame",
    "Ngozi", "Aoife", "Niamh", "Liam", "Chloé", "Søren", "Zeynep", "Mehmet", "Anjali", "Arjun", "Minjun", "Linh",
    "Thabo", "Ayesha", "Rachel", "Peter", "Laura", "Chris", "Hannah", "Ben", "Grace", "Kate", "Ivan", "Elena",
)
#: Given names that are not in the redactor's list: only the cues around them can find them (a test checks it).
OTHER_GIVEN_NAMES = (
    "Zoltan", "Oluwaseun", "Thandiwe", "Ximena", "Bartholomew", "Eilidh", "Gwendolyn", "Mirela", "Radoslav",
    "Teodora", "Ksenia", "Branimir", "Aurelio", "Ottilie", "Ruairi", "Tadhg", "Dagny", "Solveig", "Ragnhild",
    "Torvald", "Yevgenia", "Anneliese", "Casimir", "Nkechi", "Obiageli", "Tendai", "Farai", "Rangi", "Aroha",
    "Kalani", "Anahera", "Tavita", "Leocadia", "Evander", "Philippa", "Cosmin", "Vesna", "Ingeborg",
)
_SURNAMES = (
    "Smith", "Jones", "Williams", "Brown", "Taylor", "Wilson", "Evans", "Thompson", "García", "Martínez", "López",
    "Müller", "Schmidt", "Schneider", "Rossi", "Bianchi", "Esposito", "Dubois", "Lefèvre", "Moreau", "Nowak",
    "Kowalski", "Wiśniewska", "Kovács", "Nagy", "Novák", "Jensen", "Nielsen", "Andersson", "Johansson", "Virtanen",
    "O'Brien", "McDonald", "Murphy", "Kelly", "Patel", "Sharma", "Singh", "Gupta", "Khan", "Ahmed", "Hassan",
    "Haddad", "Okafor", "Adeyemi", "Mensah", "Mwangi", "Nakamura", "Tanaka", "Suzuki", "Kim", "Park", "Chen",
    "Zhang", "Wang", "Nguyen", "Tran", "Santos", "Silva", "Oliveira", "Ivanov", "Petrova", "Popescu", "Yilmaz",
    "Cohen", "de Vries", "van der Berg", "Janssen", "Papadopoulos", "Horvat", "Fischer", "Weber", "Hoffmann",
    "Fontaine", "Romano", "Gonzalez", "Hernandez", "Ramirez", "Morales", "Castillo", "Smith-Jones", "García-López",
    "MacLeod", "Fitzgerald", "Harrington", "Whitfield", "Okonkwo", "Dlamini", "Abubakar", "Takahashi", "Lindqvist",
)
_TITLES = ("Mr", "Mrs", "Ms", "Miss", "Dr", "Mr.", "Mrs.", "Ms.", "Prof.")


@dataclass(frozen=True)
class _Person:
    given: str
    surname: str


def _person(rng: random.Random) -> _Person:
    pool = OTHER_GIVEN_NAMES if rng.random() < 0.33 else KNOWN_GIVEN_NAMES
    return _Person(rng.choice(pool), rng.choice(_SURNAMES))


def _ascii(text: str) -> str:
    text = text.replace("ł", "l").replace("Ł", "L").replace("ø", "o").replace("ß", "ss").replace("'", "")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().replace(" ", "")


# --- personal data -----------------------------------------------------------------------------------------------

_EMAIL_DOMAINS = (
    "gmail.com", "outlook.com", "hotmail.co.uk", "yahoo.com", "icloud.com", "proton.me", "web.de", "gmx.net",
    "orange.fr", "libero.it", "example.org", "mail.example.com", "company.co.jp", "uni-mail.edu.au", "btinternet.com",
)


def _email(rng: random.Random, person: _Person) -> str:
    g, s = _ascii(person.given).lower(), _ascii(person.surname).lower()
    local = rng.choice((
        f"{g}.{s}", f"{g[0]}{s}", f"{g}_{s}{rng.randint(1, 99)}", f"{g}{rng.randint(70, 99)}", f"{s}.{g}+shop",
        f"{g}.{s[0]}", "".join(rng.choices(string.ascii_lowercase, k=6)) + str(rng.randint(1, 999)),
    ))
    email = f"{local}@{rng.choice(_EMAIL_DOMAINS)}"
    return email.capitalize() if rng.random() < 0.1 else email


def _d(rng: random.Random, count: int) -> str:
    return "".join(rng.choices(string.digits, k=count))


def _nxx(rng: random.Random) -> str:
    return str(rng.randint(2, 9)) + _d(rng, 2)


_PHONE_FORMATS: tuple[Callable[[random.Random], str], ...] = (
    lambda r: f"+44 7{_d(r, 3)} {_d(r, 6)}",
    lambda r: f"+44 20 {_d(r, 4)} {_d(r, 4)}",
    lambda r: f"+44 (0)20 {_d(r, 4)} {_d(r, 4)}",
    lambda r: f"07{_d(r, 3)} {_d(r, 6)}",
    lambda r: f"020 {_d(r, 4)} {_d(r, 4)}",
    lambda r: f"0161 {_d(r, 3)} {_d(r, 4)}",
    lambda r: f"01632 {_d(r, 6)}",
    lambda r: f"({_nxx(r)}) {_d(r, 3)}-{_d(r, 4)}",
    lambda r: f"{_nxx(r)}-{_d(r, 3)}-{_d(r, 4)}",
    lambda r: f"{_nxx(r)}.{_d(r, 3)}.{_d(r, 4)}",
    lambda r: f"+1-{_nxx(r)}-{_d(r, 3)}-{_d(r, 4)}",
    lambda r: f"+1 ({_nxx(r)}) {_d(r, 3)}-{_d(r, 4)}",
    lambda r: f"1-800-{_d(r, 3)}-{_d(r, 4)}",
    lambda r: f"+33 {r.randint(1, 7)} {_d(r, 2)} {_d(r, 2)} {_d(r, 2)} {_d(r, 2)}",
    lambda r: f"0{r.randint(1, 7)} {_d(r, 2)} {_d(r, 2)} {_d(r, 2)} {_d(r, 2)}",
    lambda r: f"+49 30 {_d(r, 8)}",
    lambda r: f"030 {_d(r, 8)}",
    lambda r: f"+49 151 {_d(r, 8)}",
    lambda r: f"+91 {r.randint(6, 9)}{_d(r, 4)} {_d(r, 5)}",
    lambda r: f"+61 {r.randint(2, 8)} {_d(r, 4)} {_d(r, 4)}",
    lambda r: f"+34 6{_d(r, 2)} {_d(r, 3)} {_d(r, 3)}",
    lambda r: f"+353 8{r.randint(3, 9)} {_d(r, 3)} {_d(r, 4)}",
    lambda r: f"+31 6 {_d(r, 8)}",
    lambda r: f"+39 3{_d(r, 2)} {_d(r, 3)} {_d(r, 4)}",
    lambda r: f"+55 11 9{_d(r, 4)}-{_d(r, 4)}",
    lambda r: f"+81 90-{_d(r, 4)}-{_d(r, 4)}",
    lambda r: f"+27 82 {_d(r, 3)} {_d(r, 4)}",
    lambda r: f"+447700{_d(r, 6)}",
    lambda r: f"07700{_d(r, 6)}",
    lambda r: f"00 44 20 {_d(r, 4)} {_d(r, 4)}",
    lambda r: f"{_nxx(r)}{_d(r, 7)}",
    lambda r: f"+44 7700-{_d(r, 3)}-{_d(r, 3)}",
    lambda r: f"(02) {_d(r, 4)} {_d(r, 4)}",
    lambda r: f"+86 13{r.randint(0, 9)} {_d(r, 4)} {_d(r, 4)}",
    lambda r: f"+7 495 {_d(r, 3)}-{_d(r, 2)}-{_d(r, 2)}",
    lambda r: f"+971 50 {_d(r, 3)} {_d(r, 4)}",
    lambda r: f"06-{_d(r, 8)}",
    lambda r: f"0044 7700 {_d(r, 6)}",
)


def _phone(rng: random.Random) -> str:
    return rng.choice(_PHONE_FORMATS)(rng)


def luhn_check_digit(digits: str) -> str:
    """The digit that makes ``digits`` + it pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # doubled: these positions become odd ones once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


# (prefix choices, length, grouping)
_CARD_BRANDS = (
    (("4",), 16, (4, 4, 4, 4)),
    (("51", "52", "53", "54", "55"), 16, (4, 4, 4, 4)),
    (("2221", "2345", "2720"), 16, (4, 4, 4, 4)),
    (("34", "37"), 15, (4, 6, 5)),
    (("6011", "65"), 16, (4, 4, 4, 4)),
    (("3528", "3589"), 16, (4, 4, 4, 4)),
    (("36",), 14, (4, 6, 4)),
    (("62",), 19, (4, 4, 4, 4, 3)),
)


def _card_digits(rng: random.Random) -> tuple[str, tuple[int, ...]]:
    prefixes, length, grouping = rng.choice(_CARD_BRANDS)
    body = rng.choice(prefixes)
    body += _d(rng, length - 1 - len(body))
    return body + luhn_check_digit(body), grouping


def _group(digits: str, grouping: tuple[int, ...], separator: str) -> str:
    parts = []
    position = 0
    for size in grouping:
        parts.append(digits[position:position + size])
        position += size
    return separator.join(parts)


def _card(rng: random.Random) -> str:
    digits, grouping = _card_digits(rng)
    style = rng.random()
    if style < 0.6:
        return _group(digits, grouping, " ")
    if style < 0.8:
        return _group(digits, grouping, "-")
    return digits


def _luhn_failing(rng: random.Random, length: int, first: str = "4") -> str:
    body = first + _d(rng, length - 2)
    good = luhn_check_digit(body)
    return body + str((int(good) + rng.randint(1, 9)) % 10)


# country: (letters in the bank code, digits after them); lengths as in the IBAN registry
_IBAN_SHAPES = {
    "DE": (0, 18), "GB": (4, 14), "FR": (0, 23), "NL": (4, 10), "ES": (0, 20), "IT": (1, 22), "BE": (0, 12),
    "CH": (0, 17), "AT": (0, 16), "IE": (4, 14), "PL": (0, 24), "SE": (0, 20), "NO": (0, 11), "DK": (0, 14),
    "PT": (0, 21), "FI": (0, 14), "LU": (0, 16),
}


def iban_check_digits(country: str, bban: str) -> str:
    """The two check digits of the IBAN of ``country`` with basic bank account number ``bban`` (ISO 13616)."""
    number = int("".join(str(int(ch, 36)) for ch in bban + country + "00"))
    return f"{98 - number % 97:02d}"


def _iban(rng: random.Random) -> str:
    country = rng.choice(sorted(_IBAN_SHAPES))
    letters, digits = _IBAN_SHAPES[country]
    bban = "".join(rng.choices(string.ascii_uppercase, k=letters)) + _d(rng, digits)
    compact = country + iban_check_digits(country, bban) + bban
    style = rng.random()
    if style < 0.65:
        return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))
    return compact.lower() if style < 0.72 else compact


def _ip(rng: random.Random) -> str:
    h = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    return rng.choice((
        f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        f"172.{rng.randint(16, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        f"2001:db8:{h[0]}:{h[1]}::{h[2]}",
        ":".join(f"{rng.randint(0, 0xFFFF):04x}" for _ in range(8)),
        f"fe80::{h[3]}:{h[4]}:{h[5]}:{h[6]}",
        f"2a02:c7f:{h[1]}:{h[7]}::1",
        f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}:"
        f"{rng.randint(80, 9000)}",
    ))


_STREETS = (
    "Baker", "High", "Church", "Station", "Park", "Elm", "Maple", "Oak", "Mill", "King", "Queen", "George", "Albert",
    "Manor", "Green", "Chapel", "New", "Windsor", "Springfield", "Cedar", "Willow", "Main", "Pine", "Washington",
    "Lake", "Sunset", "Riverside", "Orchard", "Meadow", "St John's", "Queen's", "Prince Albert", "North Bridge",
    "Castle", "Victoria", "Harbour View",
)
_SUFFIXES = (
    "Street", "St", "Road", "Rd", "Avenue", "Ave", "Lane", "Ln", "Drive", "Dr", "Boulevard", "Blvd", "Way", "Court",
    "Ct", "Close", "Place", "Pl", "Terrace", "Crescent", "street", "road", "Rd.", "St.",
)
_UK_CITIES = (
    "London", "Manchester", "Leeds", "Bristol", "Glasgow", "Edinburgh", "Cardiff", "Belfast", "Birmingham",
    "Liverpool", "Sheffield", "Nottingham", "Oxford", "Cambridge", "York", "Brighton", "Milton Keynes",
)
_UK_AREAS = ("SW", "NW", "SE", "E", "N", "W", "M", "B", "LS", "BS", "G", "EH", "CF", "BT", "L", "S", "NG", "OX", "CB")
_US_PLACES = (
    ("Springfield", "IL"), ("Austin", "TX"), ("Portland", "OR"), ("Denver", "CO"), ("Columbus", "OH"),
    ("Seattle", "WA"), ("Boston", "MA"), ("Madison", "WI"), ("Phoenix", "AZ"), ("San Diego", "CA"),
)
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def _uk_postcode(rng: random.Random) -> str:
    district = rng.randint(1, 20)
    outward = rng.choice(_UK_AREAS) + str(district) + ("A" if district == 1 and rng.random() < 0.5 else "")
    return f"{outward} {rng.randint(0, 9)}{rng.choice(_INWARD_LETTERS)}{rng.choice(_INWARD_LETTERS)}"


def _address(rng: random.Random) -> str:
    number = str(rng.randint(1, 240)) + (rng.choice("AB") if rng.random() < 0.08 else "")
    street = f"{number} {rng.choice(_STREETS)} {rng.choice(_SUFFIXES)}"
    shape = rng.random()
    if shape < 0.08:
        street = f"Flat {rng.randint(1, 30)}, {street}"
    if shape < 0.25:
        return street
    if shape < 0.45:
        return f"{street}, {rng.choice(_UK_CITIES)}"
    if shape < 0.65:
        return f"{street}, {rng.choice(_UK_CITIES)} {_uk_postcode(rng)}"
    if shape < 0.82:
        city, state = rng.choice(_US_PLACES)
        zip_code = _d(rng, 5) + (f"-{_d(rng, 4)}" if rng.random() < 0.2 else "")
        return f"{street}, {city}, {state} {zip_code}"
    return rng.choice((
        lambda: f"{rng.choice(('Haupt', 'Bahnhof', 'Garten', 'Schiller', 'Goethe', 'Linden'))}"
                f"{rng.choice(('straße', 'strasse', 'weg', 'allee'))} {rng.randint(1, 120)}, {_d(rng, 5)} "
                f"{rng.choice(('Berlin', 'München', 'Hamburg', 'Köln', 'Frankfurt'))}",
        lambda: f"{rng.randint(1, 90)} {rng.choice(('rue de la Paix', 'avenue Victor Hugo', 'rue des Lilas'))}, "
                f"{_d(rng, 5)} {rng.choice(('Paris', 'Lyon', 'Marseille'))}",
        lambda: f"{rng.choice(('Calle Mayor', 'Avenida de la Constitución', 'Carrer Gran'))} {rng.randint(1, 200)}, "
                f"{_d(rng, 5)} {rng.choice(('Madrid', 'Sevilla', 'Barcelona'))}",
    ))()


def _postcode(rng: random.Random) -> str:
    return _uk_postcode(rng) if rng.random() < 0.7 else _d(rng, 5)


# --- what customer service needs (never redacted) -----------------------------------------------------------------

def _order(rng: random.Random) -> str:
    return rng.choice((
        f"#A{_d(rng, 5)}", f"#{_d(rng, 6)}", f"order {_d(rng, 6)}", f"ORD-{rng.randint(2021, 2025)}-{_d(rng, 6)}",
        f"order number {_d(rng, 8)}", f"order no. {_d(rng, 7)}", f"#{rng.choice('BCDK')}{_d(rng, 7)}",
        f"order #{_d(rng, 10)}",
    ))


def _amount(rng: random.Random) -> str:
    value = f"{rng.randint(1, 1500)}.{rng.randint(0, 99):02d}"
    return rng.choice((
        f"${value}", f"£{value}", f"€{value}", f"{value} GBP", f"{value} EUR", f"{rng.randint(2, 90)} dollars",
        f"${rng.randint(1, 9)},{_d(rng, 3)}.99", f"£{rng.randint(5, 300)}",
    ))


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def _date(rng: random.Random) -> str:
    day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(2022, 2025)
    return rng.choice((
        f"{day:02d}/{month:02d}/{year}", f"{year}-{month:02d}-{day:02d}", f"{day} {_MONTHS[month - 1]} {year}",
        f"{_MONTHS[month - 1]} {day}", f"the {day}th of {_MONTHS[month - 1]}", f"{day:02d}.{month:02d}.{year}",
        "last Tuesday", "Monday", "yesterday",
    ))


def _time(rng: random.Random) -> str:
    return rng.choice((
        f"{rng.randint(8, 20)}:{rng.choice(('00', '15', '30', '45'))}", f"{rng.randint(1, 11)}pm",
        f"{rng.randint(7, 11)}.30am", f"{rng.randint(10, 23)}:{rng.randint(0, 59):02d}",
    ))


_PRODUCTS = (
    "Samsung Galaxy S23", "Apple Watch Series 9", "Nike Air Max 90 trainers", "Dyson V15 Detect", "PlayStation 5",
    "Kindle Paperwhite", "Sony WH-1000XM4 headphones", "Bosch Serie 6 washing machine", "LEGO Star Wars set 75192",
    "Philips Hue starter kit", "iPhone 15 Pro 256GB", "Ted Baker coat", "Calvin Klein jeans", "Portable SSD Drive 1TB",
    "Tommy Hilfiger jacket", "Nespresso Vertuo machine", "KitchenAid Artisan mixer", "Google Pixel 8",
    "Fitbit Charge 6", "Le Creuset casserole", "North Face Nuptse jacket", "Harry Potter box set",
    "Ray-Ban Wayfarer sunglasses",
)
_PLACES = (
    "London", "your Manchester store", "Paris", "Heathrow Terminal 5", "Victoria Station", "the Oxford Street store",
    "the 5th Avenue branch", "Berlin", "the Leeds warehouse", "Dublin Airport", "Sydney", "Madrid", "Glasgow Central",
    "the Westfield shopping centre", "Brighton", "your Birmingham depot", "New York", "Toronto",
)


def _tracking(rng: random.Random) -> str:
    return rng.choice((
        lambda: _group(_luhn_failing(rng, 16), (4, 4, 4, 4), " "),
        lambda: _luhn_failing(rng, 16, "5"),
        lambda: "1Z" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=6)) + _d(rng, 10),
        lambda: "JD" + _d(rng, 18),
        lambda: "9400" + _d(rng, 18),
        lambda: "TBA" + _d(rng, 12),
        lambda: _group(_luhn_failing(rng, 16, "3"), (4, 4, 4, 4), "-"),
    ))()


def _code(rng: random.Random) -> str:
    return rng.choice((
        f"SKU XR-{_d(rng, 3)}-{_d(rng, 4)}", "model WH-1000XM4", f"part no. {_d(rng, 4)}-{_d(rng, 3)}-{_d(rng, 2)}",
        f"item {_d(rng, 3)}-{_d(rng, 4)}", f"product code {_d(rng, 2)}-{_d(rng, 4)}-{_d(rng, 3)}",
        f"ref {rng.randint(2021, 2025)}/{_d(rng, 3)}/{_d(rng, 2)}", f"case {_d(rng, 8)}", f"ticket #{_d(rng, 5)}",
        "voucher SAVE20", f"serial SN-{rng.randint(1, 9)}F7K-22QX", "coupon code WELCOME10",
        f"model {_nxx(rng)}-{_d(rng, 3)}-{_d(rng, 4)}", f"batch {_d(rng, 10)}",
    ))


def _qty(rng: random.Random) -> str:
    return rng.choice(("2 pairs", "3 boxes", "x2", "12 units", "a pack of 6", "1 of the 4 items", "two", "5 bags"))


def _version(rng: random.Random) -> str:
    return rng.choice((
        f"app version {rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
        f"firmware {rng.randint(1, 4)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 99)}",
        f"iOS 17.{rng.randint(0, 5)}.1", "Windows 11", "Android 14",
    ))


def _days(rng: random.Random) -> str:
    return rng.choice(("3 days", "two weeks", "48 hours", "10 days", "a month", "over a week", "5 working days"))


_DISTRACTORS: dict[str, Callable[[random.Random], str]] = {
    "order": _order, "amount": _amount, "date": _date, "time": _time, "product": lambda r: r.choice(_PRODUCTS),
    "place": lambda r: r.choice(_PLACES), "tracking": _tracking, "code": _code, "qty": _qty, "version": _version,
    "days": _days,
}

# --- templates -----------------------------------------------------------------------------------------------------
# Slots: {name} (the customer's full name), {given}, {surname}, {title} (not personal data: Mr, Ms ...), {agent}
# (a support agent's given name), {email}, {phone}, {card}, {iban}, {ip}, {address}, {postcode}, and the
# distractors above; a trailing digit ({amount2}) draws another value of the same kind.

_PII_TEMPLATES = (
    "Hi, my name is {name} and I placed {order} on {date}. It still hasn't arrived. Can someone call me on {phone}?",
    "Hello, I'm {name}. Please send the invoice for {order} to {email}, the old address no longer works.",
    "Dear Sir or Madam,\n\nI am writing to complain about the {product} delivered to {address}. It arrived broken "
    "and I paid {amount} for it.\n\nYours faithfully,\n{name}",
    "You charged my card {card} twice for {order}. That's {amount} I want back today.",
    "Please refund {amount} to my account, IBAN {iban}. The order was {order}.",
    "I keep getting logged out of the app ({version}). My IP is {ip} if that helps your team.",
    "this is {given}, I ordered {qty} but only got one. call me back on {phone} after {time} pls",
    "My new address is {address}. Could you update it before {order} ships?",
    "Thanks for the quick help with the {product} today, {agent} was brilliant!\n\nRegards,\n{name}",
    "Good afternoon, {title} {surname} here. The courier left my parcel outside in the rain on {date}.",
    "Could you change the email on my account to {email}? My phone number is {phone}.",
    "hi {agent}, i'm still waiting on the refund of {amount}, it's been {days}. my card ends with the number "
    "{card} if you need it",
    "The payment for {order} failed although the card {card} is valid until next year.",
    "Bank details for the refund: {name}, IBAN {iban}. Please confirm when it's done.",
    "Our office router is {ip} and your site blocks it since {date}. Nobody here can place orders.",
    "Please deliver to {address}, not to the {place} pickup point.",
    "{title} {surname} called on {date} about {order} and nobody got back to {title2} {surname}.",
    "I am {name}, account holder. Email: {email}, tel {phone}, address {address}.",
    "Reply to {email} please, I don't check the other inbox. Thanks, {given}",
    "Sent from {ip} at {time}: the checkout page crashed when I entered {card}.",
    "Just moved to {address} – can the subscription box go there from {date} on?",
    "This is the third time I'm writing. Your driver threw the {product} over the fence at {address}.\n{name}",
    "Dear {agent},\nthank you for sorting out {order}. The replacement works fine.\nBest regards,\n{name}",
    "Refund to IBAN {iban} (account holder {name}) please, not back to the card.",
    "My postcode is {postcode} and your site says you don't deliver there, which is nonsense.",
    "Hey it's {given}! Can you text me at {phone} when the {product} is back in stock?",
    "Customer {name} ({email}) reports that {order} was delivered to the wrong address.",
    "I was promised a call back on {phone} by {date}. Still nothing. {order}, {amount}.",
    "Please remove my card {card} from the account and delete my data. Thank you,\n{name}",
    "Login alerts keep coming from {ip}, which isn't me. Please lock the account linked to {email}.",
    "Hi there, {name} here. Your app ({version}) charged me {amount} instead of {amount2}.",
    "Could {title} {surname} from your billing team call me? {phone}",
    "For the return label: {name}, {address}. {qty}, reason: wrong size.",
    "Transfer the compensation to {iban} please. Cheers, {given}",
    "I'm {name} and I'd like to make a formal complaint about the delay with {order}.",
    "The {product} was signed for by someone at {address} but not by me. My number: {phone}.",
    "Mail me at {email} or ring {phone}, whichever's easier.",
    "Your technician {agent} visited on {date} but the router at {ip} still drops every {days}.",
    "My name is {name}, my card number is {card} and it was declined at {time} even though there's money on it.",
    "hello i am {name} from {place}, order {order} is missing {qty}",
    "Hi {agent}, thanks for the chat earlier. My IBAN is {iban}, as requested.",
    "Dear {title} {surname},\nwe still have not received the replacement. Please contact us at {email}.",
    "Please update my billing address to {address}, postcode {postcode}.",
    "Why was my account suspended? The last login from {ip} was mine. Regards, {name}",
    "I paid with {card} on {date} for {product} and the money left my account but the order says unpaid.",
    "{name}\n{address}\n{phone}\n\nRe: {order}\n\nThe item arrived damaged.",
    "Can you confirm the refund of {amount} went to {iban}? Many thanks\n{given}",
    "Chat transcript: customer: hi. agent: hello, this is {agent}, how can I help? customer: my email is {email}",
    "Kind regards,\n{title} {surname}\n{phone}",
    "i already gave my number {phone} twice, my name is {name}, please just call",
    "The parcel for {name} at {address} has been returned to sender, tracking {tracking}.",
    "To whom it may concern, the account registered to {email} was charged {amount} on {date} without consent.",
    "Hello, please send the warranty documents for the {product} to {email}. Thanks, {name}",
    "Wifi at the shop in {place} gave me the address {ip}, then payment failed with card {card}.",
    "Direct debit from {iban} failed on {date}. Please try again, {title} {surname}",
    "I live at {address} and the {product} you sent is not what I ordered.",
    "Call {title} {surname} on {phone} to arrange the engineer visit, morning before {time} is best.",
    "Message from {name}: please cancel {order}, I found it cheaper elsewhere.",
    "{agent} said I would get {amount} back. My card is {card}. When?",
    "It's {name}. Still no refund. IBAN once more: {iban}",
)

_CLEAN_TEMPLATES = (
    "Hi, my order {order} still hasn't arrived. It was supposed to come on {date}. Can you check?",
    "I was charged {amount} twice for {order}. Please refund the extra {amount2}.",
    "The {product} I bought at {place} stopped working after {days}.",
    "Tracking number {tracking} hasn't moved since {date}. Where is my parcel?",
    "Can I swap the {product} for a bigger size? It's {order}, {qty}.",
    "Your app ({version}) crashes every time I open the basket.",
    "I ordered {qty} of the {product} and received only one. {order}.",
    "The delivery window said {time} to {time2} on {date} and nobody came.",
    "Great service at {place} today, the staff were really helpful. Thanks!",
    "The {product} ({code}) is missing a part. Can you send a replacement?",
    "Please cancel {order}. I don't need it any more. Refund {amount} to the original payment method.",
    "Why does shipping to {place} cost {amount} when it was free last month?",
    "I returned the {product} on {date} with tracking {tracking}. Still no refund after {days}.",
    "Is the {product} back in stock? I've been waiting {days}.",
    "My voucher didn't apply at checkout ({code}). The total was {amount} instead of {amount2}.",
    "The {product} arrived on {date} but the box was open. {order}, {code}.",
    "Thanks!\n\nSent from my iPhone",
    "Collected my order from {place} at {time}, all good. Regards, the Smith family",
    "Hi team, {code} shows as discontinued but the {product} page says in stock. Which is it?",
    "I paid {amount} on {date} and my order {order} still says pending payment.",
    "Delivery driver left {qty} at the neighbour's on {date}. Fine this time but please note it.",
    "Is there a store near {place}? I want to try the {product} before buying.",
    "Refund processed on {date}? My bank shows nothing. {order}",
    "The firmware update ({version}) bricked my {product}. Case number {code}.",
    "Two stars. The {product} is fine but it took {days} and cost {amount} to ship.",
    "Could you split {order} into two deliveries? {qty} now and the rest after {date}.",
    "Hello Support, I can't reset my password, the link expires after {days}.",
    "Dear Customer Services, I would like to know the status of {order}. Thank you.",
    "Ordered the {product} at {time} on {date}, got the confirmation email, then nothing.",
    "Warranty claim for the {product}, {code}, bought on {date} for {amount}.",
    "Parcel {tracking} says delivered to {place}. I live nowhere near there.",
    "Best service I've had in years. Keep it up!",
    "Price match request: {product} is {amount} at another retailer, you charge {amount2}.",
    "The 3 Large Boxes were crushed. Reference {code}.",
    "hi, wrong colour sent for {order}, wanted black got white, {qty}",
    "Hello Flowerbox, my bouquet for {date} never arrived. {order}",
    "This is Unacceptable! {days} and still no {product}.",
    "Hi Amazon, the locker at {place} won't open with my code.",
    "Hey it's me again, any news on {order}?",
    "Thanks, Pixelware! The {product} works perfectly now.",
    "Dear Hometech team, I'd like a refund for the {product}, {code}.",
)

_FILLER = (
    "I have been a loyal customer for years and this has never happened before.",
    "To be honest I'm quite disappointed with how this has been handled.",
    "I already spoke to someone on the phone last week and was told it would be sorted.",
    "The website kept showing an error when I tried to do this myself.",
    "I would appreciate a quick reply as this is now urgent.",
    "Your chat bot just keeps sending me the same FAQ link.",
    "I'd rather not have to go through my bank for a chargeback.",
    "Please don't close the ticket until this is actually resolved.",
    "I've attached photos of the damage.",
    "The packaging was fine, so it must have been faulty before it was shipped.",
)

# Words that typos never touch: the cues the redactor reads (a typo there is a different test: see the unit tests).
_NO_TYPO_WORDS = frozenset(
    "name email address phone number mobile regards thanks thank iban card account holder live moved deliver "
    "postcode title sincerely faithfully".split()
)


def _typo(rng: random.Random, literal: str) -> str:
    words = literal.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha() and w.islower()
                  and w not in _NO_TYPO_WORDS]
    for i in rng.sample(candidates, k=min(len(candidates), rng.randint(1, 2))):
        w = words[i]
        j = rng.randint(1, len(w) - 3)
        words[i] = rng.choice((w[:j] + w[j + 1] + w[j] + w[j + 2:], w[:j] + w[j + 1:], w[:j] + w[j] + w[j:]))
    return " ".join(words)


def _fill(rng: random.Random, template: str, typos: bool) -> PlantedText:
    person = _person(rng)
    agent = rng.choice(OTHER_GIVEN_NAMES if rng.random() < 0.33 else KNOWN_GIVEN_NAMES)
    title = rng.choice(_TITLES)
    fixed = {"email": _email(rng, person)}
    pieces: list[str] = []
    spans: list[tuple[str, int, int]] = []
    position = 0
    for literal, field, _, _ in string.Formatter().parse(template):
        if literal:
            literal = _typo(rng, literal) if typos and rng.random() < 0.5 else literal
            pieces.append(literal)
            position += len(literal)
        if field is None:
            continue
        kind, value = _slot(rng, field.rstrip("0123456789"), person, agent, title, fixed)
        if kind is not None:
            spans.append((kind, position, position + len(value)))
        pieces.append(value)
        position += len(value)
    return PlantedText("".join(pieces), tuple(spans))


def _slot(rng, slot: str, person: _Person, agent: str, title: str, fixed: dict) -> tuple[str | None, str]:
    people = {"name": f"{person.given} {person.surname}", "given": person.given, "surname": person.surname,
              "agent": agent}
    if slot in people:
        return "name", people[slot]
    if slot == "title":
        return None, title
    if slot in fixed:
        return slot, fixed[slot]
    makers = {"phone": _phone, "card": _card, "iban": _iban, "ip": _ip, "address": _address}
    if slot in makers:
        return slot, makers[slot](rng)
    if slot == "postcode":
        return "address", _postcode(rng)
    return None, _DISTRACTORS[slot](rng)


def _lengthen(rng: random.Random, planted: PlantedText) -> PlantedText:
    """Surround a message with filler and clean sentences, as long emails do; the spans move with the text."""
    before = " ".join(rng.sample(_FILLER, k=rng.randint(1, 4))) + "\n\n"
    after_parts = [_fill(rng, rng.choice(_CLEAN_TEMPLATES), False).text for _ in range(rng.randint(2, 6))]
    after = "\n\n" + " ".join(after_parts + rng.sample(_FILLER, k=rng.randint(1, 3)))
    shift = len(before)
    return PlantedText(before + planted.text + after, tuple((k, s + shift, e + shift) for k, s, e in planted.spans))


def planted_texts(seed: int = 2024, with_pii: int = 360, without_pii: int = 120) -> list[PlantedText]:
    """``with_pii`` messages with planted personal data (every template in turn, shuffled), then ``without_pii``
    messages with distractors only. About a quarter have typos and a fifth are long (filler around them)."""
    rng = random.Random(seed)
    texts = []
    order = list(range(len(_PII_TEMPLATES)))
    for i in range(with_pii):
        if i % len(order) == 0:
            rng.shuffle(order)
        planted = _fill(rng, _PII_TEMPLATES[order[i % len(order)]], typos=rng.random() < 0.25)
        texts.append(_lengthen(rng, planted) if rng.random() < 0.2 else planted)
    for _ in range(without_pii):
        planted = _fill(rng, rng.choice(_CLEAN_TEMPLATES), typos=rng.random() < 0.25)
        texts.append(_lengthen(rng, planted) if rng.random() < 0.2 else planted)
    return texts
