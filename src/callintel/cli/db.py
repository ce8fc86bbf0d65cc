"""``callintel db upgrade|current``: database migrations (Alembic, packaged with callintel)."""

from __future__ import annotations

import argparse
from typing import Any

from callintel.config import get_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("db", help="database migrations", description="Migrate the database.")
    sub = parser.add_subparsers(dest="db_command", required=True)
    upgrade = sub.add_parser("upgrade", help="upgrade to the latest schema (safe to repeat)")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(func=run_upgrade)
    sub.add_parser("current", help="print the current revision").set_defaults(func=run_current)


def run_upgrade(args: argparse.Namespace) -> int:
    from callintel.storage.migrations import current_revision, run_migrations

    url = get_settings().resolved_database_url()
    run_migrations(url, revision=args.revision)
    print(f"database at revision {current_revision(url)}")
    return 0


def run_current(_: argparse.Namespace) -> int:
    from callintel.storage.migrations import current_revision

    print(current_revision(get_settings().resolved_database_url()) or "(empty database)")
    return 0
