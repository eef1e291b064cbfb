"""The LLM keyframe adapter against a fake OpenAI-compatible server on loopback."""

import time

import numpy as np
import pytest

from studio.formats.keyframeface import SYSTEM_PROMPT, KeyframeScript, format_user_message
from studio.models import ModelError, ModelSpec, load_model, run_model
from studio.models.llm_keyframe import script_for
from tests.models.fake_llm import SLOW_S, keyframe_values

TWO_STEPS = "A person smiles widely and then frowns"


def llm(server, mode="good", **options):
    options = {
        "url": server.url,
        "model": mode,
        "timeout_s": 5,
        "retries": 0,
        "retry_backoff_s": 0.01,
        **options,
    }
    return load_model(ModelSpec(f"llm-{mode}", "llm-keyframe", options=options))


def test_requests_use_the_keyframeface_format_one_per_keyframe(fake_llm, monkeypatch):
    monkeypatch.setenv("FAKE_LLM_KEY", "sk-test-123")
    model = llm(fake_llm, "camel", api_key_env="FAKE_LLM_KEY")
    before = len(fake_llm.requests_for("camel"))
    assert run_model(model, TWO_STEPS, seed=11, duration_s=3.0).clip is not None
    sent = fake_llm.requests_for("camel")[before:]
    assert len(sent) == 2 and all(r["path"] == "/v1/chat/completions" for r in sent)
    script = KeyframeScript(("A person smiles widely", "frowns"), background=TWO_STEPS)
    for request in sent:
        body = request["body"]
        assert request["headers"]["Authorization"] == "Bearer sk-test-123"
        assert body["seed"] == 11 and body["temperature"] == 0.0
        assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    users = sorted(r["body"]["messages"][1]["content"] for r in sent)
    assert users == sorted(format_user_message(script, keyframe=k) for k in (1, 2))
    assert "Keyframe Description Sequence:\n1. A person smiles widely\n2. frowns\nBackground:" in users[0]


def test_a_keyframeface_script_prompt_keeps_its_background_and_emotion():
    script = KeyframeScript(("She hears the news", "She bursts into a grin"), "A quiet office", "joy")
    assert script_for(format_user_message(script)) == script
    assert script_for(" ".join(format_user_message(script).split())) == script  # flattened by cleaning


def test_answers_become_a_clip_with_keyframes_at_their_times(fake_llm):
    result = run_model(llm(fake_llm, "fenced"), TWO_STEPS, seed=0, duration_s=3.0)
    clip = result.clip
    assert clip.n_frames == 90 and clip.fps == 30.0 and result.notices == ()
    assert clip.meta["keyframe_times_s"] == [1.0, 2.0]  # keyframe k of K at k/(K+1) of the clip
    np.testing.assert_allclose(clip.values[30], keyframe_values("A person smiles widely"), atol=1e-4)
    np.testing.assert_allclose(clip.values[60], keyframe_values("frowns"), atol=1e-4)
    np.testing.assert_allclose(clip.values[0], 0.0)  # eased in from the neutral face
    assert clip.channel("mouthSmileLeft")[30] > 0.85 and clip.channel("mouthFrownLeft")[60] > 0.75


@pytest.mark.parametrize(
    ("mode", "kind", "message"),
    [
        ("malformed", "invalid_json", "invalid JSON"),
        ("prose", "invalid_json", "invalid JSON"),
        ("partial", "missing_names", "missing 31 names"),
        ("range", "out_of_range", "MouthSmileLeft=1.7 out of [0, 1]"),
        ("http500", "http_error", "HTTP 500"),
        ("envelope", "bad_response", "not an OpenAI chat-completion"),
    ],
)
def test_every_failure_mode_is_reported_per_keyframe_and_counted(fake_llm, mode, kind, message):
    model = llm(fake_llm, mode)
    result = run_model(model, TWO_STEPS, seed=0, duration_s=2.0)
    assert result.clip is None and f"all 2 keyframes failed (2 {kind})" in result.error
    assert f"Keyframe_1: {message}" in result.error or "Keyframe_1: HTTP" in result.error
    assert message in result.error and "Keyframe_2:" in result.error
    assert model.failure_counts == {kind: 2}
    run_model(model, TWO_STEPS, seed=1, duration_s=2.0)  # failures are not cached: asked again, counted again
    assert model.failure_counts == {kind: 4}


def test_a_partial_failure_still_gives_a_clip_and_says_which_keyframe_failed(fake_llm):
    result = run_model(llm(fake_llm, "mixed"), TWO_STEPS, seed=0, duration_s=3.0)
    assert result.clip is not None and result.clip.n_frames == 90
    report = result.clip.meta["keyframe_report"]
    assert [r["status"] for r in report] == ["ok", "invalid_json"]
    assert result.clip.meta["llm_failures"] == {"invalid_json": 1}
    assert any("Keyframe_2 failed (invalid_json)" in n for n in result.notices)
    assert any("clip built from 1 of 2 keyframes" in n for n in result.notices)
    np.testing.assert_allclose(result.clip.values[30], keyframe_values("A person smiles widely"), atol=1e-4)


def test_timeouts_are_retried_then_reported(fake_llm):
    model = llm(fake_llm, "slow", timeout_s=0.2, retries=1)
    start = time.perf_counter()
    result = run_model(model, "A person smiles widely", seed=0, duration_s=2.0)
    elapsed = time.perf_counter() - start
    assert result.clip is None and "1 timeout" in result.error and "no answer within 0.2 s" in result.error
    assert model.requests_made == 2 and elapsed < SLOW_S  # two short waits, not the server's delay
    assert result.clip is None and model.failure_counts == {"timeout": 1}


def test_transient_http_errors_are_retried(fake_llm):
    model = llm(fake_llm, "flaky", retries=2)
    result = run_model(model, "A person smiles widely at a friend", seed=0, duration_s=2.0)
    assert result.clip is not None and result.clip.meta["keyframe_report"][0]["attempts"] == 2
    assert not model.failure_counts


def test_unreachable_server_is_a_connection_failure(fake_llm):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = load_model(
        ModelSpec(
            "llm-off",
            "llm-keyframe",
            options={"url": f"http://127.0.0.1:{port}/v1", "model": "good", "retries": 0, "timeout_s": 2},
        )
    )
    result = run_model(model, "A person smiles", seed=0, duration_s=2.0)
    assert result.clip is None and "connection" in result.error and model.failure_counts == {"connection": 1}


def test_renumbered_answers_are_accepted(fake_llm):
    result = run_model(llm(fake_llm, "renumbered"), TWO_STEPS, seed=0, duration_s=3.0)
    np.testing.assert_allclose(result.clip.values[60], keyframe_values("frowns"), atol=1e-4)


def test_same_prompt_and_seed_are_served_from_the_cache(fake_llm):
    model = llm(fake_llm, "good")
    first = run_model(model, "A person smiles and then frowns and then smiles", seed=4, duration_s=2.0).clip
    made = model.requests_made
    second = run_model(model, "A person smiles and then frowns and then smiles", seed=4, duration_s=2.0).clip
    assert made == 3 and model.requests_made == 3 and np.array_equal(first.values, second.values)
    run_model(model, "A person smiles and then frowns and then smiles", seed=5, duration_s=2.0)
    assert model.requests_made == 6  # another seed is another request


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"api_key": "sk-secret"}, "never put an API key in the models config"),
        ({"api_key_env": "NO_SUCH_VARIABLE_FOR_TESTS"}, "NO_SUCH_VARIABLE_FOR_TESTS .* is not set"),
        ({"url": "ftp://example.org"}, "http\\(s\\) base URL"),
        ({"model": ""}, "must name the model"),
        ({"timeout_s": -1}, "timeout_s in"),
        ({"temperature": "hot"}, "bad llm-keyframe option"),
        ({"colour": "blue"}, "unknown llm-keyframe options"),
    ],
)
def test_bad_configs_are_refused_at_load(fake_llm, options, message):
    with pytest.raises(ModelError, match=message):
        llm(fake_llm, **options)
