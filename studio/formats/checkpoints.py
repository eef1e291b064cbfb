"""Model checkpoints (safetensors + JSON config) and the models config file.

A checkpoint is ``NAME.safetensors``: tensors as numpy arrays, with the model's JSON config
embedded in the safetensors metadata under ``studio_config`` so that one SHA-256 covers weights
and config alike; ``NAME.json`` beside it repeats the config for people to read. Nothing here
unpickles anything: safetensors holds raw arrays only.
"""

from __future__ import annotations

import hashlib
import json
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from studio.formats.errors import FormatError
from studio.formats.paths import stat_or_none
from studio.formats.text import TextError, bracket_depth, loads_json, read_text

CONFIG_KEY = "studio_config"
# A models config lists a few models: a few kilobytes (64 kB is ~800 models). The YAML parser is
# pure Python (tens of kB/s on dense flow mappings), so the cap also bounds the time it takes.
MAX_CONFIG_BYTES = 64 * 1024
# PyYAML's scanner does work proportional to the flow nesting depth for every token: deeply
# nested [ and { make parsing quadratic. A config needs a few levels.
MAX_FLOW_DEPTH = 32


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
    try:
        found = stat_or_none(path)
    except FormatError as exc:
        raise CheckpointError(path, exc.problem) from None
    if found is None or not stat.S_ISREG(found.st_mode):
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
    if CONFIG_KEY not in metadata:
        raise CheckpointError(path, f"no studio config in the safetensors metadata ({CONFIG_KEY})")
    try:
        config = loads_json(metadata[CONFIG_KEY])
    except TextError as exc:
        raise CheckpointError(path, f"the studio config in the metadata is not valid: {exc}") from None
    if not isinstance(config, dict):
        raise CheckpointError(path, "the studio config in the metadata is not a JSON object")
    return Checkpoint(path, actual, config, tensors)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file into a dict.

    The file must be UTF-8 and small (a config is kilobytes); nesting deep enough to exhaust
    the parsers' recursion, or a value their constructors refuse (``2020-13-45``), is a
    :class:`FormatError` like any syntax error.
    """
    path = Path(path)
    text = read_text(path, max_bytes=MAX_CONFIG_BYTES)
    kind = "TOML" if path.suffix == ".toml" else "YAML"
    if kind == "YAML" and bracket_depth(text) > MAX_FLOW_DEPTH:
        raise FormatError(path, f"not valid YAML: brackets nested more than {MAX_FLOW_DEPTH} levels deep")
    try:
        # the pure-Python SafeLoader on purpose: libyaml's CSafeLoader is faster but crashes the
        # process (SIGSEGV) on deeply nested input, where this one raises RecursionError
        data = tomllib.loads(text) if kind == "TOML" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, ValueError, TypeError) as exc:
        raise FormatError(path, f"not valid {kind}: {exc}") from None
    except RecursionError:  # both parsers recurse once per nesting level
        raise FormatError(path, f"not valid {kind}: nested too deeply") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FormatError(path, "must hold a mapping at the top level")
    return data
