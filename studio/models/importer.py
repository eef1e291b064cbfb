"""``python -m studio models import``: turn a pickled torch checkpoint into safetensors + JSON, once.

``.pt`` / ``.pth`` / ``.ckpt`` / ``.bin`` files are pickles: loading one with plain ``torch.load``
runs whatever code it names. This is the only place in the studio that opens them, and it does
so with ``torch.load(weights_only=True)``, whose unpickler builds nothing but tensors, numbers,
strings and containers of them. A checkpoint that needs more (an ``argparse.Namespace``, a model
object, an optimizer class) is refused with the reason; nothing else in the studio or the app
ever reads a pickle.

The output is ``OUT/<stem>.safetensors`` with the config embedded (one SHA-256 covers weights
and config) and ``OUT/<stem>.json`` beside it; numbers and strings found in the checkpoint go to
the config's ``extra``. With ``--family express4d`` the state dict is checked against MDM's key
layout, its sizes are read into the config, ``args.json`` beside the source (MDM writes one) is
read for the noise schedule and guidance, and ``--mean`` / ``--std`` embed the dataset statistics.
``--hf`` instead writes a plain ``model.safetensors`` for a transformers folder (e.g. a CLIP copy
that has only ``pytorch_model.bin``).
"""

from __future__ import annotations

import io
import pickle
import pickletools
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.formats import FormatError
from studio.formats.checkpoints import sha256_file, write_checkpoint
from studio.formats.errors import safe_name
from studio.formats.text import TextError, loads_json, read_text

PICKLED_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")
SCALARS = (bool, int, float, str, type(None))
MAX_NAMED = 5  # Python objects named in a refusal; more are counted
MAX_PICKLE_BYTES = 256 * 2**20  # a data.pkl larger than this is left to torch's own loader
LEGACY_PICKLES = 5  # torch's legacy format: magic, protocol, sys info, data, storage keys
MAX_LEGACY_HEAD = 16 * 2**20  # where those pickles are looked for
# MDM's args.json fields worth keeping (the rest describe training)
MDM_ARGS = (
    "dataset",
    "data_mode",
    "arch",
    "latent_dim",
    "layers",
    "cond_mode",
    "cond_mask_prob",
    "noise_schedule",
    "diffusion_steps",
    "sigma_small",
    "guidance_param",
    "fps",
)


@dataclass(frozen=True)
class ImportResult:
    """What ``import_checkpoint`` wrote: the file, its SHA-256, its config, and notes for the user."""

    path: Path
    sha256: str
    config: dict[str, Any]
    n_tensors: int
    n_parameters: int
    notes: tuple[str, ...] = field(default_factory=tuple)


def load_pickled_checkpoint(path: Path) -> Any:
    """``torch.load(weights_only=True)``; a file needing anything beyond tensors is refused.

    Before torch reads it, the pickle's opcodes are listed (nothing is executed) and any global
    outside torch's weights-only allowlist refuses the file by name; torch's own refusal is the
    second line of defence. Neither message ever passes on torch's advice to relax the loader.
    """
    import torch

    if path.suffix.lower() not in PICKLED_SUFFIXES:
        raise FormatError(path, f"expected a pickled torch checkpoint ({', '.join(PICKLED_SUFFIXES)})")
    if not path.is_file():
        raise FormatError(path, "file not found")
    _refuse_python_objects(path, unsafe_globals(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        wanted, reason = re.findall(r"GLOBAL ([\w.]+)", _plain_text(exc)), _reason(exc)
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise FormatError(path, f"not a readable torch checkpoint: {_reason(exc)}") from None
    _refuse_python_objects(path, wanted)  # a global the opcode listing missed, named by torch
    # not a request for a Python object: a damaged or non-torch pickle, or a newer protocol
    if reason.startswith("Unsupported operand"):
        reason += " (torch's weights-only loader reads pickle protocol 2, torch.save's default)"
    raise FormatError(path, f"not a readable torch checkpoint: {reason}")


def _refuse_python_objects(path: Path, names: list[str]) -> None:
    if not names:
        return
    names = list(dict.fromkeys(safe_name(n, 100) for n in names))
    listed = ", ".join(names[:MAX_NAMED]) + (
        f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
    )
    noun = "object" if len(names) == 1 else "objects"
    raise FormatError(
        path,
        f"refused: it needs more than plain tensors to load (it names the Python {noun} {listed}); "
        "save only the state dict (torch.save(model.state_dict(), ...)) and import that",
    )


def unsafe_globals(path: Path) -> list[str]:
    """The Python objects ``path``'s pickle names beyond torch's weights-only allowlist.

    Read from the opcodes of the zip's ``data.pkl`` (or of the pickles at the start of a legacy
    file) with :func:`pickletools.genops`, which parses and never executes. An unreadable file
    gives ``[]``: ``torch.load`` then says what is wrong with it.
    """
    try:
        from torch._utils import IMPORT_MAPPING, NAME_MAPPING
        from torch._weights_only_unpickler import _get_allowed_globals

        allowed = set(_get_allowed_globals())
    except (ImportError, AttributeError):  # another torch: its refusal message is parsed instead
        return []
    refused = []
    for module, name in _pickle_globals(path):
        # torch reads Python 2 spellings (__builtin__.set) as their Python 3 names
        if (module, name) in NAME_MAPPING:
            module, name = NAME_MAPPING[(module, name)]
        elif module in IMPORT_MAPPING:
            module = IMPORT_MAPPING[module]
        if f"{module}.{name}" not in allowed:
            refused.append(f"{module}.{name}")
    return refused


def _pickle_streams(path: Path) -> list[bytes]:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return [
                    archive.read(info)
                    for info in archive.infolist()
                    if info.filename.rsplit("/", 1)[-1] == "data.pkl" and info.file_size <= MAX_PICKLE_BYTES
                ]
        with path.open("rb") as stream:  # legacy format: a few small pickles, then raw storage bytes
            return [stream.read(MAX_LEGACY_HEAD)]
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError):
        return []


_STRING_OPS = {
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "BINUNICODE8",
    "UNICODE",
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
}


def _pickle_globals(path: Path) -> list[tuple[str, str]]:
    """``(module, name)`` for each global the pickles in ``path`` name, without running them.

    ``STACK_GLOBAL`` (protocol 4+) takes its names from the stack: the two strings pushed just
    before it, or fetched from the memo, in every pickle Python writes. Names computed any other
    way are listed as ``<computed>.<name>`` (torch refuses protocol 4+ anyway).
    """
    found: list[tuple[str, str]] = []
    for data in _pickle_streams(path):
        stream = io.BytesIO(data)
        for _ in range(LEGACY_PICKLES):
            if stream.tell() >= len(data):
                break
            memo: dict[int, object] = {}
            pushed: list[object] = [None, None]  # what the last opcodes pushed (strings only)
            try:
                for opcode, arg, _ in pickletools.genops(stream):
                    op = opcode.name
                    if op in ("FRAME", "PROTO"):  # framing may fall between STACK_GLOBAL's two strings
                        continue
                    if op in ("GLOBAL", "INST"):
                        module, _, name = str(arg).partition(" ")
                        found.append((module, name))
                    elif op == "STACK_GLOBAL":
                        module, name = pushed[-2], pushed[-1]
                        computed = not (isinstance(module, str) and isinstance(name, str))
                        found.append(("<computed>", "<name>") if computed else (str(module), str(name)))
                    if op in ("PUT", "BINPUT", "LONG_BINPUT"):
                        memo[int(arg)] = pushed[-1]  # type: ignore[arg-type]
                    elif op == "MEMOIZE":
                        memo[len(memo)] = pushed[-1]
                    elif op in ("GET", "BINGET", "LONG_BINGET"):
                        pushed.append(memo.get(int(arg)))  # type: ignore[arg-type]
                    else:
                        pushed.append(arg if op in _STRING_OPS else None)
                    del pushed[:-2]
            except Exception:  # not (or no longer) a pickle: torch.load reports what is wrong
                break
    return found


def _plain_text(exc: BaseException) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # torch bolds part of its message


# torch's messages explain how to switch its safety off; the studio never passes that on
_ADVICE = re.compile(r"weights_only|safe_globals|trust|arbitrary code", re.IGNORECASE)


def _reason(exc: BaseException) -> str:
    """One line from an error, at most 200 characters, without torch's advice to relax loading."""
    text = _plain_text(exc)
    inner = re.search(r"WeightsUnpickler error: ([^\n]+)", text)
    lines = [inner.group(1).strip()] if inner else []
    lines += [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if not _ADVICE.search(line) and not line.startswith(
            ("Weights only load failed", "Check the documentation")
        ):
            return line[:200]
    return f"{type(exc).__name__} from torch's weights-only loader"


def flatten(obj: Any, path: Path, prefix: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a loaded checkpoint into tensors and JSON scalars, keyed by dotted path.

    Dicts and lists/tuples nest (``model.layer.0.weight``, ``lr_history.3``); any other leaf that
    is not a tensor or a plain scalar is refused, naming its key.
    """
    import torch

    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}

    def walk(node: Any, key: str) -> None:
        if isinstance(node, torch.Tensor):
            tensors[key] = node
        elif isinstance(node, SCALARS):
            scalars[key] = node
        elif isinstance(node, torch.Size):
            scalars[key] = list(node)
        elif isinstance(node, Mapping):
            for name, child in node.items():
                walk(child, f"{key}.{name}" if key else str(name))
        elif isinstance(node, list | tuple):
            for i, child in enumerate(node):
                walk(child, f"{key}.{i}" if key else str(i))
        else:
            raise FormatError(
                path,
                f"refused: {key or 'the top level'} holds a {type(node).__name__}, "
                "which is not a tensor, number or string",
            )

    walk(obj, prefix)
    return tensors, scalars


def to_numpy(tensors: Mapping[str, Any], path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """Dense CPU numpy copies; bfloat16 (which numpy lacks) becomes float32, noted."""
    import torch

    out, notes = {}, []
    widened = []
    for key, tensor in tensors.items():
        if tensor.layout != torch.strided or tensor.is_quantized:
            raise FormatError(
                path, f"refused: tensor {key!r} is {tensor.layout}/quantized; only dense tensors"
            )
        t = tensor.detach().cpu()
        if t.dtype == torch.bfloat16:
            t = t.float()
            widened.append(key)
        out[key] = np.ascontiguousarray(t.numpy())
    if widened:
        notes.append(f"{len(widened)} bfloat16 tensors were stored as float32 (numpy has no bfloat16)")
    return out, notes


def import_checkpoint(
    source: str | Path,
    out_dir: str | Path,
    *,
    family: str | None = None,
    state_key: str | None = None,
    mean: str | Path | None = None,
    std: str | Path | None = None,
    args_json: str | Path | None = None,
    hf: bool = False,
) -> ImportResult:
    """Convert ``source`` once; see the module docstring. Raises :class:`FormatError` with the reason."""
    source, out_dir = Path(source), Path(out_dir)
    if family != "express4d" and (mean is not None or std is not None):
        raise FormatError(source, "--mean/--std are for --family express4d")
    loaded = load_pickled_checkpoint(source)
    notes: list[str] = []
    if state_key is not None:
        if not isinstance(loaded, Mapping) or state_key not in loaded:
            keys = sorted(map(str, loaded)) if isinstance(loaded, Mapping) else []
            raise FormatError(source, f"no {state_key!r} entry (top-level keys: {keys[:8]})")
        loaded = loaded[state_key]
    elif family == "express4d" and isinstance(loaded, Mapping) and isinstance(loaded.get("model"), Mapping):
        loaded = loaded["model"]  # MDM's training checkpoints nest the weights under "model"
        notes.append("used the 'model' entry (pass --state model_avg for the averaged weights if present)")
    tensors, scalars = flatten(loaded, source)
    if not tensors:
        raise FormatError(source, "holds no tensors")
    arrays, more = to_numpy(tensors, source)
    notes += more
    origin = {"file": source.name, "sha256": sha256_file(source), "loader": "torch.load(weights_only=True)"}
    if hf:
        return _write_hf(source, out_dir, arrays, origin, notes)
    config: dict[str, Any] = {"imported_from": origin}
    if scalars:
        config["extra"] = scalars
    if family == "express4d":
        arrays, express = _express4d(source, arrays, mean, std, args_json, notes)
        config.update(express)
    elif family is not None:
        config["family"] = family
    out = out_dir / f"{source.stem}.safetensors"
    digest = write_checkpoint(out, arrays, config)
    n_params = int(sum(a.size for a in arrays.values()))
    return ImportResult(out, digest, config, len(arrays), n_params, tuple(notes))


def _write_hf(
    source: Path, out_dir: Path, arrays: dict[str, np.ndarray], origin: dict, notes: list[str]
) -> ImportResult:
    from safetensors.numpy import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "model.safetensors"
    save_file(arrays, out, metadata={"format": "pt"})  # transformers reads "pt"-format safetensors
    n_params = int(sum(a.size for a in arrays.values()))
    return ImportResult(out, sha256_file(out), {"imported_from": origin}, len(arrays), n_params, tuple(notes))


def _express4d(
    source: Path,
    arrays: dict[str, np.ndarray],
    mean: str | Path | None,
    std: str | Path | None,
    args_json: str | Path | None,
    notes: list[str],
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Check an MDM state dict and build the express4d config (sizes, schedule, guidance, stats)."""
    import torch

    from studio.models.express4d.model import MAX_FRAMES, MODEL_FPS
    from studio.models.express4d.network import MDM, MDMConfig
    from studio.motion import ARKIT_CHANNELS, livelink_name

    clip_keys = [k for k in arrays if k.startswith("clip_model.")]
    if clip_keys:
        notes.append(f"dropped {len(clip_keys)} clip_model.* tensors (CLIP loads from its own folder)")
    arrays = {k: v for k, v in arrays.items() if not k.startswith("clip_model.")}
    args = _mdm_args(source, args_json, notes)
    if args.get("arch", "trans_enc") != "trans_enc":
        raise FormatError(
            source, f"refused: arch {args['arch']!r}; the express4d family runs MDM's trans_enc"
        )
    try:
        cfg = MDMConfig.from_state_dict(arrays)
    except (KeyError, IndexError, ValueError) as exc:
        raise FormatError(
            source, f"not an MDM state dict (no {exc}); is this an Express4D checkpoint?"
        ) from None
    net = MDM(cfg)
    try:
        missing, unexpected = net.load_state_dict(
            {k: torch.from_numpy(v) for k, v in arrays.items()}, strict=False
        )
    except RuntimeError as exc:
        raise FormatError(source, f"does not fit MDM's layout: {str(exc).splitlines()[-1].strip()}") from None
    missing = [k for k in missing if not k.endswith("sequence_pos_encoder.pe")]
    # the sinusoid tables (2 x 5000 x latent floats) are recomputed at load: no need to store them
    arrays = {k: v for k, v in arrays.items() if not k.endswith("sequence_pos_encoder.pe")}
    if missing or unexpected:
        raise FormatError(
            source, f"does not match MDM's key layout (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    width = cfg.njoints * cfg.nfeats
    config: dict[str, Any] = {
        "family": "express4d",
        "format_version": 1,
        "mdm": cfg.to_dict(),
        "fps": float(args.get("fps", MODEL_FPS)),
        "max_frames": MAX_FRAMES,
        "channels": [livelink_name(c) for c in ARKIT_CHANNELS],  # Express4D keeps the Live Link CSV order
        "diffusion": {
            "steps": int(args.get("diffusion_steps", 1000)),
            "schedule": str(args.get("noise_schedule", "cosine")),
        },
        "sampling": {
            "guidance_scale": float(args.get("guidance_param", 2.5)),
            "steps": int(args.get("diffusion_steps", 1000)),
            "sampler": "ddpm",
        },
        "text": {"encoder": "openai/clip-vit-base-patch32", "max_tokens": 77},
    }
    if width != len(ARKIT_CHANNELS):
        raise FormatError(
            source, f"the model takes {width} features per frame; Express4D's ARKit models take 61"
        )
    if args:
        config["mdm_args"] = args
    if (mean is None) != (std is None):
        raise FormatError(source, "give both --mean and --std, or neither")
    if mean is not None and std is not None:
        from studio.models.express4d.model import read_single_array

        stats = {"norm.mean": read_single_array(Path(mean)), "norm.std": read_single_array(Path(std))}
        for key, value in stats.items():
            if value.shape != (width,) or not np.all(np.isfinite(value)):
                raise FormatError(source, f"{key}: expected {width} finite numbers, got shape {value.shape}")
        if np.any(stats["norm.std"] < 0):
            raise FormatError(source, "norm.std: a standard deviation is negative")
        arrays = {**arrays, **stats}
    else:
        notes.append("no --mean/--std: the model will look for mean.npy and std.npy beside the checkpoint")
    return arrays, config


def _mdm_args(source: Path, args_json: str | Path | None, notes: list[str]) -> dict[str, Any]:
    path = Path(args_json) if args_json else source.with_name("args.json")
    if not path.is_file():
        if args_json:
            raise FormatError(path, "file not found")
        notes.append(
            "no args.json beside the checkpoint: assuming MDM's defaults (cosine, 1000 steps, guidance 2.5)"
        )
        return {}
    try:
        data = loads_json(read_text(path))
    except TextError as exc:
        raise FormatError(path, f"not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FormatError(path, "expected a JSON object")
    notes.append(f"read {path.name}")
    return {k: data[k] for k in MDM_ARGS if k in data and isinstance(data[k], SCALARS)}
