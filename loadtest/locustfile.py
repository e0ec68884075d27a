"""Locust load test over gRPC: whole customer contacts, plus IdentifyNeeds-only callers and longer sessions.

Sync gRPC stubs made cooperative with gevent (as Locust's own gRPC example does). Every call is reported to
Locust's statistics under its RPC's name ("IdentifyNeeds", "Recommend", "TrackSession event", "SubmitFeedback"),
with the gRPC status code as the failure. Messages come from the project's hand-written test set (27 intents,
short and long, polite and angry) plus a few off-topic ones.

    make locust                      # headless, 30 s, 16 users, CSV under bench_results/locust*
    locust -f loadtest/locustfile.py --host 127.0.0.1:50051      # web UI

The mix, by user weight (5 : 1 : 1):

- ContactUser (about 5 users in 7): one customer contact per task, the four customer-facing RPCs in the order an
  integration makes them. IdentifyNeeds reads the message; Recommend is asked for plans for its top need (or, when
  the message is out of scope, for the text itself) on the chat channel; a TrackSession stream carries the
  customer's message, one agent action (the suggested one, offering the first plan when that is the suggestion)
  and the end; SubmitFeedback rates the contact with the decision, first plan, intent and session it came from
  (a rating that leans on whether the session ended resolved, and now and then a line of text). That is six
  requests a contact: 1 IdentifyNeeds, 1 Recommend, 3 TrackSession events, 1 SubmitFeedback.
- InfoGapUser (1 in 7): a calling service that only classifies messages with IdentifyNeeds; one call in ten asks
  for five needs (top_k 5), as a CRM screen would.
- SessionUser (1 in 7): an agent desk with longer TrackSession sessions: a customer message, the actions the server
  suggests, a wait, the end (6 events).

Each TrackSession answer is one request ("TrackSession event"), timed from the event that caused it. The three
loops make requests at about the same rate, so roughly seven requests in ten belong to contacts. Locust hands out
users in weight order: a 4-user run (the CI one, tests/test_locust.py) gets 2 ContactUsers and one of each other.
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

# Now and then a customer adds a line to the rating: by rating band, low (1-2), middling (3), high (4-5).
FEEDBACK_TEXTS = {
    "low": ["Nobody actually fixed anything, I gave up in the end.",
            "Far too slow, and I had to repeat my order number three times."],
    "mid": ["Got there eventually, but it took longer than it should have.",
            "Fine, though the first answer missed my point."],
    "high": ["Quick and friendly, sorted in minutes.", "Clear answer and the refund came through, thanks."],
}

UNARY_TIMEOUT_S = 10.0
SESSION_TIMEOUT_S = 30.0


class _ReportingInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Fires Locust's request event for each unary call, named by its RPC, with the status code name on failure."""

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
            name=client_call_details.method.rsplit("/", 1)[-1],  # "/infogap.v1.InfoGap/Recommend" -> "Recommend"
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=exception,
            context=None,
        )
        return call


class _GrpcUser(User):
    """One channel per user; unary calls reported by the interceptor, session events by _fire."""

    abstract = True
    wait_time = between(0.0, 0.05)
    host = "127.0.0.1:50051"

    def __init__(self, environment) -> None:
        super().__init__(environment)
        if not self.host:
            raise LocustError("set --host to the gateway's host:port")
        self._channel = grpc.insecure_channel(self.host)
        # The interceptor handles unary-unary calls only; TrackSession passes through it untouched.
        channel = grpc.intercept_channel(self._channel, _ReportingInterceptor(environment))
        self.stub = infogap_pb2_grpc.InfoGapStub(channel)
        self.rng = random.Random()

    def on_stop(self) -> None:
        self._channel.close()

    def _customer_id(self) -> str:
        return f"locust-{self.rng.randrange(1000)}"

    def _fire(self, started: float, length: int, exception: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type="grpc", name="TrackSession event", response_time=(time.perf_counter() - started) * 1000,
            response_length=length, exception=exception, context=None)

    def _session(self, first: pb.SessionEvent, next_event) -> pb.SessionState | None:
        """One session on one stream: send `first`, then `next_event(step, state)` until it returns None.

        Each answer is reported as one "TrackSession event"; returns the last state, or None when the stream
        failed (already reported).
        """
        outbox: queue.Queue = queue.Queue()
        responses = self.stub.TrackSession(iter(outbox.get, None), timeout=SESSION_TIMEOUT_S)
        event, step, state = first, 0, None
        try:
            while event is not None:
                started = time.perf_counter()
                outbox.put(event)
                try:
                    state = next(responses)
                except grpc.RpcError as error:
                    self._fire(started, 0, error)
                    return None
                except StopIteration:
                    self._fire(started, 0, RuntimeError("the stream ended before answering"))
                    return None
                self._fire(started, state.ByteSize(), None)
                event = next_event(step, state)
                step += 1
            return state
        finally:
            outbox.put(None)
            responses.cancel()


class ContactUser(_GrpcUser):
    """A customer contact end to end: IdentifyNeeds -> Recommend -> TrackSession -> SubmitFeedback."""

    weight = 5

    @task
    def contact(self) -> None:
        text = self.rng.choice(MESSAGES)
        customer_id = self._customer_id()
        try:
            needs = self.stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=text, customer_id=customer_id),
                                            timeout=UNARY_TIMEOUT_S)
            if needs.out_of_scope or not needs.needs:
                ask = pb.RecommendRequest(text=text, customer_id=customer_id, channel="chat")
            else:
                ask = pb.RecommendRequest(intent=needs.needs[0].intent, customer_id=customer_id, channel="chat")
            recommended = self.stub.Recommend(ask, timeout=UNARY_TIMEOUT_S)
        except grpc.RpcError:
            return  # already reported by the interceptor; the rest of the contact depends on the answers
        plan_id = recommended.plans[0].plan_id if recommended.plans else ""
        resolved = self.rng.random() < 0.8
        session_id = f"locust-{uuid.uuid4().hex[:16]}"

        def next_event(step: int, state: pb.SessionState) -> pb.SessionEvent | None:
            if step == 0:  # the agent follows the suggestion, offering the recommended plan when that is it
                action = state.next_action.action or "apologise"
                return pb.SessionEvent(session_id=session_id, agent_action=pb.AgentAction(
                    action=action, plan_id=plan_id if action == "offer_plan" else ""))
            if step == 1:
                return pb.SessionEvent(session_id=session_id, end=pb.SessionEnd(resolved=resolved))
            return None

        first = pb.SessionEvent(session_id=session_id, customer_id=customer_id,
                                message=pb.SessionMessage(text=text, from_customer=True))
        if self._session(first, next_event) is None:
            return
        rating = self.rng.choices(range(1, 6), weights=(1, 1, 2, 4, 6) if resolved else (5, 4, 2, 1, 0.5))[0]
        feedback = pb.SubmitFeedbackRequest(
            feedback_id=f"locust-fb-{uuid.uuid4().hex}", customer_id=customer_id, rating=rating,
            session_id=session_id, intent=recommended.intent, plan_id=plan_id,
            decision_id=recommended.decision_id, resolved=resolved)
        if self.rng.random() < 0.3:
            feedback.text = self.rng.choice(FEEDBACK_TEXTS["low" if rating <= 2 else "mid" if rating == 3 else "high"])
        try:
            self.stub.SubmitFeedback(feedback, timeout=UNARY_TIMEOUT_S)
        except grpc.RpcError:
            pass


class InfoGapUser(_GrpcUser):
    """A calling service: IdentifyNeeds alone, with a realistic mix of messages."""

    weight = 1

    @task(9)
    def identify_needs(self) -> None:
        try:
            self.stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=self.rng.choice(MESSAGES)), timeout=UNARY_TIMEOUT_S)
        except grpc.RpcError:
            pass  # already reported by the interceptor

    @task(1)
    def identify_needs_top5(self) -> None:
        try:
            self.stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=self.rng.choice(MESSAGES), top_k=5),
                                    timeout=UNARY_TIMEOUT_S)
        except grpc.RpcError:
            pass


class SessionUser(_GrpcUser):
    """An agent desk: longer TrackSession sessions, each on one stream, following the suggested next action."""

    weight = 1

    @task
    def session(self) -> None:
        session_id = f"locust-{uuid.uuid4().hex[:16]}"

        def next_event(step: int, state: pb.SessionState) -> pb.SessionEvent | None:
            if step == 5:
                return None
            event = pb.SessionEvent(session_id=session_id)
            if step == 4:
                event.end.CopyFrom(pb.SessionEnd(resolved=self.rng.random() < 0.8))
            elif step == 2:
                event.wait.CopyFrom(pb.Wait(duration_s=self.rng.uniform(5, 60)))
            else:
                event.agent_action.CopyFrom(pb.AgentAction(action=state.next_action.action or "apologise"))
            return event

        self._session(pb.SessionEvent(session_id=session_id, customer_id=self._customer_id(),
                                      message=pb.SessionMessage(text=self.rng.choice(MESSAGES), from_customer=True)),
                      next_event)


@events.quitting.add_listener
def _fail_on_any_error(environment, **_kwargs) -> None:
    """A load test with a failed call exits non-zero, so CI notices."""
    if environment.stats.total.num_failures > 0:
        environment.process_exit_code = 1
