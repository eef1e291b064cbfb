"""Rendering benchmark: ``python -m benchmarks.render [--json] [--frames 300] [--size 512]``.

Measures frames per second for rig evaluation, rasterisation, encoding and end to end (clip
-> MP4) on the default rig and on the ICT rig, and in the same run, on the same clip and the
same machine, two baselines:

* **stock pyrender**: the usual pyrender loop — a new ``Scene`` with a new ``Mesh`` per frame,
  default render flags (4× MSAA on EGL, the PBR shader), one ``OffscreenRenderer`` — streamed
  into the same MP4 writer;
* **matplotlib scatter**: the Express4D-style frame renderer — a scatter of 5,000 of the
  posed vertices per frame on 3-D axes, drawn with matplotlib (Agg) and streamed into the same
  MP4 writer (``matplotlib_fps``); a bare 2-D scatter is reported too (``matplotlib_2d_fps``).

Times are wall clock, best of ``--repeat`` runs, after one warm-up frame (context creation and
shader compilation are one-off costs, reported separately as ``startup_s``). The clip is the
first ``--frames`` frames of a real Live Link take when the shared data is present, else a
deterministic synthetic clip.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # BLAS spin threads halve llvmpipe speed

import numpy as np

from renderers import (  # importing renderers sets PYOPENGL_PLATFORM before pyrender loads
    CAMERA_PRESETS,
    BlendshapeRig,
    RigWarning,
    Stage,
    VideoWriter,
    camera_preset,
    clip_frames,
    get_rasterizer,
    ict_dir,
    load_default_rig,
    load_rig,
)
from studio.motion import ARKIT_BLENDSHAPES, ARKIT_CHANNELS, OUTPUT_FPS, MotionClip

TAKE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "livelinkface" / "facial.csv"


def benchmark_clip(n_frames: int) -> tuple[MotionClip, str]:
    """The clip every path renders: a real take if available, else smooth synthetic motion."""
    if TAKE.is_file():
        from studio.formats import read_clip

        clip = read_clip(TAKE).clip
        if clip.n_frames >= n_frames:
            return clip.replace(values=clip.values[:n_frames]), f"{TAKE.name}[:{n_frames}]"
    t = np.arange(n_frames)[:, None] / OUTPUT_FPS
    phase = np.arange(len(ARKIT_CHANNELS))[None] * 0.7
    values = np.zeros((n_frames, len(ARKIT_CHANNELS)), np.float32)
    values[:, : len(ARKIT_BLENDSHAPES)] = (0.5 + 0.5 * np.sin(t * 2.0 + phase))[
        :, : len(ARKIT_BLENDSHAPES)
    ] * 0.6
    values[:, len(ARKIT_BLENDSHAPES) :] = 0.15 * np.sin(t * 1.3 + phase)[:, len(ARKIT_BLENDSHAPES) :]
    return MotionClip(values, OUTPUT_FPS, "arkit", ARKIT_CHANNELS), f"synthetic[{n_frames}]"


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure_rig(rig: BlendshapeRig, clip: MotionClip, stage: Stage, out_dir: Path, repeat: int) -> dict:
    n = clip.n_frames
    camera = camera_preset(stage.camera, rig.frame_center, rig.frame_radius)
    rasterizer = get_rasterizer(stage.size, stage.size, stage.samples)
    start = time.perf_counter()
    rasterizer.render(rig.evaluate(clip.values[:1]), rig, camera)  # warm-up: upload, compile
    startup = time.perf_counter() - start
    eval_s = best_of(repeat, lambda: rig.evaluate(clip))
    vertices = rig.evaluate(clip)
    frames = rasterizer.render(vertices, rig, camera)
    raster_s = best_of(repeat, lambda: rasterizer.render(vertices, rig, camera))

    def encode() -> None:
        with VideoWriter(out_dir / "encode.mp4", stage.fps) as writer:
            writer.extend(frames)

    encode_s = best_of(repeat, encode)

    def end_to_end() -> None:
        with VideoWriter(out_dir / "e2e.mp4", stage.fps) as writer:
            writer.extend(clip_frames(clip, rig, stage))

    e2e_s = best_of(repeat, end_to_end)
    return {
        "rig": rig.name,
        "vertices": rig.n_vertices,
        "triangles": rig.n_faces,
        "startup_s": round(startup, 3),
        "eval_fps": round(n / eval_s, 1),
        "raster_fps": round(n / raster_s, 1),
        "encode_fps": round(n / encode_s, 1),
        "end_to_end_fps": round(n / e2e_s, 1),
        "device": rasterizer.device_name,
        "msaa_samples": rasterizer.samples,
    }


def measure_stock_pyrender(rig: BlendshapeRig, clip: MotionClip, stage: Stage, out_dir: Path) -> float:
    """The common pyrender loop: new scene and mesh per frame, default flags, same writer."""
    import pyrender
    import trimesh

    vertices = rig.evaluate(clip)
    cam = camera_preset(stage.camera, rig.frame_center, rig.frame_radius)
    pose = np.linalg.inv(cam.view_matrix())
    colors = (np.asarray(rig.colors) * 255).astype(np.uint8)
    renderer = pyrender.OffscreenRenderer(stage.size, stage.size)
    try:

        def frame(v: np.ndarray) -> np.ndarray:
            mesh = trimesh.Trimesh(v, rig.faces, vertex_colors=colors, process=False)
            scene = pyrender.Scene(ambient_light=(0.3, 0.3, 0.3))
            scene.add(pyrender.Mesh.from_trimesh(mesh, smooth=True))
            lens = pyrender.PerspectiveCamera(yfov=np.radians(cam.fov_y_deg), znear=cam.near, zfar=cam.far)
            scene.add(lens, pose=pose)
            scene.add(pyrender.DirectionalLight(intensity=3.0), pose=pose)
            color, _ = renderer.render(scene)
            return color

        frame(vertices[0])  # warm-up
        start = time.perf_counter()
        with VideoWriter(out_dir / "stock.mp4", stage.fps) as writer:
            for v in vertices:
                writer.append(frame(v))
        return clip.n_frames / (time.perf_counter() - start)
    finally:
        renderer.delete()


def measure_matplotlib(
    rig: BlendshapeRig, clip: MotionClip, stage: Stage, out_dir: Path, projection: str = "3d"
) -> float | None:
    """Express4D-style: scatter 5,000 posed vertices per frame with matplotlib (Agg).

    ``projection="3d"`` draws on 3-D axes as motion-dataset plotting code does (the reference
    measurement); ``"2d"`` is the cheapest possible scatter, reported for transparency.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    # 5,000 points, as in the reference measurement (a FLAME-sized point cloud), evenly picked
    vertices = rig.evaluate(clip)
    pick = np.linspace(0, rig.n_vertices - 1, min(5000, rig.n_vertices)).astype(int)
    vertices = vertices[:, pick]
    fig = plt.figure(figsize=(stage.size / 100, stage.size / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1), projection="3d" if projection == "3d" else None)
    try:
        start = time.perf_counter()
        with VideoWriter(out_dir / "mpl.mp4", stage.fps) as writer:
            for v in vertices:
                ax.clear()
                if projection == "3d":
                    ax.scatter(v[:, 0], v[:, 2], v[:, 1], s=1.0, c="k")
                    ax.view_init(elev=5, azim=-90)
                else:
                    ax.scatter(v[:, 0], v[:, 1], s=1.0, c="k")
                    ax.set_aspect("equal")
                ax.axis("off")
                fig.canvas.draw()
                writer.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
        return clip.n_frames / (time.perf_counter() - start)
    finally:
        plt.close(fig)


def run(n_frames: int, size: int, repeat: int, include_ict: bool, camera: str = "front") -> dict:
    clip, clip_name = benchmark_clip(n_frames)
    stage = Stage(size=size, camera=camera, fps=clip.fps)
    result: dict = {
        "frames": clip.n_frames,
        "size": size,
        "camera": camera,
        "clip": clip_name,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}",
    }
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", RigWarning)
        out = Path(tmp)
        rig = load_default_rig()
        default = measure_rig(rig, clip, stage, out, repeat)
        result["default"] = default
        result["end_to_end_fps"] = default["end_to_end_fps"]
        result["ict_end_to_end_fps"] = None
        if include_ict and ict_dir() is not None:
            ict = measure_rig(load_rig("ict"), clip, stage, out, repeat)
            result["ict"] = ict
            result["ict_end_to_end_fps"] = ict["end_to_end_fps"]
        result["stock_pyrender_fps"] = round(measure_stock_pyrender(rig, clip, stage, out), 1)
        mpl = measure_matplotlib(rig, clip, stage, out, "3d")
        result["matplotlib_fps"] = None if mpl is None else round(mpl, 1)
        mpl2 = measure_matplotlib(rig, clip, stage, out, "2d")
        result["matplotlib_2d_fps"] = None if mpl2 is None else round(mpl2, 1)
    result["speedup_vs_stock_pyrender"] = round(result["end_to_end_fps"] / result["stock_pyrender_fps"], 2)
    if result["matplotlib_fps"]:
        result["speedup_vs_matplotlib"] = round(result["end_to_end_fps"] / result["matplotlib_fps"], 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=2, help="best of N timed runs per stage")
    parser.add_argument("--no-ict", action="store_true", help="skip the ICT rig")
    parser.add_argument("--camera", choices=CAMERA_PRESETS, default="front", help="camera preset")
    args = parser.parse_args(argv)
    result = run(args.frames, args.size, args.repeat, not args.no_ict, args.camera)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
