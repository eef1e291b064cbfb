"""A tiny real study on a real server process, for the study benchmarks and tests.

:func:`prepare_study` builds, in a folder of its own: three results folders of small ARKit clips
(one "model" each: smile, jaw, brows), a rank study over them (three prompts, two items and one
instruction attention check per participant: three screens of three clips), its stimuli rendered
by :func:`studio.study.stimuli.render_stimuli` at 64 px and 12 fps for 1 s (cheap, but the real
renderer and the real content-hash names), and the study stored in a SQLite database there.

:class:`StudyServer` runs ``python app.py`` on a free loopback port against that database and
output folder (``kill()`` sends SIGKILL; ``start()`` again restarts on the same files), and
:class:`Participant` drives the JSON API like a participant's browser would: start, then per
screen ``shown``, ``play`` and ``ended`` for every clip, then the answer.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SECRET = "benchmark-study-secret-0123456789"  # test-only HMAC key (32 characters)
PROMPTS = ("A person smiles widely", "A person looks shocked", "A person frowns deeply")
CHECK_PROMPT = "A calm neutral face"
# one channel per "model": what each results folder moves (ARKit names)
MODELS = {"m-smile": ("mouthSmileLeft", "mouthSmileRight"), "m-jaw": ("jawOpen",), "m-brow": ("browInnerUp",)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_results(folder: Path, channels: tuple[str, ...], prompts: list[str]) -> Path:
    """A results folder: one 1-second ARKit clip per prompt (seed 0), a CSV manifest."""
    from studio.formats import write_clip
    from studio.motion import ARKIT_CHANNELS, MotionClip

    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for p, prompt in enumerate(prompts):
        values = np.zeros((30, len(ARKIT_CHANNELS)), np.float32)
        envelope = np.sin(np.linspace(0, np.pi, 30)) * (0.5 + 0.15 * p)
        for name in channels:
            values[:, ARKIT_CHANNELS.index(name)] = envelope
        write_clip(MotionClip(values, 30.0, "arkit", ARKIT_CHANNELS), folder / f"p{p}.npz")
        rows.append({"prompt": prompt, "seed": 0, "file": f"p{p}.npz"})
    with (folder / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["prompt", "seed", "file"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


def tiny_config(
    results_root: Path, trial_type: str = "rank", items_per_participant: int = 2
) -> dict[str, Any]:
    """The study config (a mapping for :func:`parse_definition`): three prompts, the three models
    (rank: 3 items of 3 clips; pairwise/2afc5: 9 pair items), one instruction check."""
    names = list(MODELS)
    return {
        "name": f"tiny {trial_type} study",
        "trial_type": trial_type,
        "seed": 11,
        "prompts": list(PROMPTS),
        "models": [{"name": n, "results": str(results_root / n)} for n in names],
        "raters_per_item": 2,
        "items_per_participant": items_per_participant,
        "stimulus": {"seed": 0, "duration_s": 1.0, "fps": 12},
        "attention_checks": [{"kind": "instruction", "prompt": CHECK_PROMPT}],
        "exclusion": {"failed_attention_checks_at_least": 1},
    }


@dataclass(frozen=True)
class TinyStudy:
    """Where the prepared study lives: ``db_url``, ``output_dir``, its database ``study_id``."""

    root: Path
    db_url: str
    output_dir: Path
    study_id: int
    sha256: str


def prepare_study(root: str | Path, trial_type: str = "rank", items_per_participant: int = 2) -> TinyStudy:
    """Results folders, definition, rendered stimuli and the stored study, all under ``root``."""
    from studio.models.pool import ModelPool
    from studio.study.definition import parse_definition
    from studio.study.stimuli import render_stimuli
    from studio.study.storage import StudyStore, sqlite_url

    root = Path(root)
    results = root / "results"
    for name, channels in MODELS.items():
        _write_results(results / name, channels, [*PROMPTS, CHECK_PROMPT])
    definition = parse_definition(tiny_config(results, trial_type, items_per_participant))
    output_dir = root / "outputs"
    render_stimuli(definition, ModelPool([]), output_dir, size=64)
    db_url = sqlite_url(root / "study.db")
    with StudyStore(db_url, SECRET) as store:
        record = store.create_study(definition)
    return TinyStudy(root, db_url, output_dir, record.id, record.sha256)


@dataclass
class StudyServer:
    """``python app.py`` on a free loopback port, serving ``study`` (a real server process)."""

    study: TinyStudy
    port: int = field(default_factory=free_port)
    admin_token: str | None = None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120.0) -> float:
        """Spawn and wait until it answers; returns the seconds that took."""
        import httpx

        env = {
            **os.environ, "STUDIO_HOST": "127.0.0.1", "STUDIO_PORT": str(self.port),
            "STUDIO_OUTPUT_DIR": str(self.study.output_dir), "STUDIO_DB_URL": self.study.db_url,
            "STUDIO_STUDY_SECRET": SECRET, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
        }  # fmt: skip
        env.pop("STUDIO_ADMIN_TOKEN", None)
        if self.admin_token:
            env["STUDIO_ADMIN_TOKEN"] = self.admin_token
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (lives as long as the process; read on failure)
        start = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        while time.perf_counter() - start < timeout_s:
            if self.process.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(
                    f"the app exited ({self.process.returncode}):\n{self._log.read().decode()[-3000:]}"
                )
            try:
                if httpx.get(f"{self.url}/study/api/state", timeout=2).status_code == 401:
                    return time.perf_counter() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the app did not answer within {timeout_s:.0f} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, nothing is flushed by the app."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> StudyServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def answer_for(trial: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """A random valid answer to a trial view (what a participant might click)."""
    k = len(trial["clips"])
    if trial["trial_type"] == "rank":
        return {"ranking": [int(r) + 1 for r in rng.permutation(k)]}
    options = [o["value"] for o in trial["options"]]
    return {"choice": options[int(rng.integers(len(options)))]}


class Participant:
    """One simulated participant on the JSON API (an ``httpx.AsyncClient`` shared by many).

    ``acknowledged`` collects ``(token participant, trial_id)`` of every answer the server
    acknowledged with 200; ``latencies_ms`` the answer round trips."""

    def __init__(self, client: Any, study_id: int, pid: str, rng: np.random.Generator) -> None:
        self.client, self.study_id, self.pid, self.rng = client, study_id, pid, rng
        self.token: str | None = None
        self.acknowledged: list[int] = []
        self.latencies_ms: list[float] = []
        self.completion_code: str | None = None

    async def start(self) -> dict[str, Any]:
        body = {"study": self.study_id, "PROLIFIC_PID": self.pid, "STUDY_ID": "bench", "SESSION_ID": "s1"}
        response = await self.client.post("/study/api/start", json=body)
        response.raise_for_status()
        view = response.json()
        self.token = view["token"]
        return view

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def event(self, kind: str, trial_id: int, clip: int | None = None) -> None:
        body = {"kind": kind, "trial_id": trial_id, "client_ms": time.time() * 1000}
        if clip is not None:
            body["clip"] = clip
        response = await self.client.post("/study/api/events", json=body, headers=self.headers)
        response.raise_for_status()

    async def do_trial(
        self, trial: dict[str, Any], watch_s: float = 0.0, think_s: float = 0.0
    ) -> dict[str, Any]:
        """Watch the clips one after another (``play``, about ``watch_s`` seconds, ``ended``), think
        about ``think_s`` seconds, answer; returns the next session view. Each pause is drawn
        uniformly from 0.5-1.5 times its mean (people differ; it also keeps simulated participants
        from moving in lockstep)."""
        import asyncio

        trial_id = trial["trial_id"]
        await self.event("shown", trial_id)
        for clip in trial["clips"]:
            await self.event("play", trial_id, clip["position"])
            if watch_s:
                await asyncio.sleep(watch_s * self.rng.uniform(0.5, 1.5))
            await self.event("ended", trial_id, clip["position"])
        if think_s:
            await asyncio.sleep(think_s * self.rng.uniform(0.5, 1.5))
        payload = answer_for(trial, self.rng)
        start = time.perf_counter()
        response = await self.client.post(
            f"/study/api/trials/{trial_id}/answer", json=payload, headers=self.headers
        )
        elapsed = (time.perf_counter() - start) * 1000
        response.raise_for_status()
        self.latencies_ms.append(elapsed)
        self.acknowledged.append(trial_id)
        view = response.json()
        self.completion_code = view["completion_code"] or self.completion_code
        return view

    async def run(self, watch_s: float = 0.0, think_s: float = 0.0, deadline: float | None = None) -> None:
        """Start (or resume) and answer every remaining trial, or until ``deadline`` (perf_counter)."""
        view = await self.start()
        while view["trial"] is not None and (deadline is None or time.perf_counter() < deadline):
            view = await self.do_trial(view["trial"], watch_s, think_s)


class ThreadedServer:
    """:func:`studio.server.build_server` served by uvicorn in a thread of this process (tests:
    real HTTP on loopback without paying a second interpreter's start-up)."""

    def __init__(self, study: TinyStudy, *, admin_token: str | None = None, port: int | None = None) -> None:
        from studio.config import StudioConfig

        self.port = port or free_port()
        self.config = StudioConfig(
            port=self.port, output_dir=study.output_dir, db_url=study.db_url, study_secret=SECRET,
            admin_token=admin_token,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedServer:
        import threading

        import uvicorn

        from studio.server import build_server

        self.app = build_server(self.config)
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.perf_counter() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.perf_counter() > deadline:
                raise RuntimeError("the study server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        store = self.app.state.study_store
        if store is not None:
            store.close()
