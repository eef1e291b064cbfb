"""The dataset folder the studio reads and writes (Express4D in spirit; easy to produce).

::

    my_dataset/
      dataset.json          optional: {"name": ..., "description": ..., "space": "arkit"}
      prompts.csv           id,prompt[,any extra label columns...]
      clips/<id>.csv        one clip per id: Live Link CSV, studio/FLAME .npz, .npy or
      clips/<id>.npz        .keyframes.csv (the first file named <id>.* is used)
      splits/train.txt      ids, one per line (val.txt and test.txt likewise; all optional)

Ids are letters, digits, ``-`` and ``_``. Every id in a split must be in ``prompts.csv``; an id
may be in one split only. Extra columns of ``prompts.csv`` (emotion scores, keyframe JSON...)
travel with each item as ``labels``. To convert another dataset, write one clip file per
sequence under ``clips/``, list them with their text in ``prompts.csv``, and add splits.
"""

from __future__ import annotations

import csv
import json
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from studio.formats.clips import write_clip
from studio.formats.errors import FormatError, quote
from studio.formats.paths import resolve_inside, stat_or_none
from studio.formats.text import (
    MAX_INDEX_FILE_BYTES,
    MAX_SMALL_FILE_BYTES,
    TextError,
    checked_lines,
    loads_json,
    open_text,
    read_text,
)
from studio.motion import SPACES, MotionClip

SPLITS = ("train", "val", "test")
_ID = re.compile(r"[A-Za-z0-9_\-]{1,128}\Z")
CLIP_SUFFIXES = (".csv", ".npz", ".npy", ".keyframes.csv")
MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class DatasetItem:
    """One sequence: its id, text, clip file, split (or None) and extra labels."""

    id: str
    prompt: str
    clip_path: Path
    split: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Dataset:
    """An index of a dataset folder; clips are read on demand with :func:`studio.formats.read_clip`."""

    root: Path
    name: str
    items: tuple[DatasetItem, ...]
    info: Mapping[str, object] = field(default_factory=dict)

    def split(self, name: str) -> tuple[DatasetItem, ...]:
        if name not in SPLITS:
            raise KeyError(f"unknown split {name!r}; expected one of {SPLITS}")
        return tuple(item for item in self.items if item.split == name)

    def __len__(self) -> int:
        return len(self.items)


def read_dataset(root: str | Path) -> Dataset:
    """Index a dataset folder, checking that every listed clip exists. Raises FormatError.

    Every file is looked up inside ``root``: an entry (or a symlink) that leads out of the
    folder is refused, naming the entry. Index files must be UTF-8 (a BOM is fine).
    """
    root = Path(root)
    found = stat_or_none(root)
    if found is None or not stat.S_ISDIR(found.st_mode):
        raise FormatError(root, "not a folder")
    info = _read_info(root)
    prompts_path = root / "prompts.csv"
    if not resolve_inside(root, "prompts.csv").is_file():
        raise FormatError(root, "no prompts.csv (see the dataset layout in the README)")
    rows = _read_prompts(prompts_path)
    splits = _read_splits(root, set(rows))
    clip_files = _index_clip_files(root)
    items = []
    for item_id, (prompt, labels) in rows.items():
        path = clip_files.get(item_id)
        if path is None:
            raise FormatError(prompts_path, f"no clip file clips/{item_id}.*", f"id {item_id!r}")
        items.append(DatasetItem(item_id, prompt, path, splits.get(item_id), labels))
    return Dataset(root, str(info.get("name", root.name)), tuple(items), info)


def _read_info(root: Path) -> dict[str, object]:
    path = root / "dataset.json"
    if not resolve_inside(root, "dataset.json").exists():
        return {}
    try:
        info = loads_json(read_text(path, max_bytes=MAX_SMALL_FILE_BYTES))
    except TextError as exc:
        raise FormatError(path, f"not valid JSON: {exc}") from None
    if not isinstance(info, dict):
        raise FormatError(path, "must hold a JSON object")
    name = info.get("name")
    if name is not None and not (isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS):
        raise FormatError(path, f"'name' must be a text of 1..{MAX_NAME_CHARS} characters", "key 'name'")
    space = info.get("space")
    if space is not None and space not in SPACES:
        raise FormatError(path, f"'space' must be 'arkit' or 'flame', got {quote(space)}", "key 'space'")
    return info


def _read_prompts(path: Path) -> dict[str, tuple[str, dict[str, str]]]:
    handle = open_text(path)
    try:
        with handle:
            reader = csv.DictReader(checked_lines(handle))
            if not reader.fieldnames or not {"id", "prompt"} <= set(reader.fieldnames):
                raise FormatError(path, "needs 'id' and 'prompt' columns", "header")
            rows: dict[str, tuple[str, dict[str, str]]] = {}
            for row in reader:
                line = reader.line_num
                item_id = (row.get("id") or "").strip()
                if not _ID.match(item_id):
                    raise FormatError(path, _bad_id(item_id), f"line {line}")
                if item_id in rows:
                    raise FormatError(path, f"id {item_id!r} appears twice", f"line {line}")
                prompt = (row.get("prompt") or "").strip()
                if not prompt:
                    raise FormatError(path, "empty prompt", f"line {line}")
                # a row longer than the header files its extra cells under None: not a label
                labels = {
                    k: v or "" for k, v in row.items() if isinstance(k, str) and k not in ("", "id", "prompt")
                }
                rows[item_id] = (prompt, labels)
    except (TextError, csv.Error) as exc:
        raise FormatError(path, f"not a readable CSV: {exc}") from None
    if not rows:
        raise FormatError(path, "no prompts")
    return rows


def _bad_id(item_id: str) -> str:
    return f"bad id {quote(item_id)} (1..128 letters, digits, - and _)"


def _read_splits(root: Path, known: set[str]) -> dict[str, str]:
    assigned: dict[str, str] = {}
    for split in SPLITS:
        relative = f"splits/{split}.txt"
        if not resolve_inside(root, relative).exists():
            continue
        path = root / relative
        lines = read_text(path, max_bytes=MAX_INDEX_FILE_BYTES).splitlines()
        for line, text in enumerate(lines, 1):
            item_id = text.strip()
            if not item_id:
                continue
            if not _ID.match(item_id):
                raise FormatError(path, _bad_id(item_id), f"line {line}")
            if item_id not in known:
                raise FormatError(path, f"id {item_id!r} is not in prompts.csv", f"line {line}")
            if item_id in assigned:
                raise FormatError(path, f"id {item_id!r} is already in {assigned[item_id]}", f"line {line}")
            assigned[item_id] = split
    return assigned


def _index_clip_files(root: Path) -> dict[str, Path]:
    folder = root / "clips"
    if not resolve_inside(root, "clips").is_dir():
        raise FormatError(folder, "no clips/ folder")
    found: dict[str, Path] = {}
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise FormatError(folder, f"cannot list: {exc.strerror or exc}") from None
    for path in entries:
        name = path.name
        suffix = next((s for s in sorted(CLIP_SUFFIXES, key=len, reverse=True) if name.endswith(s)), None)
        if suffix is None:
            continue
        # a clip file, or a symlink, that leads out of the dataset is refused, not skipped
        if resolve_inside(root, Path("clips") / name).is_file():
            found.setdefault(name[: -len(suffix)], path)
    return found


def write_dataset(
    root: str | Path,
    records: Iterable[tuple[str, str, MotionClip, str | None, Mapping[str, object]]],
    *,
    name: str | None = None,
    info: Mapping[str, object] | None = None,
    clip_format: str = "npz",
) -> Path:
    """Write ``(id, prompt, clip, split, labels)`` records as a dataset folder.

    ``clip_format`` is ``"npz"`` (studio npz, exact) or ``"csv"`` (Live Link CSV, ARKit only).
    Label values that are not strings are stored as JSON.
    """

    root = Path(root)
    (root / "clips").mkdir(parents=True, exist_ok=True)
    (root / "splits").mkdir(exist_ok=True)
    rows, splits, label_names = [], {s: [] for s in SPLITS}, []  # type: ignore[var-annotated]
    for item_id, prompt, clip, split, labels in records:
        if not _ID.match(item_id):
            raise ValueError(f"bad id {item_id!r}")
        write_clip(clip, root / "clips" / f"{item_id}.{clip_format}")
        row = {"id": item_id, "prompt": prompt}
        for key, value in labels.items():
            row[key] = value if isinstance(value, str) else json.dumps(value)
            if key not in label_names:
                label_names.append(key)
        rows.append(row)
        if split is not None:
            splits[split].append(item_id)
    with (root / "prompts.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["id", "prompt", *label_names], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    for split, ids in splits.items():
        if ids:
            (root / "splits" / f"{split}.txt").write_text("\n".join(ids) + "\n", encoding="utf-8")
    meta = {"name": name or root.name, **(info or {})}
    (root / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return root
