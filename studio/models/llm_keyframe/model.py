"""The ``llm-keyframe`` family: a KeyframeFace-style LLM behind an OpenAI-compatible chat endpoint.

For each keyframe of the prompt's script the model sends one chat request in the KeyframeFace
format (system prompt; user turn with the keyframe description sequence, background, emotion and
a task instruction naming that keyframe), expects strict JSON ``{"Keyframe_k": {61 names}}``
back, validates names and ranges (:func:`studio.formats.keyframeface.parse_keyframe_answer`),
and interpolates the valid keyframes across the requested duration. LLMs do return malformed or
partial JSON, and servers time out or fail: every keyframe's outcome is reported (``meta``
``keyframe_report``, notices) and counted by kind (``meta["llm_failures"]`` for the request,
``failure_counts`` over the model's life). A clip is built from the keyframes that came back;
only when none did is the request an error.

Options: ``url`` (the server's base URL, e.g. ``http://127.0.0.1:8000/v1``), ``model``,
``api_key_env`` (the *name* of the environment variable holding the key; the key itself never
goes in the config), ``timeout_s`` (30), ``retries`` (2; timeouts, connection errors, HTTP 429 and
5xx are retried), ``retry_backoff_s`` (0.5, doubled per retry), ``temperature`` (0),
``max_tokens`` (4096), ``json_mode`` (false; sends ``response_format: json_object``),
``system_prompt``, ``parallel`` (4 keyframe requests at once).

Determinism: requests carry the seed and temperature 0, and answers are cached per (prompt,
seed, keyframe) for the model's life, so asking again gives the same clip without a request.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.config import secret_from_env
from studio.errors import StudioError
from studio.formats.keyframeface import (
    SYSTEM_PROMPT,
    KeyframeScript,
    format_user_message,
    keyframes_to_clip,
    parse_keyframe_answer,
)
from studio.models.base import ExpressionModel, ModelError, ModelSpec
from studio.models.keyframe.text import MAX_KEYFRAMES, parse_script_prompt, split_keyframes
from studio.models.registry import register_model
from studio.motion import MotionClip

FAMILY = "llm-keyframe"
FPS = 30.0
OPTIONS = {
    "url",
    "model",
    "api_key_env",
    "timeout_s",
    "retries",
    "retry_backoff_s",
    "temperature",
    "max_tokens",
    "json_mode",
    "system_prompt",
    "parallel",
}
RETRY_STATUS = {429, 500, 502, 503, 504}
# failure kinds, in the words a results table would use
KINDS = (
    "timeout",
    "http_error",
    "connection",
    "bad_response",
    "invalid_json",
    "bad_structure",
    "missing_names",
    "unknown_names",
    "out_of_range",
    "bad_value",
)


@dataclass(frozen=True)
class KeyframeOutcome:
    """What came back for one keyframe: ``values (61,)`` in ARKit order, or the failure."""

    keyframe: int  # 1-based, as in "Keyframe_1"
    description: str
    values: np.ndarray | None
    kind: str | None = None  # one of KINDS when it failed
    problem: str | None = None
    attempts: int = 1

    def report(self) -> dict[str, Any]:
        status = "ok" if self.values is not None else self.kind
        return {
            "keyframe": f"Keyframe_{self.keyframe}",
            "status": status,
            "problem": self.problem,
            "attempts": self.attempts,
        }


def script_for(prompt: str) -> KeyframeScript:
    """The prompt as a KeyframeFace script: parsed when it is one, else its actions split into
    keyframes ("smiles and then frowns" -> two) with the whole prompt as the background."""
    script = parse_script_prompt(prompt)
    if script is not None:
        return KeyframeScript(script.keyframes[:MAX_KEYFRAMES], script.background, script.emotion)
    plan = split_keyframes(prompt)
    return KeyframeScript(plan.pieces, background=plan.context, emotion="")


def classify(problem: str) -> str:
    """Map a :func:`parse_keyframe_answer` problem to a failure kind."""
    checks = (
        ("invalid JSON", "invalid_json"),
        ("not a JSON object", "invalid_json"),
        ("missing", "missing_names"),
        ("unknown names", "unknown_names"),
        ("out of [", "out_of_range"),
        ("not a finite number", "bad_value"),
    )
    return next((kind for needle, kind in checks if needle in problem), "bad_structure")


class _KeyframeFailedError(StudioError):
    def __init__(self, kind: str, problem: str, retry: bool) -> None:
        super().__init__(problem)
        self.kind, self.problem, self.retry = kind, problem, retry


@register_model(FAMILY)
class LLMKeyframeModel(ExpressionModel):
    """Generates ``(round(30 * duration_s), 61)`` ARKit clips from LLM-written keyframes."""

    space = "arkit"
    uses_text_encoder = False  # the LLM reads the text itself

    def __init__(
        self,
        name: str,
        *,
        url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        retries: int = 2,
        retry_backoff_s: float = 0.5,
        temperature: float = 0.0,
        max_tokens: int = 4096,
        json_mode: bool = False,
        system_prompt: str = SYSTEM_PROMPT,
        parallel: int = 4,
    ) -> None:
        import httpx

        url = url.rstrip("/")
        self.name = name
        self.endpoint = url if url.endswith("/chat/completions") else f"{url}/chat/completions"
        self.model = model
        self.timeout_s = timeout_s
        self.retries = retries
        self.retry_backoff_s = retry_backoff_s
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.json_mode = json_mode
        self.system_prompt = system_prompt
        self.parallel = parallel
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout_s), follow_redirects=False)
        self._cache: dict[tuple[str, int, int], np.ndarray] = {}
        self.failure_counts: Counter[str] = Counter()  # over every request this model has made
        self.requests_made = 0

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> LLMKeyframeModel:
        """Validate the options; read the key from the environment variable the config names."""
        options = dict(spec.options)
        if "api_key" in options:
            raise ModelError(
                f"{spec.name}: never put an API key in the models config; export it and name the "
                "variable in options.api_key_env"
            )
        unknown = set(options) - OPTIONS
        if unknown:
            raise ModelError(
                f"{spec.name}: unknown llm-keyframe options {sorted(unknown)} (known: {sorted(OPTIONS)})"
            )
        url, model = str(options.get("url", "")), str(options.get("model", ""))
        if not url.startswith(("http://", "https://")):
            raise ModelError(f"{spec.name}: options.url must be the server's http(s) base URL, got {url!r}")
        if not model:
            raise ModelError(f"{spec.name}: options.model must name the model the server should run")
        api_key = None
        if options.get("api_key_env"):
            variable = str(options["api_key_env"])
            api_key = secret_from_env(variable)
            if not api_key:
                raise ModelError(
                    f"{spec.name}: environment variable {variable} (options.api_key_env) is not set"
                )
        try:
            numbers = {
                "timeout_s": float(options.get("timeout_s", 30.0)),
                "retries": int(options.get("retries", 2)),
                "retry_backoff_s": float(options.get("retry_backoff_s", 0.5)),
                "temperature": float(options.get("temperature", 0.0)),
                "max_tokens": int(options.get("max_tokens", 4096)),
                "parallel": int(options.get("parallel", 4)),
            }
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{spec.name}: bad llm-keyframe option ({exc})") from None
        if not (
            0 < numbers["timeout_s"] <= 600
            and 0 <= numbers["retries"] <= 10
            and numbers["parallel"] >= 1
            and numbers["retry_backoff_s"] >= 0
            and numbers["max_tokens"] > 0
        ):
            raise ModelError(
                f"{spec.name}: timeout_s in (0, 600], retries in 0..10, parallel >= 1, max_tokens > 0"
            )
        return cls(
            spec.name,
            url=url,
            model=model,
            api_key=api_key,
            json_mode=bool(options.get("json_mode")),
            system_prompt=str(options.get("system_prompt", SYSTEM_PROMPT)),
            **numbers,
        )  # type: ignore[arg-type]

    # -- generation --------------------------------------------------------------------------

    def generate(self, prompt: str, *, seed: int, duration_s: float) -> MotionClip:
        """Ask for every keyframe, keep the valid ones, interpolate them over ``duration_s``."""
        script = script_for(prompt)
        count = len(script.keyframes)
        jobs = range(1, count + 1)
        if self.parallel > 1 and count > 1:
            with ThreadPoolExecutor(min(self.parallel, count)) as pool:
                outcomes = list(pool.map(lambda k: self._keyframe(script, k, seed), jobs))
        else:
            outcomes = [self._keyframe(script, k, seed) for k in jobs]
        failures = Counter(o.kind for o in outcomes if o.kind)
        self.failure_counts.update(failures)
        good = [o for o in outcomes if o.values is not None]
        if not good:
            detail = "; ".join(f"Keyframe_{o.keyframe}: {o.problem}" for o in outcomes)
            raise ModelError(f"{self.name}: all {count} keyframes failed ({_summary(failures)}): {detail}")
        # keyframe k of K sits at k/(K+1) of the clip whether or not its neighbours came back
        times = [duration_s * o.keyframe / (count + 1) for o in good]
        clip = keyframes_to_clip(
            np.stack([o.values for o in good]), fps=FPS, times_s=times, hold_s=duration_s - times[-1]
        )
        n_out = max(1, round(duration_s * FPS))
        values = clip.values[:n_out]
        if len(values) < n_out:  # float rounding of the last frame: hold it
            values = np.vstack([values, np.repeat(values[-1:], n_out - len(values), axis=0)])
        notices = [
            f"{self.name}: Keyframe_{o.keyframe} failed ({o.kind}): {o.problem}" for o in outcomes if o.kind
        ]
        if failures:
            notices.append(f"{self.name}: clip built from {len(good)} of {count} keyframes")
        meta = {
            "model": self.name,
            "family": FAMILY,
            "prompt": prompt,
            "seed": int(seed),
            "keyframe_times_s": times,
            "keyframe_report": [o.report() for o in outcomes],
            "llm_failures": dict(failures),
            "notices": tuple(notices),
        }
        return MotionClip(values, FPS, "arkit", clip.channels, meta)

    def _keyframe(self, script: KeyframeScript, k: int, seed: int) -> KeyframeOutcome:
        user = format_user_message(script, keyframe=k)
        description = script.keyframes[k - 1]
        key = (user, int(seed), k)
        if key in self._cache:
            return KeyframeOutcome(k, description, self._cache[key], attempts=0)
        attempts = 0
        while True:
            attempts += 1
            try:
                content = self._ask(user, seed)
                values = self._read_answer(content, k)
            except _KeyframeFailedError as failure:
                if failure.retry and attempts <= self.retries:
                    time.sleep(self.retry_backoff_s * 2 ** (attempts - 1))
                    continue
                return KeyframeOutcome(k, description, None, failure.kind, failure.problem, attempts)
            self._cache[key] = values
            return KeyframeOutcome(k, description, values, attempts=attempts)

    def _ask(self, user: str, seed: int) -> str:
        """One chat completion; returns the assistant's text or raises :class:`_KeyframeFailedError`."""
        import httpx

        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": self.system_prompt},
                {"role": "user", "content": user},
            ],
            "temperature": self.temperature,
            "seed": int(seed),
            "max_tokens": self.max_tokens,
        }
        if self.json_mode:
            body["response_format"] = {"type": "json_object"}
        self.requests_made += 1
        try:
            response = self._client.post(self.endpoint, json=body)
        except httpx.TimeoutException:
            raise _KeyframeFailedError(
                "timeout", f"no answer within {self.timeout_s:g} s", retry=True
            ) from None
        except httpx.TransportError as exc:
            raise _KeyframeFailedError(
                "connection", f"cannot reach {self.endpoint}: {type(exc).__name__}", retry=True
            ) from None
        if response.status_code != 200:
            snippet = " ".join(response.text.split())[:120]
            raise _KeyframeFailedError(
                "http_error",
                f"HTTP {response.status_code}: {snippet}",
                retry=response.status_code in RETRY_STATUS,
            )
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _KeyframeFailedError(
                "bad_response", "not an OpenAI chat-completion response", retry=False
            ) from None
        if not isinstance(content, str):
            raise _KeyframeFailedError("bad_response", "the message has no text content", retry=False)
        return content

    @staticmethod
    def _read_answer(content: str, k: int) -> np.ndarray:
        """The ``(61,)`` values of ``Keyframe_k`` in the answer; raises why not."""
        answer = parse_keyframe_answer(content)
        wanted = f"Keyframe_{k}"
        if wanted in answer.names:
            return answer.values[answer.names.index(wanted)]
        own = [p for p in answer.problems if p.startswith(f"{wanted}:")]
        if own or answer.problems:
            problem = (own or list(answer.problems))[0]
            raise _KeyframeFailedError(classify(problem), problem, retry=False)
        if len(answer.names) == 1:  # a valid keyframe under another number: LLMs renumber
            return answer.values[0]
        raise _KeyframeFailedError(
            "bad_structure", f"no {wanted} in the answer (has {list(answer.names)[:3]})", retry=False
        )

    def close(self) -> None:
        self._client.close()


def _summary(failures: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in sorted(failures.items()))
