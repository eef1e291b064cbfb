"""Animated glTF 2.0 export: an ARKit clip on a blendshape rig -> one binary ``.glb`` file.

The file reproduces :meth:`BlendshapeRig.evaluate` exactly (up to float32 rounding) in any
glTF viewer (Blender, three.js, model-viewer):

* The rig's mesh is split into up to three meshes: the face (every vertex outside the eyeballs)
  and one per eyeball. The rig rotates eyeball vertices about their pivots before the whole
  head turns; in glTF that is a node transform, and a node moves a whole mesh, so each eyeball
  is its own mesh under its own node. (Skinning would keep one mesh, but many readers, trimesh
  among them, ignore skins, while every reader applies node transforms.) No rig face joins an
  eyeball to the face, so the split loses no triangle; a rig with such a face is refused.
* Each mesh carries one morph target per ARKit blendshape (52, ARKit order, names in
  ``mesh.extras.targetNames``) with POSITION and NORMAL deltas. A target that moves few
  vertices is a sparse accessor (zeros + the moving rows); a shape the rig lacks is an
  accessor with no data (all zeros, no bytes). An eyeball mesh gets targets only when some
  shape moves its vertices (none does in the shipped rigs).
* Node tree (``s`` turns the rig's unit into metres; pivots ``h`` head, ``e`` eye)::

      <rig>            scale s                    (extras: rig unit, metres per unit)
      └ Head           translation h, rotation animated
        ├ Face         translation -h, mesh "face"
        ├ LeftEye      translation e_l - h, rotation animated
        │ └ LeftEyeball   translation -e_l, mesh "leftEye"
        └ RightEye ... (same)

  so a face vertex lands at ``s * (R_head (p - h) + h)`` and an eyeball vertex at
  ``s * (R_head (R_eye (p - e) + e - h) + h)``, which is the rig's own evaluation, scaled.
* One animation ("clip"): the morph weights of every mesh with targets (sampler output
  ``T x 52`` floats, LINEAR) and the head and eye rotations (``T`` unit quaternions xyzw,
  LINEAR = slerp), all on one time axis ``k / fps`` seconds, ``k = 0..T-1``.
* Every vertex carries ``_RIG_VERTEX`` (float32, exact below 2**24): its index in the rig,
  so a reader can map the split meshes back onto the rig's vertex order.

Coordinates need no change: the rigs are y-up with the face looking down +z and the character's
left at +x, which is glTF's own convention.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pygltflib as gl
from scipy.spatial.transform import Rotation

from renderers.rig import N_SHAPES, BlendshapeRig, rotation_matrices
from studio.errors import StudioError
from studio.motion import ARKIT_BLENDSHAPES, ARKIT_INDEX, MotionClip

# metres per rig unit; a rig whose unit is not a length ("unit") is written as metres
UNIT_METRES = {"m": 1.0, "dm": 0.1, "cm": 0.01, "mm": 0.001}
_FLOAT, _USHORT, _UINT = gl.FLOAT, gl.UNSIGNED_SHORT, gl.UNSIGNED_INT
_ROTATIONS = {
    "Head": ("headYaw", "headPitch", "headRoll"),
    "LeftEye": ("leftEyeYaw", "leftEyePitch", "leftEyeRoll"),
    "RightEye": ("rightEyeYaw", "rightEyePitch", "rightEyeRoll"),
}


class GltfExportError(StudioError, ValueError):
    """A clip or rig that cannot be exported to glTF, or an output that cannot be written."""


@dataclass(frozen=True)
class GltfSummary:
    """What :func:`export_gltf` wrote: ``n_frames`` keys at ``fps``, ``duration_s = (T-1)/fps``."""

    path: Path
    n_frames: int
    fps: float
    duration_s: float
    n_targets: int
    n_bytes: int

    def __str__(self) -> str:
        return (
            f"{self.n_frames} frames at {self.fps:g} fps, {self.duration_s:.2f} s, "
            f"{self.n_targets} morph targets, {self.n_bytes / 1e6:.2f} MB"
        )


def export_gltf(
    clip: MotionClip, rig: BlendshapeRig, path: str | Path, *, fps: float | None = None, normals: bool = True
) -> GltfSummary:
    """Write ``clip`` on ``rig`` as an animated ``.glb`` at ``path`` (replaced atomically).

    ``fps`` resamples the clip first (default: its own rate). ``normals=False`` leaves out the
    NORMAL morph deltas (about half the file). Raises :class:`GltfExportError` for a FLAME
    clip, a rig the split cannot represent, or an output that cannot be written.
    """
    path = Path(path)
    if fps is not None:
        clip = clip.resample(fps)
    data = gltf_bytes(clip, rig, normals=normals)
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise GltfExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        Path(temp).replace(path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise GltfExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    return GltfSummary(path, clip.n_frames, clip.fps, (clip.n_frames - 1) / clip.fps, N_SHAPES, len(data))


def gltf_bytes(clip: MotionClip, rig: BlendshapeRig, *, normals: bool = True) -> bytes:
    """The ``.glb`` file for ``clip`` on ``rig`` at the clip's own rate, as bytes."""
    if clip.space != "arkit":
        raise GltfExportError(
            f"glTF export takes ARKit clips; this clip is in {clip.space!r} space (FLAME export is not "
            "supported yet: render it to MP4 with `render` instead)"
        )
    values = rig.check_values(clip)  # clamped and wrapped exactly as the rig poses them
    builder = _Builder()
    doc = builder.doc
    doc.scene = 0
    doc.scenes = [gl.Scene(name=rig.name, nodes=[0])]
    doc.materials = [
        gl.Material(
            name="skin",
            pbrMetallicRoughness=gl.PbrMetallicRoughness(
                baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0, roughnessFactor=0.6
            ),
        )
    ]
    scale = UNIT_METRES.get(rig.unit, 1.0)
    head = rig.head_pivot.astype(np.float64)
    doc.nodes = [
        gl.Node(
            name=rig.name,
            scale=[scale] * 3,
            children=[1],
            extras={"rigUnit": rig.unit, "metresPerUnit": scale, "fps": float(clip.fps)},
        ),
        gl.Node(name="Head", translation=head.tolist(), children=[]),
    ]
    parts = _split(rig)
    vertex_normals = _vertex_normals(rig.neutral, rig.faces)
    colors = _srgb_to_linear(np.clip(rig.colors, 0.0, 1.0))
    morphed: list[int] = []  # nodes whose mesh has morph targets
    for name, index, faces, eye in parts:
        mesh = builder.mesh(name, rig, index, faces, vertex_normals, colors, normals)
        if eye is None:
            doc.nodes[1].children.append(len(doc.nodes))
            doc.nodes.append(gl.Node(name="Face", translation=(-head).tolist(), mesh=mesh))
            owner = len(doc.nodes) - 1
        else:
            pivot = rig.eye_pivots[eye].astype(np.float64)
            joint = "LeftEye" if eye == 0 else "RightEye"
            doc.nodes[1].children.append(len(doc.nodes))
            doc.nodes.append(gl.Node(name=joint, translation=(pivot - head).tolist(), children=[]))
            doc.nodes[-1].children.append(len(doc.nodes))
            doc.nodes.append(gl.Node(name=f"{joint}ball", translation=(-pivot).tolist(), mesh=mesh))
            owner = len(doc.nodes) - 1
        if doc.meshes[mesh].weights:
            morphed.append(owner)
    builder.animation(values, clip.fps, morphed)
    doc.set_binary_blob(builder.blob())
    return b"".join(doc.save_to_bytes())


# -- geometry --------------------------------------------------------------------------------


def _split(rig: BlendshapeRig) -> list[tuple[str, np.ndarray, np.ndarray, int | None]]:
    """``(mesh name, rig vertex indices (n,), faces in part-local indices (f, 3), eye or None)``."""
    group = np.zeros(rig.n_vertices, np.int8)  # 0 face, 1 left eye, 2 right eye
    for eye, index in enumerate(rig.eye_vertices):
        group[index] = eye + 1
    face_groups = group[rig.faces]
    if rig.n_faces and np.any(face_groups.min(axis=1) != face_groups.max(axis=1)):
        raise GltfExportError(
            f"rig {rig.name!r} has triangles joining an eyeball to the face; glTF export needs "
            "the eyeballs to be separate geometry"
        )
    parts = []
    for g, (name, eye) in enumerate((("face", None), ("leftEye", 0), ("rightEye", 1))):
        index = np.flatnonzero(group == g)
        if index.size == 0:
            continue
        local = np.full(rig.n_vertices, -1, np.int64)
        local[index] = np.arange(index.size)
        faces = local[rig.faces[face_groups[:, 0] == g]] if rig.n_faces else np.zeros((0, 3), np.int64)
        parts.append((name, index, faces, eye))
    return parts


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals ``(V, 3) float32`` of ``vertices (V, 3)``."""
    v = vertices.astype(np.float64)
    tri = v[faces]
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2 * area
    normals = np.zeros_like(v)
    for corner in range(3):
        np.add.at(normals, faces[:, corner], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    fallback = np.array([0.0, 0.0, 1.0])  # an unused vertex still needs a unit normal
    return np.where(length > 1e-20, normals / np.maximum(length, 1e-20), fallback).astype(np.float32)


def _srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """glTF's COLOR_0 is linear; the rig's colours are sRGB in ``[0, 1]``."""
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _quaternions(values: np.ndarray, channels: tuple[str, str, str]) -> np.ndarray:
    """``(T, 4) float32`` unit quaternions (x, y, z, w) of the rig's rotation for one joint.

    Consecutive keys are kept in one hemisphere so that interpolating between them takes the
    short way even in a reader that slerps without checking.
    """
    yaw, pitch, roll = (values[:, ARKIT_INDEX[c]] for c in channels)
    quats = Rotation.from_matrix(rotation_matrices(yaw, pitch, roll).astype(np.float64)).as_quat()
    flips = np.cumsum(np.einsum("ij,ij->i", quats[1:], quats[:-1]) < 0) % 2
    quats[1:][flips == 1] *= -1
    return quats.astype(np.float32)


# -- the buffer --------------------------------------------------------------------------------


class _Builder:
    """One glTF document and its single binary buffer, built accessor by accessor."""

    def __init__(self) -> None:
        self.doc = gl.GLTF2(asset=gl.Asset(generator="Expression Studio", version="2.0"))
        self.doc.meshes = []
        self.doc.accessors = []
        self.doc.bufferViews = []
        self._chunks: list[bytes] = []
        self._size = 0
        self._normal_deltas: np.ndarray | None = None

    def blob(self) -> bytes:
        self.doc.buffers = [gl.Buffer(byteLength=self._size)]
        return b"".join(self._chunks)

    def view(self, array: np.ndarray, target: int | None = None) -> int:
        """Append ``array``'s bytes (4-byte aligned, as glTF requires) as a new bufferView."""
        data = np.ascontiguousarray(array).tobytes()
        self.doc.bufferViews.append(
            gl.BufferView(buffer=0, byteOffset=self._size, byteLength=len(data), target=target)
        )
        pad = -len(data) % 4
        self._chunks += [data, b"\0" * pad]
        self._size += len(data) + pad
        return len(self.doc.bufferViews) - 1

    def accessor(
        self, array: np.ndarray, kind: str, *, target: int | None = None, bounds: bool = False
    ) -> int:
        """A dense accessor of ``array`` (``(n,)`` or ``(n, k)``; float32, uint16 or uint32)."""
        component = {np.float32: _FLOAT, np.uint16: _USHORT, np.uint32: _UINT}[array.dtype.type]
        accessor = gl.Accessor(
            bufferView=self.view(array, target), componentType=component, count=len(array), type=kind
        )
        if bounds:
            self._bounds(accessor, array)
        return self._add(accessor)

    def delta_accessor(self, deltas: np.ndarray, *, bounds: bool) -> int:
        """A VEC3 morph-target accessor of ``deltas (n, 3) float32``: sparse when that is smaller."""
        rows = np.flatnonzero(np.any(deltas != 0, axis=1))
        n = len(deltas)
        index_type = np.uint16 if n < 65536 else np.uint32
        accessor = gl.Accessor(componentType=_FLOAT, count=n, type=gl.VEC3, byteOffset=None)
        if rows.size * (np.dtype(index_type).itemsize + 12) >= n * 12:
            accessor.bufferView = self.view(deltas.astype(np.float32))
            accessor.byteOffset = 0
        elif rows.size:  # no bufferView: zeros, then these rows replaced
            accessor.sparse = gl.Sparse(
                count=int(rows.size),
                indices=gl.AccessorSparseIndices(
                    bufferView=self.view(rows.astype(index_type)),
                    componentType=_USHORT if index_type is np.uint16 else _UINT,
                ),
                values=gl.AccessorSparseValues(bufferView=self.view(deltas[rows].astype(np.float32))),
            )
        if bounds:
            self._bounds(accessor, deltas)
        return self._add(accessor)

    def mesh(
        self,
        name: str,
        rig: BlendshapeRig,
        index: np.ndarray,
        faces: np.ndarray,
        vertex_normals: np.ndarray,
        colors: np.ndarray,
        with_normals: bool,
    ) -> int:
        """Add the part of ``rig`` made of vertices ``index`` as mesh ``name``; its index."""
        n = index.size
        attributes = gl.Attributes(
            POSITION=self.accessor(
                rig.neutral[index].astype(np.float32), gl.VEC3, target=gl.ARRAY_BUFFER, bounds=True
            ),
            NORMAL=self.accessor(vertex_normals[index], gl.VEC3, target=gl.ARRAY_BUFFER),
            COLOR_0=self.accessor(colors[index], gl.VEC3, target=gl.ARRAY_BUFFER),
        )
        attributes._RIG_VERTEX = self.accessor(index.astype(np.float32), gl.SCALAR, target=gl.ARRAY_BUFFER)
        index_type = np.uint16 if n < 65536 else np.uint32
        primitive = gl.Primitive(
            attributes=attributes,
            indices=self.accessor(
                faces.reshape(-1).astype(index_type), gl.SCALAR, target=gl.ELEMENT_ARRAY_BUFFER
            ),
            material=0,
            mode=gl.TRIANGLES,
        )
        deltas = rig.deltas[:, index]
        mesh = gl.Mesh(name=name, primitives=[primitive])
        if np.any(deltas):
            normal_deltas = None
            if with_normals:
                if self._normal_deltas is None:  # once per rig, shared by the face and eyeballs
                    self._normal_deltas = _normal_deltas(rig, vertex_normals)
                normal_deltas = self._normal_deltas[:, index]
            targets = []
            for k in range(N_SHAPES):
                target = {"POSITION": self.delta_accessor(deltas[k], bounds=True)}
                if normal_deltas is not None:
                    target["NORMAL"] = self.delta_accessor(normal_deltas[k], bounds=False)
                targets.append(target)
            primitive.targets = targets
            mesh.weights = [0.0] * N_SHAPES
            mesh.extras = {"targetNames": list(ARKIT_BLENDSHAPES)}
        self.doc.meshes.append(mesh)
        return len(self.doc.meshes) - 1

    def animation(self, values: np.ndarray, fps: float, morphed: list[int]) -> None:
        """One animation: morph weights on ``morphed`` nodes, head and eye rotations, ``T`` keys."""
        n_frames = len(values)
        times = (np.arange(n_frames, dtype=np.float64) / fps).astype(np.float32)
        time_accessor = self.accessor(times, gl.SCALAR, bounds=True)
        samplers: list[gl.AnimationSampler] = []
        channels: list[gl.AnimationChannel] = []

        def sampler(output: int) -> int:
            samplers.append(gl.AnimationSampler(input=time_accessor, output=output, interpolation="LINEAR"))
            return len(samplers) - 1

        if morphed:
            weights = np.ascontiguousarray(values[:, :N_SHAPES], dtype=np.float32).reshape(-1)
            shared = sampler(self.accessor(weights, gl.SCALAR))  # one sampler drives every mesh
            for node in morphed:
                channels.append(
                    gl.AnimationChannel(
                        sampler=shared, target=gl.AnimationChannelTarget(node=node, path="weights")
                    )
                )
        for node, gnode in enumerate(self.doc.nodes):
            if gnode.name in _ROTATIONS:
                quats = _quaternions(values, _ROTATIONS[gnode.name])
                gnode.rotation = quats[0].astype(np.float64).tolist()
                output = sampler(self.accessor(quats, gl.VEC4))
                channels.append(
                    gl.AnimationChannel(
                        sampler=output, target=gl.AnimationChannelTarget(node=node, path="rotation")
                    )
                )
        self.doc.animations = [gl.Animation(name="clip", samplers=samplers, channels=channels)]

    def _add(self, accessor: gl.Accessor) -> int:
        self.doc.accessors.append(accessor)
        return len(self.doc.accessors) - 1

    @staticmethod
    def _bounds(accessor: gl.Accessor, array: np.ndarray) -> None:
        flat = array.reshape(len(array), -1)
        accessor.min = flat.min(axis=0).astype(np.float64).tolist()
        accessor.max = flat.max(axis=0).astype(np.float64).tolist()


def _normal_deltas(rig: BlendshapeRig, neutral_normals: np.ndarray) -> np.ndarray:
    """``(52, V, 3) float32``: each shape's change of vertex normals at weight 1 (0 when unchanged)."""
    out = np.zeros_like(rig.deltas)
    for k in range(N_SHAPES):
        if np.any(rig.deltas[k]):
            out[k] = _vertex_normals(rig.neutral + rig.deltas[k], rig.faces) - neutral_normals
    out[np.abs(out) < 1e-6] = 0.0  # float noise on vertices the shape leaves alone
    return out
