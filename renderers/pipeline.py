"""Clip -> frames, end to end: choose the rig, pose, rasterise, compose.

Everything here yields or returns ``uint8`` frames; :mod:`renderers.video` writes them. The
same camera preset, lights and frame size apply to every clip of a comparison.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from renderers.camera import camera_preset
from renderers.compose import CurveStrip, contact_sheet, message_frame, side_by_side_frames, with_strip
from renderers.raster import get_rasterizer
from renderers.rig import BlendshapeRig, RigError, load_default_rig, load_rig_npz
from studio import config
from studio.motion import ARKIT_BLENDSHAPES, ARKIT_CHANNELS, N_ARKIT, OUTPUT_FPS, MotionClip

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A source checkout's neighbouring ``shared/`` folder (where the team keeps the ICT-FaceKit
# checkout). Only a source tree (with its pyproject.toml) looks there: an installed package's
# parent is site-packages, whose neighbours are nobody's rigs.
ICT_CANDIDATES = (
    (PROJECT_ROOT.parent / "shared" / "rigs" / "ict-facekit",)
    if (PROJECT_ROOT / "pyproject.toml").is_file()
    else ()
)
FLAME_HELP = (
    "FLAME is licence-gated, so the studio does not ship it: register at https://flame.is.tue.mpg.de, "
    "download FLAME 2020 (or FLAME 2023 Open), run `python -m studio flame-convert "
    "FLAME_NEUTRAL.pkl -o <dir>/flame_model.npz` and set STUDIO_FLAME_DIR=<dir>."
)


def ict_dir() -> Path | None:
    """The ICT-FaceKit folder (``STUDIO_ICT_DIR``, else the source checkout's shared one), or ``None``."""
    configured = config.ict_dir()
    for candidate in ([configured] if configured else []) + list(ICT_CANDIDATES):
        if (candidate / "generic_neutral_mesh.obj").is_file():
            return candidate
    return None


def load_rig(spec: str = "default") -> BlendshapeRig:
    """``default`` | ``ict`` | a folder of OBJs (neutral + one per shape) | a rig ``.npz``."""
    if spec == "default":
        return load_default_rig()
    if spec == "ict":
        folder = ict_dir()
        if folder is None:
            raise RigError("the ICT-FaceKit rig was not found; set STUDIO_ICT_DIR to its folder")
        spec = str(folder)
    path = Path(spec)
    if path.is_dir():
        from renderers.obj_rig import load_obj_rig

        return load_obj_rig(path)
    if path.suffix == ".npz" and path.is_file():
        return load_rig_npz(path)
    raise RigError(f"--rig must be default, ict, a folder of OBJ files or a rig .npz; got {spec!r}")


@dataclass(frozen=True)
class Stage:
    """The fair stage: one frame size, one camera preset, one rate for every clip."""

    size: int = 512
    camera: str = "front"
    fps: float = OUTPUT_FPS
    samples: int | None = None  # MSAA; None = the rasteriser's default for its device


def clip_frames(clip: MotionClip, rig: BlendshapeRig, stage: Stage, chunk: int = 32) -> Iterator[np.ndarray]:
    """Yield ``(size, size, 3) uint8`` frames of ``clip`` on ``rig`` at ``stage.fps``."""
    clip = clip.resample(stage.fps)
    camera = camera_preset(stage.camera, rig.frame_center, rig.frame_radius)
    rasterizer = get_rasterizer(stage.size, stage.size, stage.samples)
    yield from rasterizer.iter_frames(rig.iter_evaluate(clip, chunk), rig, camera)


def flame_frames(clip: MotionClip, stage: Stage) -> Iterator[np.ndarray]:
    """Frames of a FLAME clip: the configured FLAME head, or its curves and how to get FLAME."""
    from renderers.flame import FlameUnavailableError, load_configured_flame

    clip = clip.resample(stage.fps)
    try:
        head = load_configured_flame()
    except FlameUnavailableError as exc:
        strip_height = max(stage.size // 3, min(140, stage.size // 2))  # small panels keep a card
        card = message_frame([str(exc), FLAME_HELP], stage.size, stage.size - strip_height)
        strip = CurveStrip(clip.values, clip.channels, stage.size, strip_height, title="FLAME parameters")
        yield from with_strip((card for _ in range(clip.n_frames)), strip)
        return
    camera = camera_preset(stage.camera, head.frame_center, head.frame_radius)
    rasterizer = get_rasterizer(stage.size, stage.size, stage.samples)
    yield from rasterizer.iter_frames(head.iter_evaluate(clip), head, camera)


STRIP_HEIGHT = 110  # pixels of coefficient curves under a panel when ``curves`` is on


def frames_for(
    clip: MotionClip, rig: BlendshapeRig, stage: Stage, curves: bool = False
) -> Iterator[np.ndarray]:
    """Frames for any clip: ARKit clips on ``rig``, FLAME clips on the FLAME head.

    With ``curves`` every panel gets a strip of its busiest curves with a moving cursor, so
    panels of either space keep one height.
    """
    frames = flame_frames(clip, stage) if clip.space == "flame" else clip_frames(clip, rig, stage)
    if curves:
        values = clip.resample(stage.fps).values
        frames = with_strip(frames, CurveStrip(values, clip.channels, stage.size, STRIP_HEIGHT))
    return frames


def message_panel(text: str, stage: Stage, curves: bool = False) -> Iterator[np.ndarray]:
    """One card with ``text`` in a panel's size; side by side holds it for the whole timeline."""
    yield message_frame([text], stage.size, stage.size + (STRIP_HEIGHT if curves else 0))


def compare_frames(
    clips: Sequence[MotionClip | str],
    labels: Sequence[str],
    rig: BlendshapeRig | None,
    stage: Stage,
    curves: bool = False,
) -> Iterator[np.ndarray]:
    """Side-by-side composite of several clips on one shared timeline.

    An item that is a string instead of a clip (a model that failed, a prompt a results folder
    does not hold) becomes a message card in its own panel; the others still play.
    """
    streams = [
        message_panel(c, stage, curves) if isinstance(c, str) else frames_for(c, rig, stage, curves)  # type: ignore[arg-type]
        for c in clips
    ]
    return side_by_side_frames(streams, labels)


def rig_sheet(
    rig: BlendshapeRig,
    size: int = 200,
    camera: str = "front",
    columns: int = 9,
    samples: int | None = 4,
    zoom: float = 1.25,
) -> np.ndarray:
    """Contact sheet: neutral plus each of the 52 ARKit shapes at weight 1, labelled.

    ``zoom`` > 1 frames the face tighter than a video does (small tiles need it).
    The ``eyeLook*`` shapes move only the lids (as in ARKit); their tiles also turn the
    eyeballs the matching way (marked ``+gaze``) so that lid and gaze read together.
    """
    values = np.zeros((N_SHAPES_PLUS_NEUTRAL, N_ARKIT), np.float32)
    labels = ["neutral"]
    gaze = {"Down": ("Pitch", 0.35), "Up": ("Pitch", -0.3), "In": ("Yaw", 0.4), "Out": ("Yaw", -0.4)}
    for k, name in enumerate(ARKIT_BLENDSHAPES):
        values[k + 1, k] = 1.0
        label = name
        if name.startswith("eyeLook"):
            side = "left" if name.endswith("Left") else "right"
            direction = name[len("eyeLook") : -len("Left" if side == "left" else "Right")]
            axis, angle = gaze[direction]
            if axis == "Yaw" and side == "right":
                angle = -angle  # "in" is towards the nose: opposite yaw signs for the two eyes
            values[k + 1, ARKIT_CHANNELS.index(f"{side}Eye{axis}")] = angle
            label += " +gaze"
        if name in rig.missing:
            label += " (missing)"
        labels.append(label)
    cam = camera_preset(camera, rig.frame_center, rig.frame_radius / zoom)
    images = get_rasterizer(size, size, samples).render(rig.evaluate(values), rig, cam)
    title = f"rig: {rig.name} - {rig.n_vertices} vertices, {rig.n_faces} triangles; ARKit shapes at weight 1"
    if rig.missing:
        title += f"; missing: {', '.join(rig.missing)}"
    return contact_sheet(list(images), labels, columns=columns, title=title)


N_SHAPES_PLUS_NEUTRAL = len(ARKIT_BLENDSHAPES) + 1
