"""FLAME heads: converting the licensed model once, and posing it with smplx's LBS layer.

The official FLAME pickles hold chumpy arrays and scipy sparse matrices. chumpy does not
import on Python 3.11 and plain ``pickle.load`` would run whatever code a file names, so
:func:`convert_flame_pickle` reads the pickle with :class:`RestrictedUnpickler`, which builds
nothing real while unpickling: each global a FLAME file may name (numpy's array and dtype
reconstructors, scipy's sparse matrix classes, chumpy's classes, ``set``) resolves to an inert
stand-in that only records the arguments and state the pickle hands it; any other global refuses
the file by name. Only afterwards are the recorded parts checked as plain data (numeric dtypes,
sizes within :data:`MAX_ELEMENTS`, byte counts matching shapes, sparse indices and pointers in
bounds) and turned into arrays by numpy and scipy's checked constructors. So a crafted file gets
a :class:`FlameFormatError` naming the global or field, never a write out of bounds. The result
is a plain-array npz read back with ``allow_pickle=False``.

Posing uses ``smplx.lbs.lbs`` — the function smplx's ``FLAME`` layer calls — fed from that npz.
(The ``smplx.FLAME`` constructor itself would ``pickle.load`` the model and the landmark
embedding, which this studio never does with a user's file.)

Users configure ``STUDIO_FLAME_DIR``: a folder holding ``flame_model.npz`` (written by
``python -m studio flame-convert``).
"""

from __future__ import annotations

import io
import math
import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeGuard

import numpy as np

from studio.config import flame_dir
from studio.errors import StudioError
from studio.formats.errors import safe_name
from studio.motion import MotionClip, rotation_6d_to_matrix

MODEL_FILE = "flame_model.npz"
N_SHAPE = 300  # FLAME 2020/2023: shapedirs = 300 identity + 100 expression components
SKIN = (0.86, 0.68, 0.58)
SCLERA = (0.94, 0.93, 0.90)
FLAME2020_EYEBALLS = slice(3931, 5023)  # FLAME 2020's two eyeball meshes (last 1,092 vertices)
REQUIRED = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights")
# Limits for what a FLAME pickle may hold. The official files are 50-100 MB; FLAME 2023 with
# 400 shape+expression directions has the largest array, shapedirs, at 5,023 x 3 x 400 = 6.0 M
# values, so 16.8 M values per array (134 MB as float64) leaves room without allowing gigabytes.
MAX_FILE_BYTES = 512 * 2**20
MAX_ELEMENTS = 2**24
MAX_NDIM = 4
# numpy dtype codes a FLAME array may have: bool, integers, floats (never object, text, void)
_NUMERIC_DTYPE = re.compile(r"b1|[iu][1248]|f[248]")


class FlameFormatError(StudioError, ValueError):
    """A FLAME file that is not what it claims, or that names forbidden objects."""


class FlameUnavailableError(StudioError, RuntimeError):
    """No FLAME model is configured (the message says how to get one)."""


_UNSET = object()  # a stand-in's state before any BUILD (a pickle may BUILD with None)


class _StateHook:
    """``__setstate__`` of the stand-ins: on an instance it records the BUILD state; looked up
    on the class itself (a pickle that BUILDs the global it named) it refuses, naming the global.
    A plain method there would let BUILD fall back to setting attributes on our classes."""

    def __get__(self, obj: object, owner: type) -> object:
        if obj is None:

            def refuse(*_: object) -> None:
                raise FlameFormatError(f"{owner.origin} itself is given a state (BUILD on a class)")  # type: ignore[attr-defined]

            return refuse
        return obj._record_state  # type: ignore[attr-defined]


class _Global:
    """Base of everything :class:`RestrictedUnpickler` hands out for a global name."""

    __slots__ = ()
    origin = "?"  # the global the pickle named, for messages
    __setstate__ = _StateHook()

    def _record_state(self, state: object) -> None:
        raise FlameFormatError(f"{self.origin} is given a state")


class _Stub(_Global):
    """An inert stand-in for an object the pickle asks to build: it keeps the positional
    arguments and at most one BUILD state, and is interpreted only by :func:`_to_array`.

    ``kind`` says which global it stands for (:func:`_named` sets it per global):

    - ``array``: numpy's ``_reconstruct(ndarray, (0,), b"b")`` + BUILD ``(1, shape, dtype, fortran, raw)``
    - ``buffer``: protocol 5's ``_frombuffer(raw, dtype, shape, order)``
    - ``dtype``: ``numpy.dtype("f8", False, True)`` + BUILD ``(3, "<", None, None, None, -1, -1, 0)``
    - ``scalar``: numpy's ``scalar(dtype, raw)``, a numpy integer in an old sparse matrix's shape
    - ``chumpy``: ``chumpy.ch.Ch`` + BUILD ``{"x": array, ...}``
    - ``sparse``: scipy's csc/csr/coo_matrix (``fmt``) + BUILD ``{"_shape": ..., "indices": ..., ...}``
    - ``opaque``: ``set``/``frozenset``, chumpy's bookkeeping, recorded and never read
    """

    __slots__ = ("args", "state")
    kind = "opaque"
    fmt = ""  # a sparse matrix's format: csc, csr or coo

    def __new__(cls, *args: object, **kwargs: object) -> _Stub:
        if kwargs:
            raise FlameFormatError(f"{cls.origin} is called with keyword arguments")
        self = object.__new__(cls)
        self.args, self.state = args, _UNSET
        return self

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass  # everything was recorded by __new__

    def _record_state(self, state: object) -> None:
        if self.state is not _UNSET:
            raise FlameFormatError(f"{self.origin} is given a state twice")
        self.state = state


def _is(value: object, kind: str) -> TypeGuard[_Stub]:
    """Whether ``value`` is a stand-in for a global of ``kind`` (see :class:`_Stub`)."""
    return isinstance(value, _Stub) and value.kind == kind


class _Latin1(_Global):
    """``_codecs.encode(text, "latin1")``: how protocol-2 pickles from Python 3 spell bytes."""

    __slots__ = ()
    origin = "_codecs.encode"

    def __new__(cls, *args: object, **kwargs: object) -> bytes:  # type: ignore[misc]
        if kwargs or len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
            raise FlameFormatError("_codecs.encode may only turn text into latin-1 bytes")
        try:
            return args[0].encode("latin1")
        except UnicodeEncodeError:
            raise FlameFormatError("_codecs.encode is given text that is not latin-1") from None


class _Reconstructor(_Global):
    """``copyreg._reconstructor(cls, object, None)``: protocol 0/1's bare instance of a class."""

    __slots__ = ()
    origin = "copyreg._reconstructor"

    def __new__(cls, *args: object, **kwargs: object) -> _Stub:  # type: ignore[misc]
        if len(args) == 3 and not kwargs:
            klass, base, state = args
            bare = isinstance(klass, type) and issubclass(klass, _Stub) and klass.kind in ("chumpy", "sparse")
            if bare and base is _ObjectName and state is None:
                return klass()
        raise FlameFormatError(
            "copyreg._reconstructor may only make a bare chumpy or sparse object (cls, object, None)"
        )


class _NameOnly(_Global):
    """A global a FLAME pickle names only as an argument (``numpy.ndarray`` as an array's type,
    ``object`` as a base class); calling it refuses the file."""

    __slots__ = ()

    def __new__(cls, *args: object, **kwargs: object) -> None:  # type: ignore[misc]
        raise FlameFormatError(f"{cls.origin} may only be named as a type, not called")


class _NdarrayName(_NameOnly):
    __slots__ = ()
    origin = "numpy.ndarray"


class _ObjectName(_NameOnly):
    __slots__ = ()
    origin = "builtins.object"


def _named(base: type, origin: str, **extra: object) -> type:
    """A subclass of ``base`` that reports ``origin`` (the global's name) in messages."""
    return type(base.__name__, (base,), {"__slots__": (), "origin": origin, **extra})


def _allowed_globals() -> dict[tuple[str, str], type]:
    allowed: dict[tuple[str, str], type] = {
        ("copyreg", "_reconstructor"): _Reconstructor,
        ("copy_reg", "_reconstructor"): _Reconstructor,
        ("_codecs", "encode"): _Latin1,
        ("numpy", "ndarray"): _NdarrayName,
        ("numpy", "dtype"): _named(_Stub, "numpy.dtype", kind="dtype"),
    }
    for module in ("builtins", "__builtin__"):
        allowed[(module, "object")] = _ObjectName
        for name in ("set", "frozenset"):  # chumpy keeps bookkeeping sets in its state
            allowed[(module, name)] = _named(_Stub, f"builtins.{name}")
    for core in ("numpy.core", "numpy._core"):  # numpy 1 and 2 spell their internals differently
        allowed[(f"{core}.multiarray", "_reconstruct")] = _named(
            _Stub, f"{core}.multiarray._reconstruct", kind="array"
        )
        allowed[(f"{core}.multiarray", "scalar")] = _named(_Stub, f"{core}.multiarray.scalar", kind="scalar")
        allowed[(f"{core}.numeric", "_frombuffer")] = _named(
            _Stub, f"{core}.numeric._frombuffer", kind="buffer"
        )
    for name in ("csc_matrix", "csr_matrix", "coo_matrix"):
        for module in (
            "scipy.sparse",
            f"scipy.sparse.{name[:3]}",
            f"scipy.sparse._{name[:3]}",
            "scipy.sparse.compressed",
            "scipy.sparse._compressed",
        ):
            allowed[(module, name)] = _named(_Stub, f"{module}.{name}", kind="sparse", fmt=name[:3])
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose globals are inert stand-ins (see the module docstring).

    Any ``chumpy`` class is recorded as a chumpy stand-in; every other global outside the list
    raises :class:`FlameFormatError` naming it, before anything is called.
    """

    _allowed: ClassVar[dict[tuple[str, str], type] | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._chumpy: dict[str, type] = {}  # per load: a file's names never outlive it

    def find_class(self, module: str, name: str) -> type:
        if RestrictedUnpickler._allowed is None:
            RestrictedUnpickler._allowed = _allowed_globals()
        hit = RestrictedUnpickler._allowed.get((module, name))
        if hit is not None:
            return hit
        if module == "chumpy" or module.startswith("chumpy."):
            origin = safe_name(f"{module}.{name}")
            if origin not in self._chumpy:
                self._chumpy[origin] = _named(_Stub, origin, kind="chumpy")
            return self._chumpy[origin]
        raise FlameFormatError(
            f"refusing to load {safe_name(f'{module}.{name}')}: only arrays may appear in a FLAME file"
        )

    def persistent_load(self, pid: object) -> object:
        raise FlameFormatError("a FLAME file has no persistent references")


def restricted_load(data: bytes) -> object:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (latin-1 for Python 2 pickles).

    The result holds only plain values (dicts, lists, tuples, str, bytes, numbers) and inert
    stand-ins; :func:`_to_array` turns a stand-in into a checked array.
    """
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except FlameFormatError:
        raise
    except Exception as exc:  # a truncated or garbled file, or a misuse of an allowed global
        raise FlameFormatError(
            f"not a readable FLAME pickle ({type(exc).__name__}: {safe_name(str(exc))})"
        ) from None


def _describe(value: object) -> str:
    if isinstance(value, _Global | type) and hasattr(value, "origin"):
        return str(value.origin)
    return f"a {type(value).__name__}"


def _size(value: object, field: str) -> int:
    if _is(value, "scalar"):
        value = _scalar(value, field)
    if type(value) is not int or not 0 <= value <= MAX_ELEMENTS:
        raise FlameFormatError(f"{field}: a dimension is not a size in 0..{MAX_ELEMENTS:,}")
    return value


def _shape(value: object, field: str, ndim: int | None = None) -> tuple[int, ...]:
    """A shape recorded in the pickle, checked: a tuple of sizes with at most MAX_ELEMENTS values."""
    if not isinstance(value, tuple) or len(value) > MAX_NDIM or (ndim is not None and len(value) != ndim):
        wanted = f"{ndim}" if ndim is not None else f"at most {MAX_NDIM}"
        raise FlameFormatError(f"{field}: the shape is not a tuple of {wanted} sizes")
    dims = tuple(_size(v, field) for v in value)
    total = math.prod(dims)
    if total > MAX_ELEMENTS:
        raise FlameFormatError(
            f"{field}: shape {dims} has {total:,} values, over the {MAX_ELEMENTS:,} a FLAME array may have"
        )
    return dims


def _dtype(value: object, field: str) -> np.dtype:
    """A numeric dtype from a recorded ``numpy.dtype(code, align, copy)`` + its BUILD state."""
    if not _is(value, "dtype"):
        raise FlameFormatError(f"{field}: the dtype is {_describe(value)}, not numpy.dtype")
    if not 1 <= len(value.args) <= 3 or not isinstance(value.args[0], str):
        raise FlameFormatError(f"{field}: numpy.dtype is called with unexpected arguments")
    code = value.args[0]
    if not _NUMERIC_DTYPE.fullmatch(code):
        raise FlameFormatError(
            f"{field}: dtype {safe_name(code)} is not a number type (FLAME arrays hold bools, ints or floats)"
        )
    dtype = np.dtype(code)
    state = value.state
    if state is not _UNSET:
        # (version, byte order, subarray, names, fields, itemsize, alignment, flags[, metadata]):
        # a plain number type has no subarray, names or fields
        if not (
            isinstance(state, tuple)
            and len(state) in (8, 9)
            and state[0] in (3, 4)
            and state[1] in ("<", ">", "|", "=")
            and state[2] is None
            and state[3] is None
            and state[4] is None
        ):
            raise FlameFormatError(
                f"{field}: numpy.dtype {code} has a state that is not a plain number type's"
            )
        if state[1] in ("<", ">") and dtype.itemsize > 1:
            dtype = dtype.newbyteorder(state[1])
    return dtype


def _raw_bytes(value: object, field: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):  # a Python 2 str read with encoding="latin1"
        try:
            return value.encode("latin1")
        except UnicodeEncodeError:
            raise FlameFormatError(f"{field}: the array data is text, not bytes") from None
    if isinstance(value, list):
        raise FlameFormatError(f"{field}: an object array (a FLAME file holds only numbers)")
    raise FlameFormatError(f"{field}: the array data is {_describe(value)}, not bytes")


def _from_bytes(raw: bytes, dtype: np.dtype, dims: tuple[int, ...], order: str, field: str) -> np.ndarray:
    """A native-order array that owns its memory, from exactly as many bytes as its shape needs."""
    count = math.prod(dims)
    need = count * dtype.itemsize
    if len(raw) != need:
        raise FlameFormatError(
            f"{field}: holds {len(raw):,} bytes, shape {dims} and dtype {dtype} need {need:,}"
        )
    flat = np.frombuffer(raw, dtype=dtype, count=count) if count else np.zeros(0, dtype)
    return flat.reshape(dims, order=order).astype(dtype.newbyteorder("="))  # type: ignore[arg-type]


def _scalar(stub: _Stub, field: str) -> int | float | bool:
    if len(stub.args) != 2 or stub.state is not _UNSET:
        raise FlameFormatError(f"{field}: {stub.origin} is called with unexpected arguments")
    dtype = _dtype(stub.args[0], field)
    return _from_bytes(_raw_bytes(stub.args[1], field), dtype, (), "C", field).item()


def _plain_array(value: object, field: str) -> np.ndarray:
    """A numpy array recorded by ``_reconstruct`` (+ BUILD) or ``_frombuffer``, checked."""
    if _is(value, "array"):
        args = value.args
        if len(args) != 3 or args[0] is not _NdarrayName or args[1] != (0,) or args[2] not in ("b", b"b"):
            raise FlameFormatError(
                f"{field}: {value.origin} is called with other arguments than (numpy.ndarray, (0,), 'b')"
            )
        state = value.state
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]  # the version numpy writes first
        if not isinstance(state, tuple) or len(state) != 4:
            raise FlameFormatError(f"{field}: {value.origin} has no (shape, dtype, fortran, data) state")
        shape, dtype, fortran, raw = state
        if type(fortran) not in (bool, int) or fortran not in (0, 1):
            raise FlameFormatError(f"{field}: the array's fortran flag is not a bool")
        dims, dt = _shape(shape, field), _dtype(dtype, field)
        return _from_bytes(_raw_bytes(raw, field), dt, dims, "F" if fortran else "C", field)
    if _is(value, "buffer"):
        if len(value.args) != 4 or value.state is not _UNSET or value.args[3] not in ("C", "F"):
            raise FlameFormatError(f"{field}: {value.origin} is called with unexpected arguments")
        raw, dtype, shape, order = value.args
        dims, dt = _shape(shape, field), _dtype(dtype, field)
        return _from_bytes(_raw_bytes(raw, field), dt, dims, str(order), field)
    raise FlameFormatError(f"{field}: holds {_describe(value)}, not an array")


def _vector(state: dict, key: str, field: str, kinds: str) -> np.ndarray:
    if key not in state:
        raise FlameFormatError(f"{field}: the sparse matrix has no {key!r}")
    array = _plain_array(state[key], f"{field}.{key}")
    if array.ndim != 1 or array.dtype.kind not in kinds:
        kind = "integers" if kinds == "iu" else "numbers"
        raise FlameFormatError(f"{field}.{key}: expected a vector of {kind}, got {array.dtype} {array.shape}")
    return array


def _in_range(array: np.ndarray, low: int, high: int) -> bool:
    """All values in ``low..high`` (inclusive), compared before any cast can wrap them."""
    return array.size == 0 or (int(array.min()) >= low and int(array.max()) <= high)


def _sparse_array(stub: _Stub, field: str) -> np.ndarray:
    """The dense array of a recorded scipy sparse matrix, after checking every index and pointer."""
    import scipy.sparse as sparse

    state = stub.state
    if stub.args or not isinstance(state, dict):
        raise FlameFormatError(f"{field}: {stub.origin} has no state dict")
    rows, cols = _shape(state.get("_shape", state.get("shape")), f"{field}.shape", ndim=2)
    if stub.fmt == "coo":
        if "coords" in state:  # scipy >= 1.13
            coords = state["coords"]
            if not isinstance(coords, tuple) or len(coords) != 2:
                raise FlameFormatError(f"{field}.coords: expected (row, col)")
            state = {**state, "row": coords[0], "col": coords[1]}
        row, col = _vector(state, "row", field, "iu"), _vector(state, "col", field, "iu")
        data = _vector(state, "data", field, "biuf")
        if not len(row) == len(col) == len(data):
            raise FlameFormatError(f"{field}: row, col and data differ in length")
        if not _in_range(row, 0, rows - 1) or not _in_range(col, 0, cols - 1):
            raise FlameFormatError(f"{field}: an index lies outside the {rows}x{cols} matrix")
        matrix = sparse.coo_matrix(
            (data.astype(np.float64), (row.astype(np.int64), col.astype(np.int64))), shape=(rows, cols)
        )
        return matrix.toarray()
    data = _vector(state, "data", field, "biuf")
    indices, indptr = _vector(state, "indices", field, "iu"), _vector(state, "indptr", field, "iu")
    major, minor = (cols, rows) if stub.fmt == "csc" else (rows, cols)
    nnz = len(indices)
    if len(indptr) != major + 1:
        raise FlameFormatError(
            f"{field}.indptr: {len(indptr)} entries, a {rows}x{cols} {stub.fmt} matrix needs {major + 1}"
        )
    if len(data) != nnz:
        raise FlameFormatError(f"{field}.data: {len(data)} values for {nnz} indices")
    if not _in_range(indptr, 0, nnz) or int(indptr[0]) != 0 or int(indptr[-1]) != nnz:
        raise FlameFormatError(f"{field}.indptr: must run from 0 to the {nnz} stored values")
    indptr = indptr.astype(np.int64)
    if np.any(np.diff(indptr) < 0):
        raise FlameFormatError(f"{field}.indptr: decreases (pointers must not go backwards)")
    if not _in_range(indices, 0, minor - 1):
        raise FlameFormatError(f"{field}.indices: an index lies outside 0..{minor - 1}")
    build = sparse.csc_matrix if stub.fmt == "csc" else sparse.csr_matrix
    matrix = build((data.astype(np.float64), indices.astype(np.int64), indptr), shape=(rows, cols))
    matrix.check_format(full_check=True)
    return matrix.toarray()


def _to_array(value: object, field: str) -> np.ndarray:
    """A checked numpy array from a value :func:`restricted_load` returned (see the module docstring)."""
    if _is(value, "chumpy"):
        state = value.state
        if isinstance(state, dict):
            for key in ("x", "_x"):
                if key in state:
                    return _plain_array(state[key], f"{field}.{key}")
        raise FlameFormatError(f"{field}: {value.origin} is not a plain array (no 'x' in its state)")
    if _is(value, "sparse"):
        return _sparse_array(value, field)
    return _plain_array(value, field)


def convert_flame_pickle(source: str | Path, output: str | Path) -> str:
    """Official FLAME pickle -> plain-array npz; returns a one-line summary."""
    source = Path(source)
    try:
        if not source.is_file():
            raise FlameFormatError(f"{source}: not a file")
        size = source.stat().st_size
        if size > MAX_FILE_BYTES:
            raise FlameFormatError(f"{source}: {size:,} bytes, more than a FLAME pickle's {MAX_FILE_BYTES:,}")
        data = source.read_bytes()
    except OSError as exc:
        raise FlameFormatError(f"{source}: {exc}") from None
    try:
        model = restricted_load(data)
        if not isinstance(model, dict):
            raise FlameFormatError(f"expected a dict of arrays, got {_describe(model)}")
        missing = [k for k in REQUIRED if k not in model]
        if missing:
            raise FlameFormatError(f"not a FLAME model (missing {', '.join(missing)})")
        arrays = {k: _to_array(model[k], k) for k in REQUIRED}
    except FlameFormatError as exc:
        raise FlameFormatError(f"{source}: {exc}") from None
    except Exception as exc:  # a crafted value numpy or scipy refuses in a way not checked above
        raise FlameFormatError(
            f"{source}: not a usable FLAME pickle ({type(exc).__name__}: {safe_name(str(exc))})"
        ) from None
    with np.errstate(over="ignore", invalid="ignore"):  # out-of-range values become inf: refused below
        arrays = {
            k: v.astype(np.int64 if k in ("f", "kintree_table") else np.float32) for k, v in arrays.items()
        }
    check_flame_arrays(arrays, source)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(output, **arrays)
    v = arrays["v_template"]
    components = arrays["shapedirs"].shape[2]
    return f"{len(v)} vertices, {len(arrays['f'])} triangles, {components} shape+expression components"


def check_flame_arrays(arrays: dict[str, np.ndarray], where: object) -> None:
    """Raise :class:`FlameFormatError` unless the arrays have FLAME's shapes, numbers and indices."""
    for key in REQUIRED:
        if arrays[key].dtype.kind not in "biuf":
            raise FlameFormatError(f"{where}: {key} has dtype {arrays[key].dtype}, not numbers")
    v = arrays["v_template"]
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise FlameFormatError(f"{where}: v_template has shape {v.shape}, expected (V, 3)")
    if arrays["kintree_table"].ndim != 2 or len(arrays["kintree_table"]) != 2:
        raise FlameFormatError(
            f"{where}: kintree_table has shape {arrays['kintree_table'].shape}, expected (2, J)"
        )
    n = len(v)
    joints = arrays["kintree_table"].shape[-1]
    if joints != 5:
        raise FlameFormatError(f"{where}: FLAME has 5 joints (global, neck, jaw, eyes), found {joints}")
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
    posedirs = arrays["posedirs"]
    if posedirs.ndim != 3 or posedirs.shape[:2] != (n, 3) or posedirs.shape[2] != 9 * (joints - 1):
        raise FlameFormatError(f"{where}: posedirs must be ({n}, 3, {9 * (joints - 1)})")
    # indices are used to address vertices and joints (the rasteriser's index buffer, smplx's
    # kinematic chain): out of range they would read past the arrays
    if not _in_range(arrays["f"], 0, n - 1):
        raise FlameFormatError(f"{where}: f names a vertex outside 0..{n - 1}")
    parents = arrays["kintree_table"][0, 1:].astype(np.int64)
    if np.any(parents < 0) or np.any(parents >= np.arange(1, joints)):
        raise FlameFormatError(f"{where}: kintree_table's parents must come before their joints")
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
        if not np.all(np.isfinite(arrays[key])):
            raise FlameFormatError(f"{where}: {key} holds NaN or infinite values (or values beyond float32)")


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
                verts, _ = lbs(
                    torch.from_numpy(expression[start : start + chunk]),
                    torch.from_numpy(pose[start : start + chunk]),
                    template,
                    dirs,
                    posedirs,
                    j_reg,
                    parents,
                    weights,
                )
                yield verts.numpy().astype(np.float32)


def _parents(kintree: np.ndarray) -> np.ndarray:
    """Joint parents ``(5,) int64``; the root's entry (stored as 2**32-1) becomes -1, as smplx does."""
    parents = np.asarray(kintree[0]).astype(np.int64)
    parents[0] = -1
    return parents


_HEADS: dict[Path, FlameHead] = {}


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
