"""Run several models on one prompt and seed: the heart of the Compare view.

Pure orchestration over :func:`studio.models.run_model`: no files, no rendering. A model that
fails, in any way (a bug raising ``KeyError`` or ``MemoryError`` included), yields a
:class:`~studio.models.Generation` with its error; the others are unaffected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from studio.models import ExpressionModel, Generation, run_model


@dataclass(frozen=True)
class Comparison:
    """Every selected model's answer to one (prompt, seed, duration) request, in order."""

    prompt: str
    seed: int
    duration_s: float
    generations: tuple[Generation, ...]

    def panel(self, generation: Generation) -> tuple[object, str]:
        """What a side-by-side panel shows: the clip, or a message; and its caption."""
        if generation.clip is not None:
            return generation.clip, f"{generation.model} · {generation.latency_ms:.0f} ms"
        if generation.no_output:  # the error already says "no stored output"; the font has no em dash
            return str(generation.error), f"{generation.model} · not stored"
        return f"Failed: {generation.error}", f"{generation.model} · error"


def run_comparison(
    models: Sequence[ExpressionModel],
    prompt: str,
    *,
    seed: int,
    duration_s: float,
    on_model: Callable[[int, str], None] | None = None,
) -> Comparison:
    """Run each model in turn on the same request; ``on_model(i, name)`` reports progress.

    The shared MiniLM encoder is loaded first (once per process) so that each model's latency
    measures the model, not whichever model happened to run first.
    """
    if any(getattr(model, "uses_text_encoder", True) for model in models):
        try:
            from studio.text import embed_text

            embed_text("warm up")
        except Exception:  # noqa: S110 - each model that needs the encoder reports it itself
            pass
    generations = []
    for i, model in enumerate(models):
        if on_model is not None:
            on_model(i, model.name)
        generations.append(run_model(model, prompt, seed=seed, duration_s=duration_s))
    return Comparison(prompt, int(seed), float(duration_s), tuple(generations))


def request_key(prompt: str, seed: int, duration_s: float, models: Sequence[str], **stage: object) -> str:
    """Content hash naming a comparison's files: the same request gives the same name, and the
    name reveals nothing about which models are in it."""
    payload = json.dumps(
        {"prompt": prompt, "seed": seed, "duration_s": duration_s, "models": list(models), "stage": stage},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]
