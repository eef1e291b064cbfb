"""A tiny real study on a real server process, for the study benchmarks and tests.

:func:`prepare_study` builds, in a folder of its own: three results folders of small ARKit clips
(one "model" each: smile, jaw, brows), a rank study over them (three prompts, two items and one
instruction attention check per participant: three screens of three clips), its stimuli rendered
by :func:`studio.study.stimuli.render_stimuli` at 64 px and 12 fps for 1 s (cheap, but the real
renderer and the real content-hash names), and the study stored in a SQLite database there.

:class:`StudyServer` runs ``python app.py`` on a free loopback port against that database and
output folder (``kill()`` sends SIGKILL; ``start()`` again restarts on the same files), and
:class:`Participant` drives the JSON API like a participant's browser would: start, then per
screen ``shown``, ``play`` and ``ended`` for every clip, then the answer -- never sooner after the
screen arrived than its clips last (the server refuses such answers as ``too_fast``).

:func:`throwaway_postgres` starts a private PostgreSQL server on loopback (Debian's server
binaries; the tests' fixture uses it too) and :func:`create_database` makes databases on it, for
running several server processes against one study database.
"""

from __future__ import annotations

import contextlib
import csv
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
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
    from studio.motion import ARKIT_CHANNELS, OUTPUT_FPS, MotionClip

    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for p, prompt in enumerate(prompts):
        values = np.zeros((30, len(ARKIT_CHANNELS)), np.float32)
        envelope = np.sin(np.linspace(0, np.pi, 30)) * (0.5 + 0.15 * p)
        for name in channels:
            values[:, ARKIT_CHANNELS.index(name)] = envelope
        write_clip(MotionClip(values, OUTPUT_FPS, "arkit", ARKIT_CHANNELS), folder / f"p{p}.npz")
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


def prepare_study(
    root: str | Path, trial_type: str = "rank", items_per_participant: int = 2, db_url: str | None = None
) -> TinyStudy:
    """Results folders, definition, rendered stimuli and the stored study, all under ``root`` (the
    study in a SQLite file there, or in the database at ``db_url``)."""
    from studio.models.pool import ModelPool
    from studio.study.parsing import parse_definition
    from studio.study.schema import sqlite_url
    from studio.study.stimuli import render_stimuli
    from studio.study.storage import StudyStore

    root = Path(root)
    results = root / "results"
    for name, channels in MODELS.items():
        _write_results(results / name, channels, [*PROMPTS, CHECK_PROMPT])
    definition = parse_definition(tiny_config(results, trial_type, items_per_participant))
    output_dir = root / "outputs"
    render_stimuli(definition, ModelPool([]), output_dir, size=64)
    db_url = db_url or sqlite_url(root / "study.db")
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
    settings: Mapping[str, str] = field(default_factory=dict)  # more STUDIO_* environment variables

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120.0) -> float:
        """Spawn and wait until it answers; returns the seconds that took."""
        import httpx

        env = {
            **os.environ,
            "STUDIO_HOST": "127.0.0.1",
            "STUDIO_PORT": str(self.port),
            "STUDIO_OUTPUT_DIR": str(self.study.output_dir),
            "STUDIO_DB_URL": self.study.db_url,
            "STUDIO_STUDY_SECRET": SECRET,
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",
            **self.settings,
        }
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
    acknowledged with 200; ``latencies_ms`` the answer round trips. ``address``: the client
    address to claim in ``X-Forwarded-For`` (for a server told to trust one proxy hop: each
    simulated participant then counts as its own client for the rate limits)."""

    def __init__(
        self, client: Any, study_id: int, pid: str, rng: np.random.Generator, address: str | None = None
    ) -> None:
        self.client, self.study_id, self.pid, self.rng = client, study_id, pid, rng
        self.token: str | None = None
        self.acknowledged: list[int] = []
        self.latencies_ms: list[float] = []
        self.completion_code: str | None = None
        self.forwarded = {} if address is None else {"X-Forwarded-For": address}
        self._shown_at = 0.0  # when the current screen arrived (perf_counter)

    async def start(self) -> dict[str, Any]:
        body = {"study": self.study_id, "PROLIFIC_PID": self.pid, "STUDY_ID": "bench", "SESSION_ID": "s1"}
        response = await self.client.post("/study/api/start", json=body, headers=self.forwarded)
        response.raise_for_status()
        self._shown_at = time.perf_counter()
        view = response.json()
        self.token = view["token"]
        return view

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **self.forwarded}

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
        # a person cannot answer before the clips have played (side by side, at the least)
        left = trial.get("clip_duration_s", 0.0) + 0.02 - (time.perf_counter() - self._shown_at)
        if left > 0:
            await asyncio.sleep(left)
        payload = answer_for(trial, self.rng)
        start = time.perf_counter()
        response = await self.client.post(
            f"/study/api/trials/{trial_id}/answer", json=payload, headers=self.headers
        )
        self._shown_at = time.perf_counter()
        elapsed = (self._shown_at - start) * 1000
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


@contextlib.contextmanager
def serve_in_thread(app: Any, port: int) -> Iterator[str]:
    """Any ASGI ``app`` under uvicorn on loopback ``port``, in a thread of this process (tests:
    real HTTP without paying a second interpreter's start-up); yields its URL."""
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.perf_counter() + 60
    while not server.started:
        if not thread.is_alive() or time.perf_counter() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class ThreadedServer:
    """:func:`studio.server.build_server` served by uvicorn in a thread of this process (tests:
    real HTTP on loopback without paying a second interpreter's start-up)."""

    def __init__(
        self,
        study: TinyStudy,
        *,
        admin_token: str | None = None,
        port: int | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        """``settings``: more ``STUDIO_*`` environment variables (rate limits, proxy hops...)."""
        from dataclasses import replace

        from studio.config import StudioConfig

        self.port = port or free_port()
        self.config = replace(
            StudioConfig.from_env(dict(settings or {})),
            port=self.port,
            output_dir=study.output_dir,
            db_url=study.db_url,
            study_secret=SECRET,
            admin_token=admin_token,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedServer:
        from studio.server import build_server

        self.app = build_server(self.config)
        self._serving = serve_in_thread(self.app, self.port)
        self._serving.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._serving.__exit__(None, None, None)
        store = self.app.state.study_store
        if store is not None:
            store.close()


# ----------------------------------------------------------------------------------------------
# a throw-away PostgreSQL server
# ----------------------------------------------------------------------------------------------


class PostgresUnavailable(RuntimeError):  # noqa: N818  (a missing tool, not a bug)
    """No PostgreSQL server binaries here, or no unprivileged user to run them as."""


def _pg_bindir() -> Path | None:
    """Debian keeps the server binaries in /usr/lib/postgresql/<major>/bin, off PATH."""
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.parts[-3].isdigit()]
    found.sort(key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    return Path(initdb).resolve().parent if initdb and pg_ctl else None


def _run_as() -> tuple[list[str], str | None]:
    """Command prefix and user for running the server: unprivileged even when we are root."""
    if os.geteuid() != 0:
        return [], None
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        runuser = shutil.which("runuser")
        if runuser is None:
            raise PostgresUnavailable("running as root without runuser (util-linux): cannot start PostgreSQL")
        return [runuser, "-u", user, "--"], user
    raise PostgresUnavailable("running as root with no 'postgres' or 'nobody' user to start PostgreSQL as")


@contextlib.contextmanager
def throwaway_postgres(max_connections: int = 100) -> Iterator[str]:
    """A private PostgreSQL server on loopback for as long as the block runs; yields the URL of
    its ``postgres`` database (user ``studio``, a random password). Its data, socket and log live
    in a temporary folder, removed afterwards; ``fsync`` is off (nothing here tests PostgreSQL's
    own durability). Raises :class:`PostgresUnavailable` when it cannot be started here."""
    bindir = _pg_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin or on PATH; "
            "install Debian's 'postgresql' package"
        )
    prefix, user = _run_as()
    # not a folder under a root-only parent: the server user must be able to enter it
    root = Path(tempfile.mkdtemp(prefix="studio-pg-"))
    password = secrets.token_hex(16)
    (root / "pwfile").write_text(password + "\n")
    (root / "sock").mkdir()
    if user is not None:
        record = pwd.getpwnam(user)
        for path in (root, root / "pwfile", root / "sock"):
            os.chown(path, record.pw_uid, record.pw_gid)
    data, log = root / "data", root / "server.log"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=60, check=False)

    try:
        init = run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "studio",
            "--pwfile",
            str(root / "pwfile"),
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        options = (
            "-c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
            f"-c max_connections={max_connections}"
        )
        for _attempt in range(3):  # the free port can be taken between probing and binding
            port = free_port()
            start = run(
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                "30",
                "-o",
                f"{options} -p {port} -k {root / 'sock'}",
                "start",
            )
            if start.returncode == 0:
                break
        else:
            text = log.read_text() if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start:\n{start.stdout}\n{start.stderr}\n{text}")
        try:
            yield f"postgresql+psycopg://studio:{password}@127.0.0.1:{port}/postgres"
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def create_database(server_url: str, name: str | None = None) -> str:
    """A new, empty database on the server of ``server_url`` (from :func:`throwaway_postgres`);
    returns its URL."""
    import psycopg

    name = name or f"t_{secrets.token_hex(6)}"
    with psycopg.connect(
        server_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"
