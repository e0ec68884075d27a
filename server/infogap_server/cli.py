"""The ``infogap`` command: serve, models build, identify."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path


def _cmd_serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from infogap_server.logs import configure_logging
    from infogap_server.server import run_workers
    from infogap_server.settings import Settings

    overrides = {"host": args.host, "port": args.port, "workers": args.workers, "backend": args.backend}
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:  # one JSON line naming each bad setting, no traceback
        configure_logging("INFO")
        problems = [f"{'INFOGAP_' + '_'.join(map(str, e['loc'])).upper() if e['loc'] else 'settings'}: {e['msg']}"
                    for e in exc.errors()]
        logging.getLogger("infogap.server").error("cannot start", extra={"fields": {"reason": "; ".join(problems)}})
        return 2
    return run_workers(settings)


def _cmd_models_build(args: argparse.Namespace) -> int:
    from infogap_server.logs import configure_logging
    from infogap_server.models.repository import outdated_text_model, versions
    from infogap_server.settings import Settings

    configure_logging("INFO")
    settings = Settings()
    repository = Path(args.repository) if args.repository else settings.model_repository
    if args.tensorrt:
        from infogap_server.training.tensorrt import tensorrt_available

        reason = tensorrt_available()
        if reason:  # fail before training, not after
            print(f"error: --tensorrt needs TensorRT and a GPU: {reason}", file=sys.stderr)
            return 2
    build_text = args.model in ("all", "text")
    build_behaviour = args.model in ("all", "behaviour") and bool(settings.behaviour_model)
    if args.if_missing:
        from infogap_server.training.build import DEFAULT_OOS_LABEL, DEFAULT_TRAIN, read_corpus

        corpus_intents = sorted({e.intent for e in read_corpus(DEFAULT_TRAIN)} - {DEFAULT_OOS_LABEL})
        reason = build_text and outdated_text_model(repository, settings.text_model, corpus_intents)
        outdated = bool(reason)
        if outdated:
            print(f"{settings.text_model} in {repository}: {reason}; building a newer version")
        for name, wanted in ((settings.text_model, build_text and not outdated),
                             (settings.behaviour_model, build_behaviour)):
            if wanted and versions(repository, name):
                print(f"{name} is present in {repository}; nothing to build")
        build_text = build_text and (outdated or not versions(repository, settings.text_model))
        build_behaviour = build_behaviour and not versions(repository, settings.behaviour_model)
    started = time.perf_counter()
    if build_behaviour:  # a few seconds: first, so a broken repository fails before the long text build
        from infogap_server.training.behaviour.build import build_behaviour_model

        target = build_behaviour_model(repository, name=settings.behaviour_model, version=args.version,
                                       threads=args.threads, log=lambda _: None)
        card = json.loads((target / "model_card.json").read_text())
        served, test = card["served"], card["candidates"][card["served"]]["test"]
        print(f"built {target} in {card['build_seconds']:.0f}s: {served} serves ({card['why']})")
        print(f"test period ({test['examples']} customers): churn ROC AUC {test['roc_auc']:.4f}, "
              f"PR AUC {test['pr_auc']:.4f}, ECE {test['ece']:.4f}")
    if not build_text:
        return 0
    from infogap_server.training.build import build_default_model

    target = build_default_model(repository, version=args.version, threads=args.threads)
    card = json.loads((target / "model_card.json").read_text())
    m = card["metrics"]
    print(f"built {target} ({time.perf_counter() - started:.0f}s for the whole build)")
    precision = m["served_precision"]
    print(f"serves {precision}: {card['quantization']['why']}")
    print(f"held-out ({m['held_out']['examples']} messages, {precision}): intent accuracy "
          f"{m['held_out']['intent_accuracy']:.3f}, ECE {m['held_out']['intent_ece']:.4f}, "
          f"sentiment accuracy {m['held_out']['sentiment_accuracy']:.3f}")
    if args.tensorrt:
        from infogap_server.training.build import fp32_path
        from infogap_server.training.tensorrt import build_tensorrt_model

        version = int(target.name)
        trt_dir = build_tensorrt_model(repository, fp32_path(repository, version), version)
        print(f"built TensorRT engine {trt_dir / 'model.plan'}")
    if m.get("test"):
        t = m["test"]
        print(f"hand-written test set ({t['examples']} messages, {precision}): intent accuracy "
              f"{t['intent_accuracy']:.3f}, ECE {t['intent_ece']:.4f}, "
              f"sentiment accuracy {t['sentiment_accuracy']:.3f}")
    f = m.get("feedback", {}).get("test")
    if f:
        print(f"feedback test set ({f['examples']} texts, {precision}): sentiment accuracy "
              f"{f['sentiment_accuracy']:.3f}, "
              f"macro-F1 {f['sentiment_macro_f1']:.3f}, ECE {f['sentiment_ece']:.4f}; aspects macro-F1 "
              f"{f['aspect_macro_f1']:.3f}, micro-F1 {f['aspect_micro_f1']:.3f}, exact set "
              f"{f['aspect_exact_set_accuracy']:.3f}, ECE {f['aspect_ece']:.4f}")
    if card.get("checklist"):
        print("CheckList failure rates: " + ", ".join(f"{k} {v['failure_rate']:.2%}"
                                                     for k, v in card["checklist"]["by_type"].items()))
    return 0


def _cmd_triton(args: argparse.Namespace) -> int:
    import signal
    import threading

    from infogap_server.settings import Settings
    from infogap_server.triton.local import LocalTriton

    repository = Path(args.repository) if args.repository else Settings().model_repository
    triton = LocalTriton(repository, grpc_port=args.grpc_port, http_port=args.http_port,
                         metrics_port=args.metrics_port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    started = time.perf_counter()
    try:
        triton.start(timeout_s=args.timeout_s)
        print(f"Triton ready in {time.perf_counter() - started:.1f}s: gRPC {triton.grpc_address}, "
              f"HTTP 127.0.0.1:{triton.http_port}, metrics 127.0.0.1:{triton.metrics_port}; log {triton.log_file}",
              flush=True)
        print(f"gateway: INFOGAP_BACKEND=triton INFOGAP_TRITON_ADDRESS={triton.grpc_address} infogap serve",
              flush=True)
        while not stop.wait(1.0):
            if triton.process is None or triton.process.poll() is not None:
                print(f"tritonserver exited:\n{triton.tail_log()}", file=sys.stderr)
                return 1
    finally:
        triton.close()
    return 0


def _cmd_checklist(args: argparse.Namespace) -> int:
    from infogap_server.models.repository import version_dir, versions
    from infogap_server.settings import Settings
    from infogap_server.training import checklist

    settings = Settings()
    repository = Path(args.repository) if args.repository else settings.model_repository
    model = args.model or settings.text_model
    present = versions(repository, model)
    if not present:
        print(f"error: no version of {model} in {repository} (make models)", file=sys.stderr)
        return 2
    try:
        suite = checklist.load_suite(Path(args.suite) if args.suite else checklist.SUITE_PATH)
    except checklist.SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = checklist.run(suite, checklist.onnx_predictor(version_dir(repository, model, args.version or present[-1])))
    print(json.dumps(report, indent=2) if args.json else checklist.format_report(report, args.show_failures))
    return 1 if args.check and not report["met"] else 0


def _cmd_identify(args: argparse.Namespace) -> int:
    from infogap.v1 import infogap_pb2 as pb

    response = _ask_server(args, lambda c: c.identify_needs(args.text, top_k=args.top_k, language=args.language))
    if response is None or args.json:
        return 1 if response is None else 0
    flag = "  (out of scope)" if response.out_of_scope else ""
    for need in response.needs:
        print(f"{need.intent}\t{need.score:.3f}")
    print(f"out_of_scope\t{response.out_of_scope}{flag}")
    sentiment = response.sentiment
    print(f"sentiment\t{enum_name(pb.SentimentLabel, sentiment.label)}\t{sentiment.score:.3f}")
    print(f"urgency\t{enum_name(pb.UrgencyLevel, response.urgency.level)}\t{response.urgency.score:.2f}")
    for e in response.entities:
        print(f"entity\t{e.type}\t{e.normalized}")
    print(f"model\t{response.model.name}/{response.model.version}\trequest_id\t{response.request_id}")
    return 0


def _settings_or_exit():
    from pydantic import ValidationError

    from infogap_server.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        for e in exc.errors():
            print(f"error: INFOGAP_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    import asyncio

    from infogap_server.server import open_customer_layer
    from infogap_server.store.migrate import head_revision

    settings = _settings_or_exit()
    # The server's own start-up path, with migrations on whatever the settings say: the key check included.
    update: dict[str, object] = {"migrate_on_start": True}
    if args.url:
        update["database_url"] = args.url
    settings = settings.model_copy(update=update)

    async def upgrade() -> None:
        store, _ = await open_customer_layer(settings)
        await store.close()

    asyncio.run(upgrade())
    print(f"store at revision {head_revision()}: {_safe_url(settings.store_url)}")
    return 0


def _cmd_learn(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from infogap_server.learning.recommend import run
    from infogap_server.logs import configure_logging

    settings = _settings_or_exit()
    configure_logging(settings.log_level)
    reports = asyncio.run(run(settings, every_s=args.every, parent_pid=args.parent_pid))
    print(json.dumps(reports, sort_keys=True))
    return 0


def _cmd_catalogue_check(args: argparse.Namespace) -> int:
    """Validate a plan catalogue file: a summary and exit code 0, or every problem and exit code 2."""
    from infogap_server.services.catalogue import CatalogueError, load_catalogue

    inputs = _file_check_inputs(args, "catalogue_path")
    if inputs is None:
        return 2
    path, model, intents = inputs
    try:
        catalogue = load_catalogue(path, intents=intents)
    except CatalogueError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    print(f"{path}: valid, {len(catalogue.plans)} plans, version {catalogue.version}")
    print("kinds: " + ", ".join(f"{kind} {n}" for kind, n in sorted(catalogue.kinds().items())))
    approval = [p.id for p in catalogue.plans if p.requires_approval]
    print(f"need approval: {len(approval)} ({', '.join(approval) or 'none'})")
    if intents is not None:
        print(f"covers every one of the {len(intents)} intents of {model}")
    print("plans per intent (highest prior affinity first):")
    width = max(len(i) for i in catalogue.intents)
    for intent in sorted(catalogue.intents):
        plans = catalogue.plans_for(intent)
        listed = ", ".join(f"{p.id} {p.affinity(intent):.2f}" for p in plans)
        print(f"  {intent:<{width}}  {len(plans):>2}  {listed}")
    return 0


def _file_check_inputs(args: argparse.Namespace, path_setting: str) -> tuple[Path, str, list[str] | None] | None:
    """What the file checks (catalogue, playbook) check: the file (``--path``, else the setting) and, with
    ``--intents-from-model``, the served model's name and intents; None after printing why the model cannot say."""
    from infogap_server.errors import Unavailable
    from infogap_server.services.catalogue import text_model_intents

    settings = _settings_or_exit()
    path = Path(args.path) if args.path else getattr(settings, path_setting)
    if not args.intents_from_model:
        return path, "", None
    try:
        model, intents = text_model_intents(settings.model_repository, settings.text_model,
                                            settings.text_model_version)
    except Unavailable as exc:
        print(f"error: --intents-from-model: {exc.message}", file=sys.stderr)
        return None
    return path, model, intents


def _cmd_playbook_check(args: argparse.Namespace) -> int:
    """Validate a session playbook file: a summary and exit code 0, or every problem and exit code 2."""
    from infogap_server.services.catalogue import _did_you_mean
    from infogap_server.services.playbook import (
        UNKNOWN_GROUP,
        PlaybookError,
        load_playbook,
        missing_intents,
    )

    inputs = _file_check_inputs(args, "playbook_path")
    if inputs is None:
        return 2
    path, model, intents = inputs
    try:
        playbook = load_playbook(path)
    except PlaybookError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    if intents is not None:
        # As with the catalogue: a need the model predicts must have a procedure, and an entry the model never
        # predicts is most likely a misspelt intent.
        problems = [f"intents: the text model's intent {i!r} has no entry; its sessions would get only the "
                    "always-allowed actions" for i in missing_intents(playbook, intents)]
        problems += [f"intent {i!r}: the text model has no such intent{_did_you_mean(i, sorted(intents))}"
                     for i in playbook.intents if i not in intents]
        if problems:
            print(PlaybookError(str(path), problems).message, file=sys.stderr)
            return 2
    groups = [g for g in playbook.groups() if g != UNKNOWN_GROUP]
    action_groups: dict[str, int] = {}
    for action in playbook.actions.values():
        action_groups[action.group] = action_groups.get(action.group, 0) + 1
    print(f"{path}: ok, {len(playbook.actions)} actions, {len(playbook.intents)} intents in {len(groups)} groups, "
          f"version {playbook.version}")
    print("actions: " + ", ".join(f"{group} {n}" for group, n in action_groups.items()))
    print("always allowed: " + (", ".join(playbook.always_allowed) or "none"))
    if intents is not None:
        print(f"covers every one of the {len(intents)} intents of {model}")
    print("steps per intent (group, SLA target, source):")
    plays = [playbook.intents[name] for name in sorted(playbook.intents)]
    width = max(len(p.intent) for p in plays)
    group_width = max(len(p.group) for p in plays)
    source_width = max(len(p.subflow or "(own)") for p in plays)
    for play in plays:
        print(f"  {play.intent:<{width}}  {play.group:<{group_width}}  {play.sla_target_s:>6g} s  "
              f"{play.subflow or '(own)':<{source_width}}  {' > '.join(play.steps)}")
    return 0


def _safe_url(url: str) -> str:
    """The URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _cmd_import_online_retail(args: argparse.Namespace) -> int:
    import asyncio

    from infogap_server.data_import import import_online_retail
    from infogap_server.server import open_customer_layer

    settings = _settings_or_exit()
    path = Path(args.path)
    if not path.is_file():
        print(f"error: {path}: no such file", file=sys.stderr)
        return 2

    async def run():
        store, service = await open_customer_layer(settings)
        try:
            return await import_online_retail(path, service, batch_size=args.batch_size, progress=not args.quiet)
        finally:
            await store.close()

    report = asyncio.run(run())
    print(f"imported {path} into {_safe_url(settings.store_url)}")
    print("\n".join(report.lines()))
    return 0


def _cmd_profile(args: argparse.Namespace) -> int:

    from infogap.v1 import infogap_pb2 as pb

    as_of = _utc_time(args.as_of)
    profile = _ask_server(args, lambda c: c.get_customer_profile(args.customer_id, as_of=as_of))
    if profile is None or args.json:
        return 1 if profile is None else 0
    r = profile.rfm
    print(f"as of\t{profile.as_of.ToDatetime():%Y-%m-%d %H:%M} UTC")
    print(f"segment\t{profile.segment}")
    recency = f"{r.recency_days} days" if r.HasField("recency_days") else "no order"
    print(f"rfm\trecency {recency} ({r.recency_score}), frequency {r.frequency} orders ({r.frequency_score}), "
          f"monetary {r.monetary:,.2f} {profile.currency} ({r.monetary_score})")
    print(f"activity\t{profile.first_activity.ToDatetime():%Y-%m-%d} to {profile.last_activity.ToDatetime():%Y-%m-%d}"
          f", {profile.total_events} events")
    for t in profile.events_by_type:
        print(f"events\t{enum_name(pb.BehaviorEventType, t.type)}\t{t.count}\t{t.amount:,.2f}")
    for issue in profile.open_issues:
        print(f"open issue\t{enum_name(pb.BehaviorEventType, issue.type)}\t{issue.time.ToDatetime():%Y-%m-%d}\t"
              f"{issue.event_id}")
    if not profile.HasField("churn_risk"):
        print("churn risk\tn/a (no behaviour model served, or no order or cancellation stored)")
        return 0
    model = f"{profile.behaviour_model.name} v{profile.behaviour_model.version}"
    print(f"churn risk\t{profile.churn_risk:.3f} in the next 90 days ({model})")
    print(f"expected value\t{profile.expected_value_90d:,.2f} {profile.currency} in the next 90 days")
    for reason in profile.churn_reasons:
        print(f"churn reason\t{reason.description}\t+{reason.contribution:.3f}")
    return 0


def _cmd_insights(args: argparse.Namespace) -> int:


    r = _ask_server(args, lambda c: c.get_insights(
        since=_utc_time(args.since), until=_utc_time(args.until), intent=args.intent, plan_id=args.plan_id,
        segment=args.segment, period=args.period, top_n=args.top_n))
    if r is None or args.json:
        return 1 if r is None else 0

    def row(label: str, g) -> str:
        return f"{label:<24} {g.count:>8} {g.mean_rating:>7.2f} {g.csat:>6.1%}"

    print(f"feedback from {r.since.ToDatetime():%Y-%m-%d %H:%M} to {r.until.ToDatetime():%Y-%m-%d %H:%M} UTC")
    print(f"{'':<24} {'count':>8} {'rating':>7} {'csat':>6}")
    print(row("overall", r.overall))
    print(row("previous range", r.previous))
    for title, groups in (("intent", r.by_intent), ("plan", r.by_plan), ("segment", r.by_segment)):
        for g in groups:
            print(row(f"{title} {g.key or '(none)'}", g))
    for g in r.by_period:
        print(row(f"{g.period_start.ToDatetime():%Y-%m-%d %H:%M}", g))
    for title, terms in (("aspect", r.top_aspects), ("keyword", r.top_keywords)):
        for t in terms:
            change = f"{t.change:+.0%}" if t.HasField("change") else "new"
            print(f"{title} {t.term:<24} {t.count:>6} (previous {t.previous_count}, {change})")
    return 0


def _cmd_bottlenecks(args: argparse.Namespace) -> int:
    r = _ask_server(args, lambda c: c.get_session_bottlenecks(
        since=_utc_time(args.since), until=_utc_time(args.until), intent=args.intent, queue=args.queue))
    if r is None or args.json:
        return 1 if r is None else 0
    print("\n".join(bottleneck_lines(r)))
    return 0


def bottleneck_lines(r) -> list[str]:
    """A GetSessionBottlenecks answer as the table `infogap bottlenecks` prints: one line per stage, queue and
    intent with its sessions, the wait and handling seconds per session (sessions with any, p50, p90, total) and
    the transfers out."""
    def spread(t) -> str:
        return f"{t.sessions_with_any:>6} {t.p50_s:>8.1f} {t.p90_s:>8.1f} {t.total_s:>10.1f}"

    labels = [f"{g.dimension} {g.value or '(none)'}" for g in r.groups]
    width = max([24, *map(len, labels)])
    lines = [
        f"sessions opened from {r.since.ToDatetime():%Y-%m-%d %H:%M} to {r.until.ToDatetime():%Y-%m-%d %H:%M} UTC: "
        f"{r.sessions}",
        f"{'':<{width}} {'':>8} {'wait (s) per session':^35} {'handling (s) per session':^35}".rstrip(),
        f"{'group':<{width}} {'sessions':>8} {'any':>6} {'p50':>8} {'p90':>8} {'total':>10} {'any':>6} {'p50':>8} "
        f"{'p90':>8} {'total':>10} {'transfers':>9}",
    ]
    for label, g in zip(labels, r.groups, strict=True):
        lines.append(f"{label:<{width}} {g.sessions:>8} {spread(g.wait)} {spread(g.handling)} {g.transfers:>9}")
    return lines


def _cmd_alerts(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict
    from infogap import InfoGapClient, InfoGapError

    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in ("overall", "aspect", "intent")]
    if unknown:
        print(f"error: unknown kind {unknown[0]!r}; the kinds are overall, aspect, intent", file=sys.stderr)
        return 2
    keys = [k for k in args.keys.split(",") if k]
    with InfoGapClient(args.address, token=args.token or None) as client:
        alerts = client.watch_alerts(since=_utc_time(args.since), kinds=kinds, keys=keys, follow=args.follow,
                                     timeout_s=args.timeout_s)
        try:
            for alert in alerts:
                if args.json:  # one JSON object a line: a watch has no end to wait for
                    print(json.dumps(MessageToDict(alert, always_print_fields_with_no_presence=True)), flush=True)
                else:
                    print(alert_line(alert), flush=True)
        except InfoGapError as error:
            _print_error(error)
            return 1
        except KeyboardInterrupt:
            return 0
    return 0


def alert_line(a) -> str:
    """One alert in one line: when, which stream, the window's hits against the expected rate, the p-value, the
    window's sequence numbers, example feedback ids and the alert id."""
    from infogap.v1 import infogap_pb2 as pb

    stream = enum_name(pb.AlertStream, a.kind) + (f" {a.key}" if a.key else "")
    examples = ",".join(a.example_feedback_ids)
    return (f"{a.fired_at.ToDatetime():%Y-%m-%d %H:%M:%S} UTC  {stream}: {a.observed_count}/{a.window_events} "
            f"negative ({a.observed_rate:.1%}, expected {a.expected_rate:.1%}), p={a.p_value:.1e}, feedback "
            f"#{a.window_start_sequence}-#{a.window_end_sequence}, e.g. {examples}  id {a.alert_id}")


def _utc_time(text: str):
    """An ISO 8601 option as an aware datetime (UTC when it names no zone); None when empty."""
    from datetime import UTC, datetime

    if not text:
        return None
    time = datetime.fromisoformat(text)
    return time.replace(tzinfo=UTC) if time.tzinfo is None else time


def _add_client_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every command that calls a running server."""
    parser.add_argument("--address", default="127.0.0.1:50051", help="server address (host:port)")
    parser.add_argument("--token", default="", help="bearer token, when the server checks tokens")
    parser.add_argument("--timeout-s", type=float, default=None,
                        help="deadline in seconds (default 5; for alerts 300 for a replay, none with --follow)")
    parser.add_argument("--json", action="store_true", help="print the whole response as JSON")


def _ask_server(args: argparse.Namespace, call):
    """``call(client)`` with a client built from the command's options. With ``--json`` the response is printed
    here. On an error the code, the message and the bad fields go to stderr and None comes back."""
    from google.protobuf.json_format import MessageToDict
    from infogap import InfoGapClient, InfoGapError
    from infogap.client import DEFAULT_TIMEOUT_S

    timeout_s = args.timeout_s or DEFAULT_TIMEOUT_S
    with InfoGapClient(args.address, timeout_s=timeout_s, token=args.token or None) as client:
        try:
            response = call(client)
        except InfoGapError as error:
            _print_error(error)
            return None
    if args.json:
        print(json.dumps(MessageToDict(response, always_print_fields_with_no_presence=True), indent=2))
    return response


def _print_error(error) -> None:
    """An InfoGapError on stderr: its code, its message and the bad fields."""
    print(f"error: {error.code.name}: {error.message}", file=sys.stderr)
    for field, reason in error.field_violations:
        print(f"  {field}: {reason}", file=sys.stderr)


def enum_name(enum, value: int) -> str:
    """'SENTIMENT_LABEL_NEGATIVE' -> 'negative'."""
    try:
        return enum.Name(value).split("_")[-1].lower()
    except ValueError:
        return str(value)


def _feedback_counts(text: str) -> tuple[int, ...]:
    """``--sim-feedbacks``: a comma list of positive integers."""
    try:
        counts = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected a comma list of positive integers, got {text!r}")
    return counts


def main(argv: list[str] | None = None) -> int:
    if (sys.argv[1:] if argv is None else argv)[:1] == ["serve"]:
        from infogap_server.signals import install_early_handlers

        install_early_handlers()  # first thing: a SIGTERM from now on stops the server cleanly, even mid-import
    parser = argparse.ArgumentParser(prog="infogap", description="infogap: gRPC inference for customer service")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gRPC gateway (settings from INFOGAP_* environment variables)")
    serve.add_argument("--host", help="bind address (INFOGAP_HOST)")
    serve.add_argument("--port", type=int, help="gRPC port (INFOGAP_PORT)")
    serve.add_argument("--workers", type=int, help="gateway processes sharing the port (INFOGAP_WORKERS)")
    serve.add_argument("--backend", choices=["embedded", "triton", "noop"], help="backend (INFOGAP_BACKEND)")
    serve.set_defaults(func=_cmd_serve)

    models = sub.add_parser("models", help="model pipeline")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    build = models_sub.add_parser(
        "build", help="train, calibrate and export the default models: the text model and the behaviour model")
    build.add_argument("--repository", help="model repository (default INFOGAP_MODEL_REPOSITORY)")
    build.add_argument("--version", type=int, help="version number to write (default: next free)")
    build.add_argument("--if-missing", action="store_true", help="build only the models that have no version yet")
    build.add_argument("--model", choices=["all", "text", "behaviour"], default="all",
                       help="which default model to build (default: both)")
    build.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    build.add_argument("--tensorrt", action="store_true",
                       help="also build a TensorRT FP16 engine (model infogap_text_trt); needs TensorRT and a GPU")
    build.set_defaults(func=_cmd_models_build)

    checklist = sub.add_parser(
        "checklist", help="behavioural tests of the text model (CheckList: minimum functionality, invariance, "
        "directional), failure rates per type")
    checklist.add_argument("--repository", help="model repository (default INFOGAP_MODEL_REPOSITORY)")
    checklist.add_argument("--model", help="text model name (default INFOGAP_TEXT_MODEL)")
    checklist.add_argument("--version", type=int, help="version (default: the newest)")
    checklist.add_argument("--suite", help="suite file (default: the shipped training/data/checklist_v1.yaml)")
    checklist.add_argument("--show-failures", type=int, default=20, help="failing cases to print (default 20)")
    checklist.add_argument("--json", action="store_true", help="print the whole report as JSON")
    checklist.add_argument("--check", action="store_true", help="exit 1 when a failure rate is above its target")
    checklist.set_defaults(func=_cmd_checklist)

    triton = sub.add_parser("triton", help="run the bundled Triton Inference Server on the model repository")
    triton.add_argument("--repository", help="model repository (default INFOGAP_MODEL_REPOSITORY)")
    triton.add_argument("--grpc-port", type=int, default=8001, help="Triton gRPC port")
    triton.add_argument("--http-port", type=int, default=8000, help="Triton HTTP port")
    triton.add_argument("--metrics-port", type=int, default=8002, help="Triton metrics port")
    triton.add_argument("--timeout-s", type=float, default=300.0, help="how long to wait for readiness")
    triton.set_defaults(func=_cmd_triton)

    from infogap_server.training.cli_train import add_parsers as add_train_parsers

    data = sub.add_parser("data", help="data sets: export for training, import into the customer store")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    add_train_parsers(sub, data_sub)

    bench = sub.add_parser("bench", help="measure throughput and latency: model alone, gateway, Triton (one run)")
    bench.add_argument("--paths",
                       default="patterns,model,floor,tail,embedded,overload,workers,noop,store,insights,alerts,behaviour,"
                       "recommend-speed,open-bandit,recommend-sim,session-load,session-sim,quantization,triton",
                       help="comma list of patterns, model, floor (the no-op gateway against a bare grpc.aio server "
                       "with fixed responses, calls per server CPU-second for all four jobs; needs h2load), "
                       "tail (every job at 70%% of its peak on the embedded gateway: p50, p99, p99/p50), embedded, "
                       "overload, workers, noop, store, insights "
                       "(GetInsights over 100,000 feedback rows), alerts (WatchAlerts' rule: delay to a planted "
                       "spike, false alerts per 10,000 steady rows), behaviour, recommend-speed (Recommend p50/p99 "
                       "with an intent and with text), open-bandit (the bandit learner judged off policy on the Open "
                       "Bandit Dataset sample), recommend-sim (a SIMULATION: the learned plan ranking against the "
                       "prior and random on synthetic customers), session-load (TrackSession: --sessions concurrent "
                       "streams on one gateway, events/s, p50/p99, memory), session-sim (a SIMULATION: the learned "
                       "next best action against the playbook and random on synthetic sessions), quantization (the "
                       "served version's fp32 and int8 files alone, seq/s at batch 1 and 32, with the build's accuracy "
                       "figures), triton")
    bench.add_argument("--alerts-grid", action="store_true",
                       help="with the alerts path, also the trade-off over a grid of windows and levels")
    bench.add_argument("--concurrency", type=int, default=32, help="closed-loop concurrent callers")
    bench.add_argument("--duration-s", type=float, default=15.0, help="measured seconds per path")
    bench.add_argument("--floor-seconds", type=float, default=10.0, help="measured seconds per RPC in the floor path")
    bench.add_argument("--tail-seconds", type=float, default=10.0,
                       help="seconds at the peak and at 70%% of it, per RPC, in the tail path")
    bench.add_argument("--model-seconds", type=float, default=3.0, help="seconds per batch size for the model alone")
    bench.add_argument("--sweep", type=lambda v: [float(x) for x in v.split(",")], default=[0.3, 0.5, 0.7, 0.9],
                       help="open-loop offered loads as fractions of the embedded peak")
    bench.add_argument("--sweep-seconds", type=float, default=8.0, help="seconds per offered load")
    bench.add_argument("--latency-seconds", type=float, default=8.0,
                       help="seconds of the single-caller comparison of gateway -> Triton and Triton direct")
    bench.add_argument("--overload-in-flight", type=int, default=2000, help="calls kept in flight in overload")
    bench.add_argument("--overload-deadline-s", type=float, default=1.0, help="deadline of each overload call")
    bench.add_argument("--overload-seconds", type=float, default=15.0, help="seconds of sustained overload")
    bench.add_argument("--open-bandit-data", default=None,
                       help="the Open Bandit Dataset sample (default: ../shared/data/open_bandit beside the project)")
    bench.add_argument("--open-bandit-campaign", choices=("all", "men", "women"), default="all",
                       help="campaign of the open-bandit path")
    bench.add_argument("--open-bandit-rows", type=int, default=None,
                       help="read only the first N impressions of each log (a reduced run; default all 10,000)")
    bench.add_argument("--open-bandit-resamples", type=int, default=200,
                       help="bootstrap resamples of the open-bandit intervals")
    bench.add_argument("--sim-feedbacks", type=_feedback_counts, default=(1000, 10_000, 100_000),
                       help="recommend-sim: comma list of feedback counts after which the policies are evaluated")
    bench.add_argument("--sim-sessions", type=_feedback_counts, default=(1000, 10_000, 50_000),
                       help="session-sim: comma list of logged-session counts after which the learned policy is judged")
    bench.add_argument("--sessions", type=int, default=1000,
                       help="session-load: concurrent TrackSession streams (default 1,000)")
    bench.add_argument("--sim-eval-sessions", type=int, default=4000,
                       help="session-sim: fresh simulated customers each policy is judged on")
    bench.add_argument("--out", default="bench_results", help="folder for the JSON result and the PNG plot")
    bench.set_defaults(func=lambda a: __import__("infogap_server.bench", fromlist=["main"]).main(a))

    fuzz = sub.add_parser("fuzz", help="fuzz every RPC of a server it starts (structured cases and raw bytes)")
    fuzz.add_argument("--cases-per-rpc", type=int, default=10_000, help="cases per RPC (default 10,000)")
    fuzz.add_argument("--seed", type=int, default=0, help="hypothesis seed (the same seed gives the same cases)")
    fuzz.add_argument("--rpcs", default="", help="comma list of RPC names (default: every RPC)")
    fuzz.add_argument("--repository", help="model repository the server loads (default INFOGAP_MODEL_REPOSITORY)")
    fuzz.set_defaults(func=lambda a: __import__("infogap_server.fuzz", fromlist=["main"]).main(a))

    soak = sub.add_parser("soak", help="a mixed load of contacts (IdentifyNeeds, Recommend, a short TrackSession "
                          "session, SubmitFeedback) on a gateway it starts: throughput, failures by code and the "
                          "gateway's memory every minute; fails when memory grows or a call fails")
    soak.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    soak.add_argument("--concurrency", type=int, default=16, help="callers, each running one contact at a time")
    soak.add_argument("--backend", choices=("embedded", "noop"), default="embedded")
    soak.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                      help="the gateway's store: the embedded SQLite file, or a throwaway local PostgreSQL")
    soak.add_argument("--max-growth-mib", type=float, default=30.0,
                      help="resident memory growth allowed from the first report to the last (MiB)")
    soak.add_argument("--report-every-s", type=float, default=60.0, help="seconds per report row")
    soak.add_argument("--out", default="bench_results", help="folder for the JSON result")
    soak.set_defaults(func=lambda a: __import__("infogap_server.endurance", fromlist=["x"]).soak_main(a))

    faults = sub.add_parser("faults", help="the contact load through faults (SIGKILL of the gateway, Triton "
                            "restart, PostgreSQL restart): calls answered, failed by code, and acknowledged writes "
                            "lost; fails unless lost is 0")
    faults.add_argument("--faults", default="gateway-kill,triton-restart,postgres-restart",
                        help="comma list of gateway-kill, triton-restart, postgres-restart")
    faults.add_argument("--concurrency", type=int, default=16, help="callers, each running one contact at a time")
    faults.add_argument("--before-s", type=float, default=10.0, help="seconds of load before each fault")
    faults.add_argument("--after-s", type=float, default=10.0, help="seconds of load after each fault is over")
    faults.add_argument("--out", default="bench_results", help="folder for the JSON result")
    faults.set_defaults(func=lambda a: __import__("infogap_server.endurance", fromlist=["x"]).faults_main(a))

    db = sub.add_parser("db", help="the customer store")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply the store's schema migrations (Alembic) up to the latest")
    upgrade.add_argument("--url", default="", help="database URL (default INFOGAP_DATABASE_URL or the SQLite file)")
    upgrade.set_defaults(func=_cmd_db_upgrade)

    learn = sub.add_parser(
        "learn", help="the learners: Recommend's (rewards from feedback, train on the decision log, publish a "
        "checked policy version when it beats the prior) and TrackSession's next best action (fitted Q iteration on "
        "closed sessions, published once enough are logged); settings from INFOGAP_* environment variables")
    learn.add_argument("--every", type=float, default=0.0, metavar="S",
                       help="run again every S seconds (default: once)")
    learn.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    learn.set_defaults(func=_cmd_learn)

    catalogue = sub.add_parser("catalogue", help="the plan catalogue Recommend chooses from")
    catalogue_sub = catalogue.add_subparsers(dest="catalogue_command", required=True)
    check = catalogue_sub.add_parser(
        "check", help="validate a catalogue file: a summary, or every problem and exit code 2")
    check.add_argument("--path", default="", help="the YAML file (default INFOGAP_CATALOGUE_PATH)")
    check.add_argument("--intents-from-model", action="store_true",
                       help="also check that the plans cover exactly the intents of the served text model "
                       "(INFOGAP_MODEL_REPOSITORY, INFOGAP_TEXT_MODEL)")
    check.set_defaults(func=_cmd_catalogue_check)

    playbook = sub.add_parser("playbook", help="the session playbook TrackSession suggests next actions from")
    playbook_sub = playbook.add_subparsers(dest="playbook_command", required=True)
    playbook_check = playbook_sub.add_parser(
        "check", help="validate a playbook file: a summary, or every problem and exit code 2")
    playbook_check.add_argument("--path", default="",
                                help="the YAML file (default INFOGAP_PLAYBOOK_PATH, else the playbook shipped)")
    playbook_check.add_argument("--intents-from-model", action="store_true",
                                help="also check that the playbook has an entry for exactly the intents of the "
                                "served text model (INFOGAP_MODEL_REPOSITORY, INFOGAP_TEXT_MODEL)")
    playbook_check.set_defaults(func=_cmd_playbook_check)

    data_import = data_sub.add_parser("import", help="import a data set through the RecordEvents ingest path")
    import_sub = data_import.add_subparsers(dest="dataset", required=True)
    retail = import_sub.add_parser("online-retail", help="the UCI Online Retail file (CSV, optionally gzipped)")
    retail.add_argument("path", help="for example ../shared/data/online_retail/online_retail.csv.gz")
    retail.add_argument("--batch-size", type=int, default=1000, help="events per transaction")
    retail.add_argument("--quiet", action="store_true", help="no progress bars")
    retail.set_defaults(func=_cmd_import_online_retail)

    privacy = sub.add_parser("privacy", help="privacy tooling")
    privacy_sub = privacy.add_subparsers(dest="privacy_command", required=True)
    evaluate = privacy_sub.add_parser("evaluate", help="recall and precision of PII redaction on the planted set")
    evaluate.set_defaults(func=lambda a: __import__("infogap_server.privacy.evaluate", fromlist=["main"]).main() or 0)

    profile = sub.add_parser("profile", help="call GetCustomerProfile on a running server")
    profile.add_argument("customer_id", help="the customer's id (the server turns it into its pseudonym)")
    profile.add_argument("--as-of", default="", help="ISO 8601 time the profile describes (default: now), "
                                                     "for example 2011-12-10 for the Online Retail data")
    _add_client_arguments(profile)
    profile.set_defaults(func=_cmd_profile)

    insights = sub.add_parser("insights", help="call GetInsights on a running server: satisfaction, aspects, trend")
    insights.add_argument("--since", default="", help="ISO 8601 start (default: 30 days before --until)")
    insights.add_argument("--until", default="", help="ISO 8601 end, exclusive (default: now)")
    insights.add_argument("--intent", default="", help="only feedback about this intent")
    insights.add_argument("--plan-id", default="", help="only feedback about this plan")
    insights.add_argument("--segment", default="", help="only customers of this segment")
    insights.add_argument("--period", default="day", choices=["hour", "day", "week"], help="trend bucket")
    insights.add_argument("--top-n", type=int, default=0, help="aspects and keywords to list (default 10)")
    _add_client_arguments(insights)
    insights.set_defaults(func=_cmd_insights)

    bottlenecks = sub.add_parser(
        "bottlenecks", help="call GetSessionBottlenecks on a running server: where service time goes, per stage, "
        "queue and intent")
    bottlenecks.add_argument("--since", default="", help="ISO 8601 start, by the sessions' first event "
                                                         "(default: 7 days before --until)")
    bottlenecks.add_argument("--until", default="", help="ISO 8601 end, exclusive (default: now)")
    bottlenecks.add_argument("--intent", default="", help="only sessions whose need is this intent")
    bottlenecks.add_argument("--queue", default="", help="only sessions that were in this queue")
    _add_client_arguments(bottlenecks)
    bottlenecks.set_defaults(func=_cmd_bottlenecks)

    alerts = sub.add_parser("alerts", help="call WatchAlerts on a running server: spikes of negative feedback, one "
                                           "line per alert")
    alerts.add_argument("--since", default="", help="ISO 8601 time to replay from (default: the server's "
                                                    "INFOGAP_ALERTS_DEFAULT_REPLAY_S before now)")
    alerts.add_argument("--kinds", default="", help="comma list of overall, aspect, intent (default: all)")
    alerts.add_argument("--keys", default="", help="comma list of aspect or intent names (default: all streams)")
    alerts.add_argument("--follow", action="store_true",
                        help="keep watching after the replay, printing alerts as they fire (Ctrl-C ends)")
    _add_client_arguments(alerts)
    alerts.set_defaults(func=_cmd_alerts)

    identify = sub.add_parser("identify", help="call IdentifyNeeds on a running server")
    identify.add_argument("text", help="the customer's message")
    identify.add_argument("--top-k", type=int, default=0, help="ranked needs to return (0: server default)")
    identify.add_argument("--language", default="", help="BCP-47 language code (empty: server default)")
    _add_client_arguments(identify)
    identify.set_defaults(func=_cmd_identify)

    args = parser.parse_args(argv)
    logging.captureWarnings(True)
    try:
        code = args.func(args)
        sys.stdout.flush()  # inside the try: a reader that has gone shows up here, not at interpreter exit
        return code
    except BrokenPipeError:
        return _reader_gone()


def _reader_gone() -> int:
    """The reader of standard output closed the pipe (``infogap identify ... | head -1``): end quietly, as Unix
    tools do, with the status a process stopped by SIGPIPE reports (128 + 13). Standard output is pointed at
    /dev/null first so that Python's own flush at exit finds nothing to write."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141


if __name__ == "__main__":
    sys.exit(main())
