"""``callintel keys`` and ``callintel db`` as real processes on a SQLite data folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def cli(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLINTEL_")} | {
        "CALLINTEL_DATA_DIR": str(data)
    }
    return subprocess.run(
        [sys.executable, "-m", "callintel.cli", *args],
        env=env,
        cwd=data,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_db_upgrade_and_key_lifecycle(tmp_path: Path) -> None:
    assert "(empty database)" in cli("db", "current", data=tmp_path).stdout
    upgraded = cli("db", "upgrade", data=tmp_path)
    assert upgraded.returncode == 0 and "revision 0" in upgraded.stdout, upgraded.stderr
    created = cli(
        "keys", "create", "--tenant", "acme", "--scopes", "ingest,qa", "--name", "pbx", data=tmp_path
    )
    assert created.returncode == 0, created.stderr
    key, info = created.stdout.splitlines()[:2]
    assert key.startswith("ci_") and "tenant acme" in info and "ingest,qa" in info
    key_id = info.split()[2].rstrip(",")
    listed = cli("keys", "list", data=tmp_path).stdout
    assert key_id in listed and "active" in listed and key not in listed  # the key itself is never shown
    assert cli("keys", "revoke", key_id, data=tmp_path).returncode == 0
    assert "revoked" in cli("keys", "list", "--tenant", "acme", data=tmp_path).stdout
    again = cli("keys", "revoke", key_id, data=tmp_path)
    assert again.returncode == 2 and "not_found" in again.stderr
    bad = cli("keys", "create", "--scopes", "root", data=tmp_path)
    assert bad.returncode == 2 and "invalid_input" in bad.stderr
