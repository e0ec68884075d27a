"""``infogap fuzz``: structured and raw-byte fuzzing of every RPC against a real server process.

Cases come from hypothesis strategies built from the API's own descriptors, so an RPC or a field added to
``infogap.proto`` is fuzzed without a change here (field limits live in :func:`field_limits`):

- structured: every field of the request message, set or not; strings of every Unicode category and of sizes
  around each limit, extreme and non-finite numbers, unknown enum values, repeated fields at and past their limits,
  nested messages, each arm of a oneof;
- one field: a valid request with one field replaced by such a value, so hostile values get past validation;
- raw bytes: random bytes, truncated, bit-flipped and spliced valid messages, fields sent with the wrong wire
  type, huge length prefixes, deeply nested groups.

Every case must end, within the case's time budget, in OK or one of the codes documented for that RPC
(:func:`allowed_codes`); never INTERNAL, UNKNOWN, a hang, a stalled health check or a dead server. After the run
the server's log must be JSON lines without a traceback, an ERROR record or any caller text (every generated
string may carry :data:`CANARY`, which must never reach the log). A development tool: nothing in the serving path
imports it, and it needs the ``dev`` extra (hypothesis).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from infogap.v1 import infogap_pb2 as pb

from infogap_server.settings import Settings

SERVICE = pb.DESCRIPTOR.services_by_name["InfoGap"]

#: Marker put into generated strings; it must never appear in the server's log.
CANARY = "zqcanary7"

#: RPCs in the API that this version answers UNIMPLEMENTED (each issue that serves one removes it here).
NOT_SERVED: frozenset[str] = frozenset()

#: RPCs for which NOT_FOUND is a correct answer (a customer with nothing stored).
ANSWERS_NOT_FOUND = frozenset({"GetCustomerProfile"})

#: RPCs that answer about state a case may meet: TrackSession on a session an earlier case closed
#: (FAILED_PRECONDITION) or that another case's stream holds (ABORTED).
ANSWERS_STATE = frozenset({"TrackSession"})

#: Outcomes that fail a case whatever the RPC.
HANG, DEAD, HEALTH_STALL = "hang", "dead", "health_stall"


def allowed_codes(method: str) -> frozenset[str]:
    """What a case of ``method`` may end in: OK, a caller mistake, back-pressure, and UNIMPLEMENTED for an RPC not
    served yet. UNAVAILABLE, INTERNAL, UNKNOWN and DEADLINE_EXCEEDED (the case's own budget) are failures."""
    codes = {"OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"}
    if method in ANSWERS_NOT_FOUND:
        codes.add("NOT_FOUND")
    if method in NOT_SERVED:
        codes.add("UNIMPLEMENTED")
    if method in ANSWERS_STATE:
        codes.update({"FAILED_PRECONDITION", "ABORTED"})
    return frozenset(codes)


def field_limits(s: Settings) -> dict[str, int]:
    """Documented limits by field name: generated sizes cluster just under, at and just over each."""
    return {
        "text": s.max_text_chars,
        "customer_id": 128,
        "request_id": 128,
        "session_id": 128,
        "feedback_id": 128,
        "language": 35,
        "intent": 128,
        "plan_id": 128,
        "history": s.max_history_events,
        "top_k": s.max_top_k,
        "events": s.max_record_events,
        "event_id": 128,
        "note": s.max_text_chars,
        "keys": 100,
        "queue": 64,
    }


# --- structured cases -------------------------------------------------------------------------------------------

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_UINT32 = (0, 2**32 - 1)
_UINT64 = (0, 2**64 - 1)
_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: _INT32, FieldDescriptor.TYPE_SINT32: _INT32, FieldDescriptor.TYPE_SFIXED32: _INT32,
    FieldDescriptor.TYPE_INT64: _INT64, FieldDescriptor.TYPE_SINT64: _INT64, FieldDescriptor.TYPE_SFIXED64: _INT64,
    FieldDescriptor.TYPE_UINT32: _UINT32, FieldDescriptor.TYPE_FIXED32: _UINT32,
    FieldDescriptor.TYPE_UINT64: _UINT64, FieldDescriptor.TYPE_FIXED64: _UINT64,
}


def _integers(low: int, high: int, limit: int | None) -> st.SearchStrategy[int]:
    edges = [low, high, -1, 0, 1, 2]
    if limit is not None:
        edges += [limit - 1, limit, limit + 1]
    return st.one_of(st.sampled_from([e for e in edges if low <= e <= high]), st.integers(low, high))


def _texts(limit: int | None) -> st.SearchStrategy[str]:
    # Protobuf strings are UTF-8: every category but lone surrogates (invalid UTF-8 comes from the raw cases).
    short = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
    sizes = [limit - 1, limit, limit + 1, 2 * limit] if limit else [255, 256, 1000]
    unit = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8)
    long = st.builds(lambda u, n: (u * (n // len(u) + 1))[:n], unit, st.sampled_from([s for s in sizes if s > 0]))
    with_canary = st.builds(lambda a, b: f"{a} {CANARY} {b}", short, short)
    return st.one_of(short, long, with_canary)


def _scalar(fd: FieldDescriptor, limits: dict[str, int]) -> st.SearchStrategy:
    limit = limits.get(fd.name)
    if fd.type == FieldDescriptor.TYPE_STRING:
        return _texts(limit)
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if fd.type == FieldDescriptor.TYPE_DOUBLE:
        return st.floats(allow_nan=True, allow_infinity=True)
    if fd.type == FieldDescriptor.TYPE_FLOAT:
        return st.floats(width=32, allow_nan=True, allow_infinity=True)
    if fd.type == FieldDescriptor.TYPE_ENUM:
        known = [v.number for v in fd.enum_type.values]
        return st.one_of(st.sampled_from(known), _integers(*_INT32, None))  # open enums: unknown numbers too
    if fd.type in _INT_RANGES:
        return _integers(*_INT_RANGES[fd.type], limit)
    raise NotImplementedError(f"no strategy for field {fd.full_name} of type {fd.type}")


def field_strategy(fd: FieldDescriptor, limits: dict[str, int], depth: int = 0) -> st.SearchStrategy:
    """Hostile but well-formed values of one field: a list for a repeated field, a message for a message field."""
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        if depth >= 3:
            one = st.just(_message_class(fd.message_type)())
        else:
            one = st.deferred(lambda: message_strategy(fd.message_type, limits, depth + 1))
    else:
        one = _scalar(fd, limits)
    if not fd.is_repeated:
        return one
    limit = limits.get(fd.name, 8)
    sizes = sorted({0, 1, 2, max(limit - 1, 0), limit, limit + 1})
    # A few distinct elements repeated to the size: limits are reached without drawing hundreds of values.
    return st.builds(lambda items, n: (items * n)[:n], st.lists(one, min_size=1, max_size=3), st.sampled_from(sizes))


def message_strategy(descriptor: Descriptor, limits: dict[str, int], depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor``'s type with any subset of fields set to hostile but well-formed values."""
    cls = _message_class(descriptor)
    strategies = {fd: field_strategy(fd, limits, depth) for fd in descriptor.fields}
    plain = [fd for fd in descriptor.fields if fd.containing_oneof is None]
    arms = [st.sampled_from([None, *oneof.fields]) for oneof in descriptor.oneofs]

    @st.composite
    def build(draw) -> Message:
        message = cls()
        for fd in plain:
            if draw(st.booleans()):
                _set(message, fd, draw(strategies[fd]))
        for choose in arms:
            choice = draw(choose)
            if choice is not None:
                _set(message, choice, draw(strategies[choice]))
        return message

    return build()


def _message_class(descriptor: Descriptor) -> type[Message]:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


def _set(message: Message, fd: FieldDescriptor, value: object) -> None:
    if fd.is_repeated:
        target = getattr(message, fd.name)
        for item in value:  # type: ignore[attr-defined]
            if fd.type == FieldDescriptor.TYPE_MESSAGE:
                target.add().CopyFrom(item)
            else:
                target.append(item)
    elif fd.type == FieldDescriptor.TYPE_MESSAGE:
        getattr(message, fd.name).CopyFrom(value)
    else:
        setattr(message, fd.name, value)


# --- raw-byte cases ---------------------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def raw_strategy(descriptor: Descriptor, limits: dict[str, int]) -> st.SearchStrategy[bytes]:
    """Bytes that are not (or not quite) a valid message of ``descriptor``'s type."""
    valid = message_strategy(descriptor, limits).map(lambda m: m.SerializeToString())
    numbers = [fd.number for fd in descriptor.fields] or [1]

    @st.composite
    def mutate(draw) -> bytes:
        kind = draw(st.sampled_from(["random", "truncate", "bitflip", "splice", "wire_type", "huge_length",
                                     "nested_groups", "append_junk"]))
        if kind == "random":
            return draw(st.binary(min_size=1, max_size=256))
        base = draw(valid)
        if kind == "truncate":
            return base[: draw(st.integers(0, max(len(base) - 1, 0)))] if base else b"\x0a"
        if kind == "bitflip":
            data = bytearray(base or b"\x00")
            for _ in range(draw(st.integers(1, 8))):
                i = draw(st.integers(0, len(data) - 1))
                data[i] ^= 1 << draw(st.integers(0, 7))
            return bytes(data)
        if kind == "splice":
            other = draw(valid)
            return base[: draw(st.integers(0, len(base)))] + other[draw(st.integers(0, len(other))):]
        number = draw(st.sampled_from(numbers + [draw(st.integers(1, 2**29 - 1))]))
        if kind == "wire_type":  # a known field number with a wire type it does not have (6 and 7 are invalid)
            wire = draw(st.integers(0, 7))
            return base + _varint(number << 3 | wire) + draw(st.binary(max_size=16))
        if kind == "huge_length":  # a length prefix far beyond the bytes that follow
            length = draw(st.sampled_from([2**31 - 1, 2**31, 2**32, 2**63, 2**64 - 1, 10**9]))
            return base + _varint(number << 3 | 2) + _varint(length) + draw(st.binary(max_size=16))
        if kind == "nested_groups":  # start-group tags nested deeper than any parser's recursion limit
            return base + _varint(number << 3 | 3) * draw(st.sampled_from([10, 100, 1000, 10_000]))
        return base + draw(st.binary(min_size=1, max_size=64))

    return mutate()


# --- running cases ----------------------------------------------------------------------------------------------


@dataclass
class RpcReport:
    """Outcome counts of one RPC's cases, by kind (structured or raw) and code."""

    method: str
    outcomes: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    dead: bool = False

    @property
    def cases(self) -> int:
        return sum(self.outcomes.values())

    def failed(self) -> int:
        """Cases that ended in an outcome not allowed for this RPC."""
        allowed = allowed_codes(self.method)
        return sum(n for (_, code), n in self.outcomes.items() if code not in allowed)

    def by_code(self) -> Counter:
        codes: Counter = Counter()
        for (_, code), n in self.outcomes.items():
            codes[code] += n
        return codes


@dataclass(frozen=True)
class Case:
    kind: str  # one of KINDS
    payloads: tuple[bytes, ...]  # one for a unary RPC, one or more for a stream


#: A valid request per RPC: "one_field" cases change one field of it, so hostile values reach past validation.
VALID_REQUESTS: dict[str, Message] = {
    "IdentifyNeeds": pb.IdentifyNeedsRequest(text="where is my order", customer_id="c-1", language="en", top_k=3),
    "Recommend": pb.RecommendRequest(intent="get_refund", text="I want my money back", customer_id="c-1"),
    "SubmitFeedback": pb.SubmitFeedbackRequest(feedback_id="f-1", customer_id="c-1", rating=4, text="quick, thanks"),
    "TrackSession": pb.SessionEvent(session_id="s-1", customer_id="c-1",
                                    message=pb.SessionMessage(from_customer=True, text="hello")),
    "RecordEvents": pb.RecordEventsRequest(events=[pb.CustomerEvent(
        customer_id="c-1", event_id="e-1", note="parcel late, call 020 7946 0958",
        event=pb.BehaviorEvent(type=pb.BEHAVIOR_EVENT_TYPE_ORDER, time=Timestamp(seconds=1_700_000_000),
                               amount=12.5, item_count=2),
    )]),
    "GetCustomerProfile": pb.GetCustomerProfileRequest(customer_id="c-1"),
    "EraseCustomer": pb.EraseCustomerRequest(customer_id="c-2"),
    "GetInsights": pb.GetInsightsRequest(intent="track_order", period=pb.INSIGHT_PERIOD_DAY, top_n=5),
    "WatchAlerts": pb.WatchAlertsRequest(kinds=[pb.ALERT_STREAM_OVERALL, pb.ALERT_STREAM_ASPECT],
                                         keys=["delivery_delay"]),
    "GetSessionBottlenecks": pb.GetSessionBottlenecksRequest(intent="track_order", queue="front"),
}

#: A server-streaming case reads at most this many messages, for at most ``stream_window_s``, then cancels.
STREAM_MESSAGES = 100

#: The kinds of case, each a third of the cases.
KINDS = ("structured", "one_field", "raw")


def one_field_strategy(descriptor: Descriptor, base: Message, limits: dict[str, int]) -> st.SearchStrategy[Message]:
    """``base`` with one field replaced by a hostile value (drawn as in :func:`message_strategy`)."""
    strategies = {fd: field_strategy(fd, limits) for fd in descriptor.fields}
    choose = st.sampled_from(list(descriptor.fields))

    @st.composite
    def build(draw) -> Message:
        fd = draw(choose)
        message = type(base)()
        message.CopyFrom(base)
        message.ClearField(fd.name)
        _set(message, fd, draw(strategies[fd]))
        return message

    return build()


def case_strategies(method: MethodDescriptor, limits: dict[str, int]) -> dict[str, st.SearchStrategy[Case]]:
    """Cases of ``method`` by kind (one payload for a unary or server-streaming RPC, one to four for a client
    stream)."""
    descriptor = method.input_type
    base = VALID_REQUESTS.get(method.name, _message_class(descriptor)())
    payloads = {
        "structured": message_strategy(descriptor, limits).map(lambda m: m.SerializeToString()),
        "one_field": one_field_strategy(descriptor, base, limits).map(lambda m: m.SerializeToString()),
        "raw": raw_strategy(descriptor, limits),
    }
    counts = (1, 4) if method.client_streaming else (1, 1)
    return {
        kind: st.lists(strategy, min_size=counts[0], max_size=counts[1]).map(lambda p, k=kind: Case(k, tuple(p)))
        for kind, strategy in payloads.items()
    }


class Fuzzer:
    """Sends cases to a running server over one channel and classifies each outcome."""

    def __init__(self, address: str, *, case_timeout_s: float = 10.0, health_every: int = 50,
                 is_alive: Callable[[], bool] = lambda: True, stream_window_s: float = 0.3) -> None:
        self._channel = grpc.insecure_channel(address)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._timeout_s = case_timeout_s
        self._stream_window_s = stream_window_s
        self._health_every = health_every
        self._is_alive = is_alive
        self._sent = 0

    def close(self) -> None:
        self._channel.close()

    def send(self, method: MethodDescriptor, case: Case) -> str:
        """The outcome of one case: a status code name, or HANG / DEAD / HEALTH_STALL."""
        path = f"/{SERVICE.full_name}/{method.name}"
        try:
            if method.client_streaming:
                call = self._channel.stream_stream(path)
                for _ in call(iter(case.payloads), timeout=self._timeout_s):
                    pass
            elif method.server_streaming:
                self._read_stream(path, case.payloads[0])
            else:
                self._channel.unary_unary(path)(case.payloads[0], timeout=self._timeout_s)
            outcome = "OK"
        except grpc.RpcError as error:
            code = error.code()
            outcome = HANG if code == grpc.StatusCode.DEADLINE_EXCEEDED else code.name
            if code == grpc.StatusCode.UNAVAILABLE and not self._is_alive():
                outcome = DEAD
        self._sent += 1
        if outcome not in (HANG, DEAD) and self._sent % self._health_every == 0 and not self.healthy():
            outcome = HEALTH_STALL
        return outcome

    def _read_stream(self, path: str, payload: bytes) -> None:
        """A server-streaming case: wait for the response headers (the server has taken the call, or ended it at
        once), then read at most STREAM_MESSAGES messages for at most ``stream_window_s`` and cancel. A stream still
        open then (a watch that follows) has done what it should: only its own error, or no headers within the
        case's deadline (a hang), fails it. Raises grpc.RpcError with the server's status otherwise."""
        call = self._channel.unary_stream(path)(payload, timeout=self._timeout_s)
        stopped = threading.Event()

        def stop() -> None:
            stopped.set()
            call.cancel()

        call.initial_metadata()  # returns once the headers came or the call ended (deadline included)
        timer = threading.Timer(self._stream_window_s, stop)
        timer.start()
        try:
            for n, _ in enumerate(call, 1):
                if n >= STREAM_MESSAGES:
                    stop()
        except grpc.RpcError as error:
            if not (stopped.is_set() and error.code() == grpc.StatusCode.CANCELLED):
                raise
        finally:
            timer.cancel()

    def healthy(self, timeout_s: float = 1.0) -> bool:
        try:
            reply = self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout_s)
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def fuzz_rpc(self, method: MethodDescriptor, cases: int, seed_value: int, limits: dict[str, int]) -> RpcReport:
        """Run ``cases`` generated cases of ``method``, a third of each kind; stops early only when the server is
        dead."""
        report = RpcReport(method.name)
        allowed = allowed_codes(method.name)
        for i, strategy in enumerate(case_strategies(method, limits).values()):
            share = cases // len(KINDS) + (1 if i < cases % len(KINDS) else 0)
            if share == 0 or report.dead:
                continue

            @seed(seed_value)
            @settings(max_examples=share, database=None, deadline=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck), derandomize=False)
            @given(case=strategy)
            def one(case: Case) -> None:
                if report.dead:
                    return
                outcome = self.send(method, case)
                report.outcomes[(case.kind, outcome)] += 1
                report.dead = outcome == DEAD
                if outcome not in allowed and len(report.failures) < 20:
                    sample = case.payloads[0][:80]
                    report.failures.append(f"{method.name} {case.kind} case -> {outcome}; first bytes {sample!r}")

            one()
        return report


def log_problems(lines: list[str]) -> list[str]:
    """What is wrong with a server log after fuzzing: non-JSON lines, tracebacks, ERROR records, caller text."""
    problems = []
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            problems.append(f"not a JSON log line: {line[:120]!r}")
            continue
        if record.get("level") in ("error", "critical"):
            problems.append(f"ERROR record: {record.get('msg')!r} {record.get('reason', '')!r}")
        if "Traceback" in line or "exc" in record:
            problems.append(f"traceback in the log: {record.get('msg')!r}")
        # The caller's request id is logged by design (and validated to be id-shaped); nothing else of theirs is.
        if CANARY in json.dumps({k: v for k, v in record.items() if k != "request_id"}):
            problems.append(f"caller text in the log: {record.get('msg')!r}")
    return problems


def run(repository: Path | None, cases_per_rpc: int, seed_value: int, methods: list[str] | None = None,
        **server_settings: object) -> tuple[list[RpcReport], list[str]]:
    """Start ``infogap serve`` (INFO logs), fuzz every RPC (or ``methods``), stop it with SIGTERM.

    Returns the per-RPC reports and the problems found in the server's log and exit."""
    import signal

    from infogap_server.server_process import ServerProcess

    s = Settings(**({"model_repository": repository} if repository else {}))
    limits = field_limits(s)
    reports: list[RpcReport] = []
    with ServerProcess(s.model_repository, **server_settings).start() as server:
        fuzzer = Fuzzer(server.address, is_alive=lambda: server.process.poll() is None)
        try:
            for method in SERVICE.methods:
                if methods and method.name not in methods:
                    continue
                started = time.perf_counter()
                report = fuzzer.fuzz_rpc(method, cases_per_rpc, seed_value, limits)
                report.seconds = round(time.perf_counter() - started, 1)
                reports.append(report)
        finally:
            fuzzer.close()
        problems = []
        if server.process.poll() is not None:
            problems.append(f"the server died (exit code {server.process.returncode})")
        else:
            server.signal(signal.SIGTERM)
            code = server.wait(30)
            if code != 0:
                problems.append(f"the server exited {code} after SIGTERM")
        problems += log_problems(server.lines)
    return reports, problems


def print_report(reports: list[RpcReport], problems: list[str]) -> None:
    codes = sorted({code for r in reports for code in r.by_code()})
    kinds = " ".join(f"{k:>10}" for k in KINDS)
    print(f"{'rpc':<15} {'cases':>6} {kinds} " + " ".join(f"{c:>16}" for c in codes) + f" {'s':>6}")
    for r in reports:
        by_code = r.by_code()
        by_kind = Counter()
        for (kind, _), n in r.outcomes.items():
            by_kind[kind] += n
        print(f"{r.method:<15} {r.cases:>6} " + " ".join(f"{by_kind[k]:>10}" for k in KINDS) + " "
              + " ".join(f"{by_code.get(c, 0):>16}" for c in codes) + f" {r.seconds:>6}")
    failures = [f for r in reports for f in r.failures]
    print(f"failed cases: {sum(r.failed() for r in reports)} "
          "(INTERNAL, UNKNOWN, UNAVAILABLE, hangs, stalled health checks, deaths)")
    for line in failures + problems:
        print(f"  {line}")
    print(f"log and exit: {'clean' if not problems else f'{len(problems)} problem(s)'}")


def main(args) -> int:
    names = {m.name for m in SERVICE.methods}
    unknown = [name for name in args.rpcs.split(",") if name and name not in names] if args.rpcs else []
    if unknown:
        print(f"error: unknown RPC(s) {', '.join(unknown)}; the service has {', '.join(sorted(names))}")
        return 2
    reports, problems = run(
        Path(args.repository) if args.repository else None, args.cases_per_rpc, args.seed,
        args.rpcs.split(",") if args.rpcs else None,
    )
    print_report(reports, problems)
    return 1 if any(r.failed() for r in reports) or problems else 0
