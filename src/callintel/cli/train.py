"""``callintel train intent|sentiment``: train a head from labelled examples and print held-out accuracy."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from callintel.understanding.training import KINDS


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "train",
        help="train the intent or sentiment head from labelled examples",
        description="Train a head over sentence embeddings. Without --out the head is published as a "
        "new version under <models.heads_dir or models.cache_dir/heads>/<kind>/<version>/.",
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="JSON-lines examples {text, label[, group]} (default models/<kind>/examples.jsonl)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the head folder exactly here")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same data + seed = same weights)")
    parser.add_argument("--holdout", type=float, default=0.2, help="share of examples held out for accuracy")
    parser.add_argument(
        "--from-corrections",
        action="store_true",
        help="add reviewer corrections from the database and publish a new ACTIVE version, "
        "printing before/after accuracy (see callintel.cli.retrain)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.from_corrections:
        from callintel.cli.retrain import run_from_corrections

        return run_from_corrections(args)
    from callintel.config import get_settings
    from callintel.ml.registry import ModelManager
    from callintel.understanding.training import (
        load_examples,
        publish_head,
        save_head,
        train_intent,
        train_sentiment,
    )

    settings = get_settings().models
    data: Path = args.data or Path("models") / args.kind / "examples.jsonl"
    examples = load_examples(data)
    embedder = ModelManager.from_settings(settings).embedder(settings.embedder)
    train = train_intent if args.kind == "intent" else train_sentiment
    head, report = train(examples, embedder=embedder, seed=args.seed, holdout=args.holdout)
    if args.out is not None:
        folder = save_head(head, report, args.out, data_name=data.as_posix())
    else:
        heads_dir = settings.resolved_heads_dir()
        folder = publish_head(head, report, heads_dir=heads_dir, kind=args.kind, data_name=data.as_posix())
    accuracy = "n/a" if report.accuracy is None else f"{report.accuracy:.3f}"
    print(f"{args.kind} head {head.version}: {len(examples)} examples, labels {', '.join(head.labels)}")
    print(f"held-out accuracy: {accuracy} ({report.n_test} examples)")
    for label, m in report.per_label.items():
        print(f"  {label:<18} precision {m.precision:.3f}  recall {m.recall:.3f}  n={m.support}")
    print(f"saved to {folder}")
    return 0
