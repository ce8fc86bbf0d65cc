"""Shared fixtures. Real models are loaded once per test session.

A socket guard is active for every test: any connection to a non-loopback address fails,
which proves that no model, test or code path reaches the network.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
MODEL_CACHE = ROOT / ".cache" / "models"

PG_URL = os.environ.get("CALLINTEL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CALLINTEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class NetworkBlocked(RuntimeError):
    pass


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check(address: Any) -> None:
    if isinstance(address, tuple) and address:
        host = address[0]
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            if host not in ("localhost",):
                raise NetworkBlocked(f"test tried to reach {host!r}") from None
            return
        if not ip.is_loopback:
            raise NetworkBlocked(f"test tried to reach {host!r}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from callintel.config import ModelSettings, Settings

    data = tmp_path_factory.mktemp("callintel-data")
    return Settings(data_dir=data, models=ModelSettings(cache_dir=MODEL_CACHE, heads_dir=data / "heads"))


@pytest.fixture(scope="session")
def models(settings: Any) -> Any:
    from callintel.ml.registry import ModelManager

    return ModelManager(cache_dir=settings.models.cache_dir)


@pytest.fixture(scope="session")
def embedder(models: Any) -> Any:
    return models.embedder("minilm")


@pytest.fixture(scope="session")
def analyzers(settings: Any, models: Any) -> Any:
    from callintel.pipeline import load_analyzers

    return load_analyzers(settings, models)


@pytest.fixture(scope="session")
def pg_url() -> str:
    return PG_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL
