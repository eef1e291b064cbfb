"""Prompt embeddings with an on-disk cache keyed by content hash (the one file-touching edge here).

Each text's key is ``sha256(encoder name + NUL + text)``; the cache folder holds shards
``emb-<hash of their keys>.npz`` with ``keys`` (N, fixed-width bytes) and ``vectors``
(N, 384) float32. Looking texts up loads every shard once, embeds only the texts no shard
holds and writes them as one new shard (written to a temporary name, then renamed, so a crash
never leaves half a shard). Shards are read with ``allow_pickle=False``; a shard that is not
what it should be is ignored and recomputed rather than trusted.

The cache lives where the caller says (``cache_dir``); :func:`default_cache_dir` is
``embeddings/`` under the studio's one cache root (:func:`studio.config.cache_dir`), never
inside the repository or a dataset folder.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from studio.config import cache_dir
from studio.text import EMBEDDING_DIM, MODEL_NAME

Encoder = Callable[[Sequence[str]], np.ndarray]  # texts -> (N, D) float32 unit vectors
_KEY_DTYPE = "S64"  # hex sha256, fixed width: stored without pickling


def default_cache_dir() -> Path:
    """``embeddings/`` under :func:`studio.config.cache_dir` (``$STUDIO_CACHE_DIR``, ``$XDG_CACHE_HOME``
    or ``~/.cache``)."""
    return cache_dir() / "embeddings"


def text_key(text: str, encoder_name: str = MODEL_NAME) -> bytes:
    """The content hash a text is cached under (hex sha256 as bytes)."""
    return hashlib.sha256(f"{encoder_name}\0{text}".encode()).hexdigest().encode("ascii")


def _default_encoder(texts: Sequence[str]) -> np.ndarray:
    from studio.text import embed_texts  # loads MiniLM on first use (seconds)

    return embed_texts(texts)


class EmbeddingCache:
    """Sentence embeddings cached in ``folder`` by content hash.

    ``encoder`` maps texts to ``(N, dim)`` float32 unit vectors (default: offline MiniLM);
    ``encoder_name`` is part of every key, so two encoders never share entries. ``folder=None``
    keeps the cache in memory only (tests, read-only machines).
    """

    def __init__(
        self,
        folder: str | Path | None,
        *,
        encoder: Encoder | None = None,
        encoder_name: str = MODEL_NAME,
        dim: int = EMBEDDING_DIM,
    ) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.encoder = encoder or _default_encoder
        self.encoder_name = encoder_name
        self.dim = dim
        self._memory: dict[bytes, np.ndarray] | None = None
        self.hits = 0
        self.misses = 0

    def _load(self) -> dict[bytes, np.ndarray]:
        if self._memory is not None:
            return self._memory
        memory: dict[bytes, np.ndarray] = {}
        if self.folder is not None and self.folder.is_dir():
            for shard in sorted(self.folder.glob("emb-*.npz")):
                try:
                    with np.load(shard, allow_pickle=False) as data:
                        keys, vectors = data["keys"], data["vectors"]
                except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                    continue  # unreadable or foreign: recompute rather than trust it
                if vectors.ndim != 2 or vectors.shape != (len(keys), self.dim) or keys.dtype.kind != "S":
                    continue
                vectors = vectors.astype(np.float32, copy=False)
                if not np.isfinite(vectors).all():
                    continue
                memory.update(zip(keys.tolist(), vectors, strict=True))
        self._memory = memory
        return memory

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``len(texts)`` strings -> ``(N, dim) float32``; each distinct text is encoded at most once."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        memory = self._load()
        keys = [text_key(t, self.encoder_name) for t in texts]
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in memory:
                missing.setdefault(key, text)
        self.hits += len(set(keys)) - len(missing)
        self.misses += len(missing)
        if missing:
            new_keys = list(missing)
            vectors = np.asarray(self.encoder(list(missing.values())), np.float32)
            if vectors.shape != (len(new_keys), self.dim):
                raise ValueError(f"encoder returned {vectors.shape}, expected ({len(new_keys)}, {self.dim})")
            memory.update(zip(new_keys, vectors, strict=True))
            self._write_shard(new_keys, vectors)
        return np.stack([memory[k] for k in keys]).astype(np.float32, copy=False)

    def _write_shard(self, keys: list[bytes], vectors: np.ndarray) -> None:
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha256(b"".join(sorted(keys))).hexdigest()[:32]
            target = self.folder / f"emb-{name}.npz"
            handle, temp = tempfile.mkstemp(dir=self.folder, prefix=".emb-", suffix=".npz")
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, keys=np.array(keys, dtype=_KEY_DTYPE), vectors=vectors)
            os.replace(temp, target)
        except OSError:
            # A read-only or full disk costs speed next time, never the analysis itself.
            return
