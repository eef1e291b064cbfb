"""Speed of the HumanML3D-protocol metrics on 10,000 × 512 features (issue 5, part 7).

``python -m benchmarks.metrics --json`` prints one JSON object whose key ``metrics_10k_s`` is
the wall time of FID + R-precision + diversity on 10,000 × 512 float32 random features (budget:
2 s on 2 CPU cores), the per-metric times, the repeat statistics and the machine description.
The timed call is the median of ``--repeats`` runs after one warm-up run (BLAS start-up and page
faults are not the metric's cost). ``--threads N`` caps the BLAS threads (threadpoolctl) to
emulate a smaller machine; a busy machine inflates the numbers, so the load average is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from contextlib import nullcontext
from typing import Any

import numpy as np
import scipy

from evaluations.metrics import HUMANML3D_DIVERSITY_PAIRS, diversity, frechet_distance, r_precision

N_SAMPLES = 10_000
DIM = 512
BUDGET_S = 2.0


def _features(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    # float32, as an evaluator emits; generated = shifted ground truth so FID is non-trivial.
    gt = rng.standard_normal((N_SAMPLES, DIM), dtype=np.float32)
    gen = gt * np.float32(0.9) + rng.standard_normal((N_SAMPLES, DIM), dtype=np.float32) * np.float32(0.3)
    text = gt + rng.standard_normal((N_SAMPLES, DIM), dtype=np.float32)
    return {"gt": gt, "gen": gen, "text": text}


def _run_once(f: dict[str, np.ndarray]) -> dict[str, float]:
    times = {}
    t0 = time.perf_counter()
    frechet_distance(f["gt"], f["gen"])
    t1 = time.perf_counter()
    r_precision(f["text"], f["gen"])
    t2 = time.perf_counter()
    diversity(f["gen"], HUMANML3D_DIVERSITY_PAIRS)
    t3 = time.perf_counter()
    times["fid_s"], times["r_precision_s"], times["diversity_s"] = t1 - t0, t2 - t1, t3 - t2
    times["total_s"] = t3 - t0
    return times


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: p.get(k) for k in ("internal_api", "version", "num_threads")} for p in threadpool_info()
        ]
    except ImportError:  # threadpoolctl comes with scikit-learn; the benchmark works without it
        info["blas"] = None
    return info


def run(repeats: int = 5, threads: int | None = None) -> dict[str, Any]:
    """Time the three metrics; returns the JSON-ready report."""
    if threads is not None:
        from threadpoolctl import threadpool_limits

        limiter: Any = threadpool_limits(limits=threads)
    else:
        limiter = nullcontext()
    with limiter:
        feats = _features()
        _run_once(feats)  # warm-up
        runs = [_run_once(feats) for _ in range(repeats)]
        machine = _machine()
    totals = [r["total_s"] for r in runs]
    median = statistics.median(totals)
    return {
        "metrics_10k_s": round(median, 4),
        "budget_s": BUDGET_S,
        "within_budget": median <= BUDGET_S,
        "min_s": round(min(totals), 4),
        "max_s": round(max(totals), 4),
        "repeats": repeats,
        "per_metric_median_s": {
            k: round(statistics.median(r[k] for r in runs), 4)
            for k in ("fid_s", "r_precision_s", "diversity_s")
        },
        "workload": {
            "n_samples": N_SAMPLES,
            "dim": DIM,
            "dtype": "float32",
            "fid_method": "eigh",
            "r_precision": "batch_size=32, top_k=3, euclidean, text_to_motion",
            "diversity_pairs": HUMANML3D_DIVERSITY_PAIRS,
        },
        "blas_threads_limit": threads,
        "machine": machine,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metrics", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs after one warm-up (default 5)")
    parser.add_argument(
        "--threads", type=int, default=None, help="cap BLAS threads (default: library default)"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be ≥ 1")
    report = run(repeats=args.repeats, threads=args.threads)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        m = report["per_metric_median_s"]
        print(
            f"FID + R-precision + diversity on {N_SAMPLES} × {DIM}: {report['metrics_10k_s']:.3f} s median "
            f"(min {report['min_s']:.3f}, budget {BUDGET_S} s) — FID {m['fid_s']:.3f}, "
            f"R-precision {m['r_precision_s']:.3f}, diversity {m['diversity_s']:.3f}; "
            f"{report['machine']['cpus_usable']} usable CPUs, load {report['machine']['load_average_1m']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
