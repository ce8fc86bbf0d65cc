"""``callintel kb import|search|list|delete|flows``: the knowledge base and call flows from a shell.

Works on the configured database (``CALLINTEL_DATABASE_URL``), so an import is seen by a running
API and its workers at their next search, without a restart.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from callintel.config import get_settings
from callintel.errors import NotFound


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "kb", help="knowledge base: import, search, list, delete", description="Manage the knowledge base."
    )
    sub = parser.add_subparsers(dest="kb_command", required=True)
    imp = sub.add_parser("import", help="import articles from a JSON/JSONL/CSV/Markdown file, folder or zip")
    imp.add_argument("path", type=Path)
    imp.add_argument("--tenant", default="default", help="tenant to import into (default: default)")
    imp.add_argument("--dry-run", action="store_true", help="only parse and validate")
    imp.set_defaults(func=run_import)
    search = sub.add_parser("search", help="hybrid search")
    search.add_argument("query")
    search.add_argument("--tenant", default="default")
    search.add_argument("-k", type=int, default=3, help="articles to return (default 3)")
    search.add_argument("--json", action="store_true", help="print JSON")
    search.set_defaults(func=run_search)
    listing = sub.add_parser("list", help="list article ids and titles")
    listing.add_argument("--tenant", default="default")
    listing.set_defaults(func=run_list)
    delete = sub.add_parser("delete", help="delete one article")
    delete.add_argument("article_id")
    delete.add_argument("--tenant", default="default")
    delete.set_defaults(func=run_delete)
    flows = sub.add_parser("check-flow", help="validate a call-flow YAML file")
    flows.add_argument("path", type=Path)
    flows.set_defaults(func=run_check_flow)


def _kb() -> Any:
    from callintel.kb.index import KnowledgeBase
    from callintel.kb.store import SqlKBStore
    from callintel.ml.registry import ModelManager
    from callintel.storage.db import make_engine, make_session_factory
    from callintel.storage.migrations import run_migrations

    settings = get_settings()
    url = settings.resolved_database_url()
    run_migrations(url)
    models = ModelManager.from_settings(settings.models)
    return KnowledgeBase(
        SqlKBStore(make_session_factory(make_engine(url))), models.embedder(settings.models.embedder)
    )


def run_import(args: argparse.Namespace) -> int:
    from callintel.kb.importers import check_unique, load_path

    articles = load_path(args.path)
    check_unique(articles)
    if args.dry_run:
        print(f"{len(articles)} articles parsed from {args.path}; nothing stored (--dry-run)")
        return 0
    stored = _kb().upsert(args.tenant, articles)
    print(f"imported {len(stored)} articles into tenant {args.tenant}", file=sys.stderr)
    return 0


def run_search(args: argparse.Namespace) -> int:
    from callintel.domain import to_jsonable

    hits = _kb().search(args.tenant, args.query, max(1, args.k))
    if args.json:
        print(json.dumps(to_jsonable(hits), indent=2))
        return 0
    if not hits:
        print("no matching articles")
    for n, hit in enumerate(hits, 1):
        print(f"{n}. [{hit.score:.3f}] {hit.title} ({hit.article_id})")
        print(f"   {hit.passage[:300]}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    kb = _kb()
    offset = 0
    while True:
        items, total = kb.store.list(args.tenant, offset=offset, limit=500)
        for art in items:
            print(f"{art.id}\t{art.title}")
        offset += len(items)
        if not items or offset >= total:
            return 0


def run_delete(args: argparse.Namespace) -> int:
    if not _kb().delete(args.tenant, args.article_id):
        raise NotFound(f"no article '{args.article_id}' in tenant {args.tenant}")
    print(f"deleted {args.article_id}")
    return 0


def run_check_flow(args: argparse.Namespace) -> int:
    from callintel.flows import load_flow_text

    flow = load_flow_text(args.path.read_text(encoding="utf-8"), source=str(args.path))
    print(f"ok: flow '{flow.id}' with {len(flow.nodes)} nodes")
    return 0
