"""App benchmark: ``python -m benchmarks.app [--json] [--models a,b,c,d] [--duration 4]``.

Measures what a researcher waits for, against a real server process and a real browser:

- ``ready_s``: from spawning ``python app.py`` (fresh process, its own output folder) until the
  page answers HTTP 200. Models load lazily, so this is import + Blocks construction + bind.
- ``landing_s``: in headless Chromium with WebGL (software GL), from opening the page until the
  Compare tab's player has drawn the landing example (its answers ship in assets/examples).
- ``compare_s``: click *Generate* with the chosen models, a ``--duration``-second clip, seed 0,
  until the side-by-side ``<video>`` has loaded (first run: models and the text encoder load).
- ``compare_warm_s``: the same with seed 1 (models loaded); ``preview_s``: from that press until
  the tab's player has drawn every model's motion, ``preview_first_s`` until it has drawn the
  first model's; ``preview_over_compare`` = preview_s / compare_warm_s; ``preview_cold_s``:
  preview_s of the first (seed 0) click. The press is the page's pointerdown and the frames are
  the player's own timestamps, on the page's clock; each press waits until the page is idle
  (the last answer laid out), as a person reads a result before asking again.
- ``cached_s``: the identical request (seed 1) again: press until the player has drawn it all
  (its video is the same file, not rendered again).
- ``player_first_frame_s``: the player's own page (``/player``), DOMContentLoaded -> first frame.
- ``player_fps``: frames per second that page reports while playing four default heads at 512²
  each (a 2048x512 canvas), headless Chromium with software GL (ANGLE on Mesa's EGL).

Targets (issues 8 and 18, 2-core CPU, no GPU): ready_s <= 15, compare_s <= 8, preview_s <= 1.5
and <= compare_warm_s / 4, cached_s <= 0.5, player_first_frame_s <= 1.5, player_fps >= 12.
Prints those keys and a ``machine`` record (cores, load average, torch threads).
"""

from __future__ import annotations

import argparse
import contextlib
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
from collections.abc import Iterator
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


@contextlib.contextmanager
def app_process(env: dict[str, str], timeout_s: float) -> Iterator[tuple[str, float]]:
    """``python app.py`` with ``env`` added, until the block ends: yields its URL and the seconds
    from spawning it to its first HTTP 200."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    start = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env, "STUDIO_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield url, wait_until_ready(url, server, timeout_s) - start
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def tab_player(page, timeout_ms: float):
    """The Compare tab's player frame (the iframe's own frame: ``page.frames`` may not list a
    frame the page's script inserted until it has navigated)."""
    return page.wait_for_selector("#studio-player iframe", timeout=timeout_ms).content_frame()


def player_in_tab(page, timeout_ms: float):
    """The Compare tab's player frame, once its landing request has been drawn."""
    frame = tab_player(page, timeout_ms)
    frame.wait_for_function(PLAYER_READY, timeout=timeout_ms, polling=50)
    return frame


# the press on the page's own clock, epoch milliseconds (comparable with its frame's)
RECORD_PRESS = """() => {
  const button = [...document.querySelectorAll("button")].find((b) => b.textContent.trim() === "Generate");
  const press = () => { window.pressedAt = performance.timeOrigin + performance.now(); };
  button.addEventListener("pointerdown", press, {capture: true, once: true});
}"""
PAGE_IDLE = "() => new Promise((done) => requestIdleCallback(() => done(true), {timeout: 10000}))"


def run_compare(page, seed: int, timeout_ms: float, video: bool = True) -> dict[str, float]:
    """Click Generate with ``seed``: seconds from the press (the page's pointerdown) until the
    tab's player has drawn a first model's motion (``first``) and every model's (``preview``),
    and (with ``video``) until a new MP4 has loaded (``video``; a repeated request gets the same
    file back, so there is nothing new to wait for).

    The press waits until the page is idle: a click sent while the page still lays out the last
    answer (its chart and downloads) waits for that, which is the last request's time. The
    player's times are its own (``motionFrame``, ``completeFrame``: the frames drawn), read on
    the page's clock, so Playwright's round trips are not counted."""
    page.get_by_label("Seed").fill(str(seed))
    page.get_by_label("Seed").press("Tab")  # Gradio reads a number box on blur
    frame = tab_player(page, timeout_ms)
    loads = frame.evaluate("player.loads")
    old_src = page.evaluate("() => document.querySelector('video')?.src ?? null")
    page.evaluate(PAGE_IDLE)
    page.evaluate(RECORD_PRESS)
    start = time.perf_counter()
    page.get_by_role("button", name="Generate").click()
    frame.wait_for_function(
        f"n => player.loads > n && (({PLAYER_READY}) || player.timings.motionFrame !== undefined)",
        arg=loads,
        timeout=timeout_ms,
        polling=20,
    )
    frame.wait_for_function(
        f"n => player.loads > n && ({PLAYER_READY}) && player.timings.completeFrame !== undefined",
        arg=loads,
        timeout=timeout_ms,
        polling=20,
    )
    if frame.evaluate("window.playerError || null"):
        raise RuntimeError(f"the player failed: {frame.evaluate('window.playerError')}")
    pressed = page.evaluate("window.pressedAt")
    drawn = frame.evaluate("({origin: performance.timeOrigin, ...player.timings})")
    first = (drawn["origin"] + drawn.get("motionFrame", drawn["completeFrame"]) - pressed) / 1000
    preview = (drawn["origin"] + drawn["completeFrame"] - pressed) / 1000
    if not video:
        return {"first": first, "preview": preview}
    page.wait_for_function(
        "old => { const v = document.querySelector('video');"
        " return v && v.src !== old && v.readyState >= 1 && v.duration > 0; }",
        arg=old_src,
        timeout=timeout_ms,
        polling=50,
    )
    return {"first": first, "preview": preview, "video": time.perf_counter() - start}


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


def measure_player(browser, base: str, models: list[str], duration_s: float, timeout_s: float) -> dict:
    """``player_first_frame_s`` and ``player_fps`` on the player's own page (module docstring)."""
    query = f"models={','.join(models)}&duration={duration_s:g}&size=512&prompt={PROMPT.replace(' ', '+')}"
    page, _ = open_player(browser, f"{base}player?{query}&seed=1", timeout_s * 1000)  # answers cached
    ready = "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
    timings = page.evaluate(f"({{...player.timings, dom: {ready}}})")
    page.evaluate("player.play()")
    page.wait_for_timeout(5000)
    fps = float(page.evaluate("player.fps"))
    page.close()
    return {
        "player_first_frame_s": round((timings["firstFrame"] - timings["dom"]) / 1000, 2),
        "player_fps": round(fps, 1),
    }


def measure(models: list[str], duration_s: float, timeout_s: float) -> dict:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("benchmarks.app needs Debian's chromium (make test installs it)")
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory(prefix="studio-bench-app-") as tmp,
        app_process({"STUDIO_OUTPUT_DIR": tmp}, timeout_s) as (url, ready_s),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=chromium, args=GL_ARGS)
        # the player's policy forbids the string evaluation Playwright's waits use
        page = browser.new_page(viewport={"width": 1280, "height": 1400}, bypass_csp=True)
        start = time.perf_counter()
        page.goto(url, wait_until="domcontentloaded")
        player_in_tab(page, timeout_s * 1000)
        landing_s = time.perf_counter() - start
        page.get_by_label("Prompt").fill(PROMPT)
        for name in dict.fromkeys([*BUILT_INS, *models]):
            box = page.get_by_label(name, exact=True)
            if box.count():
                box.set_checked(name in models)
        page.get_by_label("Duration (s)").first.fill(str(duration_s))
        cold = run_compare(page, seed=0, timeout_ms=timeout_s * 1000)
        warm = run_compare(page, seed=1, timeout_ms=timeout_s * 1000)
        page.get_by_label("Seed").fill("0")  # a different value, so the next fill changes it
        page.get_by_label("Seed").press("Tab")
        cached = run_compare(page, seed=1, timeout_ms=timeout_s * 1000, video=False)
        page.close()
        player = measure_player(browser, url, models, duration_s, timeout_s)
        browser.close()
    return {
        "ready_s": round(ready_s, 2),
        "landing_s": round(landing_s, 2),
        "compare_s": round(cold["video"], 2),
        "compare_warm_s": round(warm["video"], 2),
        "preview_s": round(warm["preview"], 2),
        "preview_first_s": round(warm["first"], 2),
        "preview_cold_s": round(cold["preview"], 2),
        "preview_over_compare": round(warm["preview"] / warm["video"], 3),
        "cached_s": round(cached["preview"], 2),
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
            "landing_s",
            "compare_s",
            "compare_warm_s",
            "preview_s",
            "preview_first_s",
            "preview_cold_s",
            "cached_s",
            "player_first_frame_s",
        ):
            target = TARGETS.get(key)
            print(f"{key:<22} {result[key]:7.2f} s" + (f"   (target <= {target:g} s)" if target else ""))
        print(f"{'player_fps':<22} {result['player_fps']:7.1f}   (target >= {TARGETS['player_fps']:g})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
