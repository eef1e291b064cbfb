"""Make ``assets/examples/``: the built-in models' answers to the example prompts.

    python scripts/build_examples.py [--models-config assets/models.yaml] [--out assets/examples]

Runs every configured model on each of :data:`studio.examples.EXAMPLE_PROMPTS` (seed
:data:`~studio.examples.SEED`, :data:`~studio.examples.DURATION_S` s) and stores the answers
(:func:`studio.examples.write_examples`). About 30 s on two CPU cores, most of it loading the
text encoder and sampling mdm.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio.config import ASSETS_DIR
from studio.examples import DURATION_S, EXAMPLE_PROMPTS, EXAMPLES_DIR, SEED, write_examples
from studio.models import read_models_config, run_model
from studio.models.pool import GenerationCache, ModelPool
from studio.text import embed_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-config", type=Path, default=ASSETS_DIR / "models.yaml")
    parser.add_argument("--out", type=Path, default=EXAMPLES_DIR)
    args = parser.parse_args(argv)
    pool = ModelPool(read_models_config(args.models_config))
    embed_text("warm up")  # loaded once before timing: each latency is its model's, as in Compare
    answers = []
    for name in pool.names:
        report = pool.get(name)
        if report.model is None:
            print(f"{name}: did not load ({report.error}); skipped", file=sys.stderr)
            continue
        for prompt in EXAMPLE_PROMPTS:
            # run_model itself, never the cache: it would answer with the answers shipped now
            generation = run_model(report.model, prompt, seed=SEED, duration_s=DURATION_S)
            if generation.clip is None:
                print(f"{name}: no answer for {prompt[:40]!r}: {generation.error}", file=sys.stderr)
                continue
            answers.append((GenerationCache.key(report.model, prompt, SEED, DURATION_S), generation))
    count = write_examples(answers, args.out)
    print(f"wrote {count} answers to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
