"""``infogap data import online-retail PATH``: the UCI Online Retail file (541,909 invoice lines, 2010-2011) as
behaviour events, stored through the same path as RecordEvents (cleaning, pseudonyms, idempotent store).

One event per invoice: an order, or a cancellation for the invoices whose number starts with 'C', with the
invoice's total as the amount and its total quantity as the item count (both as magnitudes). Lines without a
customer id are dropped, exact duplicate lines are removed, and the shop's local time (Europe/London) becomes
UTC. Event ids are ``uci-online-retail:<invoice>``, so importing the file again stores nothing new.
"""

from __future__ import annotations

import csv
import gzip
import io
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tqdm import tqdm

from infogap_server.services.customers import CustomerService, IncomingEvent

SHOP_TIME_ZONE = ZoneInfo("Europe/London")
EVENT_ID_PREFIX = "uci-online-retail:"
COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")


@dataclass
class ImportReport:
    rows_read: int = 0
    rows_dropped: Counter = field(default_factory=Counter)  # by reason, before events are built
    events_built: int = 0
    events_stored: int = 0
    events_duplicate: int = 0
    events_dropped: Counter = field(default_factory=Counter)  # by the ingest path's reason codes
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"rows read            {self.rows_read:>9,}",
            *(f"rows dropped         {n:>9,}  {reason}" for reason, n in sorted(self.rows_dropped.items())),
            f"events built         {self.events_built:>9,}  (one per invoice)",
            f"events stored        {self.events_stored:>9,}",
            f"events not stored    {sum(self.events_dropped.values()):>9,}",
            *(f"  {reason:<18} {n:>9,}" for reason, n in sorted(self.events_dropped.items())),
            f"seconds              {self.seconds:>9.1f}",
        ]
        return out


@dataclass
class _Invoice:
    customer_id: str
    time: datetime
    amount: float = 0.0
    items: int = 0


def read_invoices(path: Path, report: ImportReport, progress: bool) -> dict[str, _Invoice]:
    """Invoice number -> invoice, from the CSV (gzip or plain); counts rows read and dropped in ``report``."""
    opener = gzip.open if path.suffix == ".gz" else open
    invoices: dict[str, _Invoice] = {}
    seen: set[tuple[str, ...]] = set()
    bar = tqdm(desc="reading", unit=" rows", disable=not progress, mininterval=0.5)
    with opener(path, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="") as text:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None or tuple(header) != COLUMNS:
            raise ValueError(f"{path}: not the UCI Online Retail file (expected the columns {', '.join(COLUMNS)})")
        for row in reader:
            report.rows_read += 1
            if report.rows_read % 20_000 == 0:
                bar.update(20_000)
            invoice_no, _, _, quantity, invoice_date, unit_price, customer, _ = row
            if not customer:
                report.rows_dropped["no_customer_id"] += 1
                continue
            line = tuple(row)
            if line in seen:
                report.rows_dropped["exact_duplicate_line"] += 1
                continue
            seen.add(line)
            invoice = invoices.get(invoice_no)
            if invoice is None:
                local = datetime.strptime(invoice_date, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHOP_TIME_ZONE)
                invoice = invoices[invoice_no] = _Invoice(customer.removesuffix(".0"), local.astimezone(UTC))
            invoice.amount += float(quantity) * float(unit_price)
            invoice.items += int(quantity)
    bar.update(report.rows_read % 20_000)
    bar.close()
    return invoices


def invoice_events(invoices: dict[str, _Invoice]) -> Iterator[IncomingEvent]:
    for number, invoice in invoices.items():
        cancelled = number.startswith("C")
        # Cancellation lines carry negative quantities; the event carries magnitudes and its type says which way.
        # An order whose total is negative stays negative: the ingest path rejects it (negative_amount).
        sign = -1 if cancelled else 1
        yield IncomingEvent(
            customer_id=invoice.customer_id,
            event_id=EVENT_ID_PREFIX + number,
            type="cancellation" if cancelled else "order",
            time=invoice.time,
            amount=round(sign * invoice.amount, 2),
            item_count=sign * invoice.items,
        )


async def import_online_retail(
    path: Path, service: CustomerService, *, batch_size: int = 1000, progress: bool = True
) -> ImportReport:
    started = time.perf_counter()
    report = ImportReport()
    invoices = read_invoices(path, report, progress)
    events = list(invoice_events(invoices))
    report.events_built = len(events)
    with tqdm(total=len(events), desc="storing", unit=" events", disable=not progress, mininterval=0.5) as bar:
        for start in range(0, len(events), batch_size):
            batch = events[start:start + batch_size]
            result = await service.record(batch)
            report.events_stored += result.stored
            report.events_duplicate += result.duplicates
            report.events_dropped.update(result.dropped)
            bar.update(len(batch))
    report.seconds = time.perf_counter() - started
    return report
