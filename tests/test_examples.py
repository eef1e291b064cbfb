"""The example answers shipped in assets/examples: read without pickle, used by the pool, and
still what the built-in models answer (a change to a model's code must not leave them stale)."""

from __future__ import annotations

import numpy as np
import pytest

from studio.config import ASSETS_DIR
from studio.examples import (
    DURATION_S,
    EXAMPLE_PROMPTS,
    SEED,
    SHIPPED_NOTICE,
    read_examples,
    shipped_examples,
    write_examples,
)
from studio.models import Generation, read_models_config, run_model
from studio.models.pool import GenerationCache, ModelPool
from studio.motion import ARKIT_CHANNELS, MotionClip


@pytest.fixture(scope="module")
def pool():
    return ModelPool(read_models_config(ASSETS_DIR / "models.yaml"))


def test_every_built_in_has_an_answer_to_every_example(pool):
    shipped = shipped_examples()
    for name in pool.names:
        model = pool.get(name).model
        for prompt in EXAMPLE_PROMPTS:
            key = GenerationCache.key(model, prompt, SEED, DURATION_S)
            assert key in shipped, (name, prompt[:30])
            assert shipped[key].model == name and SHIPPED_NOTICE in shipped[key].notices


def test_the_pool_answers_an_example_without_running_the_model(pool, monkeypatch):
    import studio.models.pool as pool_module

    monkeypatch.setattr(pool_module, "run_model", lambda *a, **k: pytest.fail("a model ran"))
    answer = pool.generate("mdm", "  " + EXAMPLE_PROMPTS[1] + " ", seed=SEED, duration_s=DURATION_S)
    assert answer.clip is not None and answer.clip.values.shape == (120, 61)


@pytest.mark.slow
def test_the_shipped_answers_are_what_the_models_answer_now(pool):
    """All of the quick models' answers, and mdm's (slow on a CPU) to the first example."""
    shipped = shipped_examples()
    for name in pool.names:
        model = pool.get(name).model
        prompts = EXAMPLE_PROMPTS[:1] if name == "mdm" else EXAMPLE_PROMPTS
        for prompt in prompts:
            fresh = run_model(model, prompt, seed=SEED, duration_s=DURATION_S).clip
            stored = shipped[GenerationCache.key(model, prompt, SEED, DURATION_S)].clip
            np.testing.assert_allclose(
                fresh.values, stored.values, atol=1e-4, err_msg=f"{name}: {prompt[:30]}"
            )
            assert fresh.fps == stored.fps


def test_a_folder_without_examples_or_of_another_format_holds_none(tmp_path):
    assert read_examples(tmp_path) == {}
    clip = MotionClip(np.zeros((3, 61), np.float32), 30.0, "arkit", ARKIT_CHANNELS, {"seed": 1})
    key = ("m@abc", "A person smiles", 1, 4.0)
    assert (
        write_examples(
            [(key, Generation("m", clip, 5.0)), (("x", "p", 0, 4.0), Generation("x", None, 1.0))], tmp_path
        )
        == 1
    )
    back = read_examples(tmp_path)[key]
    assert back.clip.values.shape == (3, 61) and back.clip.meta == {"seed": 1} and back.latency_ms == 5.0
    (tmp_path / "generations.json").write_text('{"format": "other", "answers": []}')
    assert read_examples(tmp_path) == {}
