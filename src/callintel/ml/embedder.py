"""Sentence embeddings with sentence-transformers, from the packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from callintel.ml.protocols import FloatArray

CACHE_SIZE = 2048
"""Recent texts whose vectors are kept (384 floats each, about 3 MB in all)."""
CACHE_BATCH = 16
"""Calls with more texts than this (bulk indexing) bypass the cache."""


class SentenceEmbedder:
    """all-MiniLM-L6-v2 (384-d) on CPU, normalised output, thread-safe."""

    def __init__(self, model_dir: Path, *, name: str = "minilm", threads: int | None = None) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self.name = name
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no bar on every CLI run
        self._model = SentenceTransformer(str(model_dir), device="cpu")
        # sentence-transformers 6 renamed the method; keep working on both names.
        getter = getattr(self._model, "get_embedding_dimension", None)
        dim = getter() if getter else self._model.get_sentence_embedding_dimension()
        self.dim = int(dim) if dim else 384
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, FloatArray] = OrderedDict()

    def embed(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) > CACHE_BATCH:
            with self._lock:
                return self._encode(texts)
        # Live assist embeds one utterance for intent, sentiment and flags in turn: a small LRU
        # of recent texts makes that one forward pass instead of three.
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._recent]
            if missing:
                for text, vec in zip(missing, self._encode(missing), strict=True):
                    self._recent[text] = vec
            for text in texts:
                self._recent.move_to_end(text)
            rows = [self._recent[t] for t in texts]
            while len(self._recent) > CACHE_SIZE:
                self._recent.popitem(last=False)
        return np.vstack(rows).astype(np.float32)

    def _encode(self, texts: Sequence[str]) -> FloatArray:
        vectors = self._model.encode(
            list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
