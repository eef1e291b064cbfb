"""Benchmark tab against the command: ``python -m benchmarks.benchmark_tab [--json] [--data DIR]``.

The same quick benchmark (``--quick``: 3 replications of every test prompt up to 512, seed 0,
the shipped evaluator) run twice, back to back on one machine:

- ``cli_s``: ``python -m studio benchmark --models ... --data DIR --split test --quick --out ...``
  in a fresh process, wall clock (imports and model loads included, as a user waits for it);
- ``tab_s``: the Benchmark tab in headless Chromium, against ``python app.py`` started with
  ``STUDIO_DATA_DIRS`` holding DIR: from clicking *Run quick benchmark* until the page says
  where it wrote the results (the server was started and the page loaded before the click);
- ``tab_over_cli`` = tab_s / cli_s; ``same_numbers``: every metric of every row agrees to a
  relative 1e-6 in the two ``results.json`` files (``largest_relative_difference``; the thread
  counts of two processes move the 8th digit); ``progress_seen``: the progress texts the page
  showed while it ran (which model, which replication), sampled every 0.5 s; ``timing``: each
  step's seconds in the two runs' results, ``[cli, tab]`` (generation and scoring per model).

Without ``--data`` it first builds a 2,000-item corpus (200 test prompts; not timed), so the
whole run takes a few minutes on 2 CPU cores. Target (issue 18): tab_over_cli <= 1.1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.app import CHROMIUM_ARGS, app_process

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("emotion-label", "retrieval", "mdm", "keyframe")
CORPUS_ITEMS = 2000


def studio(*args: str, env: dict[str, str] | None = None) -> float:
    """Run ``python -m studio ARGS`` in the checkout; returns its wall-clock seconds."""
    start = time.perf_counter()
    # its output goes to stderr: stdout is this benchmark's JSON
    subprocess.run([sys.executable, "-m", "studio", *args], cwd=ROOT, env=env, check=True, stdout=sys.stderr)
    return time.perf_counter() - start


def metric_values(path: Path) -> dict[tuple[str, str], float]:
    """Every (model, metric) value of a ``results.json``."""
    results = json.loads(path.read_text(encoding="utf-8"))
    return {
        (row["model"], key): float(metric["value"])
        for row in results["rows"]
        for key, metric in row["metrics"].items()
    }


def largest_difference(a: dict[tuple[str, str], float], b: dict[tuple[str, str], float]) -> float:
    """The largest relative difference between two runs' values (inf when they hold different
    metrics). Two processes may use different thread counts for their matrix products, which moves
    a value in its 8th digit or so; the tables print 3 or 4."""
    if a.keys() != b.keys():
        return math.inf
    return max((abs(a[k] - b[k]) / max(abs(a[k]), abs(b[k]), 1e-12) for k in a if a[k] != b[k]), default=0.0)


def run_tab(data: Path, out: Path, models: list[str], timeout_s: float) -> tuple[float, list[str], Path]:
    """Start the app, open the Benchmark tab, run the quick benchmark on ``data``; returns
    (seconds from the click to the written results, progress texts seen, results.json)."""
    from playwright.sync_api import sync_playwright

    env = {"STUDIO_OUTPUT_DIR": str(out), "STUDIO_DATA_DIRS": str(data.parent)}
    with app_process(env, 120) as (url, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.goto(url, wait_until="networkidle")
        page.get_by_role("tab", name="Benchmark").click()
        page.get_by_text("Run a quick benchmark").click()
        for name in MODELS:
            page.get_by_label(name, exact=True).last.set_checked(name in models)
        page.get_by_label("Dataset folder (inside the data folders)").fill(str(data))
        page.get_by_label("Dataset folder (inside the data folders)").press("Enter")
        start = time.perf_counter()
        page.get_by_role("button", name="Run quick benchmark").click()
        seen: list[str] = []
        deadline = start + timeout_s
        written = page.locator("#quick-run-log code", has_text="results.json")  # "Wrote `PATH`."
        while not written.count():
            if time.perf_counter() > deadline:
                raise RuntimeError(f"the tab did not finish within {timeout_s:.0f} s")
            if page.get_by_text("Could not run the benchmark").count():
                raise RuntimeError(page.get_by_text("Could not run the benchmark").inner_text())
            for text in page.locator(".progress-level-inner").all_inner_texts():
                said = text.split(" - ")[0].strip()  # "mdm (3/4): generating replication 2/3 - 41.0%"
                if said and said not in seen:
                    seen.append(said)
            time.sleep(0.5)
        elapsed = time.perf_counter() - start
        path = Path(written.first.inner_text().strip())
        browser.close()
    return elapsed, seen, path


def measure(data: Path | None, models: list[str], timeout_s: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="studio-bench-tab-") as tmp:
        if data is None:
            data = Path(tmp) / "data" / "corpus"
            studio("corpus", "build", "--n", str(CORPUS_ITEMS), "--seed", "0", "--out", str(data))
        cli_out = Path(tmp) / "cli"
        command = ["benchmark", "--models", ",".join(models), "--data", str(data), "--split", "test"]
        cli_s = studio(*command, "--quick", "--seed", "0", "--no-progress", "--out", str(cli_out))
        tab_s, seen, written = run_tab(data, Path(tmp) / "outputs", models, timeout_s)
        difference = largest_difference(metric_values(cli_out / "results.json"), metric_values(written))
        timings = {
            name: json.loads(path.read_text(encoding="utf-8"))["timing"]
            for name, path in (("cli", cli_out / "results.json"), ("tab", written))
        }
        n_prompts = json.loads(written.read_text(encoding="utf-8"))["dataset"]["n_items"]
    return {
        "cli_s": round(cli_s, 1),
        "tab_s": round(tab_s, 1),
        "tab_over_cli": round(tab_s / cli_s, 3),
        "same_numbers": difference <= 1e-6,
        "largest_relative_difference": difference,
        "progress_seen": seen,
        "timing": {key: [timings["cli"][key], timings["tab"].get(key)] for key in timings["cli"]},
        "n_prompts": n_prompts,
        "models": models,
        "target": {"tab_over_cli": 1.1},
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.benchmark_tab", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--data", type=Path, help=f"dataset folder (default: a {CORPUS_ITEMS}-item corpus)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up on the tab after this long")
    args = parser.parse_args(argv)
    if shutil.which("chromium") is None:
        raise SystemExit("benchmarks.benchmark_tab needs Debian's chromium (make test installs it)")
    result = measure(args.data.resolve() if args.data else None, args.models.split(","), args.timeout)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
