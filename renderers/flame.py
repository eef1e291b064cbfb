"""FLAME heads: converting the licensed model once, and posing it with smplx's LBS layer.

The official FLAME pickles hold chumpy arrays and scipy sparse matrices. chumpy does not
import on Python 3.11 and plain ``pickle.load`` would run whatever code a file names, so
:func:`convert_flame_pickle` reads the pickle with :class:`RestrictedUnpickler`: only numpy's
array reconstructors, scipy's sparse matrix classes and chumpy's array class (read as a plain
array) may be named; anything else refuses the file. The result is a plain-array npz read back
with ``allow_pickle=False``.

Posing uses ``smplx.lbs.lbs`` — the function smplx's ``FLAME`` layer calls — fed from that npz.
(The ``smplx.FLAME`` constructor itself would ``pickle.load`` the model and the landmark
embedding, which this studio never does with a user's file.)

Users configure ``STUDIO_FLAME_DIR``: a folder holding ``flame_model.npz`` (written by
``python -m studio flame-convert``).
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.motion import MotionClip, rotation_6d_to_matrix

MODEL_FILE = "flame_model.npz"
N_SHAPE = 300  # FLAME 2020/2023: shapedirs = 300 identity + 100 expression components
SKIN = (0.86, 0.68, 0.58)
SCLERA = (0.94, 0.93, 0.90)
FLAME2020_EYEBALLS = slice(3931, 5023)  # FLAME 2020's two eyeball meshes (last 1,092 vertices)
REQUIRED = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights")


class FlameFormatError(ValueError):
    """A FLAME file that is not what it claims, or that names forbidden objects."""


class FlameUnavailableError(RuntimeError):
    """No FLAME model is configured (the message says how to get one)."""


class _ChumpyArray:
    """Stand-in for ``chumpy.ch.Ch``: keeps the pickled state so its array can be read."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.state: object = None

    def __setstate__(self, state: object) -> None:
        self.state = state

    def array(self) -> np.ndarray:
        state = self.state
        if isinstance(state, dict):
            for key in ("x", "_x"):
                if key in state and isinstance(state[key], np.ndarray):
                    return state[key]
        raise FlameFormatError("a chumpy object in the file is not a plain array (no 'x' state)")


def _allowed_globals() -> dict[tuple[str, str], object]:
    import codecs
    import copyreg

    import scipy.sparse as sparse

    try:  # pickles name numpy.core.multiarray; numpy 2 keeps it as numpy._core
        from numpy._core import multiarray as legacy_multiarray
    except ImportError:  # numpy 1
        from numpy.core import multiarray as legacy_multiarray  # type: ignore[no-redef]

    allowed: dict[tuple[str, str], object] = {
        ("copy_reg", "_reconstructor"): copyreg._reconstructor,  # type: ignore[attr-defined]
        ("copyreg", "_reconstructor"): copyreg._reconstructor,  # type: ignore[attr-defined]
        ("__builtin__", "object"): object,
        ("builtins", "object"): object,
        ("__builtin__", "set"): set,  # chumpy keeps bookkeeping sets in its state
        ("builtins", "set"): set,
        ("__builtin__", "frozenset"): frozenset,
        ("builtins", "frozenset"): frozenset,
        # Python 3 protocol-2 pickles spell array bytes as _codecs.encode(text, "latin1"):
        # a pure text-to-bytes conversion
        ("_codecs", "encode"): codecs.encode,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = legacy_multiarray._reconstruct
        allowed[(module, "scalar")] = legacy_multiarray.scalar
    for name in ("csc_matrix", "csr_matrix", "coo_matrix"):
        cls = getattr(sparse, name)
        for module in ("scipy.sparse", f"scipy.sparse.{name[:3]}", f"scipy.sparse._{name[:3]}",
                       "scipy.sparse.compressed", "scipy.sparse._compressed"):  # fmt: skip
            allowed[(module, name)] = cls
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only array-building names (see the module docstring).

    Any ``chumpy`` class is read as :class:`_ChumpyArray`; every other global raises
    :class:`FlameFormatError` before anything is called.
    """

    _allowed: dict[tuple[str, str], object] | None = None

    def find_class(self, module: str, name: str) -> object:
        if RestrictedUnpickler._allowed is None:
            RestrictedUnpickler._allowed = _allowed_globals()
        hit = RestrictedUnpickler._allowed.get((module, name))
        if hit is not None:
            return hit
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyArray
        raise FlameFormatError(f"refusing to load {module}.{name}: only arrays may appear in a FLAME file")


def restricted_load(data: bytes) -> object:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (latin-1 for Python 2 pickles)."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except FlameFormatError:
        raise
    except Exception as exc:  # a truncated or garbled file
        raise FlameFormatError(f"not a readable FLAME pickle ({type(exc).__name__}: {exc})") from None


def _plain(value: object) -> np.ndarray:
    if isinstance(value, _ChumpyArray):
        return np.asarray(value.array())
    if hasattr(value, "toarray"):  # scipy sparse (J_regressor)
        return np.asarray(value.toarray())  # type: ignore[union-attr]
    return np.asarray(value)


def convert_flame_pickle(source: str | Path, output: str | Path) -> str:
    """Official FLAME pickle -> plain-array npz; returns a one-line summary."""
    source = Path(source)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise FlameFormatError(f"{source}: {exc}") from None
    model = restricted_load(data)
    if not isinstance(model, dict):
        raise FlameFormatError(f"{source}: expected a dict of arrays, got {type(model).__name__}")
    missing = [k for k in REQUIRED if k not in model]
    if missing:
        raise FlameFormatError(f"{source}: not a FLAME model (missing {', '.join(missing)})")
    arrays = {k: _plain(model[k]) for k in REQUIRED}
    check_flame_arrays(arrays, source)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(output, **{k: v.astype(np.int64 if k in ("f", "kintree_table") else np.float32)
                                   for k, v in arrays.items()})  # fmt: skip
    v = arrays["v_template"]
    components = arrays["shapedirs"].shape[2]
    return f"{len(v)} vertices, {len(arrays['f'])} triangles, {components} shape+expression components"


def check_flame_arrays(arrays: dict[str, np.ndarray], where: object) -> None:
    """Raise :class:`FlameFormatError` unless the arrays have FLAME's shapes."""
    v = arrays["v_template"]
    n = len(v)
    joints = arrays["kintree_table"].shape[-1]
    expected = {
        "v_template": (n, 3),
        "f": (len(arrays["f"]), 3),
        "J_regressor": (joints, n),
        "weights": (n, joints),
        "kintree_table": (2, joints),
    }
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            raise FlameFormatError(f"{where}: {key} has shape {arrays[key].shape}, expected {shape}")
    if arrays["shapedirs"].ndim != 3 or arrays["shapedirs"].shape[:2] != (n, 3):
        raise FlameFormatError(f"{where}: shapedirs must be ({n}, 3, K)")
    if arrays["shapedirs"].shape[2] <= N_SHAPE:
        raise FlameFormatError(
            f"{where}: shapedirs has no expression components beyond the {N_SHAPE} shape ones"
        )
    if arrays["posedirs"].shape[:2] != (n, 3) or arrays["posedirs"].shape[2] != 9 * (joints - 1):
        raise FlameFormatError(f"{where}: posedirs must be ({n}, 3, {9 * (joints - 1)})")
    if joints != 5:
        raise FlameFormatError(f"{where}: FLAME has 5 joints (global, neck, jaw, eyes), found {joints}")


@dataclass(frozen=True, eq=False)
class FlameHead:
    """A FLAME model ready to pose; quacks like a rig for the rasteriser.

    ``v_template (V, 3)`` metres; ``faces (F, 3)``; ``colors (V, 3)`` sRGB;
    ``expr_dirs (V, 3, E)``; ``posedirs (P, V*3)``; ``J_regressor (5, V)``; ``parents (5,)``;
    ``weights (V, 5)``.
    """

    v_template: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    expr_dirs: np.ndarray
    posedirs: np.ndarray
    j_regressor: np.ndarray
    parents: np.ndarray
    weights: np.ndarray
    frame_center: np.ndarray
    frame_radius: float
    name: str = "flame"

    @classmethod
    def from_npz(cls, path: str | Path) -> FlameHead:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: np.asarray(data[k]) for k in REQUIRED}
        except KeyError as exc:
            raise FlameFormatError(f"{path}: missing array {exc.args[0]!r}") from None
        except (OSError, ValueError) as exc:
            raise FlameFormatError(f"{path}: cannot read ({exc})") from None
        check_flame_arrays(arrays, path)
        v = arrays["v_template"].astype(np.float32)
        colors = np.tile(np.array(SKIN, np.float32), (len(v), 1))
        if len(v) == 5023:
            colors[FLAME2020_EYEBALLS] = SCLERA
        lo, hi = v.min(axis=0), v.max(axis=0)
        n_pose = arrays["posedirs"].shape[2]
        return cls(
            v_template=v,
            faces=arrays["f"].astype(np.int32),
            colors=colors,
            expr_dirs=arrays["shapedirs"][:, :, N_SHAPE:].astype(np.float32),
            posedirs=arrays["posedirs"].reshape(-1, n_pose).T.astype(np.float32),
            j_regressor=arrays["J_regressor"].astype(np.float32),
            parents=_parents(arrays["kintree_table"]),
            weights=arrays["weights"].astype(np.float32),
            frame_center=((lo + hi) / 2).astype(np.float32),
            frame_radius=float(np.linalg.norm(hi - lo) / 2) * 0.85,
        )

    @property
    def n_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def parameters(self, clip: MotionClip) -> tuple[np.ndarray, np.ndarray]:
        """``clip`` -> expression ``(T, E)`` and full pose ``(T, 15)`` axis-angle (radians)."""
        if clip.space != "flame":
            raise FlameFormatError(f"a FLAME head needs a FLAME clip, got {clip.space!r}")
        from scipy.spatial.transform import Rotation

        t = clip.n_frames
        index = {c: i for i, c in enumerate(clip.channels)}
        n_expr = min(sum(c.startswith("expr_") for c in clip.channels), self.expr_dirs.shape[2])
        expression = np.zeros((t, self.expr_dirs.shape[2]), np.float32)
        expression[:, :n_expr] = clip.values[:, [index[f"expr_{i:03d}"] for i in range(n_expr)]]
        pose = np.zeros((t, 15), np.float32)  # global, neck, jaw, left eye, right eye
        for slot, group in enumerate(("global", "neck", "jaw", "leye", "reye")):
            cols = [index.get(f"{group}_{a}") for a in "xyz"]
            if all(c is not None for c in cols):
                pose[:, 3 * slot : 3 * slot + 3] = clip.values[:, cols]
        if "jaw6d_0" in index:
            six = clip.values[:, [index[f"jaw6d_{i}"] for i in range(6)]].astype(np.float64)
            pose[:, 6:9] = Rotation.from_matrix(rotation_6d_to_matrix(six)).as_rotvec()
        return expression, pose

    def evaluate(self, clip: MotionClip) -> np.ndarray:
        """Pose every frame: ``(T, V, 3) float32`` metres."""
        return np.concatenate(list(self.iter_evaluate(clip)), axis=0)

    def iter_evaluate(self, clip: MotionClip, chunk: int = 64) -> Iterator[np.ndarray]:
        """Pose in chunks through ``smplx.lbs.lbs``: yields ``(t, V, 3) float32``."""
        import torch
        from smplx.lbs import lbs

        expression, pose = self.parameters(clip)
        with torch.no_grad():
            template = torch.from_numpy(self.v_template)
            dirs = torch.from_numpy(self.expr_dirs)
            posedirs = torch.from_numpy(self.posedirs)
            j_reg = torch.from_numpy(self.j_regressor)
            parents = torch.from_numpy(self.parents)
            weights = torch.from_numpy(self.weights)
            for start in range(0, len(pose), chunk):
                verts, _ = lbs(torch.from_numpy(expression[start : start + chunk]),
                               torch.from_numpy(pose[start : start + chunk]),
                               template, dirs, posedirs, j_reg, parents, weights)  # fmt: skip
                yield verts.numpy().astype(np.float32)


def _parents(kintree: np.ndarray) -> np.ndarray:
    """Joint parents ``(5,) int64``; the root's entry (stored as 2**32-1) becomes -1, as smplx does."""
    parents = np.asarray(kintree[0]).astype(np.int64)
    parents[0] = -1
    return parents


_HEADS: dict[Path, FlameHead] = {}


def flame_dir() -> Path | None:
    raw = os.environ.get("STUDIO_FLAME_DIR")
    return Path(raw) if raw else None


def load_configured_flame() -> FlameHead:
    """The FLAME head from ``STUDIO_FLAME_DIR/flame_model.npz`` (cached per process)."""
    folder = flame_dir()
    if folder is None:
        raise FlameUnavailableError("No FLAME model is configured (STUDIO_FLAME_DIR is not set).")
    path = folder / MODEL_FILE
    if not path.is_file():
        raise FlameUnavailableError(f"No FLAME model at {path}.")
    if path not in _HEADS:
        _HEADS[path] = FlameHead.from_npz(path)
    return _HEADS[path]
