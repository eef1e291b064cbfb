"""``python -m studio analyze DATA --out DIR [--models a,b]``: dataset and model emotion charts."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def _categoriser(args: argparse.Namespace):
    if args.categoriser == "zero-shot":
        return None
    from studio.analysis.llm import LLMCategoriser, LLMSettings

    return LLMCategoriser(LLMSettings.from_env(args.llm_url, args.llm_model))


def _models(names: list[str], config: str | None) -> list[object]:
    from studio.config import StudioConfig
    from studio.errors import UsageError
    from studio.models import load_models, read_models_config

    path = Path(config) if config else StudioConfig.from_env().models_config
    if not path.is_file():
        raise UsageError(f"models config {path} not found")
    specs = {s.name: s for s in read_models_config(path)}
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise UsageError(
            f"unknown model(s) {', '.join(unknown)}; the models config has {', '.join(specs) or 'none'}"
        )
    models = []
    for report in load_models([specs[n] for n in names]):
        if report.error is not None:
            raise UsageError(f"model {report.spec.name} did not load: {report.error}")
        models.append(report.model)
    return models


def cmd_analyze(args: argparse.Namespace) -> int:
    from studio.analysis.export import write_report
    from studio.analysis.report import analyse_dataset, analyse_models, build_figures, select_rows
    from studio.errors import UsageError
    from studio.formats import FormatError

    if args.model_prompts < 1:
        raise UsageError("--model-prompts must be at least 1")
    names = [n.strip() for n in (args.models or "").split(",") if n.strip()]
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    models = _models(names, args.models_config) if names else []
    start = time.perf_counter()
    try:
        analysis = analyse_dataset(
            args.data,
            cache_dir=args.cache_dir,
            categoriser=_categoriser(args),
            seed=args.seed,
            read_clips=not args.no_clips,
            progress=_progress,
        )
    except FormatError as exc:
        if "no prompts" in exc.problem:
            raise UsageError(
                f"{args.data}: the dataset has no prompts, so there is nothing to analyse"
            ) from None
        raise
    if models:
        rows = select_rows(
            analysis,
            args.model_prompts,
            compositional=not args.all_prompts,
            split=args.model_split or None,
            seed=args.seed,
        )
        if len(rows) == 0:
            raise UsageError("no prompts match the model selection (try --all-prompts or --model-split '')")
        analysis = analyse_models(analysis, models, rows, seed=args.seed, progress=_progress)
    _progress("drawing charts")
    figures = build_figures(analysis)
    summary = write_report(analysis, figures, out, png=not args.no_png)
    seconds = time.perf_counter() - start
    print(f"wrote {len(figures)} charts for {analysis.n} items to {out} in {seconds:.1f} s")
    for accuracy in analysis.accuracy:
        print(
            f"categoriser accuracy vs {accuracy.against} ({accuracy.split}, n={accuracy.n}): "
            f"{100 * accuracy.accuracy:.1f}%"
        )
    for row in summary.get("consistency_table", []):
        print(
            f"  {row['name']:<30} n={row['n']:<4} top-1 {_ci(row['top1'], row['top1_ci95'])}  "
            f"cosine {_ci(row['mean_cosine'], None)}  top-1 vs intended "
            f"{_ci(row['top1_vs_intended'], row['top1_vs_intended_ci95'])}"
        )
        if row.get("top1_minus_baseline") is not None:
            delta = _ci(row["top1_minus_baseline"], row["top1_minus_baseline_ci95"])
            print(f"  {'':<30} top-1 minus {row['baseline']}: {delta} (paired)")
    for warning in analysis.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if summary["png_skipped"] and not args.no_png:
        print(f"warning: PNGs not written: {summary['png_skipped']}", file=sys.stderr)
    return 0


def _ci(value: float | None, interval: list | None) -> str:
    if value is None:
        return "-"
    if interval and None not in interval:
        return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"
    return f"{value:.3f}"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "analyze",
        help="charts of a dataset's emotion categories (and of models' output)",
        description=__doc__,
    )
    p.add_argument("data", help="dataset folder (prompts.csv, clips/, splits/)")
    p.add_argument(
        "--out", required=True, help="output folder for charts (HTML + PNG), categories.csv, summary.json"
    )
    p.add_argument(
        "--models", help="comma-separated model names from the models config: adds model-side charts"
    )
    p.add_argument(
        "--models-config", help="models config (default: STUDIO_MODELS_CONFIG or assets/models.yaml)"
    )
    p.add_argument("--model-prompts", type=int, default=120, help="prompts each model runs on (default 120)")
    p.add_argument(
        "--model-split", default="test", help="split the model prompts come from (default test; '' = any)"
    )
    p.add_argument(
        "--all-prompts", action="store_true", help="models run on any prompts, not only compositional"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="t-SNE, prompt sampling and generation seed (default 0)"
    )
    p.add_argument(
        "--cache-dir",
        help="embedding cache folder (default: embeddings/ in STUDIO_CACHE_DIR, ~/.cache/expression-studio)",
    )
    p.add_argument(
        "--categoriser",
        choices=("zero-shot", "llm"),
        default="zero-shot",
        help="prompt categoriser: offline MiniLM zero-shot (default) or an OpenAI-compatible LLM",
    )
    p.add_argument("--llm-url", help="LLM base URL, e.g. http://127.0.0.1:8000/v1 (or STUDIO_LLM_URL)")
    p.add_argument("--llm-model", help="LLM model name (or STUDIO_LLM_MODEL); key from STUDIO_LLM_API_KEY")
    p.add_argument("--no-clips", action="store_true", help="do not read clips (faster; no motion categories)")
    p.add_argument("--no-png", action="store_true", help="write HTML charts only")
    p.set_defaults(run=cmd_analyze)
