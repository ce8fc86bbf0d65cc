"""Issuing API keys straight into a test app's database (the tests' shared helper)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from callintel.storage import repo
from callintel.storage.db import transaction


def issue_keys(state: Any, wanted: Mapping[str, tuple[str, Sequence[str]]]) -> dict[str, str]:
    """``{name: (tenant, scopes)}`` → ``{name: plaintext key}`` for the app state's database."""
    with transaction(state.sessions) as session:
        return {
            name: repo.create_api_key(session, tenant_id=tenant, scopes=list(scopes)).key
            for name, (tenant, scopes) in wanted.items()
        }
