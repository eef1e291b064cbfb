"""Study stimuli: every clip a participant can see, rendered once on one stage, named by content.

:func:`render_stimuli` takes each distinct :class:`~studio.study.definition.ClipRef` of
``definition.stimuli()`` (study prompts x models, attention-check clips and contradiction decoys;
the prompt-mismatch controls reuse study clips under another prompt), generates its motion with
:func:`studio.models.run_model` at the study's seed and duration, and renders it with the same
rig, camera, light, frame size and frame rate for every model: no caption, no curve strip, no
label, nothing in the picture or the file that says which model made it. Every clip lasts exactly
``round(duration_s * fps)`` frames (a shorter motion holds its last pose, a longer one is cut), so
the length of a video does not tell models apart either.

Files:

- ``output_dir/stimuli/<sha256 of the MP4 bytes>.mp4``: the videos, the only thing served to
  participants;
- ``output_dir/study-manifests/<definition.sha256>.json``: the manifest, ClipRef -> file name,
  with the stage and any generation notices (this folder must never be served: it maps files
  back to models);
- ``output_dir/study-manifests/renders/<render key>.json``: a render cache keyed by the SHA-256
  of the motion values and the stage, so a clip rendered for one study (or an interrupted run) is
  reused, never rendered twice.

Re-running :func:`render_stimuli` on a study whose manifest is complete returns it unchanged
without generating anything (a frozen study keeps its stimuli even if a checkpoint is later
retrained); ``force=True`` regenerates, and the render cache still skips identical motions.

The participant side needs only ``render_stimuli(definition, pool, output_dir, *, progress=None)``
and ``load_manifest(output_dir, definition).path_for(clip)``; the other keyword arguments
(``size``, ``camera``, ``rig``, ``force``) have defaults. ``progress(done, total, description)`` is
called with clip counts.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.formats import FormatError, read_clip
from studio.models import ExpressionModel, ModelError, ModelSpec, load_model, run_model
from studio.models.pool import ModelPool
from studio.motion import MotionClip
from studio.study.definition import ClipRef, ModelRef, StudyDefinition

__all__ = [
    "MANIFEST_DIR",
    "STIMULI_DIR",
    "STIMULUS_NAME",
    "StimulusError",
    "StimulusManifest",
    "load_manifest",
    "manifest_path",
    "render_stimuli",
]

STIMULI_DIR = "stimuli"  # served to participants
MANIFEST_DIR = "study-manifests"  # never served: maps content hashes back to models
RENDER_VERSION = 1  # bump when the rendering of a motion changes, so cached videos are not reused
DEFAULT_SIZE = 384  # pixels; four clips side by side still fit a laptop screen
STIMULUS_NAME = re.compile(r"^[0-9a-f]{64}\.mp4$")  # the only file names ever shown to participants

Progress = Callable[[int, int, str], None]


class StimulusError(FormatError):
    """A study's stimuli cannot be rendered or found; the message names the study and the clip."""


@dataclass(frozen=True)
class StimulusManifest:
    """Where each clip of one study lives.

    ``files``: ClipRef -> file name (``<sha256>.mp4``) under ``output_dir/stimuli``; ``stage``: the
    one rendering set-up used for all of them (size in pixels, camera, rig, fps, frames per clip);
    ``notices``: what generation reported (a results folder that lacked the seed, ...);
    ``rendered``: how many videos this call encoded (0 when everything was reused).
    """

    study_sha256: str
    output_dir: Path
    files: Mapping[ClipRef, str]
    stage: Mapping[str, Any] = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    rendered: int = 0

    def file_name(self, clip: ClipRef) -> str:
        """The content-hash file name of ``clip`` (what a participant's URL may contain)."""
        try:
            return self.files[clip]
        except KeyError:
            raise StimulusError(
                f"study {self.study_sha256[:12]}",
                f"no rendered stimulus for prompt {clip.prompt[:60]!r} (seed {clip.seed}); run "
                "`python -m studio study render` or the admin page's Render button",
            ) from None

    def path_for(self, clip: ClipRef) -> Path:
        """The MP4 of ``clip``; raises :class:`StimulusError` if it was not rendered or is gone."""
        path = self.output_dir / STIMULI_DIR / self.file_name(clip)
        if not path.is_file():
            raise StimulusError(path, "the stimulus file is missing; render the study's stimuli again")
        return path

    def to_json(self) -> dict[str, Any]:
        return {
            "study_sha256": self.study_sha256,
            "stage": dict(self.stage),
            "notices": list(self.notices),
            "clips": [
                {"model": c.model, "prompt": c.prompt, "seed": c.seed, "file": name}
                for c, name in self.files.items()
            ],
        }


def manifest_path(output_dir: str | Path, definition: StudyDefinition) -> Path:
    """``output_dir/study-manifests/<definition.sha256>.json``."""
    return Path(output_dir) / MANIFEST_DIR / f"{definition.sha256}.json"


def load_manifest(output_dir: str | Path, definition: StudyDefinition) -> StimulusManifest:
    """The manifest :func:`render_stimuli` wrote for ``definition``.

    Raises :class:`StimulusError` when the study was not rendered, or when the manifest does not
    cover every stimulus of the definition or names a file that is not a content-hash name.
    """
    path = manifest_path(output_dir, definition)
    if not path.is_file():
        raise StimulusError(
            f"study {definition.sha256[:12]}",
            "its stimuli are not rendered yet; run `python -m studio study render` or the admin page's "
            "Render button",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["study_sha256"] != definition.sha256:
            raise ValueError("the manifest belongs to another study")
        files: dict[ClipRef, str] = {}
        for entry in data["clips"]:
            name = str(entry["file"])
            if not STIMULUS_NAME.match(name):  # a manifest must never point outside stimuli/
                raise ValueError(f"file name {name[:80]!r} is not a content-hash name")
            files[ClipRef(str(entry["model"]), str(entry["prompt"]), int(entry["seed"]))] = name
        stage, notices = dict(data.get("stage", {})), tuple(map(str, data.get("notices", ())))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise StimulusError(path, f"unreadable stimulus manifest: {exc}") from None
    missing = [c for c in definition.stimuli() if c not in files]
    if missing:
        raise StimulusError(
            path, f"{len(missing)} stimuli of the study are not in the manifest; render again"
        )
    return StimulusManifest(definition.sha256, Path(output_dir), files, stage, notices)


def render_stimuli(
    definition: StudyDefinition,
    pool: ModelPool,
    output_dir: str | Path,
    *,
    progress: Progress | None = None,
    size: int = DEFAULT_SIZE,
    camera: str = "front",
    rig: str = "default",
    force: bool = False,
) -> StimulusManifest:
    """Render every stimulus of ``definition`` once and write its manifest; returns the manifest.

    ``pool`` supplies the named models; models given as results folders in the definition are
    loaded from their folder. ``size`` is the square frame in pixels, ``camera`` a preset of
    :func:`renderers.camera_preset`, ``rig`` a :func:`renderers.load_rig` spec;
    frames per second and duration come from ``definition.stimulus``. Raises
    :class:`StimulusError` when a model is missing or fails on a stimulus (a study cannot run with
    a hole in it), when the models mix ARKit and FLAME (they would not share one head), or when
    nothing can render.
    """
    output_dir = Path(output_dir)
    if not force:
        try:
            manifest = load_manifest(output_dir, definition)
            if all((output_dir / STIMULI_DIR / name).is_file() for name in manifest.files.values()):
                if progress is not None:
                    progress(len(manifest.files), len(manifest.files), "already rendered")
                return manifest
        except StimulusError:
            pass
    source = f"study {definition.name!r} ({definition.sha256[:12]})"
    settings = definition.stimulus
    n_frames = max(1, round(settings.duration_s * settings.fps))
    stage_info = {
        "size": int(size),
        "camera": camera,
        "rig": rig,
        "fps": settings.fps,
        "frames": n_frames,
        "render_version": RENDER_VERSION,
    }
    clips = definition.stimuli()
    total = len(clips)
    step = progress or (lambda done, of, description: None)

    step(0, total, "loading models")
    models = {ref.name: _load(ref, pool, source) for ref in definition.models}
    spaces = {m.space for m in models.values()}
    if len(spaces) > 1:
        raise StimulusError(source, "the models mix ARKit and FLAME outputs: they cannot share one rig")

    stimuli_dir = output_dir / STIMULI_DIR
    cache_dir = output_dir / MANIFEST_DIR / "renders"
    stimuli_dir.mkdir(parents=True, exist_ok=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    renderer: _Renderer | None = None
    files: dict[ClipRef, str] = {}
    notices: list[str] = []
    rendered = 0
    for done, ref in enumerate(clips):
        step(done, total, f"clip {done + 1}/{total}: {ref.model}")
        generation = run_model(models[ref.model], ref.prompt, seed=ref.seed, duration_s=settings.duration_s)
        if generation.clip is None:
            raise StimulusError(
                source, f"model {ref.model!r} gave no clip for {ref.prompt[:60]!r}: {generation.error}"
            )
        notices += [n for n in generation.notices if n not in notices]
        motion = fit_length(generation.clip.resample(settings.fps), n_frames)
        key = render_key(motion, stage_info)
        cached = _cached(cache_dir / f"{key}.json", stimuli_dir)
        if cached is None:
            if renderer is None:
                renderer = _Renderer(rig, int(size), camera, float(settings.fps), source)
            cached = renderer.write(motion, stimuli_dir)
            _write_json(cache_dir / f"{key}.json", {"file": cached})
            rendered += 1
        files[ref] = cached
    manifest = StimulusManifest(definition.sha256, output_dir, files, stage_info, tuple(notices), rendered)
    _write_json(manifest_path(output_dir, definition), manifest.to_json())
    step(total, total, "done")
    return manifest


def fit_length(clip: MotionClip, n_frames: int) -> MotionClip:
    """``clip`` with exactly ``n_frames`` frames: cut, or padded by holding the last frame."""
    values = clip.values
    if len(values) >= n_frames:
        values = values[:n_frames]
    else:
        values = np.concatenate([values, np.repeat(values[-1:], n_frames - len(values), axis=0)])
    return clip.replace(values=values, meta={})


def render_key(clip: MotionClip, stage: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the motion values (float32 bytes), rate, channels and the stage: two equal
    motions on one stage make one video, whichever model or study they came from."""
    digest = hashlib.sha256()
    header = {
        "fps": clip.fps,
        "space": clip.space,
        "channels": list(clip.channels),
        "shape": list(clip.values.shape),
        "stage": dict(stage),
    }
    digest.update(json.dumps(header, sort_keys=True).encode("utf-8"))
    digest.update(np.ascontiguousarray(clip.values, dtype="<f4").tobytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------
# edges: model loading, rendering, files
# ----------------------------------------------------------------------------------------------


def _load(ref: ModelRef, pool: ModelPool, source: str) -> ExpressionModel:
    """The model behind a study model: its results folder, else the pool's entry of that name."""
    if ref.results is not None:
        folder = Path(ref.results)
        try:
            spec = ModelSpec(ref.name, "results", _results_space(folder), path=folder)
            return load_model(spec)
        except (ModelError, FormatError) as exc:
            raise StimulusError(source, f"model {ref.name!r}: {exc}") from None
    if ref.name not in pool.names:
        known = ", ".join(pool.names) or "none"
        raise StimulusError(source, f"model {ref.name!r} is not in the models config (configured: {known})")
    report = pool.get(ref.name)
    if report.model is None:
        raise StimulusError(source, f"model {ref.name!r} failed to load: {report.error}")
    return report.model


def _results_space(folder: Path) -> str:
    """ARKit or FLAME: the space of the first clip the results folder lists."""
    from studio.models.results import read_manifest

    return read_clip(read_manifest(folder)[0].file).clip.space


class _Renderer:
    """One rig, one camera, one light, one frame size for every clip of a study."""

    def __init__(self, rig: str, size: int, camera: str, fps: float, source: str) -> None:
        from renderers import RenderUnavailableError, RigError, Stage, load_rig

        self.source = source
        try:
            self.rig = load_rig(rig)
        except (RigError, OSError) as exc:
            raise StimulusError(source, f"rig {rig!r}: {exc}") from None
        self.stage = Stage(size=size, camera=camera, fps=fps)
        self._unavailable = RenderUnavailableError

    def frames(self, motion: MotionClip) -> Iterator[np.ndarray]:
        from renderers import FlameUnavailableError, frames_for, load_configured_flame

        if motion.space == "flame":
            try:  # without a FLAME head frames_for shows a card naming the space: never for participants
                load_configured_flame()
            except FlameUnavailableError as exc:
                raise StimulusError(self.source, f"FLAME stimuli need a FLAME head: {exc}") from None
        return frames_for(motion, self.rig, self.stage, curves=False)

    def write(self, motion: MotionClip, folder: Path) -> str:
        """Encode ``motion`` to a temporary MP4 in ``folder``, then rename it to its content hash."""
        from renderers import VideoWriter

        handle, temporary = tempfile.mkstemp(prefix=".rendering-", suffix=".mp4", dir=folder)
        os.close(handle)
        try:
            with VideoWriter(temporary, self.stage.fps) as writer:
                # the frame count is fixed by fit_length; islice guards against a renderer surprise
                writer.extend(itertools.islice(self.frames(motion), motion.n_frames))
            digest = hashlib.sha256(Path(temporary).read_bytes()).hexdigest()
            name = f"{digest}.mp4"
            os.replace(temporary, folder / name)  # atomic: a served name never shows a half file
            return name
        except self._unavailable as exc:
            raise StimulusError(self.source, f"cannot render: {exc}") from None
        finally:
            Path(temporary).unlink(missing_ok=True)


def _cached(entry: Path, stimuli_dir: Path) -> str | None:
    """The file name a render-cache entry points at, if the entry and the file are sound."""
    try:
        name = str(json.loads(entry.read_text(encoding="utf-8"))["file"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return name if STIMULUS_NAME.match(name) and (stimuli_dir / name).is_file() else None


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write atomically (temporary file + rename): readers never see half a manifest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, ensure_ascii=False, indent=1, sort_keys=True)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
