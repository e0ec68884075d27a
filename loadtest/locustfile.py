"""Locust load test over gRPC: IdentifyNeeds, and TrackSession sessions.

Sync gRPC stubs made cooperative with gevent (as Locust's own gRPC example does); an interceptor reports every
call to Locust's statistics, with the gRPC status code as the failure. The message mix is the project's
hand-written test set (27 intents, short and long, polite and angry) plus a few off-topic messages, and a share
of calls asks for more needs (top_k 5) as a CRM screen would.

    make locust                      # headless, 30 s, 16 users, CSV under bench_results/locust*
    locust -f loadtest/locustfile.py --host 127.0.0.1:50051      # web UI

A SessionUser (one in four users) runs short TrackSession sessions: a customer message, the actions the server
suggests, a wait, the end; each state answered is one request ("TrackSession event") timed from its event.
"""

from __future__ import annotations

import queue
import random
import time
import uuid

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

    weight = 3
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


class SessionUser(User):
    """An agent desk: short TrackSession sessions, each on one stream, following the suggested next action."""

    weight = 1
    wait_time = between(0.0, 0.05)
    host = "127.0.0.1:50051"

    def __init__(self, environment) -> None:
        super().__init__(environment)
        self._channel = grpc.insecure_channel(self.host)
        self.stub = infogap_pb2_grpc.InfoGapStub(self._channel)
        self.rng = random.Random()

    def on_stop(self) -> None:
        self._channel.close()

    def _fire(self, started: float, length: int, exception: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type="grpc", name="TrackSession event", response_time=(time.perf_counter() - started) * 1000,
            response_length=length, exception=exception, context=None)

    @task
    def session(self) -> None:
        session_id = f"locust-{uuid.uuid4().hex[:16]}"
        outbox: queue.Queue = queue.Queue()
        responses = self.stub.TrackSession(iter(outbox.get, None), timeout=60)
        event = pb.SessionEvent(session_id=session_id, customer_id=f"locust-{self.rng.randrange(1000)}",
                                message=pb.SessionMessage(text=self.rng.choice(MESSAGES), from_customer=True))
        try:
            for step in range(6):
                started = time.perf_counter()
                outbox.put(event)
                try:
                    state = next(responses)
                except grpc.RpcError as error:
                    self._fire(started, 0, error)
                    return
                self._fire(started, state.ByteSize(), None)
                if step == 5:
                    break
                event = pb.SessionEvent(session_id=session_id)
                if step == 4:
                    event.end.CopyFrom(pb.SessionEnd(resolved=self.rng.random() < 0.8))
                elif step == 2:
                    event.wait.CopyFrom(pb.Wait(duration_s=self.rng.uniform(5, 60)))
                else:
                    event.agent_action.CopyFrom(pb.AgentAction(action=state.next_action.action or "apologise"))
        finally:
            outbox.put(None)
            responses.cancel()


@events.quitting.add_listener
def _fail_on_any_error(environment, **_kwargs) -> None:
    """A load test with a failed call exits non-zero, so CI notices."""
    if environment.stats.total.num_failures > 0:
        environment.process_exit_code = 1
