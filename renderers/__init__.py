"""Renderers: arrays in, arrays out — rigs, offscreen rasterisation, composition, video.

Everything outside this package uses the names below, imported from ``renderers`` itself::

    from renderers import Stage, load_rig, frames_for, write_mp4

    rig = load_rig("default")                         # or "ict", an OBJ folder, a rig .npz
    frames = frames_for(clip, rig, Stage(size=512))   # iterator of (512, 512, 3) uint8
    write_mp4(frames, "take.mp4", fps=30)

``compare_frames(clips, labels, rig, stage)`` composes several clips side by side on one
timeline; :data:`CAMERA_PRESETS` maps each camera preset's name to the label a person sees.

Importing the package is cheap: each name is imported from its module on first use (PEP 562),
so listing camera presets loads neither OpenGL nor torch. The package sets
``PYOPENGL_PLATFORM`` (default ``egl``; a value already set wins) when it is imported, which
is before any of its modules can import pyrender.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from renderers._compat import set_gl_platform

set_gl_platform()

# public name -> the module defining it
_EXPORTS = {
    "Stage": "pipeline",
    "load_rig": "pipeline",
    "frames_for": "pipeline",
    "clip_frames": "pipeline",
    "compare_frames": "pipeline",
    "message_panel": "pipeline",
    "rig_sheet": "pipeline",
    "ict_dir": "pipeline",
    "VideoWriter": "video",
    "write_mp4": "video",
    "write_png": "video",
    "read_mp4": "video",
    "BlendshapeRig": "rig",
    "load_default_rig": "rig",
    "load_rig_npz": "rig",
    "save_rig_npz": "rig",
    "RigError": "rig",
    "RigWarning": "rig",
    "load_obj_rig": "obj_rig",
    "RenderUnavailableError": "raster",
    "get_rasterizer": "raster",
    "rasterize": "raster",
    "CAMERA_PRESETS": "camera",
    "Camera": "camera",
    "camera_preset": "camera",
    "FlameUnavailableError": "flame",
    "FlameFormatError": "flame",
    "FlameHead": "flame",
    "load_configured_flame": "flame",
    "convert_flame_pickle": "flame",
    "CurveStrip": "compose",
    "side_by_side": "compose",
    "contact_sheet": "compose",
    "message_frame": "compose",
    "export_gltf": "gltf",
    "gltf_bytes": "gltf",
    "GltfExportError": "gltf",
    "GltfSummary": "gltf",
}

__all__ = [
    "CAMERA_PRESETS",
    "BlendshapeRig",
    "Camera",
    "CurveStrip",
    "FlameFormatError",
    "FlameHead",
    "FlameUnavailableError",
    "GltfExportError",
    "GltfSummary",
    "RenderUnavailableError",
    "RigError",
    "RigWarning",
    "Stage",
    "VideoWriter",
    "camera_preset",
    "clip_frames",
    "compare_frames",
    "contact_sheet",
    "convert_flame_pickle",
    "export_gltf",
    "frames_for",
    "get_rasterizer",
    "gltf_bytes",
    "ict_dir",
    "load_configured_flame",
    "load_default_rig",
    "load_obj_rig",
    "load_rig",
    "load_rig_npz",
    "message_frame",
    "message_panel",
    "rasterize",
    "read_mp4",
    "rig_sheet",
    "save_rig_npz",
    "side_by_side",
    "write_mp4",
    "write_png",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'renderers' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"renderers.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # static checkers and IDEs see the real names
    from renderers.camera import CAMERA_PRESETS, Camera, camera_preset
    from renderers.compose import CurveStrip, contact_sheet, message_frame, side_by_side
    from renderers.flame import (
        FlameFormatError,
        FlameHead,
        FlameUnavailableError,
        convert_flame_pickle,
        load_configured_flame,
    )
    from renderers.gltf import GltfExportError, GltfSummary, export_gltf, gltf_bytes
    from renderers.obj_rig import load_obj_rig
    from renderers.pipeline import (
        Stage,
        clip_frames,
        compare_frames,
        frames_for,
        ict_dir,
        load_rig,
        message_panel,
        rig_sheet,
    )
    from renderers.raster import RenderUnavailableError, get_rasterizer, rasterize
    from renderers.rig import (
        BlendshapeRig,
        RigError,
        RigWarning,
        load_default_rig,
        load_rig_npz,
        save_rig_npz,
    )
    from renderers.video import VideoWriter, read_mp4, write_mp4, write_png
