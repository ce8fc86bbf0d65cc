"""The ``callintel`` command. Each subcommand lives in its own module with a ``register`` function.

Modules are imported lazily so that ``callintel --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: subcommand module names under ``callintel.cli``
COMMANDS = ("analyze", "serve", "worker", "keys", "db", "kb", "train", "eval")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callintel", description="Self-hosted AI call intelligence.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"callintel.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"callintel.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    from callintel.errors import CallintelError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CallintelError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
