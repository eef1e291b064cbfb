"""The compare service: several models, one prompt and seed, one side-by-side video.

Every front end that compares or renders clips side by side calls this module: the ``compare``
command, the Compare tab and the Explore tab. They parse arguments or read widgets, build a
:class:`CompareRequest` and show the :class:`CompareResult`; running the models, rendering and
writing files happen here.

A model that fails, in any way (a bug raising ``KeyError`` or ``MemoryError`` included), yields
a :class:`~studio.models.Generation` with its error, and a model that did not load gets a
message panel; the others are unaffected. Rendering goes through the public API of
:mod:`renderers` at :data:`studio.motion.OUTPUT_FPS`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from studio.errors import StudioError
from studio.models import ExpressionModel, Generation, LoadReport, check_request, run_model
from studio.motion import OUTPUT_FPS, MotionClip

Runner = Callable[..., Generation]  # run_model's signature: (model, prompt, *, seed, duration_s)
DEFAULT_PANEL_SIZE = 384  # pixels; a few panels side by side still fit a laptop screen


@dataclass(frozen=True)
class Comparison:
    """Every selected model's answer to one (prompt, seed, duration) request, in order."""

    prompt: str
    seed: int
    duration_s: float
    generations: tuple[Generation, ...]

    def panel(self, generation: Generation) -> tuple[MotionClip | str, str]:
        """What a side-by-side panel shows: the clip, or a message; and its caption."""
        if generation.clip is not None:
            return generation.clip, f"{generation.model} · {generation.latency_ms:.0f} ms"
        if generation.no_output:  # the error already says "no stored output"; the font has no em dash
            return str(generation.error), f"{generation.model} · not stored"
        return f"Failed: {generation.error}", f"{generation.model} · error"


def run_comparison(
    models: Sequence[ExpressionModel],
    prompt: str,
    *,
    seed: int,
    duration_s: float,
    on_model: Callable[[int, str], None] | None = None,
    run: Runner = run_model,
) -> Comparison:
    """Run each model in turn on the same request; ``on_model(i, name)`` reports progress.

    ``run`` answers for one model (:func:`~studio.models.run_model`, or a cache's ``run`` such as
    :attr:`studio.models.pool.ModelPool.generations`, so the player and the video share answers).

    The shared MiniLM encoder is loaded first (once per process) so that each model's latency
    measures the model, not whichever model happened to run first.
    """
    if run is run_model and any(model.uses_text_encoder for model in models):
        try:
            from studio.text import embed_text

            embed_text("warm up")
        except Exception:  # noqa: S110 - each model that needs the encoder reports it itself
            pass
    generations = []
    for i, model in enumerate(models):
        if on_model is not None:
            on_model(i, model.name)
        generations.append(run(model, prompt, seed=seed, duration_s=duration_s))
    return Comparison(prompt, int(seed), float(duration_s), tuple(generations))


def request_key(prompt: str, seed: int, duration_s: float, models: Sequence[str], **stage: object) -> str:
    """Content hash naming a comparison's files: the same request gives the same name, and the
    name reveals nothing about which models are in it."""
    payload = json.dumps(
        {"prompt": prompt, "seed": seed, "duration_s": duration_s, "models": list(models), "stage": stage},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


# -- the request and its result -------------------------------------------------------------------


def prompt_file_tag(prompt: str, seed: int) -> str:
    """``p<8 hex of the prompt's SHA-256>-s<seed>``: in every download's name, so files from
    different prompts and seeds never overwrite or get mistaken for each other."""
    digest = hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"p{digest}-s{seed}"


@dataclass(frozen=True)
class CompareRequest:
    """One comparison: which models, on what, and how the video looks.

    ``duration_s`` in seconds; ``size`` is each square panel's side in pixels; ``camera`` a key
    of :data:`renderers.CAMERA_PRESETS`; ``rig`` what :func:`renderers.load_rig` takes
    (``default``, ``ict``, an OBJ folder, a rig ``.npz``); ``curves`` adds a strip of the
    busiest coefficient curves under each panel.
    """

    prompt: str
    models: tuple[str, ...]
    seed: int = 0
    duration_s: float = 4.0
    rig: str = "default"
    camera: str = "front"
    size: int = DEFAULT_PANEL_SIZE
    curves: bool = False

    @property
    def file_tag(self) -> str:
        """:func:`prompt_file_tag` of this request's prompt and seed."""
        return prompt_file_tag(self.prompt, self.seed)

    def key(self, identities: Sequence[str] | None = None) -> str:
        """The content hash naming this request's files (see :func:`request_key`); with the
        models' ``identities`` (:func:`~studio.models.pool.model_identity`, one per model), a
        retrained checkpoint gets new files instead of the old model's video."""
        return request_key(
            self.prompt,
            self.seed,
            self.duration_s,
            list(identities) if identities is not None else self.models,
            camera=self.camera,
            rig=self.rig,
            curves=self.curves,
            size=self.size,
        )


@dataclass(frozen=True)
class StatusRow:
    """One model's line in the status table.

    ``state`` is ``ok``, ``no output`` (a results folder without this prompt), ``failed`` (the
    model ran and failed) or ``not loaded``; ``latency_ms`` is ``None`` for a model that did not
    load; ``detail`` says what came out (frames, rate, space) or the error.
    """

    model: str
    state: str
    latency_ms: float | None
    detail: str

    @property
    def ok(self) -> bool:
        return self.state == "ok"


@dataclass(frozen=True)
class CompareResult:
    """What a comparison produced.

    ``comparison`` holds the models that ran (their clips or errors); ``load_failures`` maps each
    model that did not load to its error. ``video`` is the side-by-side MP4 (``None`` when none
    was asked for or rendering failed, with the reason in ``render_error``); ``downloads`` are
    the per-model clip files. ``rows`` is the status table, models that did not load last;
    ``notices`` are the distinct notices of every generation (a prompt that was shortened...).
    ``error`` is set, and nothing ran, when the request itself is refused (an empty prompt, a
    seed or duration out of range).
    """

    request: CompareRequest
    comparison: Comparison
    load_failures: dict[str, str] = field(default_factory=dict)
    video: Path | None = None
    render_error: StudioError | OSError | None = None
    downloads: tuple[Path, ...] = ()
    error: str | None = None

    @property
    def generations(self) -> tuple[Generation, ...]:
        return self.comparison.generations

    @property
    def rows(self) -> tuple[StatusRow, ...]:
        rows = []
        for g in self.generations:
            if g.clip is not None:
                state, detail = "ok", f"{g.clip.n_frames} frames at {g.clip.fps:g} fps ({g.clip.space})"
            elif g.no_output:
                state, detail = "no output", "no stored output for this prompt"
            else:
                state, detail = "failed", str(g.error)
            rows.append(StatusRow(g.model, state, g.latency_ms, detail))
        rows += [StatusRow(name, "not loaded", None, error) for name, error in self.load_failures.items()]
        return tuple(rows)

    @property
    def notices(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for g in self.generations for n in g.notices))

    def panels(self) -> tuple[list[MotionClip | str], list[str]]:
        """Every panel of the side-by-side video (a clip or a message) and its caption, in order."""
        items: list[MotionClip | str] = []
        labels: list[str] = []
        for generation in self.generations:
            item, label = self.comparison.panel(generation)
            items.append(item)
            labels.append(label)
        for name, error in self.load_failures.items():
            items.append(f"Failed to load: {error}")
            labels.append(f"{name} · error")
        return items, labels


Progress = Callable[[int, int, str], None]  # (step, of steps, what is happening now)


def compare(
    request: CompareRequest,
    load: Callable[[str], LoadReport],
    *,
    video_path: str | Path | None,
    downloads_dir: str | Path | None = None,
    progress: Progress | None = None,
    run: Runner = run_model,
) -> CompareResult:
    """Load and run ``request.models``, write their clips and render them side by side.

    ``load(name)`` gives a model's :class:`~studio.models.LoadReport` (a model pool's ``get``,
    or :func:`studio.models.load_models` on its spec). ``video_path`` is the MP4 to write
    (``None``: no video); ``downloads_dir`` receives each clip as ``<model>.csv``/``.npz``.
    A render that fails (no OpenGL, a bad rig, a full disk) leaves the clips and downloads and
    sets ``render_error``; nothing a model does raises here. A request that no model could answer
    (an empty prompt, a seed or duration out of range) sets ``error`` and runs and writes nothing.
    ``run`` answers for each model (see :func:`run_comparison`). A video already at
    ``video_path`` is kept, not rendered again: name it by everything that shapes it
    (:meth:`CompareRequest.key` and the models' identities).
    """
    try:
        check_request(request.prompt, request.seed, request.duration_s)
    except ValueError as exc:  # PromptError is one
        empty = Comparison(request.prompt, request.seed, request.duration_s, ())
        return CompareResult(request, empty, error=str(exc))
    reports = [load(name) for name in request.models]
    models = [r.model for r in reports if r.model is not None]
    steps = len(models) + (video_path is not None)

    def step(i: int, name: str) -> None:
        if progress is not None:
            progress(i, steps, f"running {name}")

    comparison = run_comparison(
        models, request.prompt, seed=request.seed, duration_s=request.duration_s, on_model=step, run=run
    )
    failures = {r.spec.name: r.error or "did not load" for r in reports if r.model is None}
    downloads = (
        write_downloads(comparison, Path(downloads_dir), request.file_tag)
        if downloads_dir is not None
        else ()
    )
    result = CompareResult(request, comparison, failures, downloads=downloads)
    if video_path is None:
        return result
    if Path(video_path).is_file():  # rendered before; a file there is whole (render_side_by_side)
        return replace(result, video=Path(video_path))
    if progress is not None:
        progress(len(models), steps, "rendering")
    items, labels = result.panels()
    try:
        video = render_side_by_side(
            items,
            labels,
            video_path,
            rig=request.rig,
            camera=request.camera,
            size=request.size,
            curves=request.curves,
        )
    except (StudioError, OSError) as exc:  # the clips and downloads are still worth showing
        return replace(result, render_error=exc)
    return replace(result, video=video)


def render_side_by_side(
    items: Sequence[MotionClip | str],
    labels: Sequence[str],
    path: str | Path,
    *,
    rig: str = "default",
    camera: str = "front",
    size: int = DEFAULT_PANEL_SIZE,
    curves: bool = False,
) -> Path:
    """Render clips (a string: a message card instead) side by side into one MP4 at ``path``.

    Every panel is ``size`` x ``size`` pixels (plus a curve strip with ``curves``), captioned by
    its label, at :data:`~studio.motion.OUTPUT_FPS`; the video lasts as long as the longest
    clip. The rig is loaded only when an ARKit clip needs it (FLAME clips use the FLAME head).
    Raises :class:`~renderers.RenderUnavailableError` without OpenGL and
    :class:`~renderers.RigError` for a bad rig.
    """
    from renderers import Stage, compare_frames, load_rig, write_mp4

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stage = Stage(size=size, camera=camera, fps=OUTPUT_FPS)
    needs_rig = any(isinstance(item, MotionClip) and item.space == "arkit" for item in items)
    frames = compare_frames(items, labels, load_rig(rig) if needs_rig else None, stage, curves=curves)
    # written aside and moved in whole: a file at ``path`` is always a finished video
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        write_mp4(frames, partial, stage.fps)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def write_downloads(comparison: Comparison, folder: Path, tag: str = "") -> tuple[Path, ...]:
    """Each clip of ``comparison`` as files in ``folder``: ``<model>_<tag>.csv`` (Live Link) and
    ``.npz`` for ARKit clips, ``.npz`` alone for FLAME clips (``tag``: see
    :attr:`CompareRequest.file_tag`)."""
    from studio.formats import write_clip

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for g in comparison.generations:
        if g.clip is None:
            continue
        for suffix in (".csv", ".npz") if g.clip.space == "arkit" else (".npz",):
            path = folder / f"{g.model}_{tag}{suffix}" if tag else folder / f"{g.model}{suffix}"
            write_clip(g.clip, path)
            paths.append(path)
    return tuple(paths)
