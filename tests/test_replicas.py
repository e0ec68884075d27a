"""Two gateway replicas (separate ``infogap serve`` processes, separate ports and data folders) on one PostgreSQL:
what is written through one is read through the other; a replica with another pseudonym key refuses to start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.server_process import ServerProcess

KEY = "3f" * 32


def order(customer: str, event_id: str, days_ago: int, amount: float) -> pb.CustomerEvent:
    event = pb.BehaviorEvent(type=pb.BEHAVIOR_EVENT_TYPE_ORDER, amount=amount, item_count=1)
    event.time.FromDatetime(datetime.now(UTC) - timedelta(days=days_ago))
    return pb.CustomerEvent(customer_id=customer, event_id=event_id, event=event)


def test_events_written_through_one_replica_are_in_the_profile_read_through_the_other(tiny_repository, tmp_path,
                                                                                         postgres_url):
    shared = dict(database_url=postgres_url, pseudonym_key=KEY)
    with ServerProcess(tiny_repository, data_dir=tmp_path / "a", **shared) as a, \
            ServerProcess(tiny_repository, data_dir=tmp_path / "b", **shared) as b:
        a.start()
        b.start()
        with grpc.insecure_channel(a.address) as channel_a, grpc.insecure_channel(b.address) as channel_b:
            stub_a, stub_b = infogap_pb2_grpc.InfoGapStub(channel_a), infogap_pb2_grpc.InfoGapStub(channel_b)
            events = [order("shared-customer", f"o{i}", 10 * i, 20.0) for i in range(3)]
            assert stub_a.RecordEvents(pb.RecordEventsRequest(events=events)).stored == 3
            profile = stub_b.GetCustomerProfile(pb.GetCustomerProfileRequest(customer_id="shared-customer"))
            assert profile.rfm.frequency == 3 and profile.rfm.monetary == 60.0
            # A retry through the other replica is recognised as the same events.
            again = stub_b.RecordEvents(pb.RecordEventsRequest(events=events))
            assert again.stored == 0 and again.duplicates == 3
            # Erasure through one replica is seen by the other.
            stub_b.EraseCustomer(pb.EraseCustomerRequest(customer_id="shared-customer"))
            try:
                stub_a.GetCustomerProfile(pb.GetCustomerProfileRequest(customer_id="shared-customer"))
                raise AssertionError("the erased customer is still there")
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.NOT_FOUND


def test_a_replica_with_another_pseudonym_key_refuses_to_start(tiny_repository, tmp_path, postgres_url):
    with ServerProcess(tiny_repository, data_dir=tmp_path / "a", database_url=postgres_url, pseudonym_key=KEY) as a:
        a.start()
    with ServerProcess(tiny_repository, data_dir=tmp_path / "b", database_url=postgres_url) as b:
        assert b.wait(60) == 1
        (failure,) = [r for r in b.records() if r["msg"] == "cannot start"]
        assert "pseudonym key differs" in failure["reason"]
        assert KEY not in b.log


def test_processes_migrating_an_empty_database_at_once_all_succeed(tmp_path, postgres_url):
    """Three `infogap db upgrade` processes on one empty database: the advisory lock makes one migrate and the
    others find the committed schema (without it they race on CREATE TABLE)."""
    import os
    import subprocess

    from infogap_server.server_process import INFOGAP
    from infogap_server.store.migrate import head_revision

    env = {k: v for k, v in os.environ.items() if not k.startswith("INFOGAP_")}
    env.update(INFOGAP_PSEUDONYM_KEY=KEY, INFOGAP_DATA_DIR=str(tmp_path))
    processes = [subprocess.Popen([str(INFOGAP), "db", "upgrade", "--url", postgres_url], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    assert all(f"store at revision {head_revision()}" in out for out in outputs), outputs
