"""Sentence embeddings with sentence-transformers, from the packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from callintel.ml.protocols import FloatArray


class SentenceEmbedder:
    """all-MiniLM-L6-v2 (384-d) on CPU, normalised output, thread-safe."""

    def __init__(self, model_dir: Path, *, name: str = "minilm", threads: int | None = None) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self.name = name
        self._model = SentenceTransformer(str(model_dir), device="cpu")
        dim = self._model.get_sentence_embedding_dimension()
        self.dim = int(dim) if dim else 384
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)
