"""``infogap train intents`` and ``infogap train clinc150``: any labelled intent data set to a served model."""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

from infogap_server.training.build import Recipe, train_intent_model
from infogap_server.training.data import DataError, Example, check_split, read_feedback, read_labelled

CLINC150 = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "clinc150" / "data_full.json"
ONLINE_RETAIL = CLINC150.parents[1] / "online_retail" / "online_retail.csv.gz"


def _recipe(args) -> Recipe:
    recipe = Recipe()
    names = ("epochs", "batch_size", "encoder_lr", "layer_lr_decay", "max_sequence_tokens")
    overrides = {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}
    return replace(recipe, **overrides)


def _summary(target: Path) -> dict:
    card = json.loads((target / "model_card.json").read_text())
    return {"model": str(target), "build_seconds": card["build_seconds"], "data": card["data"],
            "out_of_scope": card["out_of_scope"], "metrics": card["metrics"]}


def _finish(target: Path, args, started: float) -> int:
    summary = _summary(target)
    summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.metrics_out:
        Path(args.metrics_out).write_text(text + "\n")
    return 0


def cmd_train_intents(args) -> int:
    started = time.perf_counter()
    columns = dict(text_column=args.text_column, label_column=args.label_column,
                   sentiment_column=args.sentiment_column)
    try:
        train = read_labelled(Path(args.train), **columns)
        valid = read_labelled(Path(args.valid), **columns) if args.valid else None
        test = read_labelled(Path(args.test), **columns) if args.test else None
        feedback = read_feedback(Path(args.feedback)) if args.feedback else None
        feedback_test = read_feedback(Path(args.feedback_test)) if args.feedback_test else None
        if feedback_test and not feedback:
            raise DataError("--feedback-test needs --feedback (the aspect head is trained only with it)")
        check_split(Path(args.train), train, Path(args.valid) if args.valid else None, valid, args.oos_label)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.oos_label and not any(e.intent == args.oos_label for e in train + (valid or [])):
        print(f"warning: no example is labelled {args.oos_label!r}: the out-of-scope threshold falls back to a "
              "quantile of in-scope confidence", file=sys.stderr)
    target = train_intent_model(
        train, repository=Path(args.repository), valid_examples=valid, test_examples=test,
        feedback_examples=feedback, feedback_test_examples=feedback_test, oos_label=args.oos_label, name=args.name,
        version=args.version, recipe=_recipe(args),
        sources={"train": args.train, "valid": args.valid, "test": args.test, "feedback_train": args.feedback,
                 "feedback_test": args.feedback_test}, progress=not args.no_progress,
    )
    return _finish(target, args, started)


def clinc150_examples(path: Path, limit_per_intent: int | None, seed: int = 0) -> dict[str, list[Example]]:
    """CLINC150's own splits; out-of-scope examples labelled 'oos'. ``limit_per_intent`` keeps a small,
    stratified subset of each split (the reduced run CI uses)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    splits = {}
    for split in ("train", "val", "test"):
        rows = [Example(t, i) for t, i in data[split]] + [Example(t, "oos") for t, _ in data[f"oos_{split}"]]
        if limit_per_intent:
            by: dict[str, list[Example]] = {}
            for e in rows:
                by.setdefault(e.intent, []).append(e)
            rows = [e for k in sorted(by) for e in rng.sample(by[k], min(limit_per_intent, len(by[k])))]
        splits[split] = rows
    return splits


def _clinc150_splits(args) -> dict[str, list[Example]] | None:
    path = Path(args.data)
    if not path.is_file():
        print(f"error: {path}: CLINC150 not found (it lives in ../shared/data beside the project)", file=sys.stderr)
        return None
    splits = clinc150_examples(path, args.limit_per_intent)
    if args.intents:
        keep = set(sorted({e.intent for e in splits["train"] if e.intent != "oos"})[: args.intents]) | {"oos"}
        splits = {k: [e for e in v if e.intent in keep] for k, v in splits.items()}
    return splits


CLINC150_FILES = {"train": "train.jsonl", "val": "valid.jsonl", "test": "test.jsonl"}


def cmd_data_clinc150(args) -> int:
    """CLINC150's splits as JSON Lines (text, label; out of scope labelled 'oos') for ``infogap train intents``."""
    splits = _clinc150_splits(args)
    if splits is None:
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split, filename in CLINC150_FILES.items():
        lines = [json.dumps({"text": e.text, "label": e.intent}, ensure_ascii=False) for e in splits[split]]
        (out / filename).write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{out / filename}: {len(lines)} examples")
    return 0


def cmd_train_clinc150(args) -> int:
    started = time.perf_counter()
    splits = _clinc150_splits(args)
    if splits is None:
        return 2
    path = Path(args.data)
    target = train_intent_model(
        splits["train"], repository=Path(args.repository), valid_examples=splits["val"],
        test_examples=splits["test"], oos_label="oos", name=args.name, version=args.version, recipe=_recipe(args),
        sources={"data": str(path), "limit_per_intent": args.limit_per_intent, "intents": args.intents},
        progress=not args.no_progress,
    )
    return _finish(target, args, started)


def _unit_interval(value: str) -> float:
    number = float(value)
    if not 0.0 < number <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not in (0, 1]")
    return number


def cmd_train_behaviour(args: argparse.Namespace) -> int:
    from infogap_server.training.behaviour.baselines import fit_baselines
    from infogap_server.training.behaviour.data import DEFAULT_EVENTS, SPLITS, read_events, split_examples

    started = time.perf_counter()
    splits = split_examples(read_events(Path(args.events) if args.events else DEFAULT_EVENTS))
    report, _ = fit_baselines(splits)
    if not args.baselines_only:
        from infogap_server.training.behaviour.gru import fit_gru

        _, _, gru = fit_gru(splits, epochs=args.epochs, threads=args.threads)
        report["gru"] = {split: gru[split] for split in ("validation", "test")}
        print(f"gru: trained in {gru['train_seconds']}s, temperature {gru['temperature']}")
    print("cut-offs: " + "; ".join(f"{k} {', '.join(c.date().isoformat() for c in v)}" for k, v in SPLITS.items())
          + " (labels: the 90 days after each); examples: "
          + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    print(f"{'model':<16} {'split':<11} {'roc_auc':>8} {'pr_auc':>7} {'ece':>7} {'brier':>7} {'churn':>6}")
    for name, by_split in report.items():
        for split, m in by_split.items():
            print(f"{name:<16} {split:<11} {m['roc_auc']:>8.4f} {m['pr_auc']:>7.4f} {m['ece']:>7.4f} "
                  f"{m['brier']:>7.4f} {m['churn_rate']:>6.3f}")
    print(f"{time.perf_counter() - started:.1f}s")
    return 0


def cmd_data_online_retail_events(args: argparse.Namespace) -> int:
    from infogap_server.training.behaviour.data import DEFAULT_EVENTS, derive_events, write_events

    out = Path(args.out) if args.out else DEFAULT_EVENTS
    events = derive_events(Path(args.source))
    write_events(out, events)
    print(f"wrote {len(events)} events of {len({e.customer for e in events})} customers to {out}")
    return 0


def add_parsers(sub, data_commands) -> None:
    """``infogap train ...`` under ``sub``, and ``infogap data clinc150`` under ``data_commands`` (the ``data``
    command's subcommands, which the store's imports share)."""
    train = sub.add_parser("train", help="train a text model on labelled data")
    kinds = train.add_subparsers(dest="train_command", required=True)

    def common(p) -> None:
        p.add_argument("--repository", default="build/trained_repository",
                       help="model repository to write into (the served one is model_repository)")
        p.add_argument("--name", default="infogap_text", help="model name in the repository")
        p.add_argument("--version", type=int, help="version to write (default: next free)")
        p.add_argument("--epochs", type=int, help="training epochs (recipe default 6)")
        p.add_argument("--batch-size", type=int, dest="batch_size", help="training batch size (default 32)")
        p.add_argument("--encoder-lr", type=float, dest="encoder_lr", help="encoder learning rate (default 8e-5)")
        p.add_argument("--layer-lr-decay", type=_unit_interval, dest="layer_lr_decay",
                       help="each encoder layer's rate relative to the one above (recipe default 0.85)")
        p.add_argument("--max-tokens", type=int, dest="max_sequence_tokens", help="token budget (default 64)")
        p.add_argument("--metrics-out", help="also write the metrics JSON here")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")

    intents = kinds.add_parser("intents", help="CSV, TSV or JSON Lines with a text and a label column")
    intents.add_argument("--train", required=True, help="training file")
    intents.add_argument("--valid", help="validation file (default: a stratified 15%% of --train)")
    intents.add_argument("--test", help="test file, never used for any choice")
    intents.add_argument("--text-column", default="text")
    intents.add_argument("--label-column", default="label")
    intents.add_argument("--sentiment-column", help="column with negative/neutral/positive (trains that head)")
    intents.add_argument("--oos-label", help="label value of out-of-scope examples, e.g. oos")
    intents.add_argument("--feedback", help="feedback corpus (JSON Lines: text, sentiment, aspects) that trains the "
                         "aspect head, e.g. the project's server/infogap_server/training/data/feedback_train.jsonl; "
                         "without it the model reads no aspects")
    intents.add_argument("--feedback-test", dest="feedback_test", help="feedback test file, reported only")
    common(intents)
    intents.set_defaults(func=cmd_train_intents)

    def clinc_source(p) -> None:
        p.add_argument("--data", default=str(CLINC150), help="path to CLINC150 data_full.json")
        p.add_argument("--limit-per-intent", type=int, help="reduced run: at most N examples per intent and split")
        p.add_argument("--intents", type=int, help="reduced run: only the first N intents (plus oos)")

    clinc = kinds.add_parser("clinc150", help="the CLINC150 benchmark: train on its train split, report its test")
    clinc_source(clinc)
    common(clinc)
    clinc.set_defaults(func=cmd_train_clinc150)

    behaviour = kinds.add_parser(
        "behaviour",
        help="the behaviour model on the time split: the GRU beside its baselines (RFM logistic regression, "
             "boosted trees); prints validation and test metrics side by side (`infogap models build` writes "
             "the served one)",
    )
    behaviour.add_argument("--events", default=None,
                           help="figures-only event file (default: the one shipped, training/data/"
                                "online_retail_events.csv.gz)")
    behaviour.add_argument("--baselines-only", action="store_true", help="skip the GRU")
    behaviour.add_argument("--epochs", type=int, default=12, help="GRU epochs (the best on validation is kept)")
    behaviour.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    behaviour.set_defaults(func=cmd_train_behaviour)

    events = data_commands.add_parser(
        "online-retail-events",
        help="derive the figures-only behaviour event file from the UCI Online Retail CSV (rewrites the shipped one)",
    )
    events.add_argument("--source", default=str(ONLINE_RETAIL), help="the UCI Online Retail CSV (gzip)")
    events.add_argument("--out", default=None, help="file to write (default: the shipped one)")
    events.set_defaults(func=cmd_data_online_retail_events)

    export = data_commands.add_parser("clinc150", help="write CLINC150's train/val/test as train/valid/test.jsonl")
    clinc_source(export)
    export.add_argument("--out", required=True, help="folder to write the three files into")
    export.set_defaults(func=cmd_data_clinc150)
