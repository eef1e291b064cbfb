"""App benchmark: ``python -m benchmarks.app [--json] [--models a,b,c,d] [--duration 4]``.

Measures what a researcher waits for, against a real server process and a real browser:

- ``ready_s``: from spawning ``python app.py`` (fresh process, its own output folder) until the
  page answers HTTP 200. Models load lazily, so this is import + Blocks construction + bind.
- ``compare_s``: in headless Chromium (Debian's package), from clicking *Generate* on the Compare
  tab with the four built-ins selected and a ``--duration``-second clip until the side-by-side
  ``<video>`` has loaded with a positive duration. This first run includes loading each model
  and the shared text encoder, generating, rendering every frame and encoding the MP4.
- ``compare_warm_s``: the same again with another seed (models already loaded).
- ``preview_s``: the in-browser player (``/player``) opened for a request no one made yet (models
  already loaded): from navigation until every panel's motion is drawn — generation, the motion
  payload, the rig (browser-cached after the first load) and the first WebGL frame.
- ``cached_s``: the identical request again (the server's clip cache) until drawn.
- ``player_first_frame_s``: page ready (DOMContentLoaded) -> first frame drawn, on the cached run.
- ``player_fps``: frames per second the player reports while playing four default heads at 512²
  each (a 2048x512 canvas), headless Chromium with software GL (ANGLE on Mesa's EGL).

Targets (issue 8, 2-core CPU, no GPU): ready_s <= 15, compare_s <= 8. Prints one JSON object with
those keys and a ``machine`` record (cores, load average, torch threads).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from benchmarks.study_server import free_port

ROOT = Path(__file__).resolve().parents[1]
BUILT_INS = ("emotion-label", "retrieval", "keyframe", "mdm")
TARGETS = {
    "ready_s": 15.0,
    "compare_s": 8.0,
    "preview_s": 1.5,
    "cached_s": 0.5,
    "player_first_frame_s": 1.5,
    "player_fps": 12.0,
}
PROMPT = "A person smiles widely and then raises their eyebrows"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
# WebGL needs Chromium's GPU process: software GL through ANGLE's EGL back end
GL_ARGS = [a for a in CHROMIUM_ARGS if a != "--disable-gpu"] + [
    "--use-gl=angle",
    "--use-angle=gl-egl",
    "--ignore-gpu-blocklist",
]
PLAYER_READY = "window.playerError || (window.player && window.player.ready)"


def wait_until_ready(url: str, server: subprocess.Popen, timeout_s: float) -> float:
    """Poll ``url`` until HTTP 200; returns when it answered (perf_counter seconds)."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the app exited with code {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the app did not answer within {timeout_s:.0f} s")


def run_compare(page, seed: int, timeout_ms: float) -> float:
    """Click Generate with ``seed``; seconds until a video with positive duration has loaded."""
    page.get_by_label("Seed").fill(str(seed))
    page.get_by_label("Seed").press("Tab")  # Gradio reads a number box on blur
    old_src = page.evaluate("() => document.querySelector('video')?.src ?? null")
    start = time.perf_counter()
    page.get_by_role("button", name="Generate").click()
    page.wait_for_function(
        "old => { const v = document.querySelector('video');"
        " return v && v.src !== old && v.readyState >= 1 && v.duration > 0; }",
        arg=old_src,
        timeout=timeout_ms,
        polling=50,
    )
    return time.perf_counter() - start


def open_player(browser, url: str, timeout_ms: float) -> tuple[object, float]:
    """Open the player at ``url``; returns the page and seconds until its first frame was drawn."""
    page = browser.new_page(viewport={"width": 2200, "height": 1000}, bypass_csp=True)
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_function(PLAYER_READY, timeout=timeout_ms, polling=50)
    elapsed = time.perf_counter() - start
    error = page.evaluate("window.playerError || null")
    if error:
        raise RuntimeError(f"the player failed: {error}")
    return page, elapsed


def measure_player(chromium: str, base: str, models: list[str], duration_s: float, timeout_s: float) -> dict:
    """``preview_s``, ``cached_s``, ``player_first_frame_s`` and ``player_fps`` (module docstring)."""
    from playwright.sync_api import sync_playwright

    query = f"models={','.join(models)}&duration={duration_s:g}&size=512&prompt={PROMPT.replace(' ', '+')}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=GL_ARGS)
        warm, _ = open_player(browser, f"{base}player?{query}&seed=7", timeout_s * 1000)  # loads the rig
        warm.close()
        page, preview_s = open_player(browser, f"{base}player?{query}&seed=8", timeout_s * 1000)
        page.close()
        page, cached_s = open_player(browser, f"{base}player?{query}&seed=8", timeout_s * 1000)
        ready = "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
        timings = page.evaluate(f"({{...player.timings, dom: {ready}}})")
        page.evaluate("player.play()")
        page.wait_for_timeout(5000)
        fps = float(page.evaluate("player.fps"))
        browser.close()
    return {
        "preview_s": round(preview_s, 2),
        "cached_s": round(cached_s, 2),
        "player_first_frame_s": round((timings["firstFrame"] - timings["dom"]) / 1000, 2),
        "player_fps": round(fps, 1),
    }


def measure(models: list[str], duration_s: float, timeout_s: float) -> dict:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("benchmarks.app needs Debian's chromium (make test installs it)")
    from playwright.sync_api import sync_playwright

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="studio-bench-app-") as tmp:
        env = {**os.environ, "STUDIO_PORT": str(port), "STUDIO_OUTPUT_DIR": tmp, "HF_HUB_OFFLINE": "1"}
        url = f"http://127.0.0.1:{port}/"
        start = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            ready_s = wait_until_ready(url, server, timeout_s) - start
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 1200})
                page.goto(url, wait_until="networkidle")
                page.get_by_label("Prompt").fill(PROMPT)
                for name in dict.fromkeys([*BUILT_INS, *models]):
                    box = page.get_by_label(name, exact=True)
                    if box.count():
                        box.set_checked(name in models)
                page.get_by_label("Duration (s)").first.fill(str(duration_s))
                compare_s = run_compare(page, seed=0, timeout_ms=timeout_s * 1000)
                compare_warm_s = run_compare(page, seed=1, timeout_ms=timeout_s * 1000)
                browser.close()
            player = measure_player(chromium, url, models, duration_s, timeout_s)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
    return {
        "ready_s": round(ready_s, 2),
        "compare_s": round(compare_s, 2),
        "compare_warm_s": round(compare_warm_s, 2),
        **player,
        "models": models,
        "duration_s": duration_s,
        "targets": TARGETS,
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "omp_threads": os.environ.get("OMP_NUM_THREADS", "default"),
            "python": platform.python_version(),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.app", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--models", default=",".join(BUILT_INS), help="comma-separated model names")
    parser.add_argument("--duration", type=float, default=4.0, help="clip length in seconds")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    args = parser.parse_args(argv)
    result = measure([m for m in args.models.split(",") if m], args.duration, args.timeout)
    if args.json:
        print(json.dumps(result))
    else:
        for key in (
            "ready_s",
            "compare_s",
            "compare_warm_s",
            "preview_s",
            "cached_s",
            "player_first_frame_s",
        ):
            target = TARGETS.get(key)
            print(f"{key:<22} {result[key]:7.2f} s" + (f"   (target <= {target:g} s)" if target else ""))
        print(f"{'player_fps':<22} {result['player_fps']:7.1f}   (target >= {TARGETS['player_fps']:g})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
