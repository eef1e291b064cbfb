"""``python -m studio corpus build --n 20000 --seed 0 --out DIR``: write the synthetic corpus."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def cmd_build(args: argparse.Namespace) -> int:
    from studio.corpus.builder import build_corpus
    from studio.errors import UsageError

    if args.n < 1:
        raise UsageError("--n must be at least 1")
    if args.seed < 0:
        raise UsageError("--seed must be a non-negative integer")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        # Writing over an older corpus would leave its extra clips and split files behind.
        raise UsageError(f"{out}: folder is not empty; choose a new folder or remove this one first")
    start = time.perf_counter()
    stats = build_corpus(out, args.n, args.seed)
    seconds = time.perf_counter() - start
    summary = stats.summary()
    splits = ", ".join(f"{k} {v}" for k, v in sorted(summary["splits"].items()))  # type: ignore[attr-defined]
    print(f"wrote {stats.n} items to {out} in {seconds:.1f} s ({splits})")
    print(
        f"distinct actions used: {summary['distinct_actions_used']}, templates: "
        f"{summary['distinct_templates_used']}, combinations: {summary['distinct_combos']}"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    corpus = subparsers.add_parser("corpus", help="the synthetic FACS-grounded training corpus")
    sub = corpus.add_subparsers(dest="corpus_command", required=True)
    build = sub.add_parser("build", help="generate the corpus as a dataset folder")
    build.add_argument("--n", type=int, default=20000, help="number of items (default 20000)")
    build.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    build.add_argument("--out", required=True, help="output folder (dataset layout)")
    build.set_defaults(run=cmd_build)
