"""Generation benchmark: ``python -m benchmarks.generate [--json] [--config PATH] [--models a,b]``.

Loads every model in the models config (default: ``STUDIO_MODELS_CONFIG`` or assets/models.yaml)
and times, per model, the load (``load_s``: :func:`studio.models.load_model`, checkpoint read
and hash check included), one warm-up call (``first_ms``) and then ``run_model`` — the latency a
user sees, prompt hygiene and output checks included — on 50 distinct prompts for a 4-second
clip (``p50_ms``, ``p95_ms``). The MiniLM text encoder is shared by every model and loaded
once per process, so it is loaded (and timed, ``machine.text_encoder_load_s``) before any
model, and the prompt-embedding memo is cleared before each model so no model reuses another's
embeddings.

Latency is sensitive to CPU sharing: on 2 cores with another process busy, torch's two OpenMP
threads spin against it and one short MiniLM forward pass goes from ~8 ms to ~500 ms;
``--threads 1`` (or ``OMP_NUM_THREADS=1``) measures the single-thread case. ``machine`` records
the thread count and the load average at the start.

Targets (issue 3, 2-core CPU): emotion-label, retrieval, keyframe <= 50 ms; mdm <= 1 s with 50
DDIM steps; every model loads in <= 3 s. Prints one JSON object:
``{"models": {name: {"p50_ms", "p95_ms", "load_s", "first_ms", "family", "target_ms"}},
"machine": {...}}``; a model that fails to load gets ``{"error": ...}`` instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

TARGET_MS = {"emotion-label": 50.0, "retrieval": 50.0, "keyframe": 50.0, "mdm": 1000.0}
TARGET_LOAD_S = 3.0
SUBJECTS = ("A person", "A young woman", "An old man", "The actor", "She")
ACTIONS = (
    "smiles widely and then raises their eyebrows", "frowns and shakes their head",
    "gasps in surprise with the mouth wide open", "looks disgusted and wrinkles the nose",
    "nods slowly while smiling", "bites the lip nervously, then looks away",
    "laughs as if hearing a funny joke", "looks sad; the lip corners pull down",
    "scowls angrily and narrows the eyes", "winks, then gives a sly smirk",
)  # fmt: skip
PROMPTS = tuple(f"{s} {a}" for a in ACTIONS for s in SUBJECTS)  # 50 distinct prompts
WARM_UP = "Someone blinks twice and tilts their head"


def bench_model(model, n_prompts: int, duration_s: float, seed: int) -> dict[str, float]:
    """Warm-up call, then ``run_model`` latency percentiles over ``n_prompts`` prompts (ms)."""
    from studio.models import run_model
    from studio.text import embed_text

    embed_text.cache_clear()  # each model embeds its prompts itself, as it would in the app
    start = time.perf_counter()
    first = run_model(model, WARM_UP, seed=seed, duration_s=duration_s)
    first_ms = (time.perf_counter() - start) * 1000
    if first.error:
        raise RuntimeError(first.error)
    times = []
    for prompt in PROMPTS[:n_prompts]:
        start = time.perf_counter()
        result = run_model(model, prompt, seed=seed, duration_s=duration_s)
        times.append((time.perf_counter() - start) * 1000)
        if result.error:
            raise RuntimeError(f"{prompt!r}: {result.error}")
    p50, p95 = np.percentile(times, [50, 95])
    return {"p50_ms": round(float(p50), 2), "p95_ms": round(float(p95), 2), "first_ms": round(first_ms, 1)}


def run(
    config: Path, names: list[str] | None, n_prompts: int, duration_s: float, seed: int
) -> dict[str, object]:
    import torch

    from studio.models import ModelError, load_model, read_models_config
    from studio.text import embed_text

    load_average = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    start = time.perf_counter()
    embed_text(WARM_UP)
    encoder_s = time.perf_counter() - start
    results: dict[str, dict[str, object]] = {}
    for spec in read_models_config(config):
        if names and spec.name not in names:
            continue
        entry: dict[str, object] = {"family": spec.family, "target_ms": TARGET_MS.get(spec.family)}
        start = time.perf_counter()
        try:
            model = load_model(spec)
            entry["load_s"] = round(time.perf_counter() - start, 3)
            entry.update(bench_model(model, n_prompts, duration_s, seed))
        except (ModelError, RuntimeError) as exc:
            entry["error"] = str(exc)
        results[spec.name] = entry
    return {
        "models": results,
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cuda": torch.cuda.is_available(),
            "text_encoder_load_s": round(encoder_s, 3),
            "n_prompts": n_prompts,
            "duration_s": duration_s,
            "config": str(config),
            "target_load_s": TARGET_LOAD_S,
            "load_average_1m": load_average,
        },
    }


def main() -> int:
    from studio.config import StudioConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", help="models config (default: STUDIO_MODELS_CONFIG or assets/models.yaml)"
    )
    parser.add_argument("--models", help="comma-separated model names (default: all in the config)")
    parser.add_argument("--n", type=int, default=50, help=f"prompts to time (at most {len(PROMPTS)})")
    parser.add_argument("--duration", type=float, default=4.0, help="clip length in seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args()
    config = Path(args.config) if args.config else StudioConfig.from_env().models_config
    names = [n.strip() for n in args.models.split(",")] if args.models else None
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    result = run(config, names, min(args.n, len(PROMPTS)), args.duration, args.seed)
    if not args.json:
        for name, entry in result["models"].items():  # type: ignore[union-attr]
            if "error" in entry:
                print(f"{name:<18} FAILED: {entry['error']}")
                continue
            print(
                f"{name:<18} p50 {entry['p50_ms']:>8.1f} ms  p95 {entry['p95_ms']:>8.1f} ms  "
                f"load {entry['load_s']:.2f} s  "
                f"(target {entry['target_ms']} ms, {TARGET_LOAD_S:g} s)"
            )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
