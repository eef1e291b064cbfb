"""MotionClip, the one container every part of the studio passes around, and its channel specs.

Two channel spaces exist:

* ``"arkit"`` — always the 61 channels of :data:`ARKIT_CHANNELS` in Live Link Face CSV order:
  52 blendshapes (unitless weights, nominally ``[0, 1]``) then 9 rotations (head and eyes,
  radians; real captures stay within about ``[-1, 1]``: eye yaw reaches ~0.6 rad = 34°).
  Files spell the names many ways; they are mapped to this order *by name* through
  :func:`arkit_name_map`, never by position.
* ``"flame"`` — a FLAME layout (:class:`FlameLayout`): ``expr_000..`` expression coefficients,
  the jaw pose as axis-angle (``jaw_x/y/z``, radians) or 6D (``jaw6d_0..5``, the first two rows
  of the rotation matrix, as pytorch3d writes them), and optional global, neck and eye poses
  (axis-angle, radians). A single-frame clip is a static expression (EmoteGPT).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from studio.errors import StudioError

Space = Literal["arkit", "flame"]
SPACES: tuple[Space, ...] = ("arkit", "flame")
MAX_FPS = 1000.0  # the highest frame rate a clip may have
# The rate every built-in model writes and the stage renders at; clips at other rates are resampled.
OUTPUT_FPS = 30.0

# --------------------------------------------------------------------------------------------
# ARKit
# --------------------------------------------------------------------------------------------

ARKIT_BLENDSHAPES: tuple[str, ...] = (
    "eyeBlinkLeft",
    "eyeLookDownLeft",
    "eyeLookInLeft",
    "eyeLookOutLeft",
    "eyeLookUpLeft",
    "eyeSquintLeft",
    "eyeWideLeft",
    "eyeBlinkRight",
    "eyeLookDownRight",
    "eyeLookInRight",
    "eyeLookOutRight",
    "eyeLookUpRight",
    "eyeSquintRight",
    "eyeWideRight",
    "jawForward",
    "jawRight",
    "jawLeft",
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthRight",
    "mouthLeft",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "noseSneerLeft",
    "noseSneerRight",
    "tongueOut",
)
ARKIT_ROTATIONS: tuple[str, ...] = (
    "headYaw",
    "headPitch",
    "headRoll",
    "leftEyeYaw",
    "leftEyePitch",
    "leftEyeRoll",
    "rightEyeYaw",
    "rightEyePitch",
    "rightEyeRoll",
)
ARKIT_CHANNELS: tuple[str, ...] = ARKIT_BLENDSHAPES + ARKIT_ROTATIONS
N_ARKIT = len(ARKIT_CHANNELS)  # 61
ARKIT_INDEX: Mapping[str, int] = MappingProxyType({n: i for i, n in enumerate(ARKIT_CHANNELS)})

# Nominal ranges (what a well-behaved capture stays within) and hard limits (beyond which a
# value is garbage rather than an enthusiastic capture: real takes reach ~1.08 on blendshapes).
BLENDSHAPE_RANGE = (0.0, 1.0)
ROTATION_RANGE = (-1.0, 1.0)
BLENDSHAPE_HARD_LIMIT = (-1.0, 2.0)
ROTATION_HARD_LIMIT = (-4.0, 4.0)
# ARKit rotation channels are angles in radians: interpolation wraps them with period 2 pi.
ARKIT_ROTATION_PERIOD = 2 * np.pi


def arkit_limits() -> tuple[np.ndarray, np.ndarray]:
    """Hard per-channel limits ``(low, high)``, each ``(61,) float32`` in ARKit order."""
    n_bs = len(ARKIT_BLENDSHAPES)
    low = np.array([BLENDSHAPE_HARD_LIMIT[0]] * n_bs + [ROTATION_HARD_LIMIT[0]] * 9, np.float32)
    high = np.array([BLENDSHAPE_HARD_LIMIT[1]] * n_bs + [ROTATION_HARD_LIMIT[1]] * 9, np.float32)
    return low, high


def arkit_out_of_range(values: np.ndarray) -> tuple[int, int] | None:
    """First ``(frame, channel)`` of ``values (T, 61)`` beyond the hard limits, or ``None``."""
    low, high = arkit_limits()
    bad = np.argwhere((values < low) | (values > high))
    return (int(bad[0][0]), int(bad[0][1])) if len(bad) else None


def _alias_key(name: str) -> str:
    """Case- and separator-insensitive lookup key: ``Eye_Blink-Left`` -> ``eyeblinkleft``."""
    return re.sub(r"[\s_.\-]", "", name).lower()


def _build_alias_table() -> dict[str, tuple[int, bool]]:
    """Alias key -> (canonical index, is_half). Halves (ICT's ``browInnerUp_L``) are summed."""
    table: dict[str, tuple[int, bool]] = {}
    for index, name in enumerate(ARKIT_CHANNELS):
        table[_alias_key(name)] = (index, False)
        for side, short in (("Left", "l"), ("Right", "r")):
            if name.endswith(side):  # eyeBlinkLeft <- eyeBlink_L, eyeBlink.L, eyeBlink_l
                table[_alias_key(name[: -len(side)]) + "_" + short] = (index, False)
    for name in (
        "browInnerUp",
        "cheekPuff",
        "mouthClose",
        "jawOpen",
        "mouthFunnel",
        "mouthPucker",
        "mouthRollLower",
        "mouthRollUpper",
        "mouthShrugLower",
        "mouthShrugUpper",
        "tongueOut",
        "jawForward",
    ):
        for short in ("l", "r"):  # some rigs split centre shapes into halves
            table[_alias_key(name) + "_" + short] = (ARKIT_INDEX[name], True)
    return table


_ARKIT_ALIASES = _build_alias_table()


def arkit_alias(name: str) -> tuple[int, bool] | None:
    """Resolve any known spelling of an ARKit channel.

    Returns ``(index into ARKIT_CHANNELS, is_half)`` or ``None`` for an unknown name.
    ``is_half`` marks one side of a split centre shape (ICT ``browInnerUp_L``); halves add up.
    """
    key = _alias_key(name)
    suffix = re.search(r"[_.\-\s]([LlRr])$", name)
    if suffix:  # keep the side marker distinct from a trailing "l" in the name itself
        key = _alias_key(name[: suffix.start()]) + "_" + suffix.group(1).lower()
    return _ARKIT_ALIASES.get(key)


@dataclass(frozen=True)
class NameMap:
    """How a file's columns map onto the 61 canonical ARKit channels.

    ``matrix`` is ``(K, 61) float32``: canonical values = source values ``(T, K)`` @ matrix, so
    split halves sum. ``missing`` lists canonical channels no column fed; ``unknown`` lists
    source names that matched nothing; ``duplicates`` lists canonical channels fed twice.
    """

    matrix: np.ndarray
    missing: tuple[str, ...]
    unknown: tuple[str, ...]
    duplicates: tuple[str, ...]

    def apply(self, values: np.ndarray) -> np.ndarray:
        """``(T, K)`` source values -> ``(T, 61) float32`` in canonical order.

        Values beyond float32 range become ±inf (without a warning): callers check the range.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            return (np.asarray(values, np.float64) @ self.matrix).astype(np.float32)


def arkit_name_map(names: Sequence[str]) -> NameMap:
    """Build the :class:`NameMap` for a file's column names (any spelling, any order)."""
    matrix = np.zeros((len(names), N_ARKIT), np.float32)
    fed: dict[int, list[bool]] = {}
    unknown: list[str] = []
    for column, name in enumerate(names):
        hit = arkit_alias(name)
        if hit is None:
            unknown.append(name)
            continue
        index, is_half = hit
        matrix[column, index] = 1.0
        fed.setdefault(index, []).append(is_half)
    missing = tuple(ARKIT_CHANNELS[i] for i in range(N_ARKIT) if i not in fed)
    duplicates = tuple(
        ARKIT_CHANNELS[i]
        for i, halves in fed.items()
        if (len(halves) > 1 and not all(halves)) or len(halves) > 2
    )
    return NameMap(matrix, missing, tuple(unknown), duplicates)


def livelink_name(channel: str) -> str:
    """Live Link Face spelling of a canonical ARKit channel: ``eyeBlinkLeft`` -> ``EyeBlinkLeft``."""
    return channel[0].upper() + channel[1:]


# --------------------------------------------------------------------------------------------
# FLAME
# --------------------------------------------------------------------------------------------

JawFormat = Literal["axis_angle", "6d"]
_FLAME_POSE_GROUPS = ("global", "neck", "jaw", "leye", "reye")
_FLAME_NAME = re.compile(r"^(expr_\d{3}|(global|neck|jaw|leye|reye)_[xyz]|jaw6d_[0-5])$")


@dataclass(frozen=True)
class FlameLayout:
    """Which FLAME parameters a clip carries, and the channel names that spell them.

    Order: expression, jaw, then the optional global, neck and eye poses.
    """

    n_expression: int = 50
    jaw: JawFormat | None = "axis_angle"
    global_pose: bool = False
    neck_pose: bool = False
    eye_pose: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.n_expression <= 300:  # FLAME 2020 has 300 expression components
            raise ValueError(f"n_expression must be in 1..300, got {self.n_expression}")
        if self.jaw not in (None, "axis_angle", "6d"):
            raise ValueError(f"jaw must be 'axis_angle', '6d' or None, got {self.jaw!r}")

    @property
    def channels(self) -> tuple[str, ...]:
        names = [f"expr_{i:03d}" for i in range(self.n_expression)]
        if self.jaw == "axis_angle":
            names += ["jaw_x", "jaw_y", "jaw_z"]
        elif self.jaw == "6d":
            names += [f"jaw6d_{i}" for i in range(6)]
        for flag, group in ((self.global_pose, "global"), (self.neck_pose, "neck")):
            if flag:
                names += [f"{group}_{a}" for a in "xyz"]
        if self.eye_pose:
            names += [f"{eye}_{a}" for eye in ("leye", "reye") for a in "xyz"]
        return tuple(names)

    @classmethod
    def from_channels(cls, channels: Sequence[str]) -> FlameLayout:
        """Recover the layout from channel names (any order); raises ``ValueError`` if invalid."""
        bad = [c for c in channels if not _FLAME_NAME.match(c)]
        if bad:
            raise ValueError(f"unknown FLAME channel names: {bad[:5]}")
        present = set(channels)
        n_expr = sum(c.startswith("expr_") for c in channels)
        if {f"expr_{i:03d}" for i in range(n_expr)} != {c for c in present if c[:5] == "expr_"}:
            raise ValueError("FLAME expression channels must be expr_000..expr_{n-1} without gaps")

        def group(prefix: str, size: int) -> bool:
            names = {f"{prefix}_{a}" for a in ("xyz" if size == 3 else "012345")}
            hit = names & present
            if hit and hit != names:
                raise ValueError(f"FLAME pose group {prefix!r} is incomplete: has {sorted(hit)}")
            return bool(hit)

        aa, six = group("jaw", 3), group("jaw6d", 6)
        if aa and six:
            raise ValueError("a FLAME clip carries the jaw as axis-angle or 6D, not both")
        leye, reye = group("leye", 3), group("reye", 3)
        if leye != reye:
            raise ValueError("FLAME eye pose needs both leye_* and reye_*")
        if not n_expr:
            raise ValueError("a FLAME clip needs expression channels (expr_000..)")
        return cls(
            n_expression=n_expr,
            jaw="axis_angle" if aa else "6d" if six else None,
            global_pose=group("global", 3),
            neck_pose=group("neck", 3),
            eye_pose=leye,
        )


def rotation_groups(channels: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Rotation channel groups of a FLAME clip: ``[("axis_angle"|"6d", [column indices])]``."""
    index = {c: i for i, c in enumerate(channels)}
    groups: list[tuple[str, list[int]]] = []
    for prefix in _FLAME_POSE_GROUPS:
        cols = [index.get(f"{prefix}_{a}") for a in "xyz"]
        if all(c is not None for c in cols):
            groups.append(("axis_angle", cols))  # type: ignore[arg-type]
    six = [index.get(f"jaw6d_{i}") for i in range(6)]
    if all(c is not None for c in six):
        groups.append(("6d", six))  # type: ignore[arg-type]
    return groups


def rotation_6d_to_matrix(d6: np.ndarray) -> np.ndarray:
    """``(..., 6)`` rows-first 6D rotations (Zhou et al.) -> ``(..., 3, 3)`` matrices."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = a1 / np.linalg.norm(a1, axis=-1, keepdims=True)
    b2 = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
    b2 = b2 / np.linalg.norm(b2, axis=-1, keepdims=True)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-2)


def matrix_to_rotation_6d(matrix: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` rotation matrices -> ``(..., 6)`` (first two rows)."""
    return matrix[..., :2, :].reshape(*matrix.shape[:-2], 6)


# --------------------------------------------------------------------------------------------
# MotionClip
# --------------------------------------------------------------------------------------------


# No resampled clip needs more frames than this (STUDIO_MAX_FRAMES tops out at 10 million too).
MAX_RESAMPLED_FRAMES = 10_000_000


class ClipError(StudioError, ValueError):
    """A MotionClip was built from values that break its contract."""


@dataclass(frozen=True, eq=False)
class MotionClip:
    """A facial motion: ``values (T, C) float32`` sampled at ``fps`` frames per second.

    ``space`` is ``"arkit"`` (channels are exactly :data:`ARKIT_CHANNELS`) or ``"flame"``
    (channels spell a :class:`FlameLayout`). ``meta`` carries provenance (source file, start
    timecode, prompt); it never changes what the values mean. The value array is read-only.
    """

    values: np.ndarray
    fps: float
    space: Space
    channels: tuple[str, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        with np.errstate(over="ignore", invalid="ignore"):  # beyond float32 range: inf, refused below
            values = np.array(self.values, dtype=np.float32, copy=True)
        if values.ndim != 2:
            raise ClipError(f"values must be 2-D (frames, channels), got shape {values.shape}")
        if values.shape[0] < 1:
            raise ClipError("a clip needs at least one frame")
        channels = tuple(self.channels)
        if values.shape[1] != len(channels):
            raise ClipError(f"values have {values.shape[1]} columns but {len(channels)} channels")
        if not np.all(np.isfinite(values)):
            frame, column = np.argwhere(~np.isfinite(values))[0]
            raise ClipError(f"non-finite value at frame {frame}, channel {channels[column]!r}")
        try:
            fps = float(self.fps)
        except (TypeError, ValueError, OverflowError):
            fps = float("nan")
        if not (np.isfinite(fps) and 0 < fps <= MAX_FPS):
            raise ClipError(f"fps must be in (0, {MAX_FPS:g}], got {self.fps}")
        if self.space == "arkit":
            if channels != ARKIT_CHANNELS:
                raise ClipError(
                    "an ARKit clip carries the 61 channels in Live Link order; "
                    "build it with MotionClip.from_named() to map names"
                )
        elif self.space == "flame":
            try:
                FlameLayout.from_channels(channels)
            except ValueError as exc:
                raise ClipError(str(exc)) from None
            if len(set(channels)) != len(channels):
                raise ClipError("duplicate FLAME channel names")
        else:
            raise ClipError(f"space must be 'arkit' or 'flame', got {self.space!r}")
        values.setflags(write=False)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "fps", fps)
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_named(
        cls,
        values: np.ndarray,
        names: Sequence[str],
        fps: float,
        space: Space = "arkit",
        *,
        allow_missing: bool = False,
        meta: Mapping[str, Any] | None = None,
    ) -> MotionClip:
        """Build a clip from columns in any order and any known spelling.

        ARKit columns are matched through the alias table (halves summed); missing channels
        raise ``ClipError`` unless ``allow_missing`` (they are then zero and listed in
        ``meta["missing_channels"]``). FLAME columns are reordered into layout order.
        """
        if space not in SPACES:  # an unknown space is an error, never read as ARKit
            raise ClipError(f"space must be 'arkit' or 'flame', got {space!r}")
        with np.errstate(over="ignore", invalid="ignore"):  # beyond float32 range: inf, refused later
            values = np.asarray(values, dtype=np.float32)
        meta = dict(meta or {})
        if values.ndim != 2 or values.shape[1] != len(names):
            raise ClipError(f"values shape {values.shape} does not match {len(names)} names")
        if space == "flame":
            try:
                layout = FlameLayout.from_channels(list(names))
            except ValueError as exc:  # e.g. more than 300 expression channels
                raise ClipError(str(exc)) from None
            order = [list(names).index(c) for c in layout.channels]
            return cls(values[:, order], fps, "flame", layout.channels, meta)
        name_map = arkit_name_map(names)
        if name_map.unknown:
            raise ClipError(f"unknown ARKit channel names: {list(name_map.unknown)[:5]}")
        if name_map.duplicates:
            raise ClipError(f"channels given twice: {list(name_map.duplicates)[:5]}")
        if name_map.missing:
            if not allow_missing:
                raise ClipError(f"missing ARKit channels: {list(name_map.missing)[:5]}")
            meta["missing_channels"] = list(name_map.missing)
        return cls(name_map.apply(values), fps, "arkit", ARKIT_CHANNELS, meta)

    @classmethod
    def zeros(
        cls, n_frames: int, fps: float, space: Space = "arkit", layout: FlameLayout | None = None
    ) -> MotionClip:
        """A neutral clip: all-zero ARKit weights, or the FLAME mean face with identity poses."""
        channels = ARKIT_CHANNELS if space == "arkit" else (layout or FlameLayout()).channels
        values = np.zeros((n_frames, len(channels)), np.float32)
        if space == "flame" and "jaw6d_0" in channels:  # identity rotation in 6D is [1,0,0,0,1,0]
            values[:, channels.index("jaw6d_0")] = 1.0
            values[:, channels.index("jaw6d_4")] = 1.0
        return cls(values, fps, space, channels)

    # -- views -------------------------------------------------------------------------------

    @property
    def n_frames(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.values.shape[1])

    @property
    def duration_s(self) -> float:
        """Length in seconds as a video would show it: ``n_frames / fps``."""
        return self.n_frames / self.fps

    @property
    def is_static(self) -> bool:
        """A single-frame clip is a static expression (EmoteGPT-style)."""
        return self.n_frames == 1

    @property
    def layout(self) -> FlameLayout | None:
        return FlameLayout.from_channels(self.channels) if self.space == "flame" else None

    def channel(self, name: str) -> np.ndarray:
        """``(T,)`` values of one channel; ARKit names may use any known spelling."""
        if self.space == "arkit":
            hit = arkit_alias(name)
            if hit is None:
                raise KeyError(name)
            return self.values[:, hit[0]]
        return self.values[:, self.channels.index(name)]

    def replace(self, **changes: Any) -> MotionClip:
        """A copy with some fields changed (validated again)."""
        fields = {
            "values": self.values,
            "fps": self.fps,
            "space": self.space,
            "channels": self.channels,
            "meta": dict(self.meta),
        }
        fields.update(changes)
        return MotionClip(**fields)

    def allclose(self, other: MotionClip, atol: float = 1e-6) -> bool:
        """Same space, channels, fps (to 1e-6 relative) and values (to ``atol``)."""
        return (
            self.space == other.space
            and self.channels == other.channels
            and self.values.shape == other.values.shape
            and abs(self.fps - other.fps) <= 1e-6 * max(self.fps, 1.0)
            and bool(np.allclose(self.values, other.values, atol=atol, rtol=0))
        )

    def __repr__(self) -> str:
        return (
            f"MotionClip(space={self.space!r}, frames={self.n_frames}, "
            f"channels={self.n_channels}, fps={self.fps:g})"
        )

    # -- resampling --------------------------------------------------------------------------

    def resample(self, fps: float) -> MotionClip:
        """Resample to ``fps``; rotations interpolate as angles, everything else linearly.

        Sample ``j`` of the result sits at ``t = j / fps`` seconds; the new length is
        ``round(T * fps / self.fps)``, so 60 -> 20 fps keeps every third frame exactly.
        ARKit rotations (radians) are unwrapped with period 2 pi before interpolating; FLAME
        axis-angle and 6D poses are slerped. A static (single-frame) clip only changes its rate.
        """
        fps = float(fps)
        if not (np.isfinite(fps) and 0 < fps <= MAX_FPS):
            raise ClipError(f"fps must be in (0, {MAX_FPS:g}], got {fps:g}")
        if abs(fps - self.fps) < 1e-9:
            return self
        wanted = self.n_frames * fps / self.fps
        if not wanted <= MAX_RESAMPLED_FRAMES:  # also catches inf from a tiny source rate
            raise ClipError(f"resampling {self!r} to {fps:g} fps would make {wanted:.3g} frames")
        n_out = max(1, round(wanted))
        src_t = np.arange(self.n_frames) / self.fps
        dst_t = np.minimum(np.arange(n_out) / fps, src_t[-1])
        if self.n_frames == 1:
            return self.replace(values=np.repeat(self.values, n_out, axis=0), fps=fps)
        out = _interp_columns(src_t, dst_t, self.values.astype(np.float64))
        if self.space == "arkit":
            rot = slice(len(ARKIT_BLENDSHAPES), N_ARKIT)
            unwrapped = np.unwrap(
                self.values[:, rot].astype(np.float64), period=ARKIT_ROTATION_PERIOD, axis=0
            )
            wrapped = _interp_columns(src_t, dst_t, unwrapped)
            half = ARKIT_ROTATION_PERIOD / 2
            out[:, rot] = (wrapped + half) % ARKIT_ROTATION_PERIOD - half
            # keep exact values where no wrap happened (the common case), avoiding fp drift
            plain = np.abs(wrapped) < half
            out[:, rot] = np.where(plain, wrapped, out[:, rot])
        else:
            for kind, cols in rotation_groups(self.channels):
                out[:, cols] = _slerp(src_t, dst_t, self.values[:, cols].astype(np.float64), kind)
        return self.replace(values=out, fps=fps)


def _interp_columns(src_t: np.ndarray, dst_t: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear interpolation of every column of ``values (T, C)`` from ``src_t`` to ``dst_t``."""
    position = np.interp(dst_t, src_t, np.arange(len(src_t), dtype=np.float64))
    lo = np.floor(position).astype(int)
    hi = np.minimum(lo + 1, len(src_t) - 1)
    w = (position - lo)[:, None]
    return values[lo] * (1 - w) + values[hi] * w


def _slerp(src_t: np.ndarray, dst_t: np.ndarray, values: np.ndarray, kind: str) -> np.ndarray:
    """Spherical interpolation of ``(T, 3)`` axis-angle or ``(T, 6)`` 6D rotations."""
    if kind == "6d":
        rotations = Rotation.from_matrix(rotation_6d_to_matrix(values))
        return matrix_to_rotation_6d(Slerp(src_t, rotations)(dst_t).as_matrix())
    return Slerp(src_t, Rotation.from_rotvec(values))(dst_t).as_rotvec()


def concatenate(clips: Iterable[MotionClip]) -> MotionClip:
    """Join clips of the same space, channels and fps end to end."""
    clips = list(clips)
    first = clips[0]
    for clip in clips[1:]:
        if (clip.space, clip.channels, clip.fps) != (first.space, first.channels, first.fps):
            raise ClipError("only clips with the same space, channels and fps can be joined")
    return first.replace(values=np.concatenate([c.values for c in clips], axis=0))
