"""Locust load test of IdentifyNeeds over gRPC.

Sync gRPC stubs made cooperative with gevent (as Locust's own gRPC example does); an interceptor reports every
call to Locust's statistics, with the gRPC status code as the failure. The message mix is the project's
hand-written test set (27 intents, short and long, polite and angry) plus a few off-topic messages, and a share
of calls asks for more needs (top_k 5) as a CRM screen would.

    make locust                      # headless, 30 s, 16 users, CSV under bench_results/locust*
    locust -f loadtest/locustfile.py --host 127.0.0.1:50051      # web UI
"""

from __future__ import annotations

import random
import time

import grpc
import grpc.experimental.gevent as grpc_gevent
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.training.build import DEFAULT_TEST, read_corpus
from locust import User, between, events, task
from locust.exception import LocustError

grpc_gevent.init_gevent()

MESSAGES = [e.text for e in read_corpus(DEFAULT_TEST)] + [
    "what's the weather like in Lisbon tomorrow",
    "tell me a joke",
    "hello",
]


class _ReportingInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Fires Locust's request event for each unary call, with the status code name on failure."""

    def __init__(self, environment) -> None:
        self.env = environment

    def intercept_unary_unary(self, continuation, client_call_details, request):
        started = time.perf_counter()
        exception, length = None, 0
        call = continuation(client_call_details, request)
        try:
            length = call.result().ByteSize()
        except grpc.RpcError as error:
            exception = error
        self.env.events.request.fire(
            request_type="grpc",
            name=client_call_details.method,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=exception,
            context=None,
        )
        return call


class InfoGapUser(User):
    """A calling service: IdentifyNeeds with a realistic mix of messages."""

    wait_time = between(0.0, 0.05)
    host = "127.0.0.1:50051"

    def __init__(self, environment) -> None:
        super().__init__(environment)
        if not self.host:
            raise LocustError("set --host to the gateway's host:port")
        self._channel = grpc.insecure_channel(self.host)
        channel = grpc.intercept_channel(self._channel, _ReportingInterceptor(environment))
        self.stub = infogap_pb2_grpc.InfoGapStub(channel)
        self.rng = random.Random()

    def on_stop(self) -> None:
        self._channel.close()

    @task(9)
    def identify_needs(self) -> None:
        try:
            self.stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=self.rng.choice(MESSAGES)), timeout=10)
        except grpc.RpcError:
            pass  # already reported by the interceptor

    @task(1)
    def identify_needs_top5(self) -> None:
        try:
            self.stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=self.rng.choice(MESSAGES), top_k=5), timeout=10)
        except grpc.RpcError:
            pass


@events.quitting.add_listener
def _fail_on_any_error(environment, **_kwargs) -> None:
    """A load test with a failed call exits non-zero, so CI notices."""
    if environment.stats.total.num_failures > 0:
        environment.process_exit_code = 1
