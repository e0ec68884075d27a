"""Nothing acknowledged is lost: 5,000 events in batches go to a real ``infogap serve`` process, which is killed
with SIGKILL at a random moment (after a random number of acknowledged batches, with others in flight); a new
process on the same database takes the retries of every unacknowledged batch, and every event is then stored
exactly once. On SQLite and on PostgreSQL."""

from __future__ import annotations

import random
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.server_process import ServerProcess

from tests.conftest import stored_rows

EVENTS, BATCH, SENDERS = 5000, 50, 4
T0 = datetime(2025, 6, 1, tzinfo=UTC)


def batches() -> list[pb.RecordEventsRequest]:
    out = []
    for b in range(EVENTS // BATCH):
        events = []
        for i in range(b * BATCH, (b + 1) * BATCH):
            event = pb.BehaviorEvent(type=pb.BEHAVIOR_EVENT_TYPE_ORDER, amount=1.0 + i / 100, item_count=1 + i % 5)
            event.time.FromDatetime(T0 + timedelta(minutes=i))
            events.append(pb.CustomerEvent(customer_id=f"durable-{i % 37}", event_id=f"ev-{i}", event=event))
        out.append(pb.RecordEventsRequest(events=events, request_id=f"batch-{b}"))
    return out


def send(address: str, requests: list[pb.RecordEventsRequest], acked: dict[int, pb.RecordEventsResponse],
         lock: threading.Lock, indexes: list[int]) -> None:
    """Send the batches at ``indexes`` one after another; record the acknowledged ones; stop at the first failure
    (the server is gone)."""
    with grpc.insecure_channel(address) as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        for index in indexes:
            try:
                response = stub.RecordEvents(requests[index], timeout=10)
            except grpc.RpcError:
                return
            with lock:
                acked[index] = response


def store_settings(database: str, tmp_path, request) -> tuple[dict, str]:
    """Server settings on SQLite or on a fresh PostgreSQL database, and the store's URL to read the rows back."""
    url = request.getfixturevalue("postgres_url") if database == "postgresql" else None
    data_dir = tmp_path / "data"
    return dict(data_dir=data_dir, database_url=url), url or f"sqlite+aiosqlite:///{data_dir / 'infogap.db'}"


def run_until_killed(repository, settings: dict, sender, work: list[int], kill_after: int) -> dict:
    """Start a server; SENDERS threads run ``sender(address, indexes, acked, lock)`` over ``work`` (each its share)
    while the server is killed with SIGKILL once ``kill_after`` items are acknowledged. Returns what was
    acknowledged before the kill, by index."""
    acked: dict = {}
    lock = threading.Lock()
    with ServerProcess(repository, **settings) as first:
        first.start()
        killer_done = threading.Event()

        def killer() -> None:
            while len(acked) < kill_after and first.process.poll() is None:
                threading.Event().wait(0.001)
            first.signal(signal.SIGKILL)
            killer_done.set()

        threading.Thread(target=killer, daemon=True).start()
        with ThreadPoolExecutor(SENDERS) as pool:
            for s in range(SENDERS):
                pool.submit(sender, first.address, work[s::SENDERS], acked, lock)
        assert killer_done.wait(30)
        assert first.wait(10) == -signal.SIGKILL
    before = dict(acked)
    assert kill_after <= len(before) < len(work), "the kill did not land mid-run"
    return before


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_acknowledged_events_survive_sigkill_and_retries_store_them_once(database, tiny_repository, tmp_path,
                                                                           request):
    settings, store_url = store_settings(database, tmp_path, request)
    requests = batches()
    rng = random.Random()
    order = list(range(len(requests)))
    rng.shuffle(order)

    def send_batches(address: str, indexes: list[int], acked: dict, lock: threading.Lock) -> None:
        send(address, requests, acked, lock, indexes)

    # Killed after a random number (5 to 60) of acknowledged batches: a random moment mid-run.
    acknowledged_before_kill = run_until_killed(tiny_repository, settings, send_batches, order, rng.randint(5, 60))

    with ServerProcess(tiny_repository, **settings) as second:
        second.start()
        retry = [i for i in range(len(requests)) if i not in acknowledged_before_kill]
        retried: dict[int, pb.RecordEventsResponse] = {}
        send(second.address, requests, retried, threading.Lock(), retry)
        assert sorted(retried) == retry

    ids = [row["event_id"] for row in stored_rows(store_url)["events"]]
    assert len(ids) == EVENTS and len(set(ids)) == EVENTS
    assert all(r.stored + r.duplicates == BATCH and not r.rejected for r in acknowledged_before_kill.values())
    # Batches in flight at the kill may have committed without an answer: their retry finds them as duplicates.
    retried_duplicates = sum(r.duplicates for r in retried.values())
    stored_before = sum(r.stored for r in acknowledged_before_kill.values())
    print(f"\n{database}: killed after {len(acknowledged_before_kill)} acknowledged batches "
          f"({stored_before} events); retried {len(retry)} batches: stored "
          f"{sum(r.stored for r in retried.values())}, duplicates {retried_duplicates}; "
          f"rows {len(ids)}, distinct {len(set(ids))}")


FEEDBACK, FEEDBACK_CUSTOMERS = 1000, 23


def submit(address: str, indexes: list[int], acked: dict[int, pb.FeedbackReceipt], lock: threading.Lock) -> None:
    """Submit the feedback at ``indexes`` one after another; record the receipts; stop at the first failure."""
    with grpc.insecure_channel(address) as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        for i in indexes:
            request = pb.SubmitFeedbackRequest(
                feedback_id=f"fb-{i}", customer_id=f"durable-{i % FEEDBACK_CUSTOMERS}", rating=1 + i % 5,
                text="thanks, that was quick" if i % 3 else "I am angry, nobody called back",
            )
            try:
                receipt = stub.SubmitFeedback(request, timeout=10)
            except grpc.RpcError:
                return
            with lock:
                acked[i] = receipt


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_acknowledged_feedback_survives_sigkill_and_retries_store_it_once(database, tiny_repository, tmp_path,
                                                                          request):
    settings, store_url = store_settings(database, tmp_path, request)
    rng = random.Random()
    order = list(range(FEEDBACK))
    rng.shuffle(order)
    before = run_until_killed(tiny_repository, settings, submit, order, rng.randint(50, 500))
    assert not any(r.duplicate for r in before.values())

    with ServerProcess(tiny_repository, **settings) as second:
        second.start()
        retry = [i for i in range(FEEDBACK) if i not in before]
        retried: dict[int, pb.FeedbackReceipt] = {}
        submit(second.address, retry, retried, threading.Lock())
        assert sorted(retried) == retry
        # An acknowledged one sent again is the original receipt.
        again: dict[int, pb.FeedbackReceipt] = {}
        some = sorted(before)[:5]
        submit(second.address, some, again, threading.Lock())
        assert all(again[i].duplicate and again[i].stored_at == before[i].stored_at for i in some)

    rows = stored_rows(store_url)["feedback"]
    ids = [(row["customer_key"], row["feedback_id"]) for row in rows]
    assert len(ids) == FEEDBACK and len(set(ids)) == FEEDBACK
    assert {row["feedback_id"] for row in rows} >= {f"fb-{i}" for i in before}
    committed_unanswered = sum(r.duplicate for r in retried.values())
    print(f"\n{database}: killed after {len(before)} acknowledged submissions; retried {len(retry)}: stored "
          f"{len(retry) - committed_unanswered}, found committed before the kill (duplicate) "
          f"{committed_unanswered}; rows {len(ids)}, distinct {len(set(ids))}")
