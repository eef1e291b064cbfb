"""Blendshape rigs from a folder of OBJ files: a neutral mesh plus one OBJ per shape.

Shape files are matched to ARKit by name through the studio's alias table (``eyeBlink_L``,
``EyeBlinkLeft``, split halves such as ICT's ``browInnerUp_L`` + ``_R`` are summed); files that
match no ARKit shape are ignored (reported), ARKit shapes without a file are zero (reported).

ICT-FaceKit is recognised by its ``vertex_indices.json`` and its material groups: the eyeballs
(vertex ranges from its README) rotate with the eye channels, and the translucent layers
(lacrimal fluid, eye blend, eye occlusion) are dropped because an opaque rasteriser would paint
them as grey shells over the eyes.

The first load parses the OBJs (~150 MB of text for ICT) and writes a compact npz cache; later
loads read only the cache. The cache goes under ``rigs/`` in the studio's one cache root
(:func:`studio.config.cache_dir`: ``STUDIO_CACHE_DIR``, default ``~/.cache/expression-studio``),
never into the rig's folder, which is an input (often read-only or shared). Its key is the
folder's path and its files' names, sizes and modification times, so editing any OBJ rebuilds it;
an unwritable cache root only costs the parse next time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from renderers.rig import N_SHAPES, BlendshapeRig, RigError, RigWarning, load_rig_npz, save_rig_npz
from studio.config import cache_dir
from studio.motion import ARKIT_BLENDSHAPES, arkit_alias

NEUTRAL_NAMES = ("neutral", "generic_neutral_mesh", "base", "basis")
# ICT-FaceKit face parts (0-based, end-exclusive) from its README's geometry table
ICT_EYES = ((21451, 23021), (23021, 24591))  # left, right
ICT_OPAQUE_MATERIALS = {
    "M_Face": (0.86, 0.67, 0.56), "M_BackHead": (0.86, 0.67, 0.56), "M_GumsTongue": (0.72, 0.36, 0.36),
    "M_Teeth": (0.95, 0.94, 0.88), "M_ScleraLeft": (0.95, 0.94, 0.91), "M_ScleraRight": (0.95, 0.94, 0.91),
    "M_IrisLeft": (0.22, 0.46, 0.55), "M_IrisRight": (0.22, 0.46, 0.55),
}  # fmt: skip
GENERIC_COLOR = (0.86, 0.67, 0.56)
CACHE_VERSION = "2"


def parse_obj(path: Path, want_faces: bool) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Vertices ``(V, 3) float32`` and, if asked, triangulated faces per material group.

    Polygons are fanned into triangles; texture/normal indices are ignored; 1-based and negative
    OBJ indices are both handled.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RigError(f"{path}: {exc}") from None
    lines = data.split(b"\n")
    v_lines = [ln[2:] for ln in lines if ln.startswith(b"v ")]
    if not v_lines:
        raise RigError(f"{path}: no vertices")
    try:
        coords = np.array(b" ".join(v_lines).split(), dtype=np.float64)
        vertices = coords.reshape(len(v_lines), -1)[:, :3].astype(np.float32)
    except ValueError:
        raise RigError(f"{path}: malformed vertex lines") from None
    groups: list[tuple[str, np.ndarray]] = []
    if want_faces:
        current, tris = "", []
        for ln in lines:
            if ln.startswith(b"usemtl"):
                if tris:
                    groups.append((current, np.array(tris, np.int64)))
                current, tris = ln.split()[1].decode(errors="replace"), []
            elif ln.startswith(b"f "):
                idx = [int(tok.split(b"/")[0]) for tok in ln.split()[1:]]
                idx = [i - 1 if i > 0 else len(vertices) + i for i in idx]
                tris += [(idx[0], idx[k], idx[k + 1]) for k in range(1, len(idx) - 1)]
        if tris:
            groups.append((current, np.array(tris, np.int64)))
    return vertices, groups


def _folder_key(folder: Path) -> str:
    h = hashlib.sha256(CACHE_VERSION.encode())
    h.update(str(folder.resolve()).encode())  # one cache root serves every rig folder
    for entry in sorted(folder.iterdir()):
        if entry.suffix.lower() in (".obj", ".json"):
            st = entry.stat()
            h.update(f"{entry.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _cache_path(folder: Path, key: str) -> Path:
    return cache_dir() / "rigs" / f"{folder.name}-{key}.npz"


def load_obj_rig(folder: str | Path, *, use_cache: bool = True) -> BlendshapeRig:
    """Load (and cache) the rig in ``folder``; see the module docstring for the rules."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RigError(f"{folder}: not a folder")
    cached = _cache_path(folder, _folder_key(folder))
    if use_cache and cached.is_file():
        try:
            return load_rig_npz(cached)
        except RigError:
            pass  # a stale or partial cache: rebuild below
    rig = build_obj_rig(folder)
    if use_cache:
        tmp = cached.with_suffix(f".{os.getpid()}.tmp.npz")  # two processes never share a temp file
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            save_rig_npz(rig, tmp, compress=False)
            tmp.replace(cached)  # atomic: a crash never leaves half a cache
        except OSError:  # an unwritable or full cache root: the next load parses again
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    return rig


def build_obj_rig(folder: Path) -> BlendshapeRig:
    """Parse the OBJs of ``folder`` into a rig (no cache)."""
    objs = {p.stem: p for p in sorted(folder.glob("*.obj"))}
    neutral_name = next((n for n in objs if n.lower() in NEUTRAL_NAMES), None)
    if neutral_name is None:
        raise RigError(f"{folder}: no neutral mesh (expected one of {', '.join(NEUTRAL_NAMES)}.obj)")
    neutral, groups = parse_obj(objs.pop(neutral_name), want_faces=True)
    n = len(neutral)
    is_ict = (folder / "vertex_indices.json").is_file() and n == 26719
    deltas = np.zeros((N_SHAPES, n, 3), np.float32)
    fed: dict[int, int] = {}
    ignored: list[str] = []
    for name, path in objs.items():
        hit = arkit_alias(name)
        if hit is None or hit[0] >= N_SHAPES:
            ignored.append(name)
            continue
        target, _ = parse_obj(path, want_faces=False)
        if target.shape != neutral.shape:
            raise RigError(f"{path}: {len(target)} vertices, the neutral has {n}")
        deltas[hit[0]] += target - neutral  # halves of a split shape add up
        fed[hit[0]] = fed.get(hit[0], 0) + 1
    missing = tuple(ARKIT_BLENDSHAPES[k] for k in range(N_SHAPES) if k not in fed)
    if missing:
        warnings.warn(
            f"rig {folder.name}: no target for {', '.join(missing)} (they will not move)",
            RigWarning,
            stacklevel=2,
        )
    if ignored:
        warnings.warn(
            f"rig {folder.name}: ignored non-ARKit shapes {', '.join(ignored)}", RigWarning, stacklevel=2
        )

    keep_faces, colors = [], np.tile(np.array(GENERIC_COLOR, np.float32), (n, 1))
    for material, tris in groups:
        if is_ict and material not in ICT_OPAQUE_MATERIALS:
            continue  # translucent layers
        keep_faces.append(tris)
        color = ICT_OPAQUE_MATERIALS.get(material, GENERIC_COLOR)
        colors[np.unique(tris)] = color
    faces = np.concatenate(keep_faces) if keep_faces else np.zeros((0, 3), np.int64)
    if is_ict:
        eyes = tuple(np.arange(a, b) for a, b in ICT_EYES)
        pivots = np.stack([_sphere_center(neutral[e]) for e in eyes])
        for e, pivot in zip(eyes, pivots, strict=True):
            _paint_pupil(neutral, colors, e, pivot)
    else:
        eyes = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        pivots = np.zeros((2, 3), np.float32)
    # compact: drop vertices no kept face uses (ICT's translucent layers), renumber
    used = np.unique(faces)
    remap = np.full(n, -1, np.int64)
    remap[used] = np.arange(len(used))
    eyes = tuple(remap[e][remap[e] >= 0] for e in eyes)
    face_part = neutral[used[np.isin(used, np.arange(0, 11248))]] if is_ict else neutral[used]
    lo, hi = face_part.min(axis=0), face_part.max(axis=0)
    center = (lo + hi) / 2
    radius = float(np.linalg.norm(hi - lo) / 2) * 0.78
    center[2] = hi[2] - radius * 0.85  # frame the face, not the back of the skull
    return BlendshapeRig(
        name=folder.name,
        neutral=neutral[used],
        faces=remap[faces].astype(np.int32),
        colors=colors[used],
        deltas=deltas[:, used],
        eye_vertices=eyes,  # type: ignore[arg-type]
        eye_pivots=pivots.astype(np.float32),
        head_pivot=np.array([center[0], lo[1], center[2] - radius * 0.3], np.float32),
        frame_center=center.astype(np.float32),
        frame_radius=radius,
        unit="cm" if is_ict else "unit",
        missing=missing,
        extras={"source": np.array(json.dumps({"folder": str(folder), "ict": is_ict}))},
    )


def _sphere_center(points: np.ndarray) -> np.ndarray:
    """Least-squares sphere centre of ``(N, 3)`` points (the eyeball pivot)."""
    a = np.c_[2 * points, np.ones(len(points))]
    b = (points**2).sum(axis=1)
    sol, *_ = np.linalg.lstsq(a.astype(np.float64), b.astype(np.float64), rcond=None)
    return sol[:3].astype(np.float32)


def _paint_pupil(verts: np.ndarray, colors: np.ndarray, eye: np.ndarray, pivot: np.ndarray) -> None:
    """Darken the front cap of an eyeball: ICT's iris material has no pupil colour of its own."""
    d = verts[eye] - pivot
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    colors[eye[d[:, 2] > np.cos(0.22)]] = (0.03, 0.03, 0.04)
