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
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from studio.formats import FormatError, read_clip
from studio.formats.errors import quote
from studio.formats.paths import OutsideFolderError, resolve_inside, stat_or_none
from studio.formats.text import TextError, checked_lines, loads_json, open_text, parse_float
from studio.models import MAX_SEED
from studio.models.base import ExpressionModel, ModelError, ModelSpec, NoStoredOutputError
from studio.models.prompts import MAX_PROMPT_CHARS
from studio.models.registry import register_model
from studio.motion import MotionClip, Space

MAX_FILE_CHARS = 1024
_SEED = re.compile(r"\d{1,10}", re.ASCII)  # a plain decimal: no "1_000", no Unicode digits


def prompt_key(prompt: str) -> str:
    return " ".join(prompt.split()).casefold()


@dataclass(frozen=True)
class ManifestEntry:
    prompt: str
    seed: int
    file: Path


def read_manifest(folder: Path) -> list[ManifestEntry]:
    """Read ``manifest.csv`` or ``manifest.jsonl``; every file must exist inside the folder.

    The manifest must be UTF-8 (a BOM is fine); prompts are texts of at most
    :data:`~studio.models.prompts.MAX_PROMPT_CHARS`, seeds integers in [0, 2**32 - 1], files
    paths inside the folder once symlinks are followed. Raises :class:`FormatError`.
    """
    folder = Path(folder)
    found = stat_or_none(folder)
    if found is None or not stat.S_ISDIR(found.st_mode):
        state = "does not exist" if found is None else "is not a folder"
        raise FormatError(folder, f"no manifest.csv or manifest.jsonl: the results folder {state}")
    if resolve_inside(folder, "manifest.csv").is_file():
        manifest = folder / "manifest.csv"
        rows = _read_csv_rows(manifest)
    elif resolve_inside(folder, "manifest.jsonl").is_file():
        manifest = folder / "manifest.jsonl"
        rows = _read_jsonl_rows(manifest)
    else:
        raise FormatError(folder, "no manifest.csv or manifest.jsonl in the results folder")
    entries = []
    seen: dict[tuple[str, int], str] = {}
    for line, row in rows:
        where = f"line {line}"
        prompt, seed, name = _check_row(manifest, row, where)
        try:
            path = resolve_inside(folder, name)
        except OutsideFolderError:
            problem = f"file {quote(name)} points outside the results folder"
            raise FormatError(manifest, problem, where) from None
        except FormatError as exc:
            raise FormatError(manifest, f"file {quote(name)}: {exc.problem}", where) from None
        if not path.exists():
            raise FormatError(manifest, f"file {quote(name)} does not exist", where)
        if not path.is_file():
            raise FormatError(manifest, f"file {quote(name)} is not a regular file", where)
        key = (prompt_key(prompt), seed)
        if key in seen and seen[key] != name:
            raise FormatError(
                manifest, f"prompt and seed {seed} listed twice ({quote(seen[key])} and {quote(name)})", where
            )
        seen[key] = name
        entries.append(ManifestEntry(prompt, seed, path))
    if not entries:
        raise FormatError(manifest, "the manifest lists no outputs")
    return entries


def _read_csv_rows(manifest: Path) -> list[tuple[int, dict]]:
    handle = open_text(manifest)
    try:
        with handle:
            reader = csv.DictReader(checked_lines(handle))
            if not reader.fieldnames or not {"prompt", "seed", "file"} <= set(reader.fieldnames):
                raise FormatError(manifest, "needs columns prompt, seed, file", "header")
            return [(reader.line_num, row) for row in reader]
    except (TextError, csv.Error) as exc:
        raise FormatError(manifest, f"not a readable CSV: {exc}") from None


def _read_jsonl_rows(manifest: Path) -> list[tuple[int, dict]]:
    rows: list[tuple[int, dict]] = []
    handle = open_text(manifest)
    with handle:
        try:
            for number, line in enumerate(checked_lines(handle), 1):
                if not line.strip():
                    continue
                try:
                    row = loads_json(line)
                except TextError as exc:
                    raise FormatError(manifest, f"not JSON: {exc}", f"line {number}") from None
                if not isinstance(row, dict):
                    raise FormatError(manifest, "each line must be a JSON object", f"line {number}")
                rows.append((number, row))
        except TextError as exc:
            raise FormatError(manifest, str(exc)) from None
    return rows


def _check_row(manifest: Path, row: dict, where: str) -> tuple[str, int, str]:
    """``(prompt, seed, file)`` of one manifest row, each strictly typed and bounded."""
    missing = [key for key in ("prompt", "seed", "file") if row.get(key) is None]
    if missing:
        problem = f"needs prompt, integer seed and file (missing {', '.join(missing)})"
        raise FormatError(manifest, problem, where)
    prompt, seed, name = row["prompt"], row["seed"], row["file"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise FormatError(manifest, "the prompt must be a non-empty text", where)
    prompt = prompt.strip()
    if len(prompt) > MAX_PROMPT_CHARS:
        problem = f"prompt of {len(prompt):,} characters (at most {MAX_PROMPT_CHARS})"
        raise FormatError(manifest, problem, where)
    if isinstance(seed, str) and _SEED.fullmatch(seed.strip()):
        seed = int(seed.strip())
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise FormatError(manifest, f"needs prompt, integer seed and file (seed {quote(seed)})", where)
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_FILE_CHARS:
        raise FormatError(manifest, f"file must be a relative path of 1..{MAX_FILE_CHARS} characters", where)
    return prompt, seed, name


@register_model("results")
class ResultsFolderModel(ExpressionModel):
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
                fps = parse_float(fps) if isinstance(fps, str) else float(fps)
            except (TypeError, ValueError, OverflowError):
                fps = -1.0
            if not 0 < fps <= 1000:  # NaN fails this too
                raise ModelError(
                    f"{spec.name}: options.fps must be a rate in (0, 1000], got {quote(spec.options['fps'])}"
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
