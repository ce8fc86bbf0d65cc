"""``callintel eval`` end to end on a slice of the committed dev set, with the real models."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callintel.cli import main
from callintel.config import get_settings

DEVSET = Path(__file__).resolve().parents[2] / "eval" / "devset"
#: Two short calls: an MP3 with the customer on the LEFT channel, and an Ogg/Opus one.
CALLS = ("retail-store-hours", "telecom-update-email")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the chosen calls with their own manifest (the real files, not stand-ins)."""
    root = tmp_path_factory.mktemp("devset")
    (root / "calls").mkdir()
    (root / "audio").mkdir()
    lines = []
    for line in (DEVSET / "manifest.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry["id"] in CALLS:
            shutil.copy(DEVSET / entry["script"], root / entry["script"])
            shutil.copy(DEVSET / entry["audio"], root / entry["audio"])
            lines.append(line)
    assert len(lines) == len(CALLS)
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(autouse=True)
def _shared_models(monkeypatch: pytest.MonkeyPatch, analyzers: Any) -> Iterator[None]:
    """The command runs in-process on the session's real analyzers instead of loading its own copy."""
    monkeypatch.setattr("callintel.pipeline.load_analyzers", lambda *_args, **_kw: analyzers)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_eval_audio_json(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(dataset), "--json", "--model", "tiny.en"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["mode"] == "audio" and doc["asr_model"] == "tiny.en"
    assert doc["calls"] == len(CALLS) and doc["errors"] == 0
    assert {r["id"] for r in doc["results"]} == set(CALLS)
    for result in doc["results"]:
        assert result["predicted"]["intent"] is not None
        assert result["predicted"]["escalation"] in ("none", "suggest", "require")
        assert result["predicted"]["outcome"] in ("resolved", "escalated", "pending", "unresolved")
    # espeak voices through tiny.en: intelligible, not perfect
    assert 0.0 <= doc["wer"]["wer"] < 0.6
    assert doc["wer"]["reference_words"] > 60
    # channel maps come from the manifest, so both speakers are found on both calls
    assert set(doc["wer_by_speaker"]) == {"agent", "customer"}
    assert doc["wer_by_speaker"]["customer"]["wer"] < 0.6
    assert doc["intent_accuracy"]["total"] == len(CALLS)
    assert "call" in captured.err  # the progress bar is on stderr


def test_eval_from_text_verbose(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(dataset), "--from-text", "-v", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert f"== {dataset}: 1 calls, text," in out
    assert "intent accuracy" in out and "escalation (suggest|require)" in out
    assert "WER" not in out  # no recognition, so no word error rate
    assert "per-call mistakes:" in out and f"- {CALLS[0]} " in out


def test_eval_rejects_a_folder_without_calls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path)]) == 2
    assert "dataset_invalid" in capsys.readouterr().err
