"""Cases: a kind, a mutation and the files it writes, built from a seeded rng and put on disk."""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.fuzz.arrays import NPY_OPS, NPZ_OPS
from benchmarks.fuzz.mutations import CSV_OPS, JSON_OPS, TEXT_OPS, m_flip
from benchmarks.fuzz.seeds import seed_files

OPS_BY_SUFFIX = {
    ".csv": CSV_OPS,
    ".json": JSON_OPS,
    ".jsonl": JSON_OPS,
    ".txt": TEXT_OPS,
    ".yaml": JSON_OPS,
    ".npz": NPZ_OPS,
    ".npy": NPY_OPS,
}


OUTSIDE = "@outside"  # a symlink target: a valid clip in a folder beside the case's folder


@dataclass(frozen=True)
class Case:
    """One mutated input: files to write (relative path -> bytes), symlinks and FIFOs to make."""

    kind: str
    op: str
    files: dict[str, bytes]
    links: tuple[tuple[str, str], ...] = ()
    fifos: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def entry(self) -> str:
        """What the reader opens, relative to the case folder."""
        return "." if self.kind in ("dataset", "results") else next(iter(self.files))


def _mutate_file(name: str, data: bytes, rng: random.Random) -> tuple[str, bytes]:
    ops = OPS_BY_SUFFIX[Path(name).suffix]
    op = rng.choice(sorted(ops))
    try:
        return op, ops[op](data, rng)
    except (ValueError, TypeError, IndexError):  # a variant numpy cannot build: flip bytes instead
        return f"{op}->flip", m_flip(data, rng)


def _manifest_row_op(files: dict[str, bytes], rng: random.Random) -> str:
    """Edit one manifest row: the file leads out, the seed or prompt is malformed or huge."""
    lines = files["manifest.csv"].decode().splitlines()
    row = rng.randrange(1, len(lines))
    prompt, seed, name = lines[row].split(",")
    field_name = rng.choice(("file", "seed", "prompt"))
    if field_name == "file":
        name = rng.choice(
            (
                "../outside/take.csv",
                "/etc/hostname",
                "a\x00.csv",
                "",
                "clips",
                ".",
                "x" * 5000,
                "y" * 300 + ".csv",  # one path component longer than the file system allows
                "manifest.csv",
                "a.csv/",
            )
        )
    elif field_name == "seed":
        seed = rng.choice(("1_0", "-1", "1e400", str(2**40), "true", "1.5", "\u0663", " 7 ", "9" * 5000, ""))
    else:
        prompt = rng.choice(("", "   ", "x" * 5000, '"a,b"', "\u202e", "é"))
    lines[row] = ",".join((prompt, seed, name))
    if rng.random() < 0.3:  # the same rows as JSONL, values typed anyhow
        jsonl = []
        for line in lines[1:]:
            p, s, f = line.split(",", 2)
            jsonl.append(
                json.dumps(
                    {"prompt": p, "seed": rng.choice((s, 1e400 if s == "1e400" else s, True, 1.5)), "file": f}
                )
            )
        del files["manifest.csv"]
        files["manifest.jsonl"] = "\n".join(jsonl).encode()
        return f"jsonl-{field_name}"
    files["manifest.csv"] = ("\n".join(lines) + "\n").encode()
    return f"row-{field_name}"


def make_case(kind: str, rng: random.Random) -> Case:
    """One mutation of the valid ``kind`` seed, drawn with ``rng`` (deterministic given it)."""
    files = dict(seed_files()[kind])
    if kind not in ("dataset", "results"):
        name = next(iter(files))
        op, files[name] = _mutate_file(name, files[name], rng)
        return Case(kind, op, files)
    links: list[tuple[str, str]] = []
    fifos: list[str] = []
    structural = rng.random() < 0.35
    if not structural:
        name = rng.choice(sorted(files))
        op, files[name] = _mutate_file(name, files[name], rng)
        return Case(kind, f"{name}:{op}", files)
    clips = sorted(n for n in files if n.endswith((".csv", ".npz", ".json")) and not n.startswith("manifest"))
    clips = [n for n in clips if n != "prompts.csv"]
    action = rng.choice(("symlink_out", "symlink_index", "symlink_dir", "symlink_loop", "fifo", "row"))
    if action == "row" and kind == "results":
        return Case(kind, _manifest_row_op(files, rng), files)
    if action == "row":  # a dataset's ids: path-like, Unicode, duplicated across splits
        bad = rng.choice(("../etc", "s0/../s1", "\u0663", "s" * 200, "s0\x00", "s0 ", "S0"))
        target = rng.choice(("prompts.csv", "splits/train.txt", "splits/test.txt"))
        files[target] = (
            files[target].replace(b"s0", bad.encode(), 1) if b"s0" in files[target] else bad.encode()
        )
        return Case(kind, f"id:{target}", files)
    if action == "symlink_out":
        victim = rng.choice(clips)
        del files[victim]
        links.append((victim, OUTSIDE))
    elif action == "symlink_index":
        victim = rng.choice(
            ("prompts.csv", "dataset.json", "splits/train.txt") if kind == "dataset" else ("manifest.csv",)
        )
        files.pop(victim, None)
        links.append((victim, OUTSIDE))
    elif action == "symlink_dir":
        if kind == "dataset":
            for n in [n for n in files if n.startswith("clips/")]:
                del files[n]
            links.append(("clips", OUTSIDE + "/"))
        else:
            links.append(("sub", OUTSIDE + "/"))
            files["manifest.csv"] += b"A person waves,0,sub/take.csv\n"
    elif action == "symlink_loop":
        victim = rng.choice(clips)
        del files[victim]
        links.append((victim, victim))
    else:
        victim = rng.choice(("dataset.json", "splits/val.txt", *clips) if kind == "dataset" else clips)
        files.pop(victim, None)
        fifos.append(victim)
    return Case(kind, action, files, tuple(links), tuple(fifos))


def scratch_root() -> str | None:
    """Where cases are written: a RAM disk when there is one (a case writes and deletes a few
    files, which costs ~15 ms on a slow disk and ~1 ms in memory)."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def materialise(case: Case, folder: Path) -> Path:
    """Write ``case`` under ``folder`` (emptied first); returns the path its reader opens."""
    root = folder / "case"
    if root.exists():
        shutil.rmtree(root)
    outside = folder / "outside"
    if not (outside / "take.csv").is_file():
        outside.mkdir(parents=True, exist_ok=True)
        (outside / "take.csv").write_bytes(seed_files()["livelink"]["take.csv"])
    for name, data in case.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    root.mkdir(parents=True, exist_ok=True)
    for name, target in case.links:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if target.startswith(OUTSIDE):
            target = str(outside if target.endswith("/") else outside / "take.csv")
        else:
            target = path.name  # a link to itself: a loop
        os.symlink(target, path)
    for name in case.fifos:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
    if case.kind == "config":  # the config names a results folder beside it
        results = root / "results"
        results.mkdir(exist_ok=True)
        for name, data in seed_files()["results"].items():
            (results / name).write_bytes(data)
    return root / case.entry
