"""CLI commands of the renderers: ``render``, ``rig-sheet``, ``export``, ``flame-convert``.

Registered through ``studio.cli.COMMAND_MODULES``; heavy imports (OpenGL, torch) happen inside
the run functions so ``python -m studio --help`` stays fast.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from studio.errors import UsageError


def _report_warnings(run: Callable[[], int]) -> int:
    """Run ``run`` and print each distinct renderer warning once on stderr."""
    from renderers.rig import RigWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RigWarning)
        code = run()
    seen: set[str] = set()
    for w in caught:
        if issubclass(w.category, RigWarning) and str(w.message) not in seen:
            seen.add(str(w.message))
            print(f"warning: {w.message}", file=sys.stderr)
    return code


def cmd_render(args: argparse.Namespace) -> int:
    from renderers.pipeline import Stage, compare_frames, frames_for, load_rig
    from renderers.video import VideoWriter
    from studio.formats import read_clip

    if args.labels and len(args.labels) != len(args.inputs):
        raise UsageError(f"--labels needs one label per input ({len(args.inputs)}), got {len(args.labels)}")
    if not str(args.output).lower().endswith(".mp4"):
        raise UsageError("the output must be an .mp4 file")
    if not 64 <= args.size <= 2048:
        raise UsageError("--size must be within 64..2048")
    clips = []
    for path in args.inputs:
        loaded = read_clip(path, fps=args.input_fps)
        for message in loaded.warnings:
            print(f"warning: {path}: {message}", file=sys.stderr)
        clip = loaded.clip
        if args.max_seconds:
            frames = max(1, round(args.max_seconds * clip.fps))
            clip = clip.replace(values=clip.values[:frames])
        clips.append(clip)
    stage = Stage(size=args.size, camera=args.camera, fps=args.fps)

    def run() -> int:
        rig = load_rig(args.rig) if any(c.space == "arkit" for c in clips) else None
        start = time.perf_counter()
        if len(clips) == 1 and not args.labels:
            frames = frames_for(clips[0], rig, stage, curves=args.curves)  # type: ignore[arg-type]
        else:
            labels = args.labels or [Path(p).stem for p in args.inputs]
            frames = compare_frames(clips, labels, rig, stage, curves=args.curves)  # type: ignore[arg-type]
        with VideoWriter(args.output, stage.fps) as writer:
            writer.extend(frames)
        seconds = time.perf_counter() - start
        print(
            f"wrote {args.output} ({writer.n_frames} frames at {stage.fps:g} fps, "
            f"{writer.n_frames / max(seconds, 1e-9):.1f} frames/s)"
        )
        return 0

    return _report_warnings(run)


def cmd_rig_sheet(args: argparse.Namespace) -> int:
    from renderers.pipeline import load_rig, rig_sheet
    from renderers.video import write_png

    if not str(args.output).lower().endswith(".png"):
        raise UsageError("the contact sheet is written as .png")

    def run() -> int:
        rig = load_rig(args.rig)
        sheet = rig_sheet(rig, size=args.size, camera=args.camera)
        write_png(sheet, args.output)
        print(f"wrote {args.output} ({sheet.shape[1]}x{sheet.shape[0]}, rig {rig.name})")
        return 0

    return _report_warnings(run)


def cmd_export(args: argparse.Namespace) -> int:
    from renderers.gltf import export_gltf
    from renderers.pipeline import load_rig
    from studio.config import StudioConfig
    from studio.formats import read_clip

    if not str(args.gltf).lower().endswith(".glb"):
        raise UsageError("--gltf must name a binary glTF file ending in .glb")
    if args.fps is not None and not (math.isfinite(args.fps) and 0 < args.fps <= 1000):
        raise UsageError(f"--fps must be a rate in (0, 1000], got {args.fps:g}")
    loaded = read_clip(args.clip, fps=args.input_fps, max_frames=StudioConfig.from_env().max_frames)
    for message in loaded.warnings:
        print(f"warning: {args.clip}: {message}", file=sys.stderr)
    clip = loaded.clip
    if clip.space != "arkit":  # refused before the rig is loaded: the rig is not the problem
        raise UsageError(
            f"{args.clip}: glTF export takes ARKit clips; this one is in {clip.space!r} space "
            "(FLAME export is not supported yet)"
        )

    def run() -> int:
        rig = load_rig(args.rig)
        summary = export_gltf(clip, rig, args.gltf, fps=args.fps, normals=not args.no_normals)
        print(f"wrote {args.gltf} ({summary}, rig {rig.name})")
        return 0

    return _report_warnings(run)


def cmd_flame_convert(args: argparse.Namespace) -> int:
    from renderers.flame import FlameFormatError, convert_flame_pickle

    try:
        summary = convert_flame_pickle(args.input, args.output)
    except FlameFormatError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {args.output} ({summary})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from renderers.camera import CAMERA_PRESETS
    from studio.motion import OUTPUT_FPS

    render = subparsers.add_parser("render", help="render clips to an MP4 (several: side by side)")
    render.add_argument("inputs", nargs="+", metavar="IN", help="clip files (any format the studio reads)")
    render.add_argument("-o", "--output", required=True, help="output .mp4")
    render.add_argument("--rig", default="default", help="default | ict | folder of OBJs | rig .npz")
    render.add_argument("--size", type=int, default=512, help="frame size in pixels (square)")
    render.add_argument("--camera", choices=CAMERA_PRESETS, default="front")
    render.add_argument(
        "--fps", type=float, default=OUTPUT_FPS, help="video frame rate (clips are resampled)"
    )
    render.add_argument("--labels", nargs="+", help="one caption per input (side by side)")
    render.add_argument("--curves", action="store_true", help="add a strip of coefficient curves")
    render.add_argument("--max-seconds", type=float, help="render only the first N seconds of each clip")
    render.add_argument("--input-fps", type=float, help="rate for inputs that do not store one")
    render.set_defaults(run=cmd_render)

    sheet = subparsers.add_parser("rig-sheet", help="contact sheet of a rig's 52 ARKit shapes")
    sheet.add_argument("-o", "--output", required=True, help="output .png")
    sheet.add_argument("--rig", default="default", help="default | ict | folder of OBJs | rig .npz")
    sheet.add_argument("--size", type=int, default=200, help="tile size in pixels")
    sheet.add_argument("--camera", choices=CAMERA_PRESETS, default="front")
    sheet.set_defaults(run=cmd_rig_sheet)

    export = subparsers.add_parser("export", help="export an ARKit clip as an animated glTF (.glb)")
    export.add_argument("clip", help="clip file (any ARKit format the studio reads)")
    export.add_argument("--gltf", required=True, metavar="OUT.glb", help="output binary glTF")
    export.add_argument("--rig", default="default", help="default | ict | folder of OBJs | rig .npz")
    export.add_argument("--fps", type=float, help="resample to this rate first (default: the clip's own)")
    export.add_argument("--input-fps", type=float, help="rate for inputs that do not store one")
    export.add_argument("--no-normals", action="store_true", help="leave out NORMAL morph deltas (smaller)")
    export.set_defaults(run=cmd_export)

    convert = subparsers.add_parser("flame-convert", help="convert the official FLAME pickle to npz, once")
    convert.add_argument("input", help="FLAME_NEUTRAL.pkl (or generic_model.pkl)")
    convert.add_argument("-o", "--output", required=True, help="output .npz (put it in STUDIO_FLAME_DIR)")
    convert.set_defaults(run=cmd_flame_convert)
