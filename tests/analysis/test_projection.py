from __future__ import annotations

import numpy as np

from studio.analysis.projection import distinct_rows, project_2d


def _clusters(n_per: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((3, 64)) * 4
    labels = np.repeat(np.arange(3), n_per)
    points = centres[labels] + rng.standard_normal((len(labels), 64)) * 0.3
    return points.astype(np.float32), labels


def test_tsne_keeps_separate_clusters_apart_and_is_seeded():
    points, labels = _clusters()
    first = project_2d(points, seed=3, max_iter=500)
    again = project_2d(points, seed=3, max_iter=500)
    assert first.method == "t-SNE" and first.coords.shape == (90, 2)
    np.testing.assert_array_equal(first.coords, again.coords)
    # every point's nearest neighbour on the map comes from its own cluster
    d = np.linalg.norm(first.coords[:, None] - first.coords[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(axis=1)] == labels).mean() == 1.0


def test_duplicates_share_one_point():
    points, _ = _clusters(10)
    doubled = np.concatenate([points, points[:5]])
    result = project_2d(doubled, seed=0, max_iter=250)
    assert result.n_distinct == 30
    np.testing.assert_array_equal(result.coords[30:], result.coords[:5])


def test_tiny_inputs_fall_back_without_crashing():
    assert project_2d(np.zeros((0, 8))).coords.shape == (0, 2)
    one = project_2d(np.ones((1, 8)))
    assert one.method == "none" and one.coords.tolist() == [[0.0, 0.0]]
    same = project_2d(np.ones((4, 8)))  # four copies of one prompt
    assert same.method == "none" and same.n_distinct == 1
    few = project_2d(np.eye(8)[:3])
    assert few.method == "PCA" and few.coords.shape == (3, 2) and np.isfinite(few.coords).all()


def test_distinct_rows_inverts():
    rows = np.array([[1, 2], [3, 4], [1, 2]], np.float32)
    unique, inverse = distinct_rows(rows)
    assert len(unique) == 2
    np.testing.assert_array_equal(unique[inverse], rows)
