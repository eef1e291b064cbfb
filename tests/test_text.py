import numpy as np

from studio.text import EMBEDDING_DIM, embed_text, embed_texts


def test_embeddings_are_unit_vectors_and_semantic():
    vectors = embed_texts(["A person smiles widely", "Someone grins broadly", "A person frowns angrily"])
    assert vectors.shape == (3, EMBEDDING_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar, different = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > different + 0.1


def test_single_text_is_memoised_and_matches_batch():
    a = embed_text("A person raises one eyebrow")
    assert embed_text("A person raises one eyebrow") is a
    np.testing.assert_allclose(a, embed_texts(["A person raises one eyebrow"])[0], atol=1e-5)
    assert embed_texts([]).shape == (0, EMBEDDING_DIM)
