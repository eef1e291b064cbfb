"""A live studio server and a headless Chromium (Debian's package, driven by Playwright)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.study_server import free_port, serve_in_thread
from studio.config import StudioConfig
from studio.server import build_server

# Flags that keep Chromium quiet on a machine without network or GPU.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",
]


@contextlib.contextmanager
def serving(config: StudioConfig, pool=None, *, store=None) -> Iterator[str]:
    """The whole server for ``config`` (and ``pool``, default: the configured models) on its port,
    built the way ``app.py`` builds it (studio.server)."""
    with serve_in_thread(build_server(config, pool, store=store), config.port) as url:
        yield url


@pytest.fixture(scope="module")
def studio_url(tmp_path_factory) -> Iterator[str]:
    with serving(StudioConfig(port=free_port(), output_dir=tmp_path_factory.mktemp("outputs"))) as url:
        yield url


def launch_chromium(args: list[str]) -> Iterator[object]:
    """Debian's chromium through playwright with ``args`` (skips the test when it is missing)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=args)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def browser():
    yield from launch_chromium(CHROMIUM_ARGS)


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    """Where screenshots go: $STUDIO_SCREENSHOT_DIR when set (to look at them), else a temp dir."""
    target = Path(os.environ.get("STUDIO_SCREENSHOT_DIR", tmp_path))
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture(scope="module")
def compare_url(tmp_path_factory) -> Iterator[str]:
    """A studio whose models are a results folder plus one that fails to load."""
    from studio.models import ModelSpec
    from studio.models.pool import ModelPool
    from tests.models.conftest import make_results_folder

    root = tmp_path_factory.mktemp("compare")
    specs = [
        ModelSpec("stored", "results", "arkit", path=make_results_folder(root / "results")),
        ModelSpec("broken", "results", "arkit", path=root / "nowhere"),
    ]
    with serving(StudioConfig(port=free_port(), output_dir=root / "outputs"), ModelPool(specs)) as url:
        yield url
