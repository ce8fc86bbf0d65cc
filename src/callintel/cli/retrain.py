"""``callintel train KIND --from-corrections``: retrain on packaged examples + reviewer corrections.

The new head is published under ``<models.heads_dir or models.cache_dir/heads>/<kind>/<version>/``,
registered in ``model_versions`` and made ACTIVE; the accuracy of the previously active head and of
the new one on the same held-out split is printed. ``POST /v1/admin/models/{kind}/rollback`` (or
``--from-corrections`` again after new corrections) changes the active version.
"""

from __future__ import annotations

import argparse


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def run_from_corrections(args: argparse.Namespace) -> int:
    from callintel.config import get_settings
    from callintel.ml.registry import ModelManager
    from callintel.review.models import retrain
    from callintel.storage.db import make_engine, make_session_factory, transaction
    from callintel.storage.migrations import run_migrations

    settings = get_settings()
    models = settings.models
    url = settings.resolved_database_url()
    run_migrations(url)
    embedder = ModelManager.from_settings(models).embedder(models.embedder)
    heads_dir = models.resolved_heads_dir()
    with transaction(make_session_factory(make_engine(url))) as session:
        result = retrain(session, kind=args.kind, embedder=embedder, heads_dir=heads_dir,
                         examples_path=args.data, seed=args.seed)
    print(f"{result.kind}: {result.n_examples} examples ({result.n_corrections} from corrections), "
          f"held-out {result.n_test}")
    print(f"accuracy before (without corrections): {fmt(result.before_accuracy)}")
    print(f"accuracy after  (with corrections):    {fmt(result.after_accuracy)}")
    print(f"held-out corrections: before {fmt(result.corrections_before)}, "
          f"after {fmt(result.corrections_after)}")
    print(f"previously active head ({result.previous_version}) on the same split: "
          f"{fmt(result.active_accuracy)} (it may have trained on these examples)")
    print(f"new active version saved to {result.path}")
    return 0
