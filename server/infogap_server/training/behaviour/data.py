"""Stage 1 of the behaviour model: the UCI Online Retail invoices as per-customer event sequences, cut in time.

Events come from the same conversion and cleaning as ``infogap data import`` (one order per invoice, cancellations
for 'C' invoices, the ingest path's rules, duplicate content within the store's window dropped), so the model
learns on the events it will be served. Customers are renumbered (1, 2, ... in order of first appearance): the
derived file carries figures only, no id of the source and no free text.

The split is by time, never at random. An example is (customer, cut-off): the history is the customer's events
before the cut-off, the labels come from the 90 days after it (churn: no order in them; value: what the customer
kept paying in them). Training cut-offs come first, then validation, then test, and no label window of an earlier
split reaches into a later split's label window.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from infogap_server.data_import import ImportReport, invoice_events, read_invoices
from infogap_server.services.customers import SPEND_REVERSALS, check_event, to_utc_naive
from infogap_server.settings import Settings
from infogap_server.store.base import ContentWindow

HORIZON = timedelta(days=90)
#: The figures-only event file shipped with the project (rebuilt by `infogap data online-retail-events`).
DEFAULT_EVENTS = Path(__file__).resolve().parents[1] / "data" / "online_retail_events.csv.gz"
#: Cut-offs (UTC midnight). The data runs from 2010-12-01 to 2011-12-09; the test labels end on its last day, the
#: validation labels where the test's begin, and the last training labels where the validation's begin.
TEST_CUTOFF = datetime(2011, 9, 10)
VALIDATION_CUTOFF = TEST_CUTOFF - HORIZON  # 2011-06-12
TRAIN_CUTOFFS = tuple(VALIDATION_CUTOFF - HORIZON - timedelta(days=14 * k) for k in range(5, -1, -1))
SPLITS = {"train": TRAIN_CUTOFFS, "validation": (VALIDATION_CUTOFF,), "test": (TEST_CUTOFF,)}

ATTRIBUTION = (
    "Derived from UCI Online Retail (Chen, Sain & Guo 2012; UCI Machine Learning Repository, CC BY 4.0), via "
    "databricks/Spark-The-Definitive-Guide (Apache-2.0). Figures only: customers renumbered, no free text."
)
COLUMNS = ("customer", "time", "type", "amount", "item_count")


@dataclass(frozen=True)
class Event:
    customer: int
    time: datetime  # UTC, naive
    type: str
    amount: float
    item_count: int


@dataclass(frozen=True)
class Example:
    customer: int
    cutoff: datetime
    history: tuple[Event, ...]  # before the cut-off, oldest first
    churned: bool  # no order in the horizon after the cut-off
    value: float  # orders minus cancellations and refunds in the horizon, never below 0


def derive_events(source: Path, *, duplicate_window_s: float | None = None) -> list[Event]:
    """The source file's invoices as cleaned events, customers renumbered, sorted by customer then time."""
    settings = Settings()
    window = timedelta(seconds=settings.duplicate_window_s if duplicate_window_s is None else duplicate_window_s)
    invoices = read_invoices(source, ImportReport(), progress=False)
    now = datetime.now(UTC).replace(tzinfo=None)
    numbers: dict[str, int] = {}
    by_customer: dict[int, list[Event]] = defaultdict(list)
    for incoming in invoice_events(invoices):
        if check_event(incoming, now, settings) is not None:
            continue
        number = numbers.setdefault(incoming.customer_id, len(numbers) + 1)
        by_customer[number].append(Event(number, to_utc_naive(incoming.time), incoming.type,
                                         round(incoming.amount, 2), incoming.item_count))
    events: list[Event] = []
    for number in sorted(by_customer):
        content = ContentWindow(window)  # the store's own duplicate-content rule
        for event in sorted(by_customer[number], key=lambda e: e.time):
            signature = (event.type, round(event.amount * 100), event.item_count)
            if window and content.seen(signature, event.time):
                continue
            content.add(signature, event.time)
            events.append(event)
    return events


def write_events(path: Path, events: list[Event]) -> None:
    """A gzip CSV with the attribution as a leading comment line; byte-identical for identical events."""
    buffer = io.StringIO()
    buffer.write(f"# {ATTRIBUTION}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for e in events:
        writer.writerow((e.customer, e.time.strftime("%Y-%m-%dT%H:%M:%S"), e.type, f"{e.amount:.2f}", e.item_count))
    # No name and no time in the gzip header: the same events give the same bytes, wherever they are written.
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle:
        handle.write(buffer.getvalue().encode())


def read_events(path: Path) -> list[Event]:
    with gzip.open(path, "rt", newline="") as handle:
        lines = (line for line in handle if not line.startswith("#"))
        reader = csv.DictReader(lines)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: expected the columns {', '.join(COLUMNS)}")
        return [Event(int(r["customer"]), datetime.fromisoformat(r["time"]), r["type"], float(r["amount"]),
                      int(r["item_count"])) for r in reader]


def examples_at(events: list[Event], cutoff: datetime) -> list[Example]:
    """One example per customer with at least one event before ``cutoff``."""
    by_customer: dict[int, list[Event]] = defaultdict(list)
    for e in events:
        by_customer[e.customer].append(e)
    out = []
    end = cutoff + HORIZON
    for customer, own in by_customer.items():
        history = tuple(e for e in own if e.time < cutoff)
        if not history:
            continue
        future = [e for e in own if cutoff <= e.time < end]
        orders = sum(e.amount for e in future if e.type == "order")
        reversed_ = sum(e.amount for e in future if e.type in SPEND_REVERSALS)
        out.append(Example(customer, cutoff, history, churned=not any(e.type == "order" for e in future),
                           value=max(0.0, orders - reversed_)))
    return out


def split_examples(events: list[Event]) -> dict[str, list[Example]]:
    """Examples of every split, cut-offs in time order."""
    return {name: [x for c in cutoffs for x in examples_at(events, c)] for name, cutoffs in SPLITS.items()}
