"""``callintel train KIND --from-corrections`` in a real process: corrections stored in a SQLite
database become training examples, a new ACTIVE version is published and before/after accuracy
is printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from callintel.storage.db import make_engine, make_session_factory, transaction
from callintel.storage.migrations import run_migrations

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_train_from_corrections_cli(tmp_path: Path, analyzers: Any) -> None:
    import qa_seed
    from callintel.review.corrections import CorrectionRequest, TurnLabel, correct_call

    url = f"sqlite:///{tmp_path / 'callintel.db'}"
    run_migrations(url)
    sessions = make_session_factory(make_engine(url))
    seeded = qa_seed.seed(sessions, qa_seed.analyse_all(analyzers))
    with transaction(sessions) as session:
        correct_call(session, tenant_id="default", call_id=seeded.ids["internet-down-third"],
                     request=CorrectionRequest(intent="technical_support",
                                               sentiment=(TurnLabel(1, "negative"),)),
                     reviewer="test")
    heads = tmp_path / "heads"
    env = {**os.environ, "CALLINTEL_DATA_DIR": str(tmp_path), "CALLINTEL_MODELS__HEADS_DIR": str(heads),
           "CALLINTEL_MODELS__CACHE_DIR": str(ROOT / ".cache" / "models"), "HF_HUB_OFFLINE": "1"}
    for kind in ("sentiment",):  # intent retraining is covered through the API in test_qa_api
        proc = subprocess.run([sys.executable, "-m", "callintel.cli", "train", kind, "--from-corrections"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout
        print(out)
        assert "(1 from corrections)" in out, out
        assert "accuracy before (without corrections):" in out and "accuracy after" in out
        assert "previously active head (packaged)" in out
        version = (heads / kind / "ACTIVE").read_text().strip()
        assert (heads / kind / version / "head.npz").is_file()
        assert version in out
