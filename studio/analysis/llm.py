"""Prompt categories from an OpenAI-compatible chat endpoint (``POST {base_url}/chat/completions``).

The model is asked, as Express4D did with an LLM, for a score per FACS category that sums to
1, answering JSON only. Works with any server that speaks the OpenAI chat API (OpenAI, vLLM,
llama.cpp's server, Ollama's ``/v1``). The key is read from the parameter or
``STUDIO_LLM_API_KEY`` and never printed. Answers are validated: six finite non-negative
numbers (by name or in order), renormalised to sum to 1; a prompt whose answer stays invalid
after the retries raises :class:`CategoriserError` naming the prompt — never a silent guess.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from studio.analysis.categorise import EMOTIONS, Categorised, language_note
from studio.config import llm_endpoint
from studio.errors import StudioError

SYSTEM_PROMPT = (
    "You label text prompts for a facial-expression dataset with the six basic emotion categories of the "
    "Facial Action Coding System (FACS): happiness, sadness, fear, surprise, anger, disgust. For the prompt "
    "you are given, give each category a score between 0 and 1 saying how strongly the described facial "
    "performance expresses it; the six scores must sum to 1. A prompt that expresses no emotion gets "
    "roughly equal scores. Answer with one JSON object and nothing else, with exactly these keys: "
    '"happiness", "sadness", "fear", "surprise", "anger", "disgust".'
)
EXAMPLE_PROMPT = "laughing naturally as if hearing a funny joke"
EXAMPLE_ANSWER = (
    '{"happiness": 0.812, "sadness": 0.034, "fear": 0.021, "surprise": 0.067, "anger": 0.019, '
    '"disgust": 0.047}'
)  # Express4D's own example of a categorised prompt


class CategoriserError(StudioError, RuntimeError):
    """The LLM backend could not categorise a prompt (unreachable server, bad answers)."""


@dataclass(frozen=True)
class LLMSettings:
    """Where and how to ask. ``base_url`` ends before ``/chat/completions`` (e.g. ``http://host:8000/v1``)."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0
    retries: int = 2
    concurrency: int = 4
    temperature: float = 0.0

    def __post_init__(self) -> None:
        if not re.match(r"^https?://", self.base_url):
            raise CategoriserError(f"LLM URL must start with http:// or https://, got {self.base_url!r}")
        if self.concurrency < 1 or self.retries < 0 or self.timeout_s <= 0:
            raise CategoriserError(
                "LLM settings: concurrency >= 1, retries >= 0 and timeout > 0 are required"
            )

    @classmethod
    def from_env(cls, base_url: str | None = None, model: str | None = None) -> LLMSettings:
        endpoint = llm_endpoint()
        url = base_url or endpoint.url
        name = model or endpoint.model
        if not url or not name:
            raise CategoriserError(
                "the LLM backend needs a URL and a model (--llm-url/--llm-model or "
                "STUDIO_LLM_URL/STUDIO_LLM_MODEL)"
            )
        return cls(url.rstrip("/"), name, endpoint.api_key)


def parse_scores(answer: str) -> np.ndarray:
    """An LLM answer -> ``(6,) float64`` summing to 1. Accepts the JSON object (optionally inside
    a fenced block or surrounded by prose) or a list of six numbers. Raises ValueError."""
    match = re.search(r"\{.*\}|\[.*\]", answer, re.S)
    if not match:
        raise ValueError("no JSON in the answer")
    data = json.loads(match.group(0))
    if isinstance(data, dict):
        lowered = {str(k).strip().lower(): v for k, v in data.items()}
        missing = [e for e in EMOTIONS if e not in lowered]
        if missing:
            raise ValueError(f"answer lacks {missing}")
        values = [lowered[e] for e in EMOTIONS]
    elif isinstance(data, list) and len(data) == len(EMOTIONS):
        values = data
    else:
        raise ValueError("answer is neither a category object nor six numbers")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise ValueError("scores must be numbers")
    scores = np.asarray(values, np.float64)
    if not np.isfinite(scores).all() or (scores < 0).any() or scores.sum() <= 0:
        raise ValueError("scores must be finite, non-negative and not all zero")
    return scores / scores.sum()


class LLMCategoriser:
    """Prompts -> six category scores from an OpenAI-compatible chat endpoint (one request per prompt)."""

    name = "llm"

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings

    def _messages(self, prompt: str) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": EXAMPLE_PROMPT},
            {"role": "assistant", "content": EXAMPLE_ANSWER},
            {"role": "user", "content": prompt},
        ]

    def _post(self, prompt: str) -> str:
        body = json.dumps(
            {
                "model": self.settings.model,
                "messages": self._messages(prompt),
                "temperature": self.settings.temperature,
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        request = urllib.request.Request(  # noqa: S310 (http(s) only, see LLMSettings)
            f"{self.settings.base_url}/chat/completions", data=body, headers=headers, method="POST"
        )
        # LLMSettings refuses any scheme but http(s), so no file:// or custom opener can be reached.
        with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as response:  # noqa: S310
            reply = json.loads(response.read().decode("utf-8"))
        try:
            return str(reply["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError):
            raise ValueError("reply is not an OpenAI chat completion") from None

    def score_one(self, prompt: str) -> np.ndarray:
        """One prompt -> ``(6,)`` scores, retrying transient failures. Raises CategoriserError."""
        problem = ""
        for attempt in range(self.settings.retries + 1):
            try:
                return parse_scores(self._post(prompt))
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code} {exc.reason}"
                if exc.code in (400, 401, 403, 404):
                    break  # retrying will not fix a wrong URL, model or key
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                problem = f"cannot reach {self.settings.base_url}: {getattr(exc, 'reason', exc)}"
            except (ValueError, json.JSONDecodeError) as exc:
                problem = f"unusable answer: {exc}"
            if attempt < self.settings.retries:
                time.sleep(0.2 * 2**attempt)
        shown = prompt if len(prompt) <= 80 else prompt[:77] + "..."
        raise CategoriserError(f"LLM categoriser failed on prompt {shown!r}: {problem}")

    def categorise(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> Categorised:
        """Score ``texts`` (``embeddings`` is accepted for interface parity and ignored)."""
        texts = list(texts)
        if not texts:
            return Categorised(np.zeros((0, len(EMOTIONS))), ())
        distinct = list(dict.fromkeys(texts))  # ask once per distinct prompt
        with ThreadPoolExecutor(max_workers=max(1, self.settings.concurrency)) as pool:
            answers = dict(zip(distinct, pool.map(self.score_one, distinct), strict=True))
        scores = np.stack([answers[t] for t in texts])
        notes = tuple(
            language_note(t).replace(
                "the offline encoder is English-only, scores are unreliable", "check the LLM's scores"
            )
            for t in texts
        )
        return Categorised(scores, notes)
