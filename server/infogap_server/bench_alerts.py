"""``infogap bench --paths alerts``: how fast the WatchAlerts rule finds a planted spike, and how often it fires on
steady traffic. A development tool outside the serving import graph.

The traffic is generated (deterministic for a seed) as the store would hand it to the detector: feedback rows in
sequence order with a rating, a text sentiment, an intent (a few intents take most of it, each with its own
negative rate) and, on negative rows, the complaint aspects their text named. A spike starts at a row and raises
one stream's negative rate: every intent's (overall), the rate of negative feedback naming one aspect (aspect), or
one intent's (intent). The detector runs directly on the rows (no server: the rule is what is measured), then the
same rows go through a real store and WatchAlerts' replay path (:meth:`AlertService.watch`) on SQLite, which must
give the same alerts.

Reported: (a) the detection delay, the events of the spiked stream (rows for overall and aspects, the intent's
feedback for an intent) from the spike's first row to the alert, per kind, over several seeds; (b) false alerts per
10,000 rows of steady traffic over several seeds (every alert on traffic with no spike is false); and the rule's
trade-off over a grid of windows and levels, from which the defaults were chosen.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from infogap_server.services.alerts import Alert, AlertDetector, AlertRule
from infogap_server.store.base import FeedbackSignal

#: Intents of the generated traffic, most asked first (the served text model's), and complaint aspects with their
#: weights among negative feedback.
TRAFFIC_INTENTS = (
    "track_order", "get_refund", "cancel_order", "delivery_period", "track_refund", "change_order", "complaint",
    "payment_issue", "contact_customer_service", "check_refund_policy", "place_order", "change_shipping_address",
    "get_invoice", "check_invoice", "delivery_options", "contact_human_agent", "check_payment_methods",
    "recover_password", "check_cancellation_fee", "edit_account",
)
TRAFFIC_ASPECTS = {"delivery_delay": 12, "damaged_item": 8, "wrong_item": 6, "missing_item": 5, "refund_delay": 7,
                   "returns_process": 6, "billing": 4, "staff_attitude": 5, "waiting_time": 6, "product_quality": 7,
                   "website_app": 5, "communication": 4}
#: Negative rate of the steady traffic, overall (each intent's lies within +-40% of it).
BASE_NEGATIVE_RATE = 0.2
#: The planted spikes: overall, every intent's negative rate x1.75 (0.2 -> 0.35 overall); aspect, a further 5% of
#: rows negative and naming the aspect (its negative mentions go from about 2.6% of rows to 7.6%); intent, the
#: intent's negative rate (about 0.2) to 0.5.
SPIKES = {"overall": ("overall", "", 1.75), "aspect": ("aspect", "damaged_item", 0.05),
          "intent": ("intent", "delivery_period", 0.5)}


@dataclass(frozen=True)
class Spike:
    kind: str
    key: str
    size: float
    at_row: int


def traffic(rows: int, seed: int, spike: Spike | None = None, start: datetime | None = None,
            first_sequence: int = 1) -> Iterator[FeedbackSignal]:
    """``rows`` feedback rows of steady traffic (a row every 2 seconds), with ``spike`` from its row on."""
    rng = random.Random(seed)
    start = start or datetime(2026, 1, 1)
    intent_weights = [1 / (rank + 1) for rank in range(len(TRAFFIC_INTENTS))]
    rates = {intent: BASE_NEGATIVE_RATE * rng.uniform(0.6, 1.4) for intent in TRAFFIC_INTENTS}
    aspects, aspect_weights = list(TRAFFIC_ASPECTS), list(TRAFFIC_ASPECTS.values())
    for n in range(rows):
        spiking = spike is not None and n >= spike.at_row
        intent = rng.choices(TRAFFIC_INTENTS, intent_weights)[0] if rng.random() < 0.95 else ""
        rate = rates.get(intent, BASE_NEGATIVE_RATE)
        if spiking and spike.kind == "overall":
            rate = min(1.0, rate * spike.size)
        elif spiking and spike.kind == "intent" and intent == spike.key:
            rate = spike.size
        named: list[str] = []
        if rng.random() < rate:
            rating, sentiment = rng.choices(((1, "negative"), (2, "negative"), (3, "negative")), (5, 4, 2))[0]
            count = rng.choices((0, 1, 2, 3), (15, 55, 25, 5))[0]
            while len(named) < count:
                aspect = rng.choices(aspects, aspect_weights)[0]
                if aspect not in named:
                    named.append(aspect)
        else:
            choices = ((3, "neutral"), (4, "positive"), (5, "positive"), (4, ""))  # "": no text
            rating, sentiment = rng.choices(choices, (3, 5, 8, 2))[0]
            if rng.random() < 0.1:
                named.append(rng.choices(aspects, aspect_weights)[0])  # praise or a mild remark: not a hit
        if spiking and spike.kind == "aspect" and rng.random() < spike.size:
            rating, sentiment = 1, "negative"
            named = sorted({*named, spike.key})
        yield FeedbackSignal(first_sequence + n, f"fb-{seed}-{n:07d}", start + timedelta(seconds=2 * n), rating,
                             sentiment, intent, tuple(sorted(named)))


def run_detector(rule: AlertRule, rows: Iterable[FeedbackSignal]) -> list[tuple[int, Alert]]:
    """(row index, alert) for every alert the detector fires on ``rows``."""
    detector = AlertDetector(rule)
    return [(n, alert) for n, row in enumerate(rows) for alert in detector.add(row)]


def spike_delay(rows: list[FeedbackSignal], fired: list[tuple[int, Alert]], spike: Spike) -> int | None:
    """Events of the spiked stream from the spike's first row to the first alert on that stream; None: none."""
    for n, alert in fired:
        if n >= spike.at_row and alert.kind == spike.kind and alert.key == spike.key:
            spiked = rows[spike.at_row:n + 1]
            return len(spiked) if spike.kind != "intent" else sum(r.intent == spike.key for r in spiked)
    return None


@dataclass
class Tally:
    """One rule's figures over the seeds."""

    rule: AlertRule
    delays: dict[str, list[int | None]] = field(default_factory=lambda: {name: [] for name in SPIKES})
    other_alerts: int = 0  # alerts before a spike began, or on another stream after it
    steady_rows: int = 0
    false_by_kind: dict[str, int] = field(default_factory=lambda: {"overall": 0, "aspect": 0, "intent": 0})

    def report(self) -> dict:
        delays = {}
        for name, found in self.delays.items():
            kind, key, size = SPIKES[name]
            hit = [d for d in found if d is not None]
            delays[name] = {"stream": f"{kind} {key}".strip(), "size": size, "seeds": len(found),
                            "detected": len(hit), "events_median": statistics.median(hit) if hit else None,
                            "events_min": min(hit) if hit else None, "events_max": max(hit) if hit else None}
        false = sum(self.false_by_kind.values())
        return {"rule": self.rule.fingerprint(), "delay": delays,
                "false": {"rows": self.steady_rows, "alerts": false, "by_kind": self.false_by_kind,
                          "per_10k_rows": round(false / self.steady_rows * 1e4, 4) if self.steady_rows else None}}


def measure(rules: list[AlertRule], *, seeds: list[int], steady_rows: int, spike_at: int,
            horizon_rows: int) -> list[dict]:
    """Each rule on the same traffic: per seed, ``steady_rows`` rows of steady traffic (every alert false) and one
    run per spike kind (spike at row ``spike_at``, followed for ``horizon_rows`` rows)."""
    tallies = [Tally(rule) for rule in rules]
    for seed in seeds:
        steady = list(traffic(steady_rows, 1000 + seed))
        for tally in tallies:
            tally.steady_rows += steady_rows
            for _, alert in run_detector(tally.rule, steady):
                tally.false_by_kind[alert.kind] += 1
        del steady
        for name, (kind, key, size) in SPIKES.items():
            spike = Spike(kind, key, size, spike_at)
            rows = list(traffic(spike_at + horizon_rows, seed, spike))
            for tally in tallies:
                fired = run_detector(tally.rule, rows)
                tally.delays[name].append(spike_delay(rows, fired, spike))
    return [tally.report() for tally in tallies]


async def replay_through_store(rule_settings, rows: list[FeedbackSignal], url: str | None,
                               data_dir: Path) -> dict:
    """``rows`` stored in a throwaway database (SQLite, or PostgreSQL at ``url``), then WatchAlerts' replay path
    (:meth:`AlertService.watch`, every row, settle 0) over them: its alert ids, and rows replayed per second."""
    import asyncio
    import secrets

    import sqlalchemy as sa
    from pydantic import SecretStr

    from infogap_server.server import open_customer_layer
    from infogap_server.services.alerts import AlertService, WatchRequest
    from infogap_server.store import schema

    settings = rule_settings.model_copy(update={"data_dir": data_dir, "database_url": url, "alerts_settle_s": 0.0,
                                                "pseudonym_key": SecretStr(secrets.token_hex(32))})
    store, _ = await open_customer_layer(settings)
    key = "b" * 64
    try:
        async with store.engine.begin() as conn:
            for at in range(0, len(rows), 5000):
                chunk = rows[at:at + 5000]
                await conn.execute(sa.insert(schema.feedback), [
                    {"sequence": r.sequence, "customer_key": key, "feedback_id": r.feedback_id, "rating": r.rating,
                     "sentiment": r.sentiment, "intent": r.intent, "received_at": r.received_at} for r in chunk])
                terms = [{"feedback_sequence": r.sequence, "customer_key": key, "kind": "aspect", "term": a,
                          "score": 0.9, "received_at": r.received_at} for r in chunk for a in r.aspects]
                if terms:
                    await conn.execute(sa.insert(schema.feedback_terms), terms)
        service = AlertService(settings, store)
        started = time.perf_counter()
        ids = [a.alert_id async for a in service.watch(WatchRequest(since=rows[0].received_at), asyncio.Event())]
        seconds = time.perf_counter() - started
    finally:
        await store.close()
    return {"alert_ids": ids, "rows": len(rows), "replay_s": round(seconds, 2),
            "rows_per_s": round(len(rows) / seconds)}


#: The trade-off grid of ``--alerts-grid``: (W, B, alpha), each with the default min_hits and look-back.
GRID = ((200, 3000, 1e-5), (300, 3000, 1e-6), (300, 3000, 1e-4), (400, 3000, 1e-6), (400, 3000, 1e-5),
        (500, 3000, 1e-6))


async def alerts_path(settings, args, bench_databases) -> dict:
    """The alerts path of ``infogap bench``: the default rule's detection delays and false alerts (5 seeds, 100,000
    steady rows each), the same alerts through the store's replay path on SQLite and PostgreSQL, and with
    ``--alerts-grid`` the trade-off over GRID."""
    import tempfile

    default = AlertRule.from_settings(settings)
    started = time.perf_counter()
    seeds = [1, 2, 3, 4, 5]
    result: dict = {"spikes": {name: {"stream": f"{k} {key}".strip(), "size": size}
                               for name, (k, key, size) in SPIKES.items()},
                    "base_negative_rate": BASE_NEGATIVE_RATE}
    (result["default"],) = measure([default], seeds=seeds, steady_rows=100_000, spike_at=15_000,
                                   horizon_rows=20_000)
    print_result("default", result["default"])

    spike = Spike(*SPIKES["aspect"], at_row=15_000)
    rows = list(traffic(25_000, 7, spike, start=datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=15)))
    direct = [a.alert_id for _, a in run_detector(default, rows)]
    stores: dict = {}
    with bench_databases("alerts", "bench_alerts", stores) as (databases, _), \
            tempfile.TemporaryDirectory(prefix="infogap-bench-alerts-") as data:
        for name, url in databases:
            replay = await replay_through_store(settings, rows, url, Path(data) / name)
            replay["same_alerts_as_the_detector"] = replay.pop("alert_ids") == direct
            stores[name] = replay
            print(f"alerts through the store ({name}): WatchAlerts replayed {replay['rows']:,} rows in "
                  f"{replay['replay_s']} s ({replay['rows_per_s']:,} rows/s), {len(direct)} alerts, the same as the "
                  f"detector's: {'yes' if replay['same_alerts_as_the_detector'] else 'NO'}", flush=True)
    result["store_replay"] = stores

    if getattr(args, "alerts_grid", False):
        rules = [AlertRule(w, b, alpha, default.min_hits, max(default.lookback_rows, w + b))
                 for w, b, alpha in GRID]
        result["grid"] = measure(rules, seeds=seeds, steady_rows=100_000, spike_at=15_000, horizon_rows=20_000)
        for row in result["grid"]:
            print_result("trade-off", row)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def print_result(title: str, r: dict) -> None:
    delays = "; ".join(
        f"{name} ({d['stream']}): median {d['events_median']} events, {d['events_min']}-{d['events_max']} "
        f"({d['detected']}/{d['seeds']} detected)" for name, d in r["delay"].items())
    f = r["false"]
    print(f"alerts {title} [{r['rule']}]: delay {delays}. False alerts {f['per_10k_rows']} per 10,000 rows "
          f"({f['alerts']} in {f['rows']:,} steady rows: {f['by_kind']})", flush=True)
