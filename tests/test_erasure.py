"""Erasure, end to end on a real process: after EraseCustomer no row in any table and no line of the server's log
carries the customer's pseudonym, their id, or any of the personal data planted in their notes and messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.privacy.pseudonyms import Pseudonymizer, load_or_create_key
from infogap_server.server_process import ServerProcess

from tests.conftest import stored_rows

CUSTOMER = "erasure-customer-4711"
PLANTED = ["maria.keller@example.org", "+44 20 7946 0123", "4111 1111 1111 1111", "GB82 WEST 1234 5698 7654 32",
           "192.168.17.42", "221B Baker Street", "Maria Keller"]


def all_rows(url: str) -> list[str]:
    return [repr(tuple(row.values())) for rows in stored_rows(url).values() for row in rows]


def test_erased_customer_leaves_no_trace_in_the_database_or_the_log(tiny_repository, tmp_path):
    data_dir = tmp_path / "data"
    url = f"sqlite+aiosqlite:///{data_dir / 'infogap.db'}"
    with ServerProcess(tiny_repository, data_dir=data_dir, log_level="DEBUG") as server:
        server.start()
        with grpc.insecure_channel(server.address) as channel:
            stub = infogap_pb2_grpc.InfoGapStub(channel)
            events = []
            for i, value in enumerate(PLANTED):
                event = pb.BehaviorEvent(type=pb.BEHAVIOR_EVENT_TYPE_COMPLAINT)
                event.time.FromDatetime(datetime.now(UTC) - timedelta(days=i))
                events.append(pb.CustomerEvent(customer_id=CUSTOMER, event_id=f"c{i}", event=event,
                                               note=f"Customer wrote: please reach me, {value}, about the refund"))
            events.append(pb.CustomerEvent(customer_id="bystander", event_id="b1", event=events[0].event))
            assert stub.RecordEvents(pb.RecordEventsRequest(events=events)).stored == len(PLANTED) + 1
            stub.IdentifyNeeds(pb.IdentifyNeedsRequest(customer_id=CUSTOMER, text=f"I am {PLANTED[-1]}, "
                                                       f"mail {PLANTED[0]}: where is my refund?"))
            stub.GetCustomerProfile(pb.GetCustomerProfileRequest(customer_id=CUSTOMER))
            rows_before = all_rows(url)
            pseudonym = Pseudonymizer(load_or_create_key(data_dir)).pseudonym(CUSTOMER)
            assert any(pseudonym in row for row in rows_before)
            erased = stub.EraseCustomer(pb.EraseCustomerRequest(customer_id=CUSTOMER, request_id="erasure-1"))
            assert {t.table: t.rows for t in erased.deleted}["events"] == len(PLANTED)
        log = server.log
    rows = all_rows(url)
    assert sum("'b1'" in row for row in rows) == 1  # the other customer's event stays
    for needle in [pseudonym, CUSTOMER, *PLANTED]:
        assert not any(needle in row for row in rows), f"{needle!r} is still stored"
        assert needle not in log, f"{needle!r} is in the server's log"
    # Redaction happened before storing: the planted values were never in the rows, only placeholders.
    assert not any(value in row for value in PLANTED for row in rows_before)
    assert '"msg": "customer erased"' in log
