"""README.md stays the truth: every setting, endpoint, CLI command and benchmark is described."""

from __future__ import annotations

import re
from pathlib import Path

from callintel.settings_doc import settings_rows

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme() -> None:
    missing = [env for env, _, _ in settings_rows() if f"`{env}`" not in README]
    assert not missing, f"add these to README (python -m callintel.settings_doc): {missing}"


def test_every_endpoint_is_in_the_readme() -> None:
    from callintel.api.app import create_app

    app = create_app()
    paths = {route.path for route in app.routes if getattr(route, "path", "").startswith("/v1")}
    normalised = {re.sub(r"\{[^}]+\}", "{}", p) for p in paths}
    readme = re.sub(r"\{[^}]+\}", "{}", README)
    missing = sorted(p for p in normalised if p not in readme)
    assert not missing, f"endpoints missing from README: {missing}"


def test_every_cli_command_and_benchmark_is_in_the_readme() -> None:
    from callintel.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"callintel {name}" in README, name
    for bench in sorted((ROOT / "bench").glob("*.py")):
        assert f"bench/{bench.name}" in README, bench.name


def test_readme_states_the_two_commands_and_ci_runs_them() -> None:
    assert "bash scripts/install.sh && .venv/bin/callintel serve" in README
    assert "bash scripts/test.sh" in README
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "scripts/install.sh" in ci and "scripts/test.sh" in ci
