"""Blendshape rigs: an ARKit clip in, posed vertices ``(T, V, 3)`` out.

A :class:`BlendshapeRig` holds a neutral mesh, one displacement field per ARKit blendshape (in
:data:`~studio.motion.ARKIT_BLENDSHAPES` order; a shape the rig lacks is all zeros and listed
in ``missing``), the eyeball vertex groups with their pivots and the head pivot.

Evaluation, per frame ``t``::

    p = neutral + sum_k w[t, k] * deltas[k]                  # the 52 blendshapes
    eyeballs rotate about their pivots by (eye yaw, pitch)   # eyeLook* shapes move only lids
    everything rotates about the head pivot by (head yaw, pitch, roll)

Rotation channels are read as angles in :data:`ROTATION_UNIT_RAD` radians per unit.
Sign conventions (checked against real Live Link Face takes, where ``leftEyePitch`` rises with
``eyeLookDownLeft`` and ``leftEyeYaw`` with ``eyeLookInLeft``): positive pitch looks down,
positive yaw turns towards the character's right (-x), positive roll tilts the top of the head
towards the character's right.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.config import ASSETS_DIR
from studio.errors import StudioError
from studio.motion import (
    ARKIT_BLENDSHAPES,
    ARKIT_CHANNELS,
    ARKIT_INDEX,
    N_ARKIT,
    MotionClip,
    arkit_name_map,
)

N_SHAPES = len(ARKIT_BLENDSHAPES)  # 52
# Live Link Face stores eye and head rotations as plain numbers; in the real takes eye yaw
# spans about ±0.6 at the extremes of a range-of-motion take, i.e. ±34° if read as radians and
# an impossible ±108° if read as units of pi. Radians it is, for eyes and head alike.
ROTATION_UNIT_RAD = 1.0
# Real captures overshoot 1.0 a little (up to ~1.08); that is clamped without a warning.
BLENDSHAPE_TOLERANCE = 0.1
DEFAULT_RIG_PATH = ASSETS_DIR / "default_rig.npz"

_ROT = {name: ARKIT_INDEX[name] for name in ARKIT_CHANNELS[N_SHAPES:]}


class RigWarning(UserWarning):
    """Input a rig could use only after repair (clamped, NaN, unknown or missing channels)."""


class RigError(StudioError, ValueError):
    """A rig file or folder is malformed, or a clip cannot drive this rig."""


@dataclass(frozen=True, eq=False)
class BlendshapeRig:
    """A mesh with 52 ARKit blendshapes, two eyeballs and a head pivot.

    Shapes and units (lengths in the rig's own unit, ``unit``):

    * ``neutral``: ``(V, 3) float32`` rest positions; ``faces``: ``(F, 3) int32``.
    * ``colors``: ``(V, 3) float32`` sRGB albedo in ``[0, 1]``.
    * ``deltas``: ``(52, V, 3) float32`` displacement at weight 1, ARKit order.
    * ``eye_vertices``: two ``(n_i,) int64`` index arrays (left eye = character's left, +x).
    * ``eye_pivots``: ``(2, 3) float32`` eyeball centres; ``head_pivot``: ``(3,) float32``.
    * ``frame_center``/``frame_radius``: the sphere the studio cameras frame.
    * ``missing``: ARKit shapes this rig does not carry (they evaluate to no motion).
    """

    name: str
    neutral: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    deltas: np.ndarray
    eye_vertices: tuple[np.ndarray, np.ndarray]
    eye_pivots: np.ndarray
    head_pivot: np.ndarray
    frame_center: np.ndarray
    frame_radius: float
    unit: str = "unit"
    missing: tuple[str, ...] = ()
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        v = self.neutral.shape[0]
        faces, eyes = self.faces, self.eye_vertices
        checks = [
            (self.neutral.shape == (v, 3), f"neutral must be (V, 3), got {self.neutral.shape}"),
            (faces.ndim == 2 and faces.shape[1:] == (3,), f"faces must be (F, 3), not {faces.shape}"),
            (self.colors.shape == (v, 3), f"colors must be ({v}, 3), got {self.colors.shape}"),
            (self.deltas.shape == (N_SHAPES, v, 3), f"deltas must be (52, {v}, 3), not {self.deltas.shape}"),
            (self.eye_pivots.shape == (2, 3), "eye_pivots must be (2, 3)"),
            (self.head_pivot.shape == (3,), "head_pivot must be (3,)"),
            (faces.size == 0 or (faces.min() >= 0 and faces.max() < v), "faces out of range"),
            (all(e.size == 0 or (e.min() >= 0 and e.max() < v) for e in eyes), "eye index out of range"),
            (bool(np.isfinite(self.neutral).all() and np.isfinite(self.deltas).all()), "non-finite geometry"),
        ]
        for ok, message in checks:
            if not ok:
                raise RigError(f"rig {self.name!r}: {message}")
        # (52, V*3) view for one matrix product per chunk of frames
        object.__setattr__(self, "_delta_matrix", self.deltas.reshape(N_SHAPES, -1))

    @property
    def n_vertices(self) -> int:
        return int(self.neutral.shape[0])

    @property
    def n_faces(self) -> int:
        return int(self.faces.shape[0])

    # -- evaluation --------------------------------------------------------------------------

    def evaluate(self, clip: MotionClip | np.ndarray) -> np.ndarray:
        """Pose every frame: ``(T, 61)`` ARKit values (or a clip) -> ``(T, V, 3) float32``.

        Memory is ``T * V * 12`` bytes; for long clips on big rigs use :meth:`iter_evaluate`.
        """
        values = self.check_values(clip)
        return self._pose(values)

    def iter_evaluate(self, clip: MotionClip | np.ndarray, chunk: int = 64) -> Iterator[np.ndarray]:
        """Pose a clip in chunks of at most ``chunk`` frames: yields ``(t, V, 3) float32``."""
        values = self.check_values(clip)
        for start in range(0, len(values), chunk):
            yield self._pose(values[start : start + chunk])

    def check_values(self, clip: MotionClip | np.ndarray) -> np.ndarray:
        """Validate and repair the input: ``(T, 61) float32``, clamped, with warnings.

        NaN/inf become 0; blendshapes are clamped to ``[0, 1]`` (warning beyond the
        tolerance real captures need); rotations wrap into one turn.
        """
        if isinstance(clip, MotionClip):
            if clip.space != "arkit":
                raise RigError(f"rig {self.name!r} is an ARKit rig; this clip is in {clip.space!r} space")
            values = np.array(clip.values, np.float32)
        else:
            values = np.array(clip, np.float32)
            if values.ndim == 1:
                values = values[None]
            if values.ndim != 2 or values.shape[1] != N_ARKIT:
                raise RigError(f"expected (T, {N_ARKIT}) ARKit values, got shape {values.shape}")
        bad = ~np.isfinite(values)
        if bad.any():
            columns = sorted({ARKIT_CHANNELS[c] for c in np.nonzero(bad.any(axis=0))[0]})
            warnings.warn(
                f"{int(bad.sum())} non-finite values set to 0 in {', '.join(columns[:5])}",
                RigWarning,
                stacklevel=3,
            )
            values[bad] = 0.0
        shapes = values[:, :N_SHAPES]
        far = (shapes < -BLENDSHAPE_TOLERANCE) | (shapes > 1 + BLENDSHAPE_TOLERANCE)
        if far.any():
            columns = sorted({ARKIT_BLENDSHAPES[c] for c in np.nonzero(far.any(axis=0))[0]})
            warnings.warn(
                f"{int(far.sum())} blendshape values outside [0, 1] clamped "
                f"(range {shapes.min():.3g}..{shapes.max():.3g}; {', '.join(columns[:5])})",
                RigWarning,
                stacklevel=3,
            )
        np.clip(shapes, 0.0, 1.0, out=shapes)
        rot = values[:, N_SHAPES:]
        period = 2 * np.pi / ROTATION_UNIT_RAD
        values[:, N_SHAPES:] = (rot + period / 2) % period - period / 2
        return values

    def _pose(self, values: np.ndarray) -> np.ndarray:
        t = values.shape[0]
        verts = (values[:, :N_SHAPES] @ self._delta_matrix).reshape(t, -1, 3)  # type: ignore[attr-defined]
        verts += self.neutral
        for eye, (yaw_ch, pitch_ch, roll_ch) in enumerate(
            (("leftEyeYaw", "leftEyePitch", "leftEyeRoll"), ("rightEyeYaw", "rightEyePitch", "rightEyeRoll"))
        ):
            index = self.eye_vertices[eye]
            angles = values[:, [_ROT[yaw_ch], _ROT[pitch_ch], _ROT[roll_ch]]]
            if index.size == 0 or not np.any(angles):
                continue  # skipping also keeps the neutral bit-exact
            rot = rotation_matrices(
                values[:, _ROT[yaw_ch]], values[:, _ROT[pitch_ch]], values[:, _ROT[roll_ch]]
            )
            pivot = self.eye_pivots[eye]
            verts[:, index] = (verts[:, index] - pivot) @ rot.transpose(0, 2, 1) + pivot
        head = values[:, [_ROT["headYaw"], _ROT["headPitch"], _ROT["headRoll"]]]
        if np.any(head):
            rot = rotation_matrices(head[:, 0], head[:, 1], head[:, 2])
            verts = (verts - self.head_pivot) @ rot.transpose(0, 2, 1) + self.head_pivot
        return verts.astype(np.float32, copy=False)

    # -- name matching for arrays from elsewhere ---------------------------------------------

    def values_from_named(self, values: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """Columns in any ARKit spelling -> ``(T, 61)``; unknown names are reported, not used."""
        name_map = arkit_name_map(list(names))
        if name_map.unknown:
            warnings.warn(
                f"unknown channels ignored: {', '.join(name_map.unknown[:8])}", RigWarning, stacklevel=2
            )
        return name_map.apply(np.nan_to_num(np.asarray(values, np.float64)))

    # -- (de)serialisation -------------------------------------------------------------------

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for ``np.savez`` (no objects, so loading never needs pickle).

        Deltas are stored sparsely (each shape's moving vertices, float32): most shapes are
        local, which keeps the default rig well under 5 MB.
        """
        moving = np.abs(self.deltas).max(axis=2) > 0  # (52, V)
        shape_ptr = np.concatenate([[0], np.cumsum(moving.sum(axis=1))]).astype(np.int64)
        shape_index = np.concatenate([np.nonzero(m)[0] for m in moving]).astype(np.int32)
        shape_delta = np.concatenate([self.deltas[k][moving[k]] for k in range(N_SHAPES)]).astype(np.float32)
        arrays = {
            "format": np.array("studio-blendshape-rig-1"),
            "name": np.array(self.name),
            "unit": np.array(self.unit),
            "neutral": self.neutral.astype(np.float32),
            "faces": self.faces.astype(np.int32),
            "colors": np.round(self.colors * 255).astype(np.uint8),
            "shape_names": np.array(ARKIT_BLENDSHAPES),
            "shape_ptr": shape_ptr,
            "shape_index": shape_index,
            "shape_delta": shape_delta,
            "eye_left": self.eye_vertices[0].astype(np.int32),
            "eye_right": self.eye_vertices[1].astype(np.int32),
            "eye_pivots": self.eye_pivots.astype(np.float32),
            "head_pivot": self.head_pivot.astype(np.float32),
            "frame_center": self.frame_center.astype(np.float32),
            "frame_radius": np.float32(self.frame_radius),
            "missing": np.array(self.missing, dtype=str),
        }
        arrays.update({f"extra_{k}": v for k, v in self.extras.items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray] | np.lib.npyio.NpzFile) -> BlendshapeRig:
        """Inverse of :meth:`to_arrays`; raises :class:`RigError` for a malformed file."""
        try:
            if str(arrays["format"]) != "studio-blendshape-rig-1":
                raise RigError(f"unknown rig format {str(arrays['format'])!r}")
            neutral = np.asarray(arrays["neutral"], np.float32)
            names = [str(n) for n in arrays["shape_names"]]
            if names != list(ARKIT_BLENDSHAPES):
                raise RigError("rig shapes are not the 52 ARKit blendshapes in order")
            ptr, index, delta = arrays["shape_ptr"], arrays["shape_index"], arrays["shape_delta"]
            if len(ptr) != N_SHAPES + 1 or ptr[-1] != len(index) or len(index) != len(delta):
                raise RigError("inconsistent sparse shape arrays")
            deltas = np.zeros((N_SHAPES, len(neutral), 3), np.float32)
            for k in range(N_SHAPES):
                deltas[k, index[ptr[k] : ptr[k + 1]]] = delta[ptr[k] : ptr[k + 1]]
            extras = {k[6:]: np.asarray(arrays[k]) for k in arrays.keys() if k.startswith("extra_")}  # noqa: SIM118
            return cls(
                name=str(arrays["name"]),
                neutral=neutral,
                faces=np.asarray(arrays["faces"], np.int32),
                colors=np.asarray(arrays["colors"], np.float32) / 255.0,
                deltas=deltas,
                eye_vertices=(
                    np.asarray(arrays["eye_left"], np.int64),
                    np.asarray(arrays["eye_right"], np.int64),
                ),
                eye_pivots=np.asarray(arrays["eye_pivots"], np.float32),
                head_pivot=np.asarray(arrays["head_pivot"], np.float32),
                frame_center=np.asarray(arrays["frame_center"], np.float32),
                frame_radius=float(arrays["frame_radius"]),
                unit=str(arrays["unit"]),
                missing=tuple(str(m) for m in arrays["missing"]),
                extras=extras,
            )
        except KeyError as exc:
            raise RigError(f"rig file lacks the array {exc.args[0]!r}") from None
        except (IndexError, ValueError) as exc:
            if isinstance(exc, RigError):
                raise
            raise RigError(f"malformed rig arrays: {exc}") from None


def rotation_matrices(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """``(T,)`` ARKit yaw/pitch/roll (in :data:`ROTATION_UNIT_RAD`) -> ``(T, 3, 3)`` matrices.

    Applied as roll, then pitch, then yaw (``R = Ry @ Rx @ Rz``, the head's natural order:
    turning the head does not change what "looking down" means). See the module docstring
    for the signs.
    """
    y = -np.asarray(yaw, np.float64) * ROTATION_UNIT_RAD  # +yaw turns towards -x
    p = np.asarray(pitch, np.float64) * ROTATION_UNIT_RAD  # +pitch about +x looks down
    r = -np.asarray(roll, np.float64) * ROTATION_UNIT_RAD
    cy, sy, cp, sp, cr, sr = np.cos(y), np.sin(y), np.cos(p), np.sin(p), np.cos(r), np.sin(r)
    one, zero = np.ones_like(y), np.zeros_like(y)
    ry = np.stack(
        [np.stack([cy, zero, sy], -1), np.stack([zero, one, zero], -1), np.stack([-sy, zero, cy], -1)], -2
    )
    rx = np.stack(
        [np.stack([one, zero, zero], -1), np.stack([zero, cp, -sp], -1), np.stack([zero, sp, cp], -1)], -2
    )
    rz = np.stack(
        [np.stack([cr, -sr, zero], -1), np.stack([sr, cr, zero], -1), np.stack([zero, zero, one], -1)], -2
    )
    return (ry @ rx @ rz).astype(np.float32)


def load_rig_npz(path: str | Path) -> BlendshapeRig:
    """Read a rig written by :func:`save_rig_npz` (never unpickles: ``allow_pickle=False``)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return BlendshapeRig.from_arrays(data)
    except (OSError, ValueError) as exc:
        if isinstance(exc, RigError):
            raise RigError(f"{path}: {exc}") from None
        raise RigError(f"{path}: cannot read rig ({exc})") from None


def save_rig_npz(rig: BlendshapeRig, path: str | Path, *, compress: bool = True) -> None:
    """Write ``rig`` as a plain-array npz (compressed by default)."""
    (np.savez_compressed if compress else np.savez)(path, **rig.to_arrays())


def load_default_rig() -> BlendshapeRig:
    """The studio's own stylised head (``assets/default_rig.npz``, built by
    ``scripts/build_default_rig.py``)."""
    if not DEFAULT_RIG_PATH.is_file():
        raise RigError(f"{DEFAULT_RIG_PATH} is missing; run: python scripts/build_default_rig.py")
    return load_rig_npz(DEFAULT_RIG_PATH)
