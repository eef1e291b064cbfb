"""The model protocol and the models-config entry.

Every family subclasses :class:`ExpressionModel` in its own folder under ``studio/models/`` and
registers with :func:`studio.models.registry.register_model`::

    @register_model("retrieval")          # a duplicate name raises at import time
    class RetrievalModel(ExpressionModel):
        looks_up_prompts = False          # capabilities: class attributes, defaults below
        @classmethod
        def from_spec(cls, spec: ModelSpec) -> RetrievalModel: ...
        def generate(self, prompt: str, *, seed: int, duration_s: float) -> MotionClip: ...

Family modules keep heavy imports (torch, transformers) inside functions so that listing the
families stays cheap.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np

from studio.errors import StudioError
from studio.motion import MotionClip, Space

Device = Literal["auto", "cpu", "cuda"]
# Model and family names: lowercase letters, digits, '-', '_' or '.' (they become file and URL parts).
MODEL_NAME = FAMILY_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
MAX_SEED = 2**32 - 1  # seeds are unsigned 32-bit, as numpy's and torch's generators take them
MIN_DURATION_S, MAX_DURATION_S = 0.5, 30.0  # what one request may ask a model for
# ARKit weights a model may return: [0, 1] with room for overshoot that real captures show.
WEIGHT_TOLERANCE = (-0.05, 1.2)


class ModelError(StudioError):
    """A model could not be loaded or could not produce a clip; the message says why."""


class NoStoredOutputError(ModelError):
    """A results-folder model has nothing stored for this prompt (a state, not a crash)."""


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the models config: what to load and how.

    ``checkpoint`` and ``path`` are resolved relative to the config file's folder; ``sha256`` is
    the checkpoint's expected hash; ``options`` holds family-specific settings; ``base_dir`` is
    the config file's folder, against which :meth:`option_path` resolves paths in ``options``.
    """

    name: str
    family: str
    space: Space = "arkit"
    checkpoint: Path | None = None
    sha256: str | None = None
    device: Device = "auto"
    path: Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    base_dir: Path | None = None

    def option_path(self, key: str) -> Path | None:
        """``options[key]`` as a path (``~`` expanded, relative to ``base_dir``), or ``None``."""
        value = self.options.get(key)
        if value in (None, ""):
            return None
        path = Path(str(value)).expanduser()
        return (self.base_dir / path).resolve() if self.base_dir and not path.is_absolute() else path

    @classmethod
    def from_mapping(cls, entry: Mapping[str, Any], base_dir: Path) -> ModelSpec:
        """Validate one config entry; raises ``ValueError`` naming the field."""
        unknown = set(entry) - {
            "name",
            "family",
            "space",
            "checkpoint",
            "sha256",
            "device",
            "path",
            "options",
        }
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        name = str(entry.get("name", ""))
        if not MODEL_NAME.match(name):
            raise ValueError(f"name {name!r} must be lowercase letters, digits, '-', '_' or '.'")
        family = str(entry.get("family", ""))
        if not FAMILY_NAME.match(family):
            raise ValueError(f"{name}: family {family!r} is not a valid family name")
        space = entry.get("space", "arkit")
        if space not in ("arkit", "flame"):
            raise ValueError(f"{name}: space must be 'arkit' or 'flame', got {space!r}")
        device = entry.get("device", "auto")
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"{name}: device must be auto, cpu or cuda, got {device!r}")
        sha256 = entry.get("sha256")
        if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", str(sha256)):
            raise ValueError(f"{name}: sha256 must be 64 hex digits")
        options = entry.get("options") or {}
        if not isinstance(options, Mapping):
            raise ValueError(f"{name}: options must be a mapping")

        def resolve(key: str) -> Path | None:
            value = entry.get(key)
            return None if value in (None, "") else (base_dir / str(value)).resolve()

        return cls(
            name,
            family,
            space,
            resolve("checkpoint"),
            sha256,
            device,
            resolve("path"),
            dict(options),
            base_dir.resolve(),
        )


def resolve_device(device: Device) -> str:
    """``auto`` means CUDA when torch sees a GPU, else CPU."""
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


class ExpressionModel:
    """What the studio calls: text in, one :class:`MotionClip` out; deterministic per prompt and seed.

    A family subclasses this and defines :meth:`from_spec` and :meth:`generate`. The class
    attributes below declare what else it can do; the defaults fit a plain family, so a family
    overrides only those that differ.

    - ``space``: ``"arkit"`` (61 channels: 52 blendshapes + head/eye rotations) or ``"flame"``.
    - ``uses_text_encoder``: embeds prompts with the shared MiniLM encoder, which a caller warms
      once before running several models.
    - ``looks_up_prompts``: serves stored outputs; a prompt it does not hold is the "no stored
      output" state (:class:`NoStoredOutputError`), not a failure.
    - ``mixed_length_batches``: :meth:`generate_batch` takes one duration per prompt.
    - ``trainable``: :meth:`train` writes a checkpoint from a dataset folder.
    - ``checkpoint_sha256``: the SHA-256 of the weights this instance runs (``None`` without a
      checkpoint); results and listings report it.
    """

    family: ClassVar[str] = ""  # set by register_model
    space: Space = "arkit"
    uses_text_encoder: ClassVar[bool] = True
    looks_up_prompts: ClassVar[bool] = False
    mixed_length_batches: ClassVar[bool] = False
    trainable: ClassVar[bool] = False
    checkpoint_sha256: str | None = None
    name: str

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> Self:
        """Build the model one models-config entry describes; raise :class:`ModelError` if it cannot."""
        raise NotImplementedError

    def generate(self, prompt: str, *, seed: int, duration_s: float) -> MotionClip:
        """One clip of ``duration_s`` seconds for a cleaned ``prompt``; same prompt and seed, same clip."""
        raise NotImplementedError

    def generate_batch(
        self, prompts: Sequence[str], seeds: Sequence[int], duration_s: float | Sequence[float]
    ) -> list[MotionClip]:
        """Clips for several prompts: one per (prompt, seed), each ``duration_s`` seconds long (or
        its own duration when ``mixed_length_batches``). Batched families override this; the
        default generates one clip at a time."""
        durations = [duration_s] * len(prompts) if np.isscalar(duration_s) else list(duration_s)  # type: ignore[arg-type]
        if not len(prompts) == len(seeds) == len(durations):
            raise ValueError(f"{len(prompts)} prompts, {len(seeds)} seeds and {len(durations)} durations")
        return [
            self.generate(prompt, seed=int(seed), duration_s=float(duration))
            for prompt, seed, duration in zip(prompts, seeds, durations, strict=True)
        ]

    @classmethod
    def train(cls, data: Path, out: Path, *, seed: int, quick: bool) -> str:
        """Train on the dataset folder ``data``, write ``out`` (.safetensors + .json) and return its
        SHA-256. Only families with ``trainable = True`` implement it."""
        raise ModelError(f"family {cls.family!r} is not trainable")
