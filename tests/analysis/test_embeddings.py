from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from studio.analysis.embeddings import EmbeddingCache, default_cache_dir, text_key
from tests.analysis.conftest import CountingEncoder, keyword_embed
from tests.conftest import PROJECT_ROOT


def test_each_distinct_text_is_encoded_once_and_order_is_kept(tmp_path):
    encoder = CountingEncoder()
    cache = EmbeddingCache(tmp_path, encoder=encoder, encoder_name="kw")
    texts = ["a happy smile", "sad", "a happy smile", "angry"]
    vectors = cache.embed(texts)
    assert encoder.calls == [3]
    np.testing.assert_array_equal(vectors, keyword_embed(texts))
    cache.embed(["sad", "new text"])
    assert encoder.calls == [3, 1]


def test_a_second_cache_reads_the_disk_without_encoding(tmp_path):
    EmbeddingCache(tmp_path, encoder=CountingEncoder(), encoder_name="kw").embed(["one", "two"])
    encoder = CountingEncoder()
    again = EmbeddingCache(tmp_path, encoder=encoder, encoder_name="kw")
    np.testing.assert_array_equal(again.embed(["two", "one"]), keyword_embed(["two", "one"]))
    assert encoder.calls == [] and again.hits == 2
    assert all(p.name.startswith("emb-") for p in tmp_path.iterdir())


def test_encoders_do_not_share_entries(tmp_path):
    EmbeddingCache(tmp_path, encoder=CountingEncoder(), encoder_name="a").embed(["text"])
    other = CountingEncoder()
    EmbeddingCache(tmp_path, encoder=other, encoder_name="b").embed(["text"])
    assert other.calls == [1]
    assert text_key("text", "a") != text_key("text", "b")


def test_a_corrupt_or_foreign_shard_is_ignored_and_recomputed(tmp_path):
    (tmp_path / "emb-broken.npz").write_bytes(b"not a zip file")
    np.savez(tmp_path / "emb-wrongshape.npz", keys=np.array([text_key("x", "kw")]), vectors=np.zeros((1, 3)))
    np.savez(
        tmp_path / "emb-nan.npz", keys=np.array([text_key("x", "kw")]), vectors=np.full((1, 384), np.nan)
    )
    encoder = CountingEncoder()
    vectors = EmbeddingCache(tmp_path, encoder=encoder, encoder_name="kw").embed(["x"])
    assert encoder.calls == [1] and np.isfinite(vectors).all()


def test_a_pickled_shard_is_never_unpickled(tmp_path):
    np.savez(tmp_path / "emb-pickle.npz", keys=np.array([object()], dtype=object), vectors=np.zeros((1, 384)))
    encoder = CountingEncoder()
    EmbeddingCache(tmp_path, encoder=encoder, encoder_name="kw").embed(["x"])
    assert encoder.calls == [1]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_a_read_only_cache_still_embeds(tmp_path):
    tmp_path.chmod(0o500)
    try:
        vectors = EmbeddingCache(tmp_path / "sub", encoder=CountingEncoder(), encoder_name="kw").embed(["x"])
    finally:
        tmp_path.chmod(0o700)
    assert vectors.shape == (1, 384)


def test_an_unwritable_cache_path_still_embeds(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    vectors = EmbeddingCache(blocker / "cache", encoder=CountingEncoder(), encoder_name="kw").embed(["x"])
    assert vectors.shape == (1, 384)


def test_memory_only_cache_and_empty_input():
    cache = EmbeddingCache(None, encoder=CountingEncoder(), encoder_name="kw")
    assert cache.embed([]).shape == (0, 384)
    assert cache.embed(["x", "x"]).shape == (2, 384)


def test_encoder_returning_the_wrong_shape_is_an_error(tmp_path):
    cache = EmbeddingCache(tmp_path, encoder=lambda texts: np.zeros((len(texts), 5)), encoder_name="bad")
    with pytest.raises(ValueError, match="encoder returned"):
        cache.embed(["x"])


def test_default_cache_dir_is_outside_the_repository(monkeypatch, tmp_path):
    monkeypatch.delenv("STUDIO_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "expression-studio" / "embeddings"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert PROJECT_ROOT not in default_cache_dir().parents
    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == Path(tmp_path / "c" / "embeddings")
