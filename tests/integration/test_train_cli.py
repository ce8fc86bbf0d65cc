"""``callintel train`` end to end with the real embedder on a small examples file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callintel.cli import main
from callintel.config import get_settings
from callintel.ml.heads import head_versions, resolve_head_dir

pytestmark = pytest.mark.slow

ROWS = {
    "negative": [
        "this is awful",
        "I'm furious with you",
        "worst service ever",
        "I'm so annoyed",
        "nothing works and I'm fed up",
        "this is a joke",
        "I hate waiting on hold",
        "you've ruined my week",
        "terrible, just terrible",
        "I'm really upset",
    ],
    "neutral": [
        "my account number is four two",
        "I'll check that for you",
        "it was on Tuesday",
        "please hold a moment",
        "the order number is nine",
        "okay",
        "I live in Leeds",
        "can you spell that",
        "the router is in the hall",
        "I'll send an email",
    ],
    "positive": [
        "thank you so much",
        "that's brilliant",
        "you've been really helpful",
        "perfect, thanks",
        "I'm really happy now",
        "great, it works",
        "lovely, cheers",
        "that's a relief, thanks",
        "amazing service",
        "I appreciate it",
    ],
}


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "examples.jsonl"
    lines = [json.dumps({"text": t, "label": label}) for label, texts in ROWS.items() for t in texts]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Any) -> Iterator[Path]:
    heads = tmp_path / "heads"
    monkeypatch.setenv("CALLINTEL_MODELS__CACHE_DIR", str(settings.models.cache_dir))
    monkeypatch.setenv("CALLINTEL_MODELS__HEADS_DIR", str(heads))
    get_settings.cache_clear()
    yield heads
    get_settings.cache_clear()


def test_train_out_is_reproducible(
    data_file: Path, cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("a", "b"):
        assert main(["train", "sentiment", "--data", str(data_file), "--out", str(tmp_path / name)]) == 0
    out = capsys.readouterr().out
    assert "held-out accuracy: " in out and "negative" in out
    with np.load(tmp_path / "a" / "head.npz") as a, np.load(tmp_path / "b" / "head.npz") as b:
        assert np.array_equal(a["weights"], b["weights"]) and np.array_equal(a["bias"], b["bias"])
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert meta["labels"] == ["negative", "neutral", "positive"] and meta["seed"] == 0
    assert (tmp_path / "a" / "MODEL_CARD.md").is_file()


def test_train_publishes_a_version_the_loader_picks(data_file: Path, cli_env: Path) -> None:
    assert main(["train", "sentiment", "--data", str(data_file), "--seed", "3"]) == 0
    versions = head_versions(cli_env, "sentiment")
    assert len(versions) == 1
    assert resolve_head_dir("sentiment", heads_dir=cli_env) == cli_env / "sentiment" / versions[0]


def test_bad_data_is_a_clean_error(tmp_path: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "great", "label": "happy"}\n{"text": "bad", "label": "negative"}\n')
    assert main(["train", "sentiment", "--data", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "invalid_input" in capsys.readouterr().err
    assert main(["train", "intent", "--data", str(tmp_path / "missing.jsonl")]) == 2
