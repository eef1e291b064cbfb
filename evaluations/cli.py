"""``python -m studio benchmark``: score models and the ground truth with one evaluator and protocol."""

from __future__ import annotations

import argparse
from pathlib import Path

from studio.errors import UsageError


def cmd_benchmark(args: argparse.Namespace) -> int:
    from evaluations.benchmark import run_benchmark
    from evaluations.emotion import EmotionRecogniser
    from evaluations.evaluator import Evaluator
    from evaluations.metrics import R_PRECISION_CONVENTIONS
    from evaluations.protocol import Protocol
    from evaluations.results import leaderboard_markdown
    from evaluations.results_files import write_results

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if not names:
        raise UsageError("--models needs at least one model name (comma-separated)")
    if args.r_precision not in R_PRECISION_CONVENTIONS:
        raise UsageError(f"--r-precision must be one of {', '.join(R_PRECISION_CONVENTIONS)}")
    replications = 3 if args.quick else args.replications
    protocol = Protocol(
        replications=replications,
        seed=args.seed,
        n_prompts=args.prompts,
        r_precision_convention=args.r_precision,
        quick=args.quick,
        allow_non_test=args.allow_non_test,
        allow_overlap=args.allow_overlap,
    )
    evaluator = Evaluator.load(args.evaluator, args.evaluator_sha256) if args.evaluator else None
    recogniser = EmotionRecogniser.load(args.emotion_recogniser) if args.emotion_recogniser else None
    results = run_benchmark(
        names,
        args.data,
        args.split,
        protocol,
        models_config=args.models_config,
        evaluator=evaluator,
        recogniser=recogniser,
        geometry=not args.no_geometry,
        progress=not args.no_progress,
    )
    paths = write_results(results, args.out)
    print(leaderboard_markdown(results))
    print(f"wrote {', '.join(str(p) for p in paths)} in {results.timing['total_s']:.0f} s")
    print(studio_listing(args.out))
    failed = [row.model for row in results.rows if row.error]
    return 1 if failed else 0


def studio_listing(out: str) -> str:
    """One line: whether the studio's Benchmark tab lists results written to ``out``, and if not,
    where they would be listed (the output folder or a data folder, a few folders deep)."""
    from evaluations.results_files import LEADERBOARD_FOLDER, SEARCH_DEPTH, listed_where, results_roots
    from studio.config import ConfigError, StudioConfig

    try:
        config = StudioConfig.from_env()
    except ConfigError as exc:  # the results are written; the setting is the server's problem
        return f"note: cannot tell whether the studio lists it: {exc}"
    if Path(out).resolve() == (config.assets_dir / LEADERBOARD_FOLDER).resolve():
        return "the studio shows it as its shipped leaderboard (scripts/build_leaderboard.py)"
    root = listed_where(out, config)
    if root is not None:
        return f"the studio's Benchmark tab lists it (found under {root})"
    where = " or ".join(str(r) for r in results_roots(config))
    return (
        f"note: the studio's Benchmark tab does not list {out}; it lists results.json files up to "
        f"{SEARCH_DEPTH} folders under {where} (STUDIO_OUTPUT_DIR, STUDIO_DATA_DIRS)"
    )


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("benchmark", help="score models and the ground truth (FID, R-precision, ...)")
    bench.add_argument("--models", required=True, help="comma-separated model names from the models config")
    bench.add_argument("--data", required=True, help="dataset folder (prompts.csv, clips/, splits/)")
    bench.add_argument(
        "--split",
        default="test",
        choices=("train", "val", "test"),
        help="the split scored (default test; train and val need --allow-non-test)",
    )
    bench.add_argument(
        "--allow-non-test",
        action="store_true",
        help="score the train or val split anyway; every output says so",
    )
    bench.add_argument(
        "--allow-overlap",
        action="store_true",
        help="score items the evaluator was trained on (same clip or prompt) anyway; every output says so",
    )
    bench.add_argument("--replications", type=int, default=20, help="HumanML3D replications (default 20)")
    bench.add_argument("--quick", action="store_true", help="3 replications, for iteration")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument(
        "--prompts", type=int, default=512, help="prompts scored (a fixed subset; default 512)"
    )
    bench.add_argument(
        "--r-precision",
        default="humanml3d-code",
        help="humanml3d-code (Euclidean, text→motions; default) or express4d-paper (cosine, motion→texts)",
    )
    bench.add_argument("--evaluator", help="evaluator checkpoint (default: the shipped one)")
    bench.add_argument("--evaluator-sha256", help="expected SHA-256 of --evaluator")
    bench.add_argument("--emotion-recogniser", help="emotion recogniser checkpoint (default: shipped)")
    bench.add_argument(
        "--models-config", help="models config (default: STUDIO_MODELS_CONFIG or assets/models.yaml)"
    )
    bench.add_argument("--no-geometry", action="store_true", help="skip the rig vertex error")
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")
    bench.add_argument("--out", required=True, help="folder for results.json, results.csv, results.md")
    bench.set_defaults(run=cmd_benchmark)
