"""The model protocol, the family registry and the models-config entry.

Every family is one folder under ``studio/models/`` whose module registers a class::

    @register_model("retrieval")          # a duplicate name raises at import time
    class RetrievalModel:
        @classmethod
        def from_spec(cls, spec: ModelSpec) -> "RetrievalModel": ...
        def generate(self, prompt: str, *, seed: int, duration_s: float) -> MotionClip: ...

Family modules keep heavy imports (torch, transformers) inside functions so that listing the
families stays cheap.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from studio.errors import StudioError
from studio.motion import MotionClip, Space

Device = Literal["auto", "cpu", "cuda"]
# Model and family names: lowercase letters, digits, '-', '_' or '.' (they become file and URL parts).
MODEL_NAME = FAMILY_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
MAX_SEED = 2**32 - 1  # seeds are unsigned 32-bit, as numpy's and torch's generators take them
MIN_DURATION_S, MAX_DURATION_S = 0.5, 30.0  # what one request may ask a model for

# Family name -> module that registers it; imported on first use.
FAMILY_MODULES: dict[str, str] = {
    "results": "studio.models.results",
    "mdm": "studio.models.mdm",
    "emotion-label": "studio.models.emotion_label",
    "retrieval": "studio.models.retrieval",
    "keyframe": "studio.models.keyframe",
    "express4d": "studio.models.express4d",
    "llm-keyframe": "studio.models.llm_keyframe",
}
# Families from installed packages (entry-point group ``expression_studio.families``) join
# FAMILY_MODULES when :func:`studio.models.plugins.discover_plugins` runs.


@runtime_checkable
class ExpressionModel(Protocol):
    """What the studio calls. ``generate`` is deterministic for a given prompt and seed."""

    name: str
    space: Space

    def generate(self, prompt: str, *, seed: int, duration_s: float) -> MotionClip: ...


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
        if family not in FAMILY_MODULES:  # perhaps a plugin's family: look for installed ones once
            from studio.models.plugins import discover_plugins

            discover_plugins()
        if family not in FAMILY_MODULES:
            raise ValueError(f"{name}: unknown family {family!r}; known: {', '.join(sorted(FAMILY_MODULES))}")
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


ModelClass = TypeVar("ModelClass", bound=type)
_FAMILIES: dict[str, type] = {}


def register_model(family: str) -> Callable[[ModelClass], ModelClass]:
    """Class decorator adding a family to the registry; registering a name twice raises."""

    def decorate(cls: ModelClass) -> ModelClass:
        if family in _FAMILIES:
            raise ValueError(
                f"model family {family!r} is already registered by {_FAMILIES[family].__qualname__}"
            )
        if not callable(getattr(cls, "from_spec", None)) or not callable(getattr(cls, "generate", None)):
            raise TypeError(f"{cls.__qualname__} must define from_spec() and generate()")
        _FAMILIES[family] = cls
        return cls

    return decorate


def family_class(family: str) -> type:
    """The class registered for ``family``, importing its module on first use."""
    if family not in _FAMILIES:
        if family not in FAMILY_MODULES:  # perhaps a plugin's family: look for installed ones once
            from studio.models.plugins import discover_plugins

            discover_plugins()
        module = FAMILY_MODULES.get(family)
        if module is None:
            raise ModelError(f"unknown model family {family!r}; known: {', '.join(sorted(FAMILY_MODULES))}")
        importlib.import_module(module)
    return _FAMILIES[family]


def registered_families() -> frozenset[str]:
    """Families whose class is registered now (imported built-ins and loaded plugins)."""
    return frozenset(_FAMILIES)


def resolve_device(device: Device) -> str:
    """``auto`` means CUDA when torch sees a GPU, else CPU."""
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"
