"""Geometric error of ARKit clips against ground truth, through a rig (EmoteGPT's L1 vertex error).

EmoteGPT reports L1 vertex error over FLAME's head, face and lip regions. For ARKit models both
clips are evaluated through one :class:`~renderers.BlendshapeRig` and compared vertex by
vertex::

    error_region = mean over frames t, vertices v in region, axes x/y/z of |P_gen[t,v] − P_gt[t,v]|

in millimetres (the rig's ``unit`` converted; a rig without a known unit needs ``unit_mm``).
That is the element-wise L1 (mean absolute coordinate difference), not the per-vertex Euclidean
distance; both clips are read at the same rate and the longer one is cut to the shorter.

Region masks are defined per rig. A rig may carry them as extras ``region_head``,
``region_face``, ``region_lip`` (``(V,)`` bool). Otherwise they are derived from the rig's own
blendshapes, which makes them meaningful for any ARKit rig:

* **head**: every vertex of the mesh (skin, eyes, mouth interior);
* **face**: every vertex some blendshape moves by more than :data:`FACE_FRACTION` of the largest
  displacement any shape makes (the expressive surface: brows to chin, lids, cheeks, lips;
  the eyeballs turn by rotation channels, not shapes, so they count in head only);
* **lip**: every vertex that one of the lip-only shapes (:data:`LIP_SHAPES`: funnel, pucker,
  rolls, close, press) moves by more than :data:`LIP_FRACTION` of that shape's own largest
  displacement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import scipy.sparse

from renderers import BlendshapeRig
from studio.errors import StudioError
from studio.motion import ARKIT_BLENDSHAPES, MotionClip

REGIONS = ("head", "face", "lip")
FACE_FRACTION = 0.01  # 1 %: 5 % left cheek and chin holes in the default rig (checked by rendering)
LIP_FRACTION = 0.3
LIP_SHAPES = (
    "mouthFunnel",
    "mouthPucker",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthClose",
    "mouthPressLeft",
    "mouthPressRight",
)
UNIT_MM: Mapping[str, float] = MappingProxyType({"mm": 1.0, "cm": 10.0, "dm": 100.0, "m": 1000.0})


class GeometryError(StudioError, ValueError):
    """A rig or a pair of clips cannot be compared (unknown unit, empty region, wrong shapes)."""


def sparse_twin(rig: BlendshapeRig) -> BlendshapeRig:
    """A copy of ``rig`` that poses with a sparse delta matrix: the same vertices, ~8x fewer flops.

    Most ARKit shapes move a small part of the head (the default rig: 12 % of the shape-vertex
    pairs are non-zero), and the vertex error poses every frame of two clips, so the dense
    ``(52, 3V)`` product dominated the benchmark's scoring time. ``tests/evaluations`` checks the
    twin against ``rig.evaluate``.
    """
    cached = _TWINS.get(id(rig))
    if cached is not None and cached[0] is rig:
        return cached[1]
    twin = dataclasses.replace(rig)
    object.__setattr__(twin, "_delta_matrix", _SparseDeltas(rig.deltas.reshape(len(rig.deltas), -1)))
    _TWINS[id(rig)] = (rig, twin)
    return twin


class _SparseDeltas:
    """``weights (t, 52) @ this`` -> ``(t, 3V)`` C-ordered, through a CSR matrix.

    scipy returns the product in Fortran order; the rig's later per-frame rotations on such an
    array ran ~5x slower than on a C-ordered one, so the result is made contiguous here.
    """

    __array_ufunc__ = None  # makes ``ndarray @ self`` defer to __rmatmul__

    def __init__(self, dense: np.ndarray) -> None:
        self.matrix = scipy.sparse.csr_array(dense)

    def __rmatmul__(self, weights: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(weights @ self.matrix)


_TWINS: dict[int, tuple[BlendshapeRig, BlendshapeRig]] = {}


def region_masks(rig: BlendshapeRig) -> dict[str, np.ndarray]:
    """``{"head", "face", "lip"}`` -> ``(V,) bool`` masks for ``rig`` (explicit extras win)."""
    displacement = np.linalg.norm(rig.deltas, axis=2)  # (52, V), rig units
    masks = {"head": np.ones(rig.n_vertices, bool)}
    largest = float(displacement.max())
    masks["face"] = (
        displacement.max(0) > FACE_FRACTION * largest if largest > 0 else np.zeros(rig.n_vertices, bool)
    )
    lip = np.zeros(rig.n_vertices, bool)
    for name in LIP_SHAPES:
        d = displacement[ARKIT_BLENDSHAPES.index(name)]
        if d.max() > 0:
            lip |= d > LIP_FRACTION * d.max()
    masks["lip"] = lip
    for name in REGIONS:
        explicit = rig.extras.get(f"region_{name}")
        if explicit is not None:
            explicit = np.asarray(explicit).astype(bool).reshape(-1)
            if explicit.shape != (rig.n_vertices,):
                raise GeometryError(f"rig {rig.name!r}: region_{name} must be ({rig.n_vertices},) bool")
            masks[name] = explicit
    for name, mask in masks.items():
        if not mask.any():
            raise GeometryError(
                f"rig {rig.name!r}: the {name} region is empty (the rig lacks the shapes that "
                "define it; give it a region_{name} extra)"
            )
    return masks


def mm_per_unit(rig: BlendshapeRig, unit_mm: float | None = None) -> float:
    """Millimetres per rig unit: ``unit_mm`` when given, else from ``rig.unit`` (mm, cm, dm, m)."""
    if unit_mm is not None:
        if not unit_mm > 0:
            raise GeometryError(f"unit_mm must be positive, got {unit_mm}")
        return float(unit_mm)
    if rig.unit not in UNIT_MM:
        raise GeometryError(f"rig {rig.name!r} has unit {rig.unit!r}; say how many millimetres one unit is")
    return UNIT_MM[rig.unit]


@dataclass(frozen=True)
class VertexErrors:
    """Per-region L1 vertex error of one clip pair, in mm, and the frames compared."""

    per_region_mm: Mapping[str, float]
    n_frames: int


def vertex_l1_errors(
    rig: BlendshapeRig,
    generated: MotionClip | np.ndarray,
    ground_truth: MotionClip | np.ndarray,
    masks: Mapping[str, np.ndarray] | None = None,
    *,
    unit_mm: float | None = None,
    chunk: int = 32,
) -> VertexErrors:
    """L1 vertex error (mm) of ``generated`` against ``ground_truth`` over each region.

    Args:
        rig: the ARKit rig both clips drive.
        generated, ground_truth: clips at the same rate, or ``(T, 61)`` ARKit arrays (the same
            rate assumed); the longer is cut to the shorter.
        masks: region -> ``(V,) bool`` (default :func:`region_masks`).
        unit_mm: millimetres per rig unit when the rig's unit is not mm/cm/dm/m.
        chunk: frames posed at once (memory: ``2 * chunk * V * 12`` bytes).
    """
    scale = mm_per_unit(rig, unit_mm)
    masks = region_masks(rig) if masks is None else masks
    both_clips = isinstance(generated, MotionClip) and isinstance(ground_truth, MotionClip)
    if both_clips and abs(generated.fps - ground_truth.fps) > 1e-6:  # type: ignore[union-attr]
        raise GeometryError(
            f"clips at different rates ({generated.fps:g} vs {ground_truth.fps:g} fps); resample one first"  # type: ignore[union-attr]
        )
    gen = rig.check_values(generated)
    gt = rig.check_values(ground_truth)
    n = min(len(gen), len(gt))
    if n == 0:
        raise GeometryError("a clip has no frames")
    gen, gt = gen[:n], gt[:n]
    posing = sparse_twin(rig)
    sums = dict.fromkeys(masks, 0.0)
    for start in range(0, n, chunk):
        diff = np.abs(
            posing.evaluate(gen[start : start + chunk]) - posing.evaluate(gt[start : start + chunk])
        )
        per_vertex = diff.sum(axis=(0, 2))  # (V,): summed over frames and axes
        for name, mask in masks.items():
            sums[name] += float(per_vertex[mask].sum())
    errors = {name: scale * sums[name] / (n * 3 * int(mask.sum())) for name, mask in masks.items()}
    return VertexErrors(errors, n)


def batch_vertex_l1(
    rig: BlendshapeRig,
    generated: Sequence[np.ndarray],
    ground_truth: Sequence[np.ndarray],
    *,
    unit_mm: float | None = None,
) -> dict[str, np.ndarray]:
    """Per-pair errors for many clip pairs: region -> ``(N,)`` mm; also ``"frames"`` -> ``(N,)``."""
    if len(generated) != len(ground_truth):
        raise GeometryError(f"{len(generated)} generated clips but {len(ground_truth)} ground-truth clips")
    masks = region_masks(rig)
    out: dict[str, list[float]] = {name: [] for name in masks} | {"frames": []}
    for gen, gt in zip(generated, ground_truth, strict=True):
        errors = vertex_l1_errors(rig, gen, gt, masks, unit_mm=unit_mm)
        for name, value in errors.per_region_mm.items():
            out[name].append(value)
        out["frames"].append(errors.n_frames)
    return {name: np.asarray(values, np.float64) for name, values in out.items()}
