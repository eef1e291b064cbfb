"""Animated glTF export, checked by reading the file back with readers that are not the writer.

The evaluator below follows the glTF 2.0 specification only (accessors with strides and sparse
substitution, LINEAR samplers with slerp, TRS node trees, morph targets), so it would catch a
file that the writer and its own assumptions agree on but a viewer would show differently.
"""

from __future__ import annotations

import numpy as np
import pygltflib
import pytest
import trimesh

from renderers import GltfExportError, export_gltf
from studio.cli import main
from studio.formats import read_clip, write_clip
from studio.motion import ARKIT_BLENDSHAPES, ARKIT_CHANNELS, MotionClip
from tests.conftest import LIVELINK

TOLERANCE = 1e-4  # rig units (the default rig's decimetres)
METRES = {"dm": 0.1, "cm": 0.01}

# -- an independent reader ----------------------------------------------------------------------

_DTYPES = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


class Glb:
    """A .glb read with pygltflib; geometry and animation evaluated per the glTF 2.0 spec."""

    def __init__(self, path) -> None:
        self.doc = pygltflib.GLTF2.load_binary(str(path))
        self.blob = self.doc.binary_blob()
        parents = {}
        for i, node in enumerate(self.doc.nodes):
            for child in node.children or []:
                parents[child] = i
        self.parents = parents

    def _view(self, view_index: int, offset: int, count: int, dtype, width: int) -> np.ndarray:
        view = self.doc.bufferViews[view_index]
        item = np.dtype(dtype).itemsize * width
        stride = view.byteStride or item
        start = (view.byteOffset or 0) + offset
        assert start + stride * (count - 1) + item <= (view.byteOffset or 0) + view.byteLength
        raw = np.frombuffer(
            self.blob, np.uint8, count=stride * (count - 1) + item if count else 0, offset=start
        )
        rows = np.lib.stride_tricks.as_strided(raw, shape=(count, item), strides=(stride, 1))
        return rows.copy().view(dtype).reshape(count, width)

    def accessor(self, index: int) -> np.ndarray:
        acc = self.doc.accessors[index]
        dtype, width = _DTYPES[acc.componentType], _WIDTH[acc.type]
        if acc.bufferView is None:
            out = np.zeros((acc.count, width), dtype)
        else:
            out = self._view(acc.bufferView, acc.byteOffset or 0, acc.count, dtype, width)
        if acc.sparse is not None:
            sp = acc.sparse
            rows = self._view(
                sp.indices.bufferView,
                sp.indices.byteOffset or 0,
                sp.count,
                _DTYPES[sp.indices.componentType],
                1,
            )[:, 0]
            out[rows] = self._view(sp.values.bufferView, sp.values.byteOffset or 0, sp.count, dtype, width)
        return out[:, 0] if width == 1 else out

    # animation ------------------------------------------------------------------------------

    def sample(self, node: int, path: str, t: float) -> np.ndarray | None:
        """The animated value of ``node``'s ``path`` at ``t`` seconds (LINEAR only), or None."""
        for animation in self.doc.animations:
            for channel in animation.channels:
                if channel.target.node != node or channel.target.path != path:
                    continue
                sampler = animation.samplers[channel.sampler]
                assert sampler.interpolation == "LINEAR"
                times = self.accessor(sampler.input).astype(np.float64)
                out = self.accessor(sampler.output).astype(np.float64).reshape(len(times), -1)
                i = int(np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1))
                j = min(i + 1, len(times) - 1)
                u = 0.0 if j == i else float(np.clip((t - times[i]) / (times[j] - times[i]), 0, 1))
                if path != "rotation":
                    return (1 - u) * out[i] + u * out[j]
                return _slerp(out[i], out[j], u)
        return None

    def local_matrix(self, node: int, t: float) -> np.ndarray:
        n = self.doc.nodes[node]
        if n.matrix:
            return np.array(n.matrix, np.float64).reshape(4, 4).T  # column-major
        translation = np.array(n.translation or [0, 0, 0], np.float64)
        rotation = self.sample(node, "rotation", t)
        if rotation is None:
            rotation = np.array(n.rotation or [0, 0, 0, 1], np.float64)
        scale = np.array(n.scale or [1, 1, 1], np.float64)
        m = np.eye(4)
        m[:3, :3] = _quat_matrix(rotation) * scale
        m[:3, 3] = translation
        return m

    def world_matrix(self, node: int, t: float) -> np.ndarray:
        m = self.local_matrix(node, t)
        while node in self.parents:
            node = self.parents[node]
            m = self.local_matrix(node, t) @ m
        return m

    def posed_vertices(self, t: float, n_vertices: int) -> np.ndarray:
        """Every mesh node's world positions at ``t``, put back in rig order: ``(V, 3)``."""
        out = np.full((n_vertices, 3), np.nan)
        for node_index, node in enumerate(self.doc.nodes):
            if node.mesh is None:
                continue
            mesh = self.doc.meshes[node.mesh]
            for primitive in mesh.primitives:
                p = self.accessor(primitive.attributes.POSITION).astype(np.float64)
                if primitive.targets:
                    w = self.sample(node_index, "weights", t)
                    if w is None:
                        w = np.array(node.weights or mesh.weights or [0.0] * len(primitive.targets))
                    for k, target in enumerate(primitive.targets):
                        if w[k]:
                            p = p + w[k] * self.accessor(target["POSITION"]).astype(np.float64)
                m = self.world_matrix(node_index, t)
                world = p @ m[:3, :3].T + m[:3, 3]
                index = self.accessor(primitive.attributes._RIG_VERTEX).astype(np.int64)
                out[index] = world
        return out

    def faces_and_colors(self, n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
        """All triangles in rig vertex indices ``(F, 3)`` and sRGB colours ``(V, 3)``."""
        faces, colors = [], np.zeros((n_vertices, 3), np.float32)
        for mesh in self.doc.meshes:
            for primitive in mesh.primitives:
                index = self.accessor(primitive.attributes._RIG_VERTEX).astype(np.int64)
                faces.append(index[self.accessor(primitive.indices).astype(np.int64).reshape(-1, 3)])
                linear = self.accessor(primitive.attributes.COLOR_0)
                colors[index] = np.where(
                    linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055
                )
        return np.concatenate(faces), colors


def _quat_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _slerp(a: np.ndarray, b: np.ndarray, u: float) -> np.ndarray:
    dot = float(a @ b)
    if dot < 0:  # the short way, as the specification's reference implementation does
        b, dot = -b, -dot
    if dot > 0.9995:
        q = a + u * (b - a)
        return q / np.linalg.norm(q)
    theta = np.arccos(dot)
    return (np.sin((1 - u) * theta) * a + np.sin(u * theta) * b) / np.sin(theta)


# -- clips ----------------------------------------------------------------------------------------


def synthetic_clip(n_frames: int = 90, fps: float = 30.0) -> MotionClip:
    """Every shape busy at its own rate, and head and eye turns up to ±0.6 rad on all axes."""
    t = np.arange(n_frames)[:, None] / fps
    shapes = 0.5 + 0.5 * np.sin(2 * np.pi * (0.3 + 0.05 * np.arange(52)) * t + np.arange(52))
    rotation = 0.6 * np.sin(2 * np.pi * (0.4 + 0.1 * np.arange(9)) * t + 0.7 * np.arange(9))
    return MotionClip(np.hstack([shapes, rotation]), fps, "arkit", ARKIT_CHANNELS)


def check_round_trip(path, clip: MotionClip, rig, frames) -> float:
    """Evaluate ``path`` at each frame and compare with the rig's own pose; the worst error."""
    glb = Glb(path)
    posed = rig.evaluate(clip)
    metres = glb.doc.nodes[glb.doc.scenes[glb.doc.scene].nodes[0]].extras["metresPerUnit"]
    assert metres == pytest.approx(METRES[rig.unit])
    worst = 0.0
    for k in frames:
        from_file = glb.posed_vertices(k / clip.fps, rig.n_vertices) / METRES[rig.unit]
        assert not np.isnan(from_file).any(), "every rig vertex is in exactly one mesh"
        error = float(np.abs(from_file - posed[k]).max())
        assert error < TOLERANCE, f"frame {k}: {error:.3g}"
        worst = max(worst, error)
    return worst


def check_structure(path, clip: MotionClip) -> None:
    glb = Glb(path)
    doc = glb.doc
    face = next(m for m in doc.meshes if m.name == "face")
    assert face.extras["targetNames"] == list(ARKIT_BLENDSHAPES)
    assert len(face.primitives[0].targets) == 52
    (animation,) = doc.animations
    n, duration = clip.n_frames, (clip.n_frames - 1) / clip.fps
    names = {doc.nodes[c.target.node].name: c for c in animation.channels}
    assert {"Face", "Head", "LeftEye", "RightEye"} <= set(names)
    for channel in animation.channels:
        sampler = animation.samplers[channel.sampler]
        times = glb.accessor(sampler.input)
        acc = doc.accessors[sampler.input]
        assert times.shape == (n,) and acc.min[0] == 0 and acc.max[0] == pytest.approx(duration, rel=1e-6)
        assert times.max() == pytest.approx(duration, rel=1e-6) and np.all(np.diff(times) > 0)
        output = glb.accessor(sampler.output)
        if channel.target.path == "weights":
            assert output.shape == (n * 52,)
            expected = np.clip(clip.values[:, :52], 0, 1).reshape(-1)
            assert np.allclose(output, expected, atol=1e-6)
        else:
            assert channel.target.path == "rotation" and output.shape == (n, 4)
            assert np.allclose(np.linalg.norm(output, axis=1), 1, atol=1e-6)
    # the head turns in the synthetic clip and stays still in the takes: its keys say so
    head = glb.accessor(animation.samplers[names["Head"].sampler].output)
    assert np.allclose(np.abs(head[:, 3]), 1, atol=1e-6) == (not np.any(clip.values[:, 52:55]))


# -- the tests ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def take() -> MotionClip:
    path = LIVELINK / "facial.csv"
    if not path.is_file():
        pytest.skip(f"real Live Link takes not found at {LIVELINK} (the shared data folder is absent)")
    clip = read_clip(path).clip
    return clip.replace(values=clip.values[:300])  # 10 s at 30 fps


def test_a_real_take_round_trips(default_rig, take, tmp_path):
    path = tmp_path / "take.glb"
    summary = export_gltf(take, default_rig, path)
    assert summary.n_frames == 300 and summary.duration_s == pytest.approx(299 / 30)
    assert path.stat().st_size == summary.n_bytes < 6_000_000
    check_structure(path, take)
    eyes = take.values[:, ARKIT_CHANNELS.index("leftEyeYaw")]
    jaw = take.values[:, ARKIT_CHANNELS.index("jawOpen")]
    frames = {0, 299, int(np.argmax(np.abs(eyes))), int(np.argmax(jaw)), 137}
    check_round_trip(path, take, default_rig, sorted(frames))


def test_a_synthetic_clip_with_head_turns_round_trips_after_resampling(default_rig, tmp_path):
    clip = synthetic_clip(90, 60.0)
    path = tmp_path / "turns.glb"
    summary = export_gltf(clip, default_rig, path, fps=24)
    resampled = clip.resample(24)
    assert summary.n_frames == resampled.n_frames == 36 and summary.fps == 24
    check_structure(path, resampled)
    head = np.abs(resampled.values[:, 52:55]).sum(axis=1)
    frames = {0, 35, int(np.argmax(head)), 7, 20}
    assert head[sorted(frames)].max() > 1.0  # big turns are among the frames checked
    check_round_trip(path, resampled, default_rig, sorted(frames))


def test_rotations_past_half_a_turn_interpolate_the_short_way(default_rig, tmp_path):
    yaw = np.linspace(-3.6, 3.6, 40)  # wraps at ±pi: quaternion keys must stay in one hemisphere
    values = np.zeros((40, 61), np.float32)
    values[:, ARKIT_CHANNELS.index("headYaw")] = yaw
    clip = MotionClip(values, 30.0, "arkit", ARKIT_CHANNELS)
    path = tmp_path / "spin.glb"
    export_gltf(clip, default_rig, path)
    glb = Glb(path)
    head = next(i for i, n in enumerate(glb.doc.nodes) if n.name == "Head")
    half = glb.sample(head, "rotation", 10.5 / 30)  # halfway between two keys
    between = _quat_matrix(half)
    expected = _quat_matrix(glb.sample(head, "rotation", 10 / 30)) @ _quat_matrix(
        glb.sample(head, "rotation", 11 / 30)
    )
    assert np.abs(between @ between - expected).max() < 1e-3  # half a small step, not a detour
    # readers that slerp without checking signs need neighbouring keys in one hemisphere
    channel = next(c for c in glb.doc.animations[0].channels if c.target.node == head)
    keys = glb.accessor(glb.doc.animations[0].samplers[channel.sampler].output)
    assert np.all(np.einsum("ij,ij->i", keys[1:], keys[:-1]) > 0)
    check_round_trip(path, clip, default_rig, [0, 10, 19, 20, 39])


def test_trimesh_reads_the_rest_pose(default_rig, take, tmp_path):
    path = tmp_path / "take.glb"
    export_gltf(take, default_rig, path)
    scene = trimesh.load(path)
    assert sorted(scene.geometry) == ["face", "leftEye", "rightEye"]
    assert sum(len(g.faces) for g in scene.geometry.values()) == default_rig.n_faces
    # at rest a viewer shows the mesh without morphs, turned as in the first frame
    rest = take.values[:1].copy()
    rest[:, :52] = 0
    expected = default_rig.evaluate(rest)[0] * 0.1
    world = scene.to_mesh().vertices
    assert len(world) == default_rig.n_vertices
    lo, hi = expected.min(axis=0), expected.max(axis=0)
    assert np.allclose(world.min(axis=0), lo, atol=1e-5) and np.allclose(world.max(axis=0), hi, atol=1e-5)


def test_normal_targets_turn_the_normals_with_the_shape(default_rig, tmp_path):
    path = tmp_path / "n.glb"
    export_gltf(synthetic_clip(3), default_rig, path)
    glb = Glb(path)
    primitive = next(m for m in glb.doc.meshes if m.name == "face").primitives[0]
    faces = glb.accessor(primitive.indices).astype(np.int64).reshape(-1, 3)
    base = glb.accessor(primitive.attributes.POSITION).astype(np.float64)
    normals = glb.accessor(primitive.attributes.NORMAL).astype(np.float64)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1, atol=1e-5)
    for name in ("jawOpen", "mouthSmileLeft", "browInnerUp"):
        target = primitive.targets[ARKIT_BLENDSHAPES.index(name)]
        moved = base + glb.accessor(target["POSITION"])
        tri = moved[faces]
        area = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        expected = np.zeros_like(moved)
        for corner in range(3):
            np.add.at(expected, faces[:, corner], area)
        expected /= np.linalg.norm(expected, axis=1, keepdims=True)
        morphed = normals + glb.accessor(target["NORMAL"])
        assert np.abs(morphed - expected).max() < 1e-4, name
        assert np.abs(normals - expected).max() > 0.05, name  # the shape does turn some normals


def test_normals_can_be_left_out_and_shape_names_survive(default_rig, tmp_path):
    clip = synthetic_clip(10)
    with_normals, without = tmp_path / "n.glb", tmp_path / "p.glb"
    export_gltf(clip, default_rig, with_normals)
    export_gltf(clip, default_rig, without, normals=False)
    assert without.stat().st_size < 0.8 * with_normals.stat().st_size
    doc = Glb(without).doc
    assert all("NORMAL" not in t for t in doc.meshes[0].primitives[0].targets)
    check_round_trip(without, clip, default_rig, [3])


def test_the_ict_rig_round_trips(ict_rig, tmp_path):
    clip = synthetic_clip(12)
    path = tmp_path / "ict.glb"
    export_gltf(clip, ict_rig, path)
    check_round_trip(path, clip, ict_rig, [0, 5, 11])
    names = Glb(path).doc.meshes[0].extras["targetNames"]
    assert names == list(ARKIT_BLENDSHAPES)  # tongueOut too: a zero target keeps indices stable


def test_a_rig_whose_shapes_move_the_eyeballs_animates_their_weights(default_rig, tmp_path):
    from dataclasses import replace

    deltas = default_rig.deltas.copy()
    deltas[ARKIT_BLENDSHAPES.index("eyeWideLeft"), default_rig.eye_vertices[0]] = [0.0, 0.05, 0.02]
    rig = replace(default_rig, name="bulging", deltas=deltas)
    clip = synthetic_clip(15)
    path = tmp_path / "bulge.glb"
    export_gltf(clip, rig, path)
    glb = Glb(path)
    animated = {
        glb.doc.nodes[c.target.node].name
        for c in glb.doc.animations[0].channels
        if c.target.path == "weights"
    }
    assert animated == {"Face", "LeftEyeball"}  # the right eyeball has no shape to follow
    check_round_trip(path, clip, rig, [2, 9])


def test_flame_clips_and_joined_eyeballs_are_refused(default_rig):
    with pytest.raises(GltfExportError, match="FLAME export"):
        export_gltf(MotionClip.zeros(5, 30.0, "flame"), default_rig, "never.glb")
    from dataclasses import replace

    left, face_vertex = default_rig.eye_vertices[0][0], 0
    faces = np.vstack([default_rig.faces, [[left, face_vertex, 1]]]).astype(np.int32)
    joined = replace(default_rig, faces=faces)
    with pytest.raises(GltfExportError, match="joining an eyeball"):
        export_gltf(MotionClip.zeros(5, 30.0), joined, "never.glb")


def test_the_exported_face_renders_like_the_rig(gl, default_rig, take, tmp_path):
    from renderers import camera_preset, rasterize

    path = tmp_path / "take.glb"
    export_gltf(take, default_rig, path)
    glb = Glb(path)
    k = int(np.argmax(take.values[:, ARKIT_CHANNELS.index("jawOpen")]))
    faces, colors = glb.faces_and_colors(default_rig.n_vertices)

    class FromFile:  # what the rasteriser needs of a mesh: triangles and sRGB colours
        pass

    mesh = FromFile()
    mesh.faces, mesh.colors = faces.astype(np.int32), colors
    camera = camera_preset("front", default_rig.frame_center, default_rig.frame_radius)
    vertices = glb.posed_vertices(k / take.fps, default_rig.n_vertices) / 0.1
    image = rasterize(vertices, mesh, camera, size=128)[0]
    reference = rasterize(default_rig.evaluate(take.values[k : k + 1]), default_rig, camera, size=128)[0]
    assert np.abs(image.astype(int) - reference.astype(int)).mean() < 1.0
    assert image.std() > 20  # a face, not an empty frame


# -- the command line ----------------------------------------------------------------------------


def test_the_cli_writes_the_file_and_says_so_in_one_line(tmp_path, capsys):
    source = tmp_path / "clip.npz"
    write_clip(synthetic_clip(30), source)
    out = tmp_path / "clip.glb"
    assert main(["export", str(source), "--gltf", str(out), "--fps", "15"]) == 0
    printed = capsys.readouterr()
    assert printed.out.count("\n") == 1 and printed.out.startswith(f"wrote {out}")
    assert "15 frames at 15 fps" in printed.out and "52 morph targets" in printed.out
    assert Glb(out).accessor(Glb(out).doc.animations[0].samplers[0].input).shape == (15,)


def test_the_cli_on_a_real_take(livelink_dir, tmp_path, capsys):
    out = tmp_path / "s88.glb"
    assert main(["export", str(livelink_dir / "S88-001.csv"), "--gltf", str(out), "--rig", "default"]) == 0
    assert out.stat().st_size > 1_000_000
    assert "1662 frames at 30 fps" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "missing.csv"),
        ("flame", "FLAME export is not supported"),
        ("unwritable", "cannot write"),
        ("directory", "cannot write"),
        ("malformed", "malformed.csv"),
        ("not glb", ".glb"),
        ("bad fps", "--fps"),
        ("bad rig", "--rig must be"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(case, message, tmp_path, capsys):
    source, out = tmp_path / "clip.npz", tmp_path / "out.glb"
    write_clip(synthetic_clip(5), source)
    extra: list[str] = []
    if case == "missing":
        source = tmp_path / "missing.csv"
    elif case == "flame":
        source = tmp_path / "flame.npz"
        write_clip(MotionClip.zeros(5, 30.0, "flame"), source, "flame-npz")
    elif case == "unwritable":
        out = tmp_path / "no" / "such" / "folder" / "out.glb"
    elif case == "directory":
        out.mkdir()
    elif case == "malformed":
        source = tmp_path / "malformed.csv"
        source.write_text("Timecode,BlendShapeCount,EyeBlinkLeft\n00:00:00:00.000,1,not-a-number\n")
    elif case == "not glb":
        out = tmp_path / "out.gltf"
    elif case == "bad fps":
        extra = ["--fps", "0"]
    elif case == "bad rig":
        extra = ["--rig", "nope"]
    assert main(["export", str(source), "--gltf", str(out), *extra]) == 2
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.count("\n") == 1 and printed.err.startswith("error: ") and message in printed.err
    if case == "directory":
        assert out.is_dir() and not list(tmp_path.glob(".out.glb.*"))  # nothing half-written left
