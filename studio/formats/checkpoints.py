"""Model checkpoints (safetensors + JSON config) and the models config file.

A checkpoint is ``NAME.safetensors``: tensors as numpy arrays, with the model's JSON config
embedded in the safetensors metadata under ``studio_config`` so that one SHA-256 covers weights
and config alike; ``NAME.json`` beside it repeats the config for people to read. Nothing here
unpickles anything: safetensors holds raw arrays only.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from studio.formats.errors import FormatError

CONFIG_KEY = "studio_config"


class CheckpointError(FormatError):
    """A checkpoint is missing, corrupt, or not the file its hash promises."""


@dataclass(frozen=True)
class Checkpoint:
    """Loaded weights: ``tensors`` name -> array, the model ``config``, the file's ``sha256``."""

    path: Path
    sha256: str
    config: dict[str, Any]
    tensors: dict[str, np.ndarray] = field(repr=False)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checkpoint(path: str | Path, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> str:
    """Write ``path`` (.safetensors) and its ``.json`` sidecar; return the SHA-256 of the former."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(config, indent=2, sort_keys=True)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, path, metadata={CONFIG_KEY: text})
    path.with_suffix(".json").write_text(text + "\n", encoding="utf-8")
    return sha256_file(path)


def read_checkpoint(path: str | Path, expected_sha256: str | None = None) -> Checkpoint:
    """Verify the hash (when given) before reading anything, then load tensors and config."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "checkpoint file not found")
    if path.suffix != ".safetensors":
        raise CheckpointError(path, "checkpoints must be .safetensors (pickled formats are never loaded)")
    actual = sha256_file(path)
    if expected_sha256 and actual != expected_sha256.lower():
        raise CheckpointError(
            path,
            f"SHA-256 mismatch: expected {expected_sha256[:12]}…, file has {actual[:12]}…; "
            "refusing to load (re-train, or update the hash in the models config if you trust the file)",
        )
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 - not a dict
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(path, f"not a readable safetensors file: {exc}") from None
    try:
        config = json.loads(metadata[CONFIG_KEY])
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(path, f"no studio config in the safetensors metadata ({CONFIG_KEY})") from None
    return Checkpoint(path, actual, config, tensors)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file into a dict."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(path, f"cannot read: {exc}") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise FormatError(path, f"not valid {'TOML' if path.suffix == '.toml' else 'YAML'}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FormatError(path, "must hold a mapping at the top level")
    return data
