"""Results folder: precomputed outputs of any model, one file per (prompt, seed).

The folder holds a manifest, ``manifest.csv`` (columns ``prompt,seed,file``) or
``manifest.jsonl`` (one ``{"prompt": ..., "seed": ..., "file": ...}`` per line), and the clip
files it names, in any format :func:`studio.formats.read_clip` reads (Live Link CSV, studio or
FLAME npz/npy, keyframe CSV, KeyframeFace answer JSON): an ARKit model's Live Link CSVs, a
CTEG-style ``(T, 53)`` FLAME sequence, an EmoteGPT-style static ``(56,)`` expression. Prompts match
after whitespace and case folding. A stored seed other than the requested one is used with a
notice; a prompt that is not stored raises :class:`NoStoredOutputError`, which the UI shows as a
state, not an error.

Options: ``fps`` — the rate of stored files that do not carry one (FLAME ``.npy``, KeyframeFace
JSON); without it such files are read at the reader's default (24 fps FLAME, 30 fps keyframes)
and the clip says so in a notice.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from studio.formats import FormatError, read_clip
from studio.models.base import ModelError, ModelSpec, NoStoredOutputError, register_model
from studio.motion import MotionClip, Space


def prompt_key(prompt: str) -> str:
    return " ".join(prompt.split()).casefold()


@dataclass(frozen=True)
class ManifestEntry:
    prompt: str
    seed: int
    file: Path


def read_manifest(folder: Path) -> list[ManifestEntry]:
    """Read ``manifest.csv`` or ``manifest.jsonl``; every file must exist inside the folder."""
    folder = folder.resolve()
    rows: list[tuple[int, dict]] = []
    if (folder / "manifest.csv").is_file():
        manifest = folder / "manifest.csv"
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"prompt", "seed", "file"} <= set(reader.fieldnames):
                raise FormatError(manifest, "needs columns prompt, seed, file", "header")
            rows = [(reader.line_num, row) for row in reader]
    elif (folder / "manifest.jsonl").is_file():
        manifest = folder / "manifest.jsonl"
        for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append((number, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise FormatError(manifest, f"not JSON: {exc}", f"line {number}") from None
    else:
        raise FormatError(folder, "no manifest.csv or manifest.jsonl in the results folder")
    entries = []
    seen: dict[tuple[str, int], str] = {}
    for line, row in rows:
        try:
            prompt, seed, name = str(row["prompt"]).strip(), int(row["seed"]), str(row["file"])
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(
                manifest, f"needs prompt, integer seed and file ({exc})", f"line {line}"
            ) from None
        path = (folder / name).resolve()
        if not path.is_relative_to(folder):
            raise FormatError(manifest, f"file {name!r} points outside the results folder", f"line {line}")
        if not path.is_file():
            raise FormatError(manifest, f"file {name!r} does not exist", f"line {line}")
        if not prompt:
            raise FormatError(manifest, "empty prompt", f"line {line}")
        key = (prompt_key(prompt), seed)
        if key in seen and seen[key] != name:
            raise FormatError(
                manifest, f"prompt and seed {seed} listed twice ({seen[key]!r} and {name!r})", f"line {line}"
            )
        seen[key] = name
        entries.append(ManifestEntry(prompt, seed, path))
    if not entries:
        raise FormatError(manifest, "the manifest lists no outputs")
    return entries


@register_model("results")
class ResultsFolderModel:
    """Serves stored clips: ``generate`` looks the prompt and seed up in the manifest."""

    uses_text_encoder = False  # prompts are looked up, not embedded
    looks_up_prompts = True  # a prompt it does not hold is the "no stored output" state

    def __init__(
        self, name: str, space: Space, entries: list[ManifestEntry], fps: float | None = None
    ) -> None:
        self.name = name
        self.space = space
        self.fps = fps
        self._by_prompt: dict[str, dict[int, Path]] = {}
        for entry in entries:
            self._by_prompt.setdefault(prompt_key(entry.prompt), {})[entry.seed] = entry.file
        self.prompts = sorted({entry.prompt for entry in entries})

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> ResultsFolderModel:
        if spec.path is None:
            raise ModelError(f"{spec.name}: a results model needs 'path' (the results folder)")
        unknown = set(spec.options) - {"fps"}
        if unknown:
            raise ModelError(f"{spec.name}: unknown results options {sorted(unknown)} (known: fps)")
        fps = spec.options.get("fps")
        if fps is not None:
            try:
                fps = float(fps)
            except (TypeError, ValueError):
                fps = -1.0
            if not 0 < fps <= 1000:
                raise ModelError(
                    f"{spec.name}: options.fps must be a rate in (0, 1000], got {spec.options['fps']!r}"
                )
        return cls(spec.name, spec.space, read_manifest(spec.path), fps)

    def generate(self, prompt: str, *, seed: int, duration_s: float) -> MotionClip:
        stored = self._by_prompt.get(prompt_key(prompt))
        if not stored:
            example = self.prompts[0] if len(self.prompts[0]) <= 60 else self.prompts[0][:57] + "..."
            raise NoStoredOutputError(
                f"{self.name}: no stored output for this prompt (the folder holds "
                f"{len(self.prompts)} prompt{'s' if len(self.prompts) != 1 else ''}, e.g. {example!r})"
            )
        notices = []
        if seed in stored:
            path = stored[seed]
        else:
            used = min(stored)
            path = stored[used]
            notices.append(f"{self.name}: seed {seed} is not stored; showing seed {used}")
        loaded = read_clip(path)
        if self.fps is not None and any(w.startswith("no fps in the file") for w in loaded.warnings):
            loaded = read_clip(path, fps=self.fps)  # only files without a rate take the configured one
        clip = loaded.clip
        notices += [f"{self.name}: {path.name}: {warning}" for warning in loaded.warnings]
        if clip.space != self.space:
            raise ModelError(f"{self.name}: {path.name} holds a {clip.space} clip, the model is {self.space}")
        if abs(clip.duration_s - duration_s) > 0.5:
            notices.append(f"{self.name}: stored clip lasts {clip.duration_s:.1f} s (asked {duration_s:g} s)")
        return clip.replace(meta={**clip.meta, "notices": notices})
