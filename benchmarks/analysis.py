"""Speed of the prompt analysis on 10,000 corpus prompts (issue 6, part 4).

``python -m benchmarks.analysis --json`` prints one JSON object. ``tsne_10k_s`` is the wall time
from 10,000 prompt strings to their six category scores and t-SNE coordinates with the
embedding cache warm (read the cache, zero-shot categorise, PCA to 50, scikit-learn t-SNE with
the studio's settings) — budget 60 s on 2 CPU cores. The cold path (MiniLM encoding every prompt
into an empty cache) is reported beside it as ``embed_10k_cold_s`` and ``end_to_end_cold_s``.
The prompts are the synthetic corpus's first 10,000 (seed 0), worded without rendering motion.
``--threads`` caps BLAS/OpenMP and torch threads (default 2). Process CPU seconds are reported
with the wall times: on a shared machine the load average inflates wall time, CPU time much less.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from typing import Any

N_PROMPTS = 10_000
BUDGET_S = 60.0


def corpus_prompts(n: int, seed: int = 0) -> list[str]:
    """The first ``n`` prompts of the synthetic corpus (text only: plans are worded, not rendered)."""
    from studio.corpus import make_performers, plan_item, word_plan

    performers = make_performers(seed)
    return [word_plan(plan_item(i, seed, performers), seed).prompt for i in range(n)]


class _Timer:
    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


def run(n: int = N_PROMPTS, threads: int = 2, seed: int = 0, max_iter: int = 500) -> dict[str, Any]:
    import torch
    from threadpoolctl import threadpool_limits

    from studio.analysis.categorise import ZeroShotCategoriser
    from studio.analysis.embeddings import EmbeddingCache
    from studio.analysis.projection import project_2d
    from studio.text import embed_texts

    torch.set_num_threads(threads)
    prompts = corpus_prompts(n, seed)
    with threadpool_limits(limits=threads), tempfile.TemporaryDirectory(prefix="studio-bench-") as cache_dir:
        timer = _Timer()
        embed_texts(["warm the encoder up"])  # model load is a once-per-process cost, timed apart
        load_wall, _ = timer.lap()
        EmbeddingCache(cache_dir).embed(prompts)
        cold_wall, cold_cpu = timer.lap()

        timer = _Timer()
        cache = EmbeddingCache(cache_dir)
        embeddings = cache.embed(prompts)
        read_wall, read_cpu = timer.lap()
        recomputed = cache.misses  # must be 0: every prompt came from the cache
        categoriser = ZeroShotCategoriser(cache.embed)
        scores = categoriser.categorise(prompts, embeddings).scores
        cat_wall, cat_cpu = timer.lap()
        projection = project_2d(embeddings, seed=seed, max_iter=max_iter)
        tsne_wall, tsne_cpu = timer.lap()
    assert scores.shape == (n, 6) and projection.coords.shape == (n, 2) and recomputed == 0
    warm_wall = read_wall + cat_wall + tsne_wall
    warm_cpu = read_cpu + cat_cpu + tsne_cpu
    return {
        "tsne_10k_s": round(warm_wall, 2),
        "budget_s": BUDGET_S,
        "within_budget": warm_wall <= BUDGET_S,
        "tsne_10k_cpu_s": round(warm_cpu, 2),
        "steps_s": {
            "read_cache": round(read_wall, 3),
            "categorise": round(cat_wall, 3),
            "pca_and_tsne": round(tsne_wall, 2),
        },
        "embed_10k_cold_s": round(cold_wall, 2),
        "embed_10k_cold_cpu_s": round(cold_cpu, 2),
        "encoder_load_s": round(load_wall, 2),
        "end_to_end_cold_s": round(cold_wall + warm_wall, 2),
        "workload": {
            "n_prompts": n,
            "distinct_prompts": projection.n_distinct,
            "encoder": "all-MiniLM-L6-v2 (384-D)",
            "pca_dims": 50,
            "tsne": f"sklearn Barnes-Hut, perplexity 30, max_iter {max_iter}, init pca, seed {seed}",
        },
        "threads": threads,
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.analysis", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--n", type=int, default=N_PROMPTS, help=f"prompts (default {N_PROMPTS})")
    parser.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP/torch threads (default 2)")
    parser.add_argument(
        "--max-iter", type=int, default=500, help="t-SNE iterations (default 500, as the studio)"
    )
    args = parser.parse_args(argv)
    if args.n < 10 or args.threads < 1 or args.max_iter < 250:
        parser.error("--n must be ≥ 10, --threads ≥ 1 and --max-iter ≥ 250")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report = run(args.n, args.threads, max_iter=args.max_iter)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{args.n} prompts, warm cache: {report['tsne_10k_s']:.1f} s (budget {BUDGET_S:.0f} s; t-SNE "
            f"{report['steps_s']['pca_and_tsne']:.1f} s); cold embedding {report['embed_10k_cold_s']:.1f} s; "
            f"load average {report['machine']['load_average_1m']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
