"""The model pool: models loaded once, answers generated once per request and shared."""

from __future__ import annotations

import copy
import threading

import pytest

import studio.models.pool as pool_module
from studio.models import ModelSpec
from studio.models.pool import GenerationCache, ModelPool, model_identity
from studio.motion import MotionClip
from tests.models.conftest import STORED_PROMPTS, make_results_folder


@pytest.fixture()
def runs(monkeypatch):
    """Every model run the pool starts, as (model name, seed)."""
    started: list[tuple[str, int]] = []
    real = pool_module.run_model

    def counted(model, prompt, *, seed, duration_s):
        started.append((model.name, seed))
        return real(model, prompt, seed=seed, duration_s=duration_s)

    monkeypatch.setattr(pool_module, "run_model", counted)
    return started


@pytest.fixture()
def pool(tmp_path):
    return ModelPool(
        [
            ModelSpec("stored", "results", "arkit", path=make_results_folder(tmp_path / "results")),
            ModelSpec("broken", "results", "arkit", path=tmp_path / "nowhere"),
        ]
    )


def test_an_identical_request_is_answered_from_the_cache(pool, runs):
    prompt = STORED_PROMPTS[0]
    assert not pool.holds("stored", prompt, seed=0, duration_s=4.0)
    first = pool.generate("stored", prompt, seed=0, duration_s=4.0)
    assert isinstance(first.clip, MotionClip)
    assert pool.holds("stored", prompt, seed=0, duration_s=4.0)
    assert pool.generate("stored", prompt, seed=0, duration_s=4.0) is first
    assert runs == [("stored", 0)]
    pool.generate("stored", prompt, seed=1, duration_s=4.0)  # another seed is another request
    pool.generate("stored", prompt, seed=0, duration_s=3.0)  # and so is another duration
    assert runs == [("stored", 0), ("stored", 1), ("stored", 0)]
    missing = pool.generate("stored", "A person sneezes", seed=0, duration_s=4.0)
    assert missing.no_output and "no stored output" in missing.error


def test_a_model_that_did_not_load_answers_with_its_error(pool, runs):
    assert not pool.holds("broken", "x", seed=0, duration_s=4.0)  # not tried yet
    answer = pool.generate("broken", STORED_PROMPTS[0], seed=0, duration_s=4.0)
    assert answer.clip is None and answer.error.startswith("failed to load")
    assert pool.holds("broken", "x", seed=0, duration_s=4.0)  # asking again runs nothing
    assert runs == []


def test_the_oldest_answers_leave_a_full_cache(pool, runs):
    pool.generations = GenerationCache(size=2)
    for seed in (0, 1, 2):
        pool.generate("stored", STORED_PROMPTS[0], seed=seed, duration_s=4.0)
    assert not pool.holds("stored", STORED_PROMPTS[0], seed=0, duration_s=4.0)
    assert pool.holds("stored", STORED_PROMPTS[0], seed=2, duration_s=4.0)


def test_simultaneous_identical_requests_run_the_model_once(pool, runs):
    """The player and the Compare tab ask for the same clip at the same moment."""
    answers = []
    barrier = threading.Barrier(4)

    def ask():
        barrier.wait()
        answers.append(pool.generate("stored", STORED_PROMPTS[0], seed=5, duration_s=4.0))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert runs == [("stored", 5)] and len(answers) == 4
    assert all(answer is answers[0] for answer in answers)


def test_a_new_checkpoint_is_a_new_model(pool):
    model = pool.get("stored").model
    retrained = copy.copy(model)
    retrained.checkpoint_sha256 = "0" * 64
    assert model_identity(retrained) != model_identity(model)
    assert GenerationCache.key(retrained, "p", 0, 4.0) != GenerationCache.key(model, "p", 0, 4.0)
