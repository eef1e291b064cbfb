"""One frozen configuration, built once from the environment at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from studio.formats.errors import DEFAULT_MAX_FRAMES

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class StudioConfig:
    """Everything the app and CLI read from the environment, validated in one place.

    ``output_dir`` is where renders and exports go (the only folder Gradio may serve);
    ``models_config`` lists the models to load (YAML or TOML); ``max_upload_mb`` caps uploads;
    ``max_frames`` caps any clip a reader accepts; ``data_dirs`` bound what Explore may open.
    """

    host: str = "127.0.0.1"
    port: int = 7860
    output_dir: Path = PROJECT_ROOT / "outputs"
    assets_dir: Path = PROJECT_ROOT / "assets"
    models_config: Path = PROJECT_ROOT / "assets" / "models.yaml"
    # Study answers live outside output_dir, which Gradio serves. On Spaces point this at the
    # persistent /data volume (sqlite:////data/studio.db) or at PostgreSQL.
    db_url: str = f"sqlite:///{PROJECT_ROOT / 'data' / 'studio.db'}"
    study_secret: str | None = field(default=None, repr=False)  # HMAC key for participant ids
    admin_token: str | None = field(default=None, repr=False)  # admin pages; unset = no admin
    max_frames: int = DEFAULT_MAX_FRAMES
    max_upload_mb: int = 50
    # Folders whose dataset subfolders the Explore tab may open (a browser user names a folder;
    # anything outside these is refused). STUDIO_DATA_DIRS, separated by os.pathsep.
    data_dirs: tuple[Path, ...] = (PROJECT_ROOT / "data",)

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
                raise ValueError(f"{name} must be an integer, got {raw!r}") from None
            if not low <= value <= high:
                raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
            return value

        secret = env.get("STUDIO_STUDY_SECRET") or None
        if secret is not None and len(secret) < 16:
            raise ValueError("STUDIO_STUDY_SECRET must be at least 16 characters (use 32 random bytes)")
        token = env.get("STUDIO_ADMIN_TOKEN") or None
        if token is not None and len(token) < 12:
            raise ValueError("STUDIO_ADMIN_TOKEN must be at least 12 characters")
        return cls(
            # Spaces (and other Gradio hosts) announce where to listen through GRADIO_SERVER_*
            host=env.get("STUDIO_HOST") or env.get("GRADIO_SERVER_NAME") or cls.host,
            port=integer("STUDIO_PORT", integer("GRADIO_SERVER_PORT", cls.port, 1, 65535), 1, 65535),
            output_dir=Path(env.get("STUDIO_OUTPUT_DIR", str(cls.output_dir))).resolve(),
            assets_dir=Path(env.get("STUDIO_ASSETS_DIR", str(cls.assets_dir))).resolve(),
            models_config=Path(env.get("STUDIO_MODELS_CONFIG", str(cls.models_config))).resolve(),
            db_url=env.get("STUDIO_DB_URL") or cls.db_url,
            study_secret=secret,
            admin_token=token,
            max_frames=integer("STUDIO_MAX_FRAMES", DEFAULT_MAX_FRAMES, 1, 10_000_000),
            max_upload_mb=integer("STUDIO_MAX_UPLOAD_MB", cls.max_upload_mb, 1, 4096),
            data_dirs=tuple(
                Path(part).resolve() for part in env.get("STUDIO_DATA_DIRS", "").split(os.pathsep) if part
            )
            or cls.data_dirs,
        )
