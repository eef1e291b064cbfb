"""Corpus build benchmark: ``python -m benchmarks.corpus [--json] [--n 20000] [--seed 0]``.

Times ``studio.corpus.build_corpus`` writing ``--n`` items into a temporary folder (the same
work as ``python -m studio corpus build``), and, separately, generation alone (plan, words,
motion, labels) on the first ``--sample`` items, so a slowdown can be placed on generation
or on writing. The target is ``build_20k_s`` ≤ 180 on 2 CPU cores.

Prints one JSON object: ``build_20k_s`` (scaled linearly when ``--n`` is not 20000, and the
measured ``n`` and ``build_s`` beside it), ``generate_ms_per_item``, ``write_ms_per_item``,
``cpu_count`` and the platform.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from studio.corpus import build_corpus, iter_corpus

TARGET_S = 180.0


def run(n: int, seed: int, sample: int) -> dict[str, object]:
    start = time.perf_counter()
    for _ in iter_corpus(min(sample, n), seed):
        pass
    generate_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        stats = build_corpus(Path(tmp) / "corpus", n, seed)
        build_s = time.perf_counter() - start
    generate_ms = 1000 * generate_s / min(sample, n)
    per_item_ms = 1000 * build_s / n
    return {
        "build_20k_s": round(build_s * 20000 / n, 2),
        "target_s": TARGET_S,
        "n": n,
        "build_s": round(build_s, 2),
        "generate_ms_per_item": round(generate_ms, 3),
        "write_ms_per_item": round(per_item_ms - generate_ms, 3),
        "items": stats.n,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="items to build (default 20000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=2000, help="items for the generation-only timing")
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args()
    result = run(args.n, args.seed, args.sample)
    if not args.json:
        print(
            f"built {result['n']} items in {result['build_s']} s "
            f"(20k-equivalent {result['build_20k_s']} s, target ≤ {TARGET_S:g} s)"
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
