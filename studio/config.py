"""Everything the studio reads from the environment, in one module.

:class:`StudioConfig` is the server's and the CLI's configuration, built once at start-up and
validated there. The small functions below read the settings a library part needs on its own
(where the FLAME model or the ICT rig lives, an LLM endpoint, the cache folder); nothing outside
this module reads ``os.environ``. :data:`ASSETS_DIR` is where the files the studio ships live,
in a source checkout and in an installed package alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from studio.errors import StudioError
from studio.formats.errors import DEFAULT_MAX_FRAMES


def _assets_dir() -> Path:
    """``studio/assets`` in an installed wheel (the build puts the checkout's ``assets/`` there);
    the checkout's top-level ``assets/`` in a source tree or an editable install."""
    package = Path(__file__).resolve().parent
    installed = package / "assets"
    return installed if installed.is_dir() else package.parent / "assets"


ASSETS_DIR = _assets_dir()


class ConfigError(StudioError, ValueError):
    """A setting in the environment is refused; the message names the variable. Entry points
    (``python app.py``, ``python -m studio ...``) print it as one line and exit with code 2."""


@dataclass(frozen=True)
class StudioConfig:
    """Everything the app and CLI read from the environment, validated in one place.

    ``output_dir`` is where renders and exports go (the only folder Gradio may serve);
    ``models_config`` lists the models to load (YAML or TOML); ``max_upload_mb`` caps uploads;
    ``max_frames`` caps any clip a reader accepts; ``data_dirs`` bound what Explore may open.
    """

    host: str = "127.0.0.1"
    port: int = 7860
    # Working folders default to the current directory (the checkout when run as `python app.py`).
    output_dir: Path = field(default_factory=lambda: Path.cwd() / "outputs")
    assets_dir: Path = ASSETS_DIR
    models_config: Path = ASSETS_DIR / "models.yaml"
    # Study answers live outside output_dir, which Gradio serves. On Spaces point this at the
    # persistent /data volume (sqlite:////data/studio.db) or at PostgreSQL.
    db_url: str = field(default_factory=lambda: f"sqlite:///{Path.cwd() / 'data' / 'studio.db'}")
    study_secret: str | None = field(default=None, repr=False)  # HMAC key for participant ids
    admin_token: str | None = field(default=None, repr=False)  # admin pages; unset = no admin
    max_frames: int = DEFAULT_MAX_FRAMES
    max_upload_mb: int = 50
    # Folders whose dataset subfolders the Explore tab may open (a browser user names a folder;
    # anything outside these is refused). STUDIO_DATA_DIRS, separated by os.pathsep.
    data_dirs: tuple[Path, ...] = field(default_factory=lambda: (Path.cwd() / "data",))
    # Host names the server answers to besides loopback (STUDIO_ALLOWED_HOSTS, comma-separated);
    # empty: loopback names when bound to loopback, any name otherwise (studio.security.http).
    allowed_hosts: tuple[str, ...] = ()
    # Proxies in front of the server that append the client's address to X-Forwarded-For
    # (STUDIO_TRUSTED_PROXY_HOPS; a Space sits behind one: 1). 0 trusts no such header: a client
    # could write any address there. Rate limits and login lockouts key on the address found.
    trusted_proxy_hops: int = 0
    # New participants admitted per client address and window, and from everyone per window
    # (STUDIO_START_LIMIT_PER_CLIENT / _CLIENT_WINDOW_S / _TOTAL / _TOTAL_WINDOW_S; a limit of 0 is
    # off). A returning participant is never limited.
    start_limit_per_client: int = 10
    start_limit_client_window_s: int = 600
    start_limit_total: int = 300
    start_limit_total_window_s: int = 60
    # Admin login: after ADMIN_BACKOFF_AFTER failed logins from one client (within the lockout
    # period) each next try waits 1, 2, 4, ... s; after ADMIN_LOCKOUT_AFTER it is locked out for
    # ADMIN_LOCKOUT_S. Failures from all clients together: back-off after half of
    # ADMIN_GLOBAL_LOCKOUT_AFTER, lockout (everyone, the admin too) after all of it.
    admin_backoff_after: int = 5
    admin_lockout_after: int = 10
    admin_lockout_s: int = 900
    admin_global_lockout_after: int = 100

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StudioConfig:
        env = os.environ if env is None else env

        def integer(name: str, default: int, low: int, high: int) -> int:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError(f"{name} must be an integer, got {raw[:40]!r}") from None
            if not low <= value <= high:
                raise ConfigError(f"{name} must be in [{low}, {high}], got {value}")
            return value

        secret = env.get("STUDIO_STUDY_SECRET") or None
        if secret is not None and len(secret) < 16:
            raise ConfigError("STUDIO_STUDY_SECRET must be at least 16 characters (use 32 random bytes)")
        token = env.get("STUDIO_ADMIN_TOKEN") or None
        if token is not None and len(token) < 12:
            raise ConfigError("STUDIO_ADMIN_TOKEN must be at least 12 characters")
        defaults = cls()
        return cls(
            # Spaces (and other Gradio hosts) announce where to listen through GRADIO_SERVER_*
            host=env.get("STUDIO_HOST") or env.get("GRADIO_SERVER_NAME") or cls.host,
            port=integer("STUDIO_PORT", integer("GRADIO_SERVER_PORT", cls.port, 1, 65535), 1, 65535),
            output_dir=Path(env.get("STUDIO_OUTPUT_DIR", str(defaults.output_dir))).resolve(),
            assets_dir=Path(env.get("STUDIO_ASSETS_DIR", str(cls.assets_dir))).resolve(),
            models_config=Path(env.get("STUDIO_MODELS_CONFIG", str(cls.models_config))).resolve(),
            db_url=env.get("STUDIO_DB_URL") or defaults.db_url,
            study_secret=secret,
            admin_token=token,
            max_frames=integer("STUDIO_MAX_FRAMES", DEFAULT_MAX_FRAMES, 1, 10_000_000),
            max_upload_mb=integer("STUDIO_MAX_UPLOAD_MB", cls.max_upload_mb, 1, 4096),
            data_dirs=tuple(
                Path(part).resolve() for part in env.get("STUDIO_DATA_DIRS", "").split(os.pathsep) if part
            )
            or defaults.data_dirs,
            allowed_hosts=tuple(
                name.strip() for name in env.get("STUDIO_ALLOWED_HOSTS", "").split(",") if name.strip()
            ),
            **_abuse_limits(integer),
        )


def _abuse_limits(integer: Callable[[str, int, int, int], int]) -> dict[str, int]:
    """The proxy, rate-limit and lockout fields of :class:`StudioConfig` from the environment."""
    d = StudioConfig
    backoff = integer("STUDIO_ADMIN_BACKOFF_AFTER", d.admin_backoff_after, 1, 1000)
    return {
        "trusted_proxy_hops": integer("STUDIO_TRUSTED_PROXY_HOPS", d.trusted_proxy_hops, 0, 10),
        "start_limit_per_client": integer(
            "STUDIO_START_LIMIT_PER_CLIENT", d.start_limit_per_client, 0, 10**6
        ),
        "start_limit_client_window_s": integer(
            "STUDIO_START_LIMIT_CLIENT_WINDOW_S", d.start_limit_client_window_s, 1, 7 * 86400
        ),
        "start_limit_total": integer("STUDIO_START_LIMIT_TOTAL", d.start_limit_total, 0, 10**7),
        "start_limit_total_window_s": integer(
            "STUDIO_START_LIMIT_TOTAL_WINDOW_S", d.start_limit_total_window_s, 1, 7 * 86400
        ),
        "admin_backoff_after": backoff,
        "admin_lockout_after": integer("STUDIO_ADMIN_LOCKOUT_AFTER", d.admin_lockout_after, backoff, 10**4),
        "admin_lockout_s": integer("STUDIO_ADMIN_LOCKOUT_S", d.admin_lockout_s, 1, 7 * 86400),
        "admin_global_lockout_after": integer(
            "STUDIO_ADMIN_GLOBAL_LOCKOUT_AFTER", d.admin_global_lockout_after, 2, 10**6
        ),
    }


def cache_dir() -> Path:
    """The one folder every cache lives under (rigs/, embeddings/, ...), created by its users.

    ``$STUDIO_CACHE_DIR``, else ``$XDG_CACHE_HOME/expression-studio``, else
    ``~/.cache/expression-studio``. Caches never go into an input folder: a rig or dataset folder
    may be read-only or shared, and a file written there could be taken for part of the input.
    """
    explicit = os.environ.get("STUDIO_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")  # the XDG spec says to ignore a relative one
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "expression-studio"


def _path_setting(name: str) -> Path | None:
    raw = os.environ.get(name)
    return Path(raw).expanduser() if raw else None


def flame_dir() -> Path | None:
    """``$STUDIO_FLAME_DIR``: the folder holding the user's converted ``flame_model.npz``."""
    return _path_setting("STUDIO_FLAME_DIR")


def ict_dir() -> Path | None:
    """``$STUDIO_ICT_DIR``: an ICT FaceKit checkout to build the high-resolution rig from."""
    return _path_setting("STUDIO_ICT_DIR")


def clip_text_encoder_dir() -> Path | None:
    """``$STUDIO_CLIP_DIR``: a local CLIP ViT-B/32 text encoder for Express4D checkpoints."""
    return _path_setting("STUDIO_CLIP_DIR")


def browser_path() -> Path | None:
    """``$BROWSER_PATH``: the Chrome/Chromium that kaleido exports figures with."""
    return _path_setting("BROWSER_PATH")


def omp_threads() -> int | None:
    """``OMP_NUM_THREADS`` when it is a positive integer (torch's intra-op threads), else None."""
    configured = os.environ.get("OMP_NUM_THREADS", "")
    return int(configured) if configured.isdigit() and int(configured) > 0 else None


def egl_device() -> str | None:
    """``$EGL_DEVICE_ID``: the GPU an EGL context is pinned to (unset: the first that works)."""
    return os.environ.get("EGL_DEVICE_ID") or None


@dataclass(frozen=True)
class LLMEndpoint:
    """An OpenAI-compatible chat endpoint: ``$STUDIO_LLM_URL``, ``$STUDIO_LLM_MODEL`` and the key
    from ``$STUDIO_LLM_API_KEY`` (never printed)."""

    url: str | None
    model: str | None
    api_key: str | None = field(default=None, repr=False)


def llm_endpoint() -> LLMEndpoint:
    return LLMEndpoint(
        os.environ.get("STUDIO_LLM_URL") or None,
        os.environ.get("STUDIO_LLM_MODEL") or None,
        os.environ.get("STUDIO_LLM_API_KEY") or None,
    )


def secret_from_env(variable: str) -> str | None:
    """The secret a models config names by its variable (an API key is never written in a file)."""
    return os.environ.get(variable) or None
