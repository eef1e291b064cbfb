"""Security benchmark, the project's own attack suite: ``python -m benchmarks.security --json``.

Starts a real server (``python app.py`` on a free loopback port, studies and admin enabled, a
dataset folder for Explore, the tiny study of :mod:`benchmarks.study_server`) and attacks it the
way a stranger on the network would, with nothing but HTTP:

- ``filedata``: a Gradio FileData naming a canary file outside every allowed folder, placed in
  every input slot of every event of every mounted app (studio ``/``, participant page
  ``/study``, admin ``/admin`` logged in), through the page's own endpoint (``queue/join``) and
  the API routes (``run/``, ``call/``), in several spellings (absolute, ``..`` through Gradio's
  cache folder, ``file://``, a URL);
- ``foreign_host``: the same events with a foreign ``Host`` header (DNS rebinding);
- ``file_route``: direct ``gradio_api/file=`` and ``/study/media/`` requests for the canary, the
  study database, the stimulus manifests and ``/etc/passwd``, percent-encoded and traversing;
- ``cors``: a credentialed cross-origin request to every app;
- ``forged_token``: invented, altered and truncated participant tokens on the study API;
- ``bot_burst``: invented Prolific ids starting a study as fast as one client can;
- ``login``: wrong admin passwords in a row.

Every response body, and every file a response points to, is searched for the canary's secret
and for the contents of the other protected files. Prints one JSON object: ``probes`` (requests
made as attacks), ``leaked`` (probes that got protected content back: must be 0), ``refused``
(probes answered with a refusal), ``rate_limited`` (answered 429), ``by_kind`` (the same counts
per attack kind), ``leaks`` (what leaked, if anything), ``seconds`` and ``machine``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from benchmarks.study_server import ROOT, SECRET, free_port, prepare_study
from studio.security.admin_auth import CSRF_COOKIE, CSRF_HEADER

ADMIN_TOKEN = "security-benchmark-admin-0123456789"
FOREIGN_HOST = "rebind.attacker.example"
EVIL_ORIGIN = "http://localhost:9999"
EVENT_TIMEOUT_S = 20.0
# what a leaked protected file would show: the canary's secret is added at run time
# /etc/passwd, the study database, a stimulus manifest (it maps files to models)
PROTECTED_MARKERS = ("root:x:0:0", "SQLite format 3", '"study_sha256"')
PATH_IN_TEXT = re.compile(r"(/[\w.\-/ ]+?\.(?:txt|svg|csv|json|db|npz|mp4|png|yaml|html))")


@dataclass
class Tally:
    """Counts per attack kind, and what leaked."""

    probes: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)
    rate_limited: Counter = field(default_factory=Counter)
    leaks: list[str] = field(default_factory=list)

    def record(self, kind: str, status: int, leaked: str | None = None) -> None:
        self.probes[kind] += 1
        if leaked:
            self.leaks.append(f"{kind}: {leaked}")
        elif status == 429:
            self.rate_limited[kind] += 1
            self.refused[kind] += 1
        elif 400 <= status < 500 or status == -1:  # -1: the app answered the event with an error
            self.refused[kind] += 1

    def summary(self) -> dict[str, Any]:
        kinds = sorted(self.probes)
        return {
            "probes": sum(self.probes.values()),
            "leaked": len(self.leaks),
            "refused": sum(self.refused.values()),
            "rate_limited": sum(self.rate_limited.values()),
            "by_kind": {
                k: {
                    "probes": self.probes[k],
                    "refused": self.refused[k],
                    "rate_limited": self.rate_limited[k],
                }
                for k in kinds
            },
            "leaks": self.leaks[:20],
        }


@dataclass
class Target:
    """The server under attack and the secrets it must keep."""

    url: str
    canaries: list[Path]
    secret: str
    db_path: Path
    manifest_dir: Path
    study_id: int

    def find_leak(self, text: str) -> str | None:
        """The protected content ``text`` shows, if any."""
        if self.secret in text:
            return "canary secret"
        for marker in PROTECTED_MARKERS:
            if marker in text:
                return marker
        return None


class Attacker:
    """An HTTP client with nothing but the server's address."""

    def __init__(self, target: Target, tally: Tally) -> None:
        self.target, self.tally = target, tally
        self.client = httpx.Client(base_url=target.url, timeout=EVENT_TIMEOUT_S, follow_redirects=False)
        self.cookies: dict[str, str] = {}
        self.admin_headers: dict[str, str] = {}

    # -- helpers ------------------------------------------------------------------------------

    def follow_paths(self, prefix: str, text: str, headers: dict[str, str] | None = None) -> str | None:
        """Fetch every server path a response mentions through ``file=``; the leak, if any."""
        for path in sorted(set(PATH_IN_TEXT.findall(text)))[:20]:
            response = self.client.get(f"{prefix}/gradio_api/file={quote(path)}", headers=headers)
            leak = self.target.find_leak(response.text)
            if leak:
                return f"{leak} via {path}"
        return None

    def run_event(
        self,
        prefix: str,
        fn_index: int,
        data: list[Any],
        headers: dict[str, str] | None = None,
        route: str = "join",
    ) -> tuple[int, str]:
        """Send one event the way the page does (or through an API route); ``(status, all text)``.

        ``status`` is the HTTP status of the request, or -1 when the event ran and the app
        answered it with an error."""
        session = secrets.token_hex(6)
        if prefix == "/admin":
            headers = {**self.admin_headers, **(headers or {})}
        body = {
            "data": data,
            "fn_index": fn_index,
            "session_hash": session,
            "event_data": None,
            "trigger_id": None,
        }
        if route == "join":
            response = self.client.post(f"{prefix}/gradio_api/queue/join", json=body, headers=headers)
        else:
            response = self.client.post(f"{prefix}/gradio_api/{route}", json=body, headers=headers)
        text = response.text
        if response.status_code != 200 or route != "join":
            return response.status_code, text
        status = 200
        try:
            with self.client.stream(
                "GET", f"{prefix}/gradio_api/queue/data", params={"session_hash": session}, headers=headers
            ) as stream:
                deadline = time.monotonic() + EVENT_TIMEOUT_S
                for line in stream.iter_lines():
                    text += "\n" + line
                    if '"process_completed"' in line:
                        if '"success": false' in line.replace('":false', '": false'):
                            status = -1
                        break
                    if time.monotonic() > deadline:
                        break
        except httpx.HTTPError:
            pass
        return status, text

    # -- attacks ------------------------------------------------------------------------------

    def app_config(self, prefix: str) -> dict[str, Any] | None:
        response = self.client.get(f"{prefix}/config")
        return response.json() if response.status_code == 200 else None

    def payloads(self) -> list[dict[str, Any]]:
        """FileData spellings naming the canaries."""
        cache = "/tmp/gradio"
        result = []
        for canary in self.target.canaries:
            result += [
                {"path": str(canary), "meta": {"_type": "gradio.FileData"}},
                {"path": f"{cache}/../../{str(canary).lstrip('/')}", "meta": {"_type": "gradio.FileData"}},
                {"path": f"file://{canary}", "meta": {"_type": "gradio.FileData"}, "orig_name": canary.name},
            ]
        result.append(
            {
                "path": f"{self.target.url}/gradio_api/file={self.target.canaries[0]}",
                "url": None,
                "meta": {"_type": "gradio.FileData"},
            }
        )
        return result

    def events(self, prefix: str) -> Iterator[tuple[int, list[Any]]]:
        """``(event id, default inputs)`` of every server-side event of the app at ``prefix``."""
        config = self.app_config(prefix)
        if config is None:
            return
        components = {c["id"]: c for c in config["components"]}
        for dependency in config["dependencies"]:
            if dependency.get("backend_fn"):
                yield (
                    dependency["id"],
                    [components.get(i, {}).get("props", {}).get("value") for i in dependency["inputs"]],
                )

    def every_slot(
        self, prefix: str, values: list[Any], headers: dict[str, str] | None = None
    ) -> Iterator[tuple[int, str]]:
        """Each of ``values`` in each input slot of each event (the others at their defaults)."""
        for event, defaults in self.events(prefix):
            for slot in range(len(defaults)):
                for value in values:
                    data = list(defaults)
                    data[slot] = value
                    yield self.run_event(prefix, event, data, headers)

    def filedata_everywhere(self, prefix: str, kind: str, headers: dict[str, str] | None = None) -> None:
        """A FileData in every input slot of every event of the app at ``prefix``, then (with the
        right Host) every event through the API routes the pages never use."""
        payloads = self.payloads() if headers is None else self.payloads()[:1]
        for status, text in self.every_slot(prefix, payloads, headers):
            self.tally.record(
                kind, status, self.target.find_leak(text) or self.follow_paths(prefix, text, headers)
            )
        if headers is not None:
            return
        for event, defaults in self.events(prefix):
            data = [self.payloads()[0]] * len(defaults)
            for route in ("run/predict", "call/predict", "api/predict"):
                status, text = self.run_event(prefix, event, data, route=route)
                self.tally.record(
                    kind, status, self.target.find_leak(text) or self.follow_paths(prefix, text)
                )

    def paths_as_text(self, prefix: str, kind: str = "path_text") -> None:
        """The canary's path as plain text (and as a one-item list, as a multiselect sends it) in
        every input slot of every event: handlers that take a folder or a file name."""
        canary = Path(self.target.canaries[2])  # the CSV: a reader would parse it and could echo it
        spellings = [str(canary), [str(canary)], f"{canary.parent}/../{canary.parent.name}/{canary.name}"]
        for status, text in self.every_slot(prefix, spellings):
            leak = self.target.find_leak(text) or self.follow_paths(prefix, text)
            self.tally.record(kind, status, leak)

    def foreign_host(self, prefixes: list[str]) -> None:
        """Requests naming a foreign Host, as a DNS-rebinding page sends them (the events are
        read from the config with the right Host first: the attacker knows the page)."""
        headers = {"host": FOREIGN_HOST}
        for prefix in prefixes:
            for path in (
                f"{prefix}/",
                f"{prefix}/config",
                f"{prefix}/gradio_api/file={self.target.canaries[0]}",
            ):
                response = self.client.get(path, headers=headers)
                self.tally.record("foreign_host", response.status_code, self.target.find_leak(response.text))
            self.filedata_everywhere(prefix, "foreign_host", headers)

    def file_route(self, prefixes: list[str]) -> None:
        canary = str(self.target.canaries[0])
        manifests = sorted(self.target.manifest_dir.rglob("*"))
        manifest = str(manifests[-1]) if manifests else str(self.target.manifest_dir)
        targets = [
            canary,
            quote(canary, safe=""),
            quote(quote(canary, safe=""), safe=""),
            "/etc/passwd",
            str(self.target.db_path),
            manifest,
            f"/tmp/gradio/../..{canary}",
            f"..%2f..%2f..%2f..{canary}",
            f"file://{canary}",
            f"{self.target.url}/study/api/state",
            "http://169.254.169.254/latest/meta-data/",
            canary.replace("/", "//"),
            canary + "%00.mp4",
        ]
        for prefix in prefixes:
            for item in targets:
                for verb in ("GET", "HEAD"):
                    response = self.client.request(verb, f"{prefix}/gradio_api/file={item}")
                    self.tally.record(
                        "file_route", response.status_code, self.target.find_leak(response.text)
                    )
        name = Path(manifest).name
        for path in (
            f"/study/media/..%2f..%2f..{canary}",
            f"/study/media/{name}",
            "/study/media/%2e%2e%2fstudio.db",
            f"/static/..%2f..%2f..%2f..{canary}",
            f"/assets/..%2f..%2f..{canary}",
            f"/study/static/..%2f..{canary}",
            "/monitoring",
            "/gradio_api/info",
            "/gradio_api/mcp/schema",
            "/study/gradio_api/upload",
        ):
            response = self.client.get(path)
            self.tally.record("file_route", response.status_code, self.target.find_leak(response.text))

    def player_routes(self) -> None:
        """The 3D player's routes (studio.player): its allow-listed static files, rigs by hash,
        and the motion API, each handed the canary, traversals and other files' names."""
        canary = str(self.target.canaries[0])
        escaped = quote(canary, safe="")
        paths = [
            f"/player/static/..%2f..%2f..%2f..{canary}",
            f"/player/static/%2e%2e/%2e%2e/%2e%2e{canary}",
            f"/player/static/{escaped}",
            f"/player/static/three/..%2f..%2f..%2f..{canary}",
            "/player/static/../../../../etc/passwd",
            f"/player/rig/..%2f..%2f..{canary}",
            f"/player/rig/{escaped}",
            "/player/rig/" + "0" * 64 + ".glb",
        ]
        for api in ("preview", "stream"):
            for query in (
                f"rig={escaped}",
                "rig=..%2f..%2f..%2fetc%2fpasswd",
                f"models={escaped}",
                "models=..%2f..%2fstudio.db",
                f"prompt={escaped}&models=nope",
                f"{escaped}=1",
                "duration=1e400",
                "seed=99999999999999999999",
            ):
                paths.append(f"/player/api/{api}?{query}")
        # the .glb download: the model named must be one the request asked for, by name
        for query in (
            f"model={escaped}",
            "model=..%2f..%2fstudio.db",
            f"models=emotion-label&model={escaped}",
            f"models=emotion-label&model=emotion-label&rig={escaped}",
            "models=emotion-label&model=emotion-label&model=retrieval",
            f"models=emotion-label&model=emotion-label&{escaped}=1",
        ):
            paths.append(f"/player/api/glb?{query}")
        for path in paths:
            response = self.client.get(path)
            self.tally.record("player_route", response.status_code, self.target.find_leak(response.text))

    def admin_without_login(self) -> None:
        """The admin app from a client that never logged in: nothing but the login page."""
        stranger = httpx.Client(base_url=self.target.url, timeout=EVENT_TIMEOUT_S, follow_redirects=False)
        body = {"data": [self.payloads()[0]], "fn_index": 0, "session_hash": "stranger01", "trigger_id": None}
        requests = [
            ("GET", "/admin/config", None),
            ("GET", "/admin/gradio_api/info", None),
            ("GET", f"/admin/gradio_api/file={self.target.canaries[0]}", None),
            ("POST", "/admin/gradio_api/queue/join", body),
            ("POST", "/admin/gradio_api/upload", None),
            ("GET", "/admin/gradio_api/queue/data?session_hash=stranger01", None),
        ]
        for method, path, payload in requests:
            response = stranger.request(method, path, json=payload)
            # the login page itself (a redirect or the form) is a refusal of what was asked
            refused = response.status_code in (303, 307) or "/admin/login" in response.text[:2000]
            status = 403 if refused and response.status_code < 400 else response.status_code
            leak = self.target.find_leak(response.text)
            if response.status_code == 200 and path.endswith("/config") and '"dependencies"' in response.text:
                leak = leak or "the admin app's config without a login"
            self.tally.record("admin_without_login", status, leak)

    def cors(self, prefixes: list[str]) -> None:
        for prefix in prefixes:
            for origin in (EVIL_ORIGIN, "http://attacker.example", "null"):
                headers = {"origin": origin, "cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
                response = self.client.get(f"{prefix}/config", headers=headers)
                credentialed = response.headers.get("access-control-allow-credentials") == "true"
                allowed = response.headers.get("access-control-allow-origin") in (origin, "*")
                leak = f"CORS allows {origin} on {prefix}" if credentialed and allowed else None
                status = 403 if not allowed else response.status_code
                self.tally.record("cors", status, leak)
                preflight = self.client.options(
                    f"{prefix}/gradio_api/queue/join",
                    headers={"origin": origin, "access-control-request-method": "POST"},
                )
                allowed = preflight.headers.get("access-control-allow-origin") in (origin, "*")
                self.tally.record(
                    "cors",
                    403 if not allowed else preflight.status_code,
                    f"CORS preflight allows {origin} on {prefix}" if allowed else None,
                )

    def forged_tokens(self) -> None:
        started = self.client.post(
            "/study/api/start", json={"study": self.target.study_id, "PROLIFIC_PID": "forger-0001"}
        )
        real = started.json().get("token", "") if started.status_code == 200 else ""
        forged = [
            "x",
            secrets.token_urlsafe(32),
            real[:-2] + ("AA" if not real.endswith("AA") else "BB"),
            real[: len(real) // 2],
            base64.urlsafe_b64encode(b'{"participant": 1}').decode() + "." + real[-20:],
            real.replace(".", "..", 1),
            "Bearer " + real,
            real + "x" * 5000,
        ]
        for token in forged:
            for method, path in (
                ("GET", "/study/api/state"),
                ("POST", "/study/api/events"),
                ("POST", "/study/api/trials/1/answer"),
            ):
                body = (
                    {"kind": "ended", "trial_id": 1, "clip": 0}
                    if "events" in path
                    else {"ranking": [1, 2, 3]}
                )
                response = self.client.request(
                    method,
                    path,
                    headers={"authorization": f"Bearer {token}"},
                    json=body if method == "POST" else None,
                )
                self.tally.record("forged_token", response.status_code, self.target.find_leak(response.text))

    def bot_burst(self, count: int) -> None:
        for n in range(count):
            response = self.client.post(
                "/study/api/start",
                json={
                    "study": self.target.study_id,
                    "PROLIFIC_PID": f"bot{n:05d}{secrets.token_hex(4)}",
                    "STUDY_ID": "s",
                    "SESSION_ID": "x",
                },
            )
            self.tally.record("bot_burst", response.status_code, None)

    def brute_force(self, count: int) -> None:
        for n in range(count):
            response = self.client.post(
                "/admin/login",
                data={"username": "admin", "password": f"guess-{n:04d}-{secrets.token_hex(3)}"},
            )
            self.tally.record("login", response.status_code, None)

    def admin_login(self) -> bool:
        """Log in as the admin the way the page does; keeps the cookies for later requests."""
        response = self.client.post("/admin/login", data={"username": "admin", "password": ADMIN_TOKEN})
        if response.status_code >= 400:
            return False
        self.cookies.update(dict(response.cookies))
        # the admin page's own script sends the CSRF token from this cookie with every POST; so
        # does the attacker who logged in, to reach the file checks behind the CSRF check
        csrf = response.cookies.get(CSRF_COOKIE) or self.client.cookies.get(CSRF_COOKIE)
        if csrf:
            self.admin_headers = {CSRF_HEADER: csrf}
        return self.client.get("/admin/config").status_code == 200


def prepare(root: Path) -> tuple[dict[str, str], Target]:
    """The study, a dataset folder, canaries outside every allowed folder, and the server's env."""
    study = prepare_study(root / "study")
    secret = f"CANARY-{secrets.token_hex(16)}"
    outside = root / "private"
    outside.mkdir()
    canaries = [outside / "canary.txt", outside / "canary.svg", outside / "canary.csv"]
    canaries[0].write_text(f"{secret}\n")
    canaries[1].write_text(f'<svg xmlns="http://www.w3.org/2000/svg"><text>{secret}</text></svg>')
    canaries[2].write_text(f"Timecode,BlendShapeCount,{secret}\n00:00:00:00.000,61,0.5\n")
    data_dir = root / "data"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "studio",
            "corpus",
            "build",
            "--n",
            "24",
            "--seed",
            "0",
            "--out",
            str(data_dir / "corpus"),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    # a symlink planted in the data folder pointing out of it (a shared-folder mistake)
    (data_dir / "escape").symlink_to(outside, target_is_directory=True)
    env = {
        **os.environ,
        "STUDIO_HOST": "127.0.0.1",
        "STUDIO_OUTPUT_DIR": str(study.output_dir),
        "STUDIO_DB_URL": study.db_url,
        "STUDIO_STUDY_SECRET": SECRET,
        "STUDIO_ADMIN_TOKEN": ADMIN_TOKEN,
        "STUDIO_DATA_DIRS": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "GRADIO_TEMP_DIR": str(root / "gradio-tmp"),
    }
    target = Target(
        url="",
        canaries=canaries,
        secret=secret,
        db_path=Path(study.db_url.removeprefix("sqlite:///")),
        manifest_dir=study.output_dir / "study-manifests",
        study_id=study.study_id,
    )
    return env, target


def start_server(env: dict[str, str], port: int, log: Any, timeout_s: float = 120.0) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={**env, "STUDIO_PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/study/api/state", timeout=2).status_code == 401:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the app did not answer in time")


KINDS = (
    "filedata",
    "path_text",
    "foreign_host",
    "file_route",
    "player_route",
    "admin_without_login",
    "cors",
    "forged_token",
    "bot_burst",
    "login",
)


def run(bursts: int = 200, logins: int = 60, kinds: tuple[str, ...] = KINDS) -> dict[str, Any]:
    started = time.perf_counter()
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="studio-security-") as tmp:
        env, target = prepare(Path(tmp))
        port = free_port()
        target.url = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryFile() as log:
            process = start_server(env, port, log)
            try:
                attacker = Attacker(target, tally)
                if "filedata" in kinds:
                    attacker.filedata_everywhere("", "filedata")
                    attacker.filedata_everywhere("/study", "filedata")
                    if attacker.admin_login():
                        attacker.filedata_everywhere("/admin", "filedata")
                if "path_text" in kinds:
                    attacker.paths_as_text("")
                    attacker.paths_as_text("/study")
                    if attacker.admin_login():
                        attacker.paths_as_text("/admin")
                    else:
                        tally.leaks.append("setup: the admin login with the right token failed")
                steps = {
                    "foreign_host": lambda: attacker.foreign_host(["", "/study", "/admin"]),
                    "file_route": lambda: attacker.file_route(["", "/study", "/admin"]),
                    "player_route": attacker.player_routes,
                    "cors": lambda: attacker.cors(["", "/study", "/admin"]),
                    "admin_without_login": attacker.admin_without_login,
                    "forged_token": attacker.forged_tokens,
                    "bot_burst": lambda: attacker.bot_burst(bursts),
                    "login": lambda: attacker.brute_force(logins),
                }
                for kind, step in steps.items():
                    if kind in kinds:
                        step()
                log.seek(0)
                server_log = log.read().decode(errors="replace")
                if target.secret in server_log:
                    tally.leaks.append("server log: the canary's content was read by the server")
            finally:
                process.terminate()
                process.wait(timeout=20)
    return {
        **tally.summary(),
        "seconds": round(time.perf_counter() - started, 1),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--bursts", type=int, default=200, help="invented participants in the bot burst")
    parser.add_argument("--logins", type=int, default=60, help="wrong admin passwords in a row")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"attacks to run (of {', '.join(KINDS)})")
    args = parser.parse_args(argv)
    result = run(args.bursts, args.logins, tuple(args.kinds.split(",")))
    print(json.dumps(result, indent=None if args.json else 2))
    return 0 if result["leaked"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
