"""2-D maps of prompt embeddings: PCA to 50 dimensions, then scikit-learn t-SNE with a fixed seed.

Identical prompts share one embedding, so they are mapped once and share a point (t-SNE
spends nothing on them and they land exactly together). Tiny inputs that t-SNE cannot handle
(fewer than :data:`MIN_TSNE_POINTS` distinct prompts) are laid out by PCA instead, and the
result says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PCA_DIMS = 50
MIN_TSNE_POINTS = 5
DEFAULT_PERPLEXITY = 30.0


@dataclass(frozen=True)
class Projection:
    """``coords (N, 2) float32`` one point per input row; ``method`` "t-SNE", "PCA" or "none"."""

    coords: np.ndarray
    method: str
    n_distinct: int


def distinct_rows(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N, D)`` -> (distinct rows ``(M, D)``, inverse ``(N,) int``) with ``distinct[inverse] == rows``."""
    rows = np.ascontiguousarray(np.asarray(embeddings, np.float32))
    if len(rows) == 0:
        return rows, np.zeros(0, int)
    _, first, inverse = np.unique(
        rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel(),
        return_index=True,
        return_inverse=True,
    )
    return rows[first], inverse.ravel()


def project_2d(
    embeddings: np.ndarray,
    *,
    seed: int = 0,
    perplexity: float = DEFAULT_PERPLEXITY,
    max_iter: int = 1000,
    n_jobs: int | None = None,
) -> Projection:
    """Embeddings ``(N, D)`` -> :class:`Projection` with ``(N, 2)`` coordinates (arbitrary units).

    PCA to ``min(50, M, D)`` dimensions, then Barnes–Hut t-SNE (``init="pca"``,
    ``learning_rate="auto"``, perplexity capped below a third of the distinct points). The same
    input and seed give the same map.
    """
    from sklearn.decomposition import PCA

    unique, inverse = distinct_rows(embeddings)
    m = len(unique)
    if m == 0:
        return Projection(np.zeros((len(inverse), 2), np.float32), "none", 0)
    if m == 1:
        return Projection(np.zeros((len(inverse), 2), np.float32), "none", 1)
    dims = min(PCA_DIMS, m, unique.shape[1])
    reduced = PCA(n_components=dims, random_state=seed).fit_transform(unique.astype(np.float64))
    if m < MIN_TSNE_POINTS:
        coords = reduced[:, :2] if reduced.shape[1] >= 2 else np.column_stack([reduced[:, 0], np.zeros(m)])
        return Projection(coords[inverse].astype(np.float32), "PCA", m)
    from sklearn.manifold import TSNE

    tsne = TSNE(
        n_components=2,
        perplexity=min(perplexity, (m - 1) / 3.0),
        init="pca",
        learning_rate="auto",
        max_iter=max_iter,
        random_state=seed,
        n_jobs=n_jobs,
    )
    coords = tsne.fit_transform(reduced)
    return Projection(coords[inverse].astype(np.float32), "t-SNE", m)
