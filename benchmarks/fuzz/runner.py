"""Running a case: through its reader or the real CLI, under a time limit and a traced memory cap."""

from __future__ import annotations

import contextlib
import io
import random
import resource
import signal
import tempfile
import time
import tracemalloc
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.fuzz.arrays import bomb_member
from benchmarks.fuzz.cases import Case, make_case, materialise, scratch_root
from benchmarks.fuzz.seeds import CLIP_NAMES, KINDS, MAX_FRAMES, seed_files
from studio.formats import FormatError, read_clip, read_dataset
from studio.formats.checkpoints import read_config_file
from studio.formats.errors import max_duration_s
from studio.formats.keyframeface import (
    read_keyframeface_jsonl,
)
from studio.motion import ClipError, MotionClip

CASE_TIMEOUT_S = 10.0
CASE_MEMORY_MB = 200.0


class CaseTimeoutError(Exception):
    """A case ran past :data:`CASE_TIMEOUT_S`: a hang."""


@dataclass(frozen=True)
class Outcome:
    """``result`` is "accepted", "clear" or "crash"; ``detail`` says what happened."""

    result: str
    seconds: float
    detail: str = ""
    peak_mb: float = 0.0


def read_case(kind: str, entry: Path) -> None:
    """Run the reader(s) of ``kind`` on ``entry``; check what an accepted input produced."""
    if kind in CLIP_NAMES:
        _check_clip(read_clip(entry, max_frames=MAX_FRAMES).clip)
    elif kind == "jsonl":
        records = read_keyframeface_jsonl(entry)
        assert records and all(r.script.keyframes for r in records)
    elif kind == "dataset":
        dataset = read_dataset(entry)
        for item in dataset.items:
            assert item.clip_path.resolve().is_relative_to(entry.resolve()), f"{item.clip_path} is outside"
            _check_clip(read_clip(item.clip_path, max_frames=MAX_FRAMES).clip)
    elif kind == "results":
        from studio.models.results import read_manifest

        for file in sorted({item.file for item in read_manifest(entry)})[:5]:
            assert file.is_relative_to(entry.resolve()), f"{file} is outside"
            _check_clip(read_clip(file, max_frames=MAX_FRAMES).clip)
    elif kind == "config":
        from studio.models import read_models_config

        read_config_file(entry)
        read_models_config(entry)
    else:
        raise ValueError(f"unknown kind {kind!r}")


def _check_clip(clip: MotionClip) -> None:
    """What an accepted clip must satisfy (an accepted hostile file would break one of these)."""
    assert clip.n_frames <= MAX_FRAMES, f"{clip.n_frames} frames over the cap"
    assert clip.n_frames == 1 or clip.duration_s <= max_duration_s(MAX_FRAMES), f"lasts {clip.duration_s} s"
    assert np.all(np.isfinite(clip.values))
    assert np.abs(clip.values).max(initial=0) <= 20.0, "a value beyond every channel's limit"


def _on_alarm(signum: int, frame: object) -> None:
    raise CaseTimeoutError(f"ran past {CASE_TIMEOUT_S:g} s")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(case: Case, folder: Path) -> Outcome:
    """Materialise ``case`` in ``folder`` and read it, under a time cap, with warnings as errors.

    Memory: with tracemalloc running (the tests), the case's traced peak must stay under
    :data:`CASE_MEMORY_MB`; without it (the benchmark, for speed), the process's peak resident
    memory must not grow by more than that during the case.
    """
    entry = materialise(case, folder)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    tracing = tracemalloc.is_tracing()
    if tracing:
        tracemalloc.reset_peak()
    rss_before = _rss_mb()
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT_S)
            try:
                read_case(case.kind, entry)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        result, detail = "accepted", ""
    except (FormatError, ClipError) as exc:
        message = str(exc)
        if not message.strip() or "\n" in message or len(message) > 2000:
            result, detail = "crash", f"unclear message: {message[:200]!r}"
        else:
            result, detail = "clear", message
    except Exception as exc:  # anything else a reader lets out is a crash: report it, keep going
        result, detail = "crash", f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        signal.signal(signal.SIGALRM, previous)
    seconds = time.perf_counter() - start
    grown_mb = tracemalloc.get_traced_memory()[1] / 2**20 if tracing else _rss_mb() - rss_before
    if result != "crash" and grown_mb > CASE_MEMORY_MB:
        result, detail = "crash", f"allocated {grown_mb:.0f} MB (cap {CASE_MEMORY_MB:g})"
    return Outcome(result, seconds, detail, grown_mb)


def cli_case(case: Case, folder: Path) -> Outcome:
    """The same case through ``studio.cli.main``: exit 0, or exit 2 with one ``error:`` line."""
    from studio.cli import main

    entry = materialise(case, folder)
    if case.kind in CLIP_NAMES:
        argv = ["info", str(entry)]
    elif case.kind == "results":
        config = folder / "models.yaml"
        config.write_text(f"models:\n  - {{name: stored, family: results, space: arkit, path: '{entry}'}}\n")
        argv = [
            "generate",
            "--config",
            str(config),
            "--model",
            "stored",
            "--prompt",
            "A person smiles",
            "-o",
            str(folder / "out.npz"),
        ]
    elif case.kind == "config":
        argv = ["models", "list", "--config", str(entry)]
    else:
        return Outcome("accepted", 0.0)
    stdout, stderr = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT_S)
            try:
                code = main(argv)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException as exc:
        return Outcome(
            "crash", time.perf_counter() - start, f"CLI raised {type(exc).__name__}: {str(exc)[:300]}"
        )
    finally:
        signal.signal(signal.SIGALRM, previous)
    seconds = time.perf_counter() - start
    err = stderr.getvalue()
    if code == 0:
        return Outcome("accepted", seconds)
    if case.kind == "config" and code == 1 and not err:  # `models list`: a model failed to load
        return Outcome("clear", seconds)
    if code == 2 and err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err:
        return Outcome("clear", seconds, err.strip())
    return Outcome("crash", seconds, f"CLI exit {code}, stderr {err[:300]!r}")


def warm_up() -> None:
    """Build the seeds and import what the readers and the CLI import, before anything is timed
    (and before warnings become errors: an import-time DeprecationWarning is not the input's)."""
    import studio.models
    import studio.models.results  # noqa: F401
    from studio.cli import build_parser

    seed_files()
    bomb_member()
    build_parser()


def run_share(args: tuple[int, int, int, int, int]) -> dict[str, object]:
    """Cases ``first, first + step, ...`` below ``cases``: one worker's share."""
    cases, seed, first, step, cli_every = args
    warm_up()
    counts = {"accepted": 0, "clear": 0, "crash": 0}
    crashes: list[str] = []
    max_s, slowest = 0.0, ""
    with tempfile.TemporaryDirectory(prefix="fuzz-formats-", dir=scratch_root()) as tmp:
        folder = Path(tmp)
        for i in range(first, cases, step):
            kind = KINDS[i % len(KINDS)]
            case = make_case(kind, random.Random(f"{seed}:{i}"))
            outcomes = [run_case(case, folder)]
            if cli_every and i % cli_every == 0:
                outcomes.append(cli_case(case, folder))
            for outcome in outcomes:
                if outcome.seconds > max_s:
                    max_s, slowest = outcome.seconds, f"case {i} ({kind}, {case.op}): {outcome.detail[:120]}"
                if outcome.result == "crash":
                    crashes.append(f"case {i} ({kind}, {case.op}, seed {seed}): {outcome.detail}")
            worst = "crash" if any(o.result == "crash" for o in outcomes) else outcomes[0].result
            counts[worst] += 1
    return {"counts": counts, "crashes": crashes, "max_s": max_s, "slowest": slowest, "rss_mb": _rss_mb()}
