"""``callintel keys create|list|revoke``: API keys (stored hashed; a new key is printed once)."""

from __future__ import annotations

import argparse
from typing import Any

from callintel.config import get_settings
from callintel.errors import NotFound


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "keys", help="manage API keys", description="Create, list and revoke API keys."
    )
    sub = parser.add_subparsers(dest="keys_command", required=True)
    create = sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--tenant", default="default", help="tenant the key belongs to (default: default)")
    create.add_argument("--scopes", required=True, help="comma-separated: ingest,agent,qa,admin")
    create.add_argument("--name", default="", help="a label for the key")
    create.set_defaults(func=run_create)
    listing = sub.add_parser("list", help="list keys (never their values)")
    listing.add_argument("--tenant", default=None)
    listing.set_defaults(func=run_list)
    revoke = sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=run_revoke)


def _sessions() -> Any:
    from callintel.storage.db import make_engine, make_session_factory
    from callintel.storage.migrations import run_migrations

    url = get_settings().resolved_database_url()
    run_migrations(url)
    return make_session_factory(make_engine(url))


def run_create(args: argparse.Namespace) -> int:
    from callintel.storage import repo
    from callintel.storage.db import transaction

    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    with transaction(_sessions()) as session:
        created = repo.create_api_key(session, tenant_id=args.tenant, scopes=scopes, name=args.name)
    print(created.key)
    print(f"# id {created.id}, tenant {created.tenant_id}, scopes {','.join(created.scopes)}; shown once")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from callintel.storage import repo

    with _sessions()() as session:
        for key in repo.list_api_keys(session, tenant_id=args.tenant):
            state = "revoked" if key.revoked_at else "active"
            print(f"{key.id}\t{key.tenant_id}\t{','.join(key.scopes)}\t{state}\t{key.name}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from callintel.storage import repo
    from callintel.storage.db import transaction

    with transaction(_sessions()) as session:
        if not repo.revoke_api_key(session, key_id=args.key_id):
            raise NotFound(f"no active key with id {args.key_id}")
    print(f"revoked {args.key_id}")
    return 0
