"""The LLM categoriser against a fake OpenAI-compatible server on the loopback interface."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pytest

from studio.analysis.categorise import EMOTIONS
from studio.analysis.llm import CategoriserError, LLMCategoriser, LLMSettings, parse_scores


class FakeChat(BaseHTTPRequestHandler):
    """Answers like a chat model: scores from the last user message's first category word."""

    requests: ClassVar[list[dict]] = []
    mode = "good"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        if self.mode == "unauthorised":
            self.send_response(401)
            self.end_headers()
            return
        prompt = body["messages"][-1]["content"].lower()
        if self.mode == "garbage":
            content = "I think it is happy!"
        else:
            scores = {e: 0.02 for e in EMOTIONS}
            for e, word in zip(EMOTIONS, ["laugh", "cry", "scared", "gasp", "shout", "gross"], strict=True):
                if word in prompt:
                    scores[e] = 0.9
            content = "```json\n" + json.dumps(scores) + "\n```"
        reply = {"choices": [{"message": {"role": "assistant", "content": content}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server():
    FakeChat.requests = []
    FakeChat.mode = "good"
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeChat)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def _categoriser(url: str, **kwargs) -> LLMCategoriser:
    return LLMCategoriser(LLMSettings(url, "fake-model", api_key="sk-test", timeout_s=5, **kwargs))


def test_scores_come_from_the_endpoint_and_duplicates_are_asked_once(server):
    result = _categoriser(server).categorise(["They laugh", "They cry", "They laugh", "They shout"])
    assert [EMOTIONS[k] for k in result.dominant] == ["happiness", "sadness", "happiness", "anger"]
    np.testing.assert_allclose(result.scores.sum(axis=1), 1.0)
    assert len(FakeChat.requests) == 3
    request = FakeChat.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "fake-model" and request["body"]["messages"][0]["role"] == "system"
    assert "sum to 1" in request["body"]["messages"][0]["content"]


def test_unusable_answers_are_retried_then_reported(server):
    FakeChat.mode = "garbage"
    with pytest.raises(CategoriserError, match=r"'They laugh'.*unusable answer"):
        _categoriser(server, retries=2).categorise(["They laugh"])
    assert len(FakeChat.requests) == 3


def test_a_wrong_key_is_not_retried(server):
    FakeChat.mode = "unauthorised"
    with pytest.raises(CategoriserError, match="HTTP 401"):
        _categoriser(server, retries=3).categorise(["x"])
    assert len(FakeChat.requests) == 1


def test_an_unreachable_server_is_one_clear_error():
    with pytest.raises(CategoriserError, match="cannot reach"):
        _categoriser("http://127.0.0.1:9/v1", retries=0).categorise(["x"])


def test_settings_refuse_other_schemes_and_need_url_and_model(monkeypatch):
    with pytest.raises(CategoriserError, match="http"):
        LLMSettings("file:///etc/passwd", "m")
    monkeypatch.delenv("STUDIO_LLM_URL", raising=False)
    monkeypatch.delenv("STUDIO_LLM_MODEL", raising=False)
    with pytest.raises(CategoriserError, match="URL and a model"):
        LLMSettings.from_env()
    monkeypatch.setenv("STUDIO_LLM_API_KEY", "sk-secret")
    settings = LLMSettings.from_env("http://h/v1/", "m")
    assert settings.base_url == "http://h/v1" and settings.api_key == "sk-secret"
    assert "sk-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            '{"happiness": 2, "sadness": 0, "fear": 0, "surprise": 0, "anger": 0, "disgust": 2}',
            [0.5, 0, 0, 0, 0, 0.5],
        ),
        (
            'Sure: {"Happiness": 1, "Sadness": 0, "Fear": 0, "Surprise": 0, "Anger": 0, "Disgust": 0}',
            [1, 0, 0, 0, 0, 0],
        ),
        ("[0.1, 0.1, 0.1, 0.1, 0.1, 0.5]", [0.1, 0.1, 0.1, 0.1, 0.1, 0.5]),
    ],
)
def test_parse_scores_accepts_objects_and_lists(answer, expected):
    np.testing.assert_allclose(parse_scores(answer), expected)


@pytest.mark.parametrize(
    "answer",
    [
        "no json here",
        '{"happiness": 1}',
        "[1, 2, 3]",
        '{"happiness": -1, "sadness": 1, "fear": 0, "surprise": 0, "anger": 0, "disgust": 0}',
        '{"happiness": 0, "sadness": 0, "fear": 0, "surprise": 0, "anger": 0, "disgust": 0}',
        '{"happiness": "a lot", "sadness": 0, "fear": 0, "surprise": 0, "anger": 0, "disgust": 0}',
        '{"happiness": true, "sadness": 0, "fear": 0, "surprise": 0, "anger": 0, "disgust": 0}',
    ],
)
def test_parse_scores_refuses_bad_answers(answer):
    with pytest.raises(ValueError):
        parse_scores(answer)
