"""A fake OpenAI-compatible chat server on 127.0.0.1 for the llm-keyframe tests.

The requested ``model`` name picks the behaviour, so one server serves every test at once:

=============  ==================================================================
``good``       a valid answer for the requested keyframe (Live Link spelling)
``camel``      the same with Apple's lowerCamel names
``fenced``     a valid answer inside a markdown code fence
``renumbered`` a valid answer, always labelled ``Keyframe_1``
``malformed``  JSON cut off mid-object
``prose``      "Sure! Here are the coefficients..." without JSON
``partial``    only the first 30 coefficients
``range``      MouthSmileLeft = 1.7
``mixed``      keyframe 1 valid, every later keyframe malformed
``slow``       a valid answer after ``SLOW_S`` seconds
``http500``    HTTP 500 every time
``flaky``      HTTP 503 on the first request for a message, valid afterwards
``envelope``   HTTP 200 with a body that is not a chat completion
=============  ==================================================================

A valid answer is a deterministic function of the keyframe description: smiles when it says
"smile", frowns when it says "frown", small values elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from studio.formats.keyframeface import answer_json
from studio.motion import ARKIT_CHANNELS, ARKIT_INDEX

SLOW_S = 1.5


def keyframe_values(description: str) -> np.ndarray:
    """The ``(61,)`` pose the fake LLM gives a keyframe description."""
    seed = int.from_bytes(hashlib.blake2b(description.encode(), digest_size=4).digest(), "little")
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.uniform(0, 0.2, 52), rng.uniform(-0.1, 0.1, 9)])
    if "smile" in description.lower():
        values[[ARKIT_INDEX["mouthSmileLeft"], ARKIT_INDEX["mouthSmileRight"]]] = 0.9
    if "frown" in description.lower():
        values[[ARKIT_INDEX["mouthFrownLeft"], ARKIT_INDEX["browDownLeft"]]] = 0.8
    return np.round(values, 4)


def _requested(user: str) -> tuple[int, str]:
    """(keyframe number, its description) from a KeyframeFace user message."""
    k = int(re.search(r"Task Instruction:.*?Keyframe_(\d+)", user, re.S).group(1))
    description = re.search(rf"^{k}\. (.*)$", user, re.M).group(1)
    return k, description


def _answer(mode: str, user: str) -> str:
    k, description = _requested(user)
    values = keyframe_values(description)
    body = json.loads(answer_json(values[None]))["Keyframe_1"]
    label = "Keyframe_1" if mode == "renumbered" else f"Keyframe_{k}"
    if mode == "camel":
        body = {name: body[name[0].upper() + name[1:]] for name in ARKIT_CHANNELS}
    if mode == "partial":
        body = dict(list(body.items())[:30])
    if mode == "range":
        body["MouthSmileLeft"] = 1.7
    text = json.dumps({label: body})
    if mode == "fenced":
        return f"```json\n{text}\n```"
    if mode == "malformed" or (mode == "mixed" and k > 1):
        return text[: len(text) // 2]
    if mode == "prose":
        return "Sure! Here are the coefficients you asked for: the mouth smiles and the brows rise."
    return text


class FakeLLMServer:
    """Serves ``POST /v1/chat/completions``; records every request (headers and JSON body)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with server._lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                mode = body.get("model", "good")
                user = next(m["content"] for m in body["messages"] if m["role"] == "user")
                if mode == "http500":
                    return self._send(500, {"error": {"message": "internal error"}})
                if mode == "flaky":
                    with server._lock:
                        first = user not in server._seen
                        server._seen.add(user)
                    if first:
                        return self._send(503, {"error": {"message": "overloaded"}})
                if mode == "envelope":
                    return self._send(200, {"result": "not a chat completion"})
                if mode == "slow":
                    time.sleep(SLOW_S)
                message = {"role": "assistant", "content": _answer(mode, user)}
                choice = {"index": 0, "finish_reason": "stop", "message": message}
                self._send(
                    200, {"id": "fake", "object": "chat.completion", "model": mode, "choices": [choice]}
                )

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def requests_for(self, mode: str) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["body"].get("model") == mode]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


_shared: FakeLLMServer | None = None


def shared_server() -> FakeLLMServer:
    """One server per test session (started on first use; its thread is a daemon)."""
    global _shared
    if _shared is None:
        _shared = FakeLLMServer()
    return _shared
