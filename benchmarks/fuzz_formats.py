"""Format fuzzing: ``python -m benchmarks.fuzz_formats [--json] [--cases 10000] [--seed 0]``.

Mutates valid files of every format the readers take (Live Link CSV, keyframe CSV, KeyframeFace
answer JSON and chat JSONL, studio and FLAME npz, packed ``.npy``, dataset folders, results
folders, models configs): truncated, bytes flipped, columns renamed or duplicated, JSON nested,
numbers beyond float range or spelled ``0_1``, other encodings, huge fields, zip bombs, members
that lie about their size, symlinks out of the folder, FIFOs. Each case goes through its reader;
every ``--cli-every``-th case also goes through the real command line, ``studio.cli.main``.

A case passes when the reader returns a valid result (a clip within the frame cap, an index) or
raises ``FormatError``/``ClipError`` with a one-line message, with no Python warning, within
``CASE_TIMEOUT_S`` and without allocating more than ``CASE_MEMORY_MB`` (traced); and, through
the CLI, when it exits 0, or 2 with exactly one line ``error: ...`` on stderr. Anything else is
a crash, and each crash is printed on stderr (kind, mutation, seed, what happened) to replay.

Prints one JSON object: ``cases``, ``clear_errors``, ``crashes`` (must be 0), ``max_rss_mb``
(the process's peak resident memory) and ``max_s`` (the slowest single case). The target is
10,000 cases within 5 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from benchmarks.fuzz.arrays import npz_bomb
from benchmarks.fuzz.cases import Case, make_case, materialise, scratch_root
from benchmarks.fuzz.runner import (
    CASE_MEMORY_MB,
    CASE_TIMEOUT_S,
    Outcome,
    cli_case,
    run_case,
    run_share,
    warm_up,
)
from benchmarks.fuzz.seeds import KINDS, MAX_FRAMES, seed_files

# The fuzzer lives in benchmarks.fuzz (seeds, mutations, arrays, cases, runner); its entry
# points stay importable from here for the format tests.
__all__ = [
    "CASE_MEMORY_MB",
    "CASE_TIMEOUT_S",
    "KINDS",
    "MAX_FRAMES",
    "Case",
    "Outcome",
    "cli_case",
    "main",
    "make_case",
    "materialise",
    "npz_bomb",
    "run",
    "run_case",
    "scratch_root",
    "seed_files",
    "warm_up",
]


def run(cases: int, seed: int = 0, cli_every: int = 25, workers: int = 1) -> dict[str, object]:
    """Run ``cases`` mutated cases, the kinds in turn, over ``workers`` processes; returns the
    summary (see the module docstring) and prints each crash on stderr."""
    shares = [(cases, seed, first, workers, cli_every) for first in range(workers)]
    if workers == 1:
        results = [run_share(shares[0])]
    else:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = pool.map(run_share, shares)
    crashes = [line for r in results for line in r["crashes"]]  # type: ignore[attr-defined]
    for line in crashes[:50]:
        print(f"crash: {line}", file=sys.stderr)
    slowest = max(results, key=lambda r: float(r["max_s"]))["slowest"]  # type: ignore[arg-type]
    print(f"slowest: {slowest}", file=sys.stderr)
    return {
        "cases": cases,
        "clear_errors": sum(r["counts"]["clear"] for r in results),  # type: ignore[index]
        "crashes": sum(r["counts"]["crash"] for r in results),  # type: ignore[index]
        "max_rss_mb": round(max(float(r["rss_mb"]) for r in results), 1),  # type: ignore[arg-type]
        "max_s": round(max(float(r["max_s"]) for r in results), 3),  # type: ignore[arg-type]
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="mutated inputs to run (default 10000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cli-every", type=int, default=25, help="also run every Nth case through the CLI")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes")
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args()
    start = time.perf_counter()
    result = run(args.cases, args.seed, args.cli_every, max(1, args.workers))
    if not args.json:
        elapsed = time.perf_counter() - start
        print(
            f"{result['cases']} cases in {elapsed:.0f} s: {result['clear_errors']} clear errors, "
            f"{result['crashes']} crashes, slowest case {result['max_s']} s"
        )
    print(json.dumps(result))
    return 0 if result["crashes"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
