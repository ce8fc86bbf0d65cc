"""``callintel kb`` commands that need neither a database nor a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from callintel.cli import main

STARTER = Path(__file__).resolve().parents[2] / "src" / "callintel" / "resources" / "kb" / "starter.jsonl"
FLOWS = Path(__file__).resolve().parents[2] / "src" / "callintel" / "resources" / "flows"


def test_import_dry_run_counts_articles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "import", str(STARTER), "--dry-run"]) == 0
    assert "48 articles parsed" in capsys.readouterr().out


def test_import_errors_name_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "ok", "body": "fine"}\n{"title": "no body"}\n')
    assert main(["kb", "import", str(bad), "--dry-run"]) == 2
    assert "invalid_input" in (err := capsys.readouterr().err) and "bad.jsonl line 2: missing 'body'" in err
    assert main(["kb", "import", str(tmp_path / "missing.md"), "--dry-run"]) == 2


def test_check_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "check-flow", str(FLOWS / "delayed_order.yaml")]) == 0
    assert "ok: flow 'delayed_order'" in capsys.readouterr().out
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: b\nstart: a\nnodes:\n  - {id: a, type: say, text: hi, next: nowhere}\n")
    assert main(["kb", "check-flow", str(broken)]) == 2
    assert "flow_invalid: flow 'b', node 'a': 'next' names unknown node 'nowhere'" in capsys.readouterr().err
