"""Models: the registry, the models config, and one checked way to run any model.

``load_models(read_models_config(path))`` loads every configured model and reports, per
entry, the model or the reason it could not load. ``run_model`` never raises for a model's
own failure: it returns a :class:`Generation` with the clip or one clear error, so one broken
model never takes the others down.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.formats import FormatError
from studio.formats.checkpoints import read_config_file
from studio.formats.errors import describe
from studio.models.base import (
    MAX_DURATION_S,
    MAX_SEED,
    MIN_DURATION_S,
    WEIGHT_TOLERANCE,
    ExpressionModel,
    ModelError,
    ModelSpec,
    NoStoredOutputError,
    resolve_device,
)
from studio.models.prompts import MAX_PROMPT_CHARS, PromptError, clean_prompt
from studio.models.registry import family_class, family_names, load_families, register_model
from studio.motion import ARKIT_BLENDSHAPES, MotionClip

__all__ = [
    "MAX_PROMPT_CHARS",
    "ExpressionModel",
    "Generation",
    "LoadReport",
    "ModelError",
    "ModelSpec",
    "NoStoredOutputError",
    "PromptError",
    "check_request",
    "clean_prompt",
    "family_class",
    "family_names",
    "load_families",
    "load_model",
    "load_models",
    "read_models_config",
    "register_model",
    "resolve_device",
    "run_model",
]


def read_models_config(path: str | Path) -> list[ModelSpec]:
    """Parse a models config (YAML or TOML with a top-level ``models`` list)."""
    path = Path(path)
    data = read_config_file(path)
    entries = data.get("models", [])
    if not isinstance(entries, list):
        raise FormatError(path, "'models' must be a list")
    specs, names = [], set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise FormatError(path, "each model entry must be a mapping", f"models[{index}]")
        try:
            spec = ModelSpec.from_mapping(entry, path.parent)
        except ValueError as exc:
            raise FormatError(path, str(exc), f"models[{index}]") from None
        if spec.family not in load_families():
            known = ", ".join(family_names())
            raise FormatError(
                path, f"{spec.name}: unknown family {spec.family!r}; known: {known}", f"models[{index}]"
            )
        if spec.name in names:
            raise FormatError(path, f"model name {spec.name!r} appears twice", f"models[{index}]")
        names.add(spec.name)
        specs.append(spec)
    return specs


def load_model(spec: ModelSpec) -> ExpressionModel:
    """Build one model from its spec; any failure becomes one :class:`ModelError`."""
    try:
        model = family_class(spec.family).from_spec(spec)
    except ModelError:
        raise
    except FormatError as exc:  # includes CheckpointError: bad hash, missing file
        raise ModelError(f"{spec.name}: {exc}") from None
    except Exception as exc:  # a checkpoint a library chokes on, a plugin's bug: this model's alone
        raise ModelError(f"{spec.name}: unexpected error while loading: {describe(exc)}") from exc
    if model.space != spec.space:
        raise ModelError(f"{spec.name}: config says space {spec.space!r}, the model produces {model.space!r}")
    return model


@dataclass(frozen=True)
class LoadReport:
    """Outcome of loading one configured model."""

    spec: ModelSpec
    model: ExpressionModel | None
    error: str | None
    load_s: float


def load_models(specs: Sequence[ModelSpec]) -> list[LoadReport]:
    reports = []
    for spec in specs:
        start = time.perf_counter()
        try:
            model, error = load_model(spec), None
        except ModelError as exc:
            model, error = None, str(exc)
        reports.append(LoadReport(spec, model, error, time.perf_counter() - start))
    return reports


@dataclass(frozen=True)
class Generation:
    """One model's answer to one request: a clip, or an error; never both."""

    model: str
    clip: MotionClip | None
    latency_ms: float
    notices: tuple[str, ...] = field(default_factory=tuple)
    error: str | None = None
    no_output: bool = False  # a results folder without this prompt: a state, not a failure


def check_request(prompt: str, seed: int, duration_s: float) -> tuple[str, tuple[str, ...]]:
    """Validate a request; returns the cleaned prompt and notices. Raises PromptError/ValueError."""
    cleaned = clean_prompt(prompt)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, {MAX_SEED}]")
    if not MIN_DURATION_S <= float(duration_s) <= MAX_DURATION_S:
        raise ValueError(f"duration must be between {MIN_DURATION_S:g} and {MAX_DURATION_S:g} s")
    return cleaned.text, cleaned.notices


def check_output(model: ExpressionModel, clip: object) -> MotionClip:
    """Enforce the output contract: a MotionClip in the model's space, ARKit weights in range."""
    if not isinstance(clip, MotionClip):
        raise ModelError(f"returned {type(clip).__name__}, not a MotionClip")
    if clip.space != model.space:
        raise ModelError(f"returned a {clip.space} clip but declares space {model.space!r}")
    if clip.space == "arkit":
        weights = clip.values[:, : len(ARKIT_BLENDSHAPES)]
        low, high = WEIGHT_TOLERANCE
        if weights.min() < low or weights.max() > high:
            raise ModelError(f"blendshape weights outside [0, 1] ({weights.min():.3g}..{weights.max():.3g})")
    return clip


def run_model(model: ExpressionModel, prompt: str, *, seed: int, duration_s: float) -> Generation:
    """Run ``model`` on a cleaned prompt and check what it returns; failures become ``error``.

    Any exception, even one the family does not expect (a bug: ``KeyError``, ``RuntimeError``,
    ``MemoryError``...), becomes this Generation's error, so it stays in this model's panel or
    status row and the other models still run."""
    start = time.perf_counter()
    try:
        text, notices = check_request(prompt, seed, duration_s)
    except ValueError as exc:  # PromptError is a ValueError
        return Generation(model.name, None, 0.0, (), str(exc))
    try:
        clip = check_output(model, model.generate(text, seed=int(seed), duration_s=float(duration_s)))
    except NoStoredOutputError as exc:
        return Generation(model.name, None, _ms(start), notices, str(exc), no_output=True)
    except (ModelError, FormatError, ValueError) as exc:
        return Generation(model.name, None, _ms(start), notices, str(exc))
    except Exception as exc:  # any failure of one model is that model's
        name = str(getattr(model, "name", type(model).__name__))
        return Generation(name, None, _ms(start), notices, f"{name}: unexpected error: {describe(exc)}")
    extra = tuple(clip.meta.get("notices", ()))
    return Generation(model.name, clip, _ms(start), notices + extra)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
