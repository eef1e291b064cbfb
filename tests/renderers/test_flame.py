"""FLAME: the restricted unpickler, conversion, and posing a small synthetic FLAME model."""

from __future__ import annotations

import contextlib
import copyreg
import functools
import json
import os
import pickle
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import trimesh

from renderers import FlameFormatError, FlameHead, convert_flame_pickle
from renderers.flame import restricted_load
from studio.motion import FlameLayout, MotionClip

ROOT = Path(__file__).resolve().parents[2]


class _Ch:
    """Pickles like chumpy's Ch: class chumpy.ch.Ch with its array in the state's 'x'."""

    def __init__(self, x):
        self.x = x

    def __getstate__(self):
        return {"x": self.x, "_dirty_vars": set()}


@contextlib.contextmanager
def _fake_chumpy():
    """Lets pickle name chumpy.ch.Ch (chumpy itself does not import on Python 3.11)."""
    chumpy = types.ModuleType("chumpy")
    ch = types.ModuleType("chumpy.ch")
    _Ch.__module__, _Ch.__qualname__ = "chumpy.ch", "Ch"
    ch.Ch = _Ch
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = chumpy, ch
    try:
        yield
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]


def _pickle_with_fake_chumpy(model: dict, protocol: int = 2) -> bytes:
    with _fake_chumpy():
        return pickle.dumps(model, protocol=protocol)


def tiny_flame_model() -> dict:
    """FLAME's keys and layout (5 joints, 300 shape + 100 expression dirs) on a 162-vertex ball."""
    sphere = trimesh.creation.icosphere(2, radius=0.1)
    v = np.asarray(sphere.vertices)
    n = len(v)
    rng = np.random.default_rng(7)
    shapedirs = rng.normal(0, 1e-3, (n, 3, 400))
    shapedirs[:, 1, 300] = np.where(v[:, 1] < 0, -0.02, 0.0)  # expr_000 drops the lower half
    weights = np.zeros((n, 5))
    lower = v[:, 1] < -0.02
    weights[:, 1] = 1.0
    weights[lower, 1], weights[lower, 2] = 0.0, 1.0  # the lower half follows the jaw
    joints = np.array([[0, 0, 0], [0, -0.05, 0], [0, -0.02, -0.03], [0.03, 0.03, 0.08], [-0.03, 0.03, 0.08]])
    regressor = np.zeros((5, n))
    for j, p in enumerate(joints):  # each joint sits at the nearest vertex... close enough for a test
        regressor[j, np.argmin(np.linalg.norm(v - p, axis=1))] = 1.0
    return {
        "v_template": _Ch(v),
        "f": np.asarray(sphere.faces, np.uint32),
        "shapedirs": _Ch(shapedirs),
        "posedirs": rng.normal(0, 1e-4, (n, 3, 36)),
        "J_regressor": sp.csc_matrix(regressor),
        "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]]),
        "weights": _Ch(weights),
        "bs_style": "lbs",
    }


@pytest.fixture
def flame_npz(tmp_path):
    pkl = tmp_path / "FLAME_NEUTRAL.pkl"
    pkl.write_bytes(_pickle_with_fake_chumpy(tiny_flame_model()))
    out = tmp_path / "flame" / "flame_model.npz"
    summary = convert_flame_pickle(pkl, out)
    assert "162 vertices" in summary and "400" in summary
    return out


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with pytest.raises(FlameFormatError, match=r"refusing to load .*open"):
        restricted_load(pickle.dumps({"v_template": Evil()}, protocol=2))
    assert not marker.exists()
    with pytest.raises(FlameFormatError, match="not a readable"):
        restricted_load(b"\x80\x02garbage")


def test_conversion_reads_chumpy_and_sparse_as_plain_arrays(flame_npz):
    with np.load(flame_npz, allow_pickle=False) as data:
        assert data["v_template"].shape == (162, 3)
        assert data["J_regressor"].shape == (5, 162)
        assert data["shapedirs"].shape == (162, 3, 400)


def test_conversion_refuses_non_flame(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"v_template": np.zeros((3, 3))}, protocol=2))
    with pytest.raises(FlameFormatError, match="missing"):
        convert_flame_pickle(path, tmp_path / "out.npz")


def test_posing_through_smplx_lbs(flame_npz):
    head = FlameHead.from_npz(flame_npz)
    layout = FlameLayout(n_expression=10, jaw="axis_angle")
    values = np.zeros((3, len(layout.channels)), np.float32)
    values[1, 0] = 1.0  # expr_000
    values[2, layout.channels.index("jaw_x")] = 0.3
    clip = MotionClip(values, 30.0, "flame", layout.channels)
    posed = head.evaluate(clip)
    assert posed.shape == (3, 162, 3)
    np.testing.assert_allclose(posed[0], head.v_template, atol=1e-5)
    lower = head.v_template[:, 1] < -0.02
    assert (posed[1, lower, 1] - posed[0, lower, 1]).mean() < -0.015  # expression moved them
    jaw = np.linalg.norm(posed[2] - posed[0], axis=1)
    assert jaw[lower].mean() > 5 * jaw[~lower].mean()  # only the jaw's vertices swing


def test_six_d_jaw_matches_axis_angle(flame_npz):
    from scipy.spatial.transform import Rotation

    head = FlameHead.from_npz(flame_npz)
    aa = FlameLayout(n_expression=5, jaw="axis_angle")
    six = FlameLayout(n_expression=5, jaw="6d")
    rot = np.array([0.25, 0.05, -0.1])
    v_aa = np.zeros((1, len(aa.channels)), np.float32)
    v_aa[0, 5:8] = rot
    v_six = np.zeros((1, len(six.channels)), np.float32)
    v_six[0, 5:11] = Rotation.from_rotvec(rot).as_matrix()[:2].reshape(6)
    a = head.evaluate(MotionClip(v_aa, 30.0, "flame", aa.channels))
    b = head.evaluate(MotionClip(v_six, 30.0, "flame", six.channels))
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_a_clip_with_more_expressions_than_the_head_poses_those_it_has(flame_npz):
    head = FlameHead.from_npz(flame_npz)  # 100 expression directions
    layout = FlameLayout(n_expression=300)
    values = np.zeros((2, len(layout.channels)), np.float32)
    values[1, 0], values[1, 250] = 1.0, 5.0  # expr_250 has no direction here: ignored
    posed = head.evaluate(MotionClip(values, 30.0, "flame", layout.channels))
    lower = head.v_template[:, 1] < -0.02
    assert posed.shape == (2, 162, 3) and (posed[1, lower, 1] - posed[0, lower, 1]).mean() < -0.015


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("f", np.full((320, 3), 999), "f names a vertex outside"),
        ("v_template", np.full((162, 3), "x"), "v_template has dtype <U1, not numbers"),
        ("weights", np.full((162, 5), np.nan), "weights holds NaN"),
    ],
)
def test_a_tampered_model_npz_is_refused_at_load(flame_npz, tmp_path, key, value, message):
    with np.load(flame_npz) as data:
        arrays = {k: data[k] for k in data.files}
    np.savez(tmp_path / "flame_model.npz", **{**arrays, key: value})
    with pytest.raises(FlameFormatError, match=message):
        FlameHead.from_npz(tmp_path / "flame_model.npz")


def test_flame_renders(gl, flame_npz, monkeypatch):
    from renderers import Stage, frames_for

    monkeypatch.setenv("STUDIO_FLAME_DIR", str(flame_npz.parent))
    layout = FlameLayout(n_expression=10)
    values = np.zeros((4, len(layout.channels)), np.float32)
    values[:, layout.channels.index("jaw_x")] = np.linspace(0, 0.4, 4)
    frames = np.stack(
        list(frames_for(MotionClip(values, 30.0, "flame", layout.channels), None, Stage(size=128)))
    )
    assert frames.shape == (4, 128, 128, 3)
    assert np.abs(frames[3].astype(int) - frames[0].astype(int)).sum() > 1000


def test_unconfigured_flame_shows_curves_and_how_to_get_it(gl, monkeypatch):
    from renderers import Stage, frames_for

    monkeypatch.delenv("STUDIO_FLAME_DIR", raising=False)
    clip = MotionClip.zeros(5, 30.0, "flame", FlameLayout(n_expression=10))
    frames = list(frames_for(clip, None, Stage(size=256)))
    assert len(frames) == 5 and frames[0].shape == (256, 256, 3)
    assert not np.array_equal(frames[0], frames[4])  # the time cursor moves


def test_every_pickle_protocol_converts_to_the_same_arrays(tmp_path):
    """Python 2's protocol 2 is the official files'; 0/1 use copyreg._reconstructor, 5 _frombuffer."""
    model = tiny_flame_model()
    model["posedirs"] = model["posedirs"].astype(">f8")  # big-endian and Fortran order survive
    model["shapedirs"] = _Ch(np.asfortranarray(model["shapedirs"].x))
    results = []
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        (tmp_path / "m.pkl").write_bytes(_pickle_with_fake_chumpy(model, protocol))
        convert_flame_pickle(tmp_path / "m.pkl", tmp_path / f"{protocol}.npz")
        with np.load(tmp_path / f"{protocol}.npz", allow_pickle=False) as data:
            results.append({k: data[k] for k in data.files})
    np.testing.assert_allclose(results[0]["posedirs"], model["posedirs"], rtol=1e-6)
    np.testing.assert_allclose(results[0]["shapedirs"], model["shapedirs"].x, rtol=1e-6)
    for other in results[1:]:
        assert all(np.array_equal(results[0][k], other[k]) for k in results[0])


def test_python2_text_array_data_is_read_as_latin1(tmp_path):
    """Python 2 pickles hold array bytes as str, which encoding="latin1" turns into text."""
    v = tiny_flame_model()["v_template"].x
    state = (1, v.shape, np.dtype("<f8"), False, v.tobytes().decode("latin1"))
    model = {**tiny_flame_model(), "v_template": _Reduce(_RECONSTRUCT, (np.ndarray, (0,), "b"), state)}
    (tmp_path / "m.pkl").write_bytes(_pickle_with_fake_chumpy(model))
    convert_flame_pickle(tmp_path / "m.pkl", tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as data:
        np.testing.assert_allclose(data["v_template"], v, rtol=1e-6)


# ---- crafted pickles: each must end in exit code 2 and one line naming the problem ----

_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's multiarray._reconstruct
_SCALAR = np.float64(1).__reduce__()[0]  # numpy's multiarray.scalar


class _Reduce:
    """Pickles as ``func(*args)`` (REDUCE), then BUILD with ``state`` if given: any gadget a file may hold."""

    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


class _Ops(bytes):
    """Raw pickle opcodes spliced in as one value (memo indices reused freely: each value PUTs
    before it GETs, so values pickled separately can share a stream)."""


def _global(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


@functools.cache
def _tiny_model() -> dict:
    return tiny_flame_model()


def _body(value: object) -> bytes:
    """``value`` pickled with protocol 2, without the PROTO header and STOP."""
    if isinstance(value, _Ops):
        return value
    with _fake_chumpy():
        return pickle.dumps(value, protocol=2)[2:-1]


@functools.cache
def _model_bodies() -> dict[str, bytes]:
    return {key: _body(value) for key, value in _tiny_model().items()}


def _flame_pickle(**entries: object) -> bytes:
    """The tiny FLAME model as a protocol-2 pickle with some entries replaced (objects or _Ops)."""
    bodies = {**_model_bodies(), **{key: _body(value) for key, value in entries.items()}}
    parts = [b"\x80\x02}("]
    for key, body in bodies.items():
        parts += [_body(key), body]
    return b"".join(parts) + b"u."


def _sparse(**attrs) -> sp.csc_matrix:
    """The tiny model's J_regressor (5 x 162 csc) with attributes overwritten after construction."""
    matrix = _tiny_model()["J_regressor"].copy()
    for name, value in attrs.items():
        setattr(matrix, name, value)
    return matrix


def _array_state(shape, dtype, raw) -> _Reduce:
    return _Reduce(_RECONSTRUCT, (np.ndarray, (0,), b"b"), (1, shape, np.dtype(dtype), False, raw))


def _indptr_decreasing() -> np.ndarray:
    indptr = _tiny_model()["J_regressor"].indptr.copy()
    nonzero = np.flatnonzero(np.diff(indptr))  # columns holding a value
    indptr[nonzero[0] + 1] = indptr[-1]  # jump to the end, then fall back
    return indptr


def _attacks(marker: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (pickle bytes, a fragment the error line must hold)."""
    touch = f"open({str(marker)!r}, 'w')"
    csc = _global("scipy.sparse", "csc_matrix")
    nnz = _tiny_model()["J_regressor"].nnz
    attacks = {
        # scipy sparse rebuilt from unchecked state: toarray() wrote out of bounds
        "sparse-index-past-the-rows": (_sparse(indices=np.full(nnz, 10**8, np.int32)), "indices: an index"),
        "sparse-negative-index": (_sparse(indices=np.full(nnz, -7, np.int32)), "indices: an index"),
        "sparse-index-uint64-wraps": (
            _sparse(indices=np.full(nnz, 2**64 - 1, np.uint64)),
            "indices: an index",
        ),
        "sparse-indptr-decreasing": (_sparse(indptr=_indptr_decreasing()), "indptr: decreases"),
        "sparse-indptr-past-the-data": (
            _sparse(indptr=np.r_[0, np.full(162, nnz + 1000)].astype(np.int32)),
            "indptr: must run from 0",
        ),
        "sparse-indptr-too-short": (_sparse(indptr=np.array([0, nnz], np.int32)), "indptr: 2 entries"),
        "sparse-data-shorter-than-indices": (_sparse(data=np.ones(1)), "data: 1 values"),
        "sparse-float-indices": (_sparse(indices=np.zeros(nnz)), "indices: expected a vector of integers"),
        "sparse-huge-shape": (_sparse(_shape=(100_000, 100_000)), "10,000,000,000 values"),
        "sparse-shape-not-sizes": (_sparse(_shape=("5", -1)), "J_regressor.shape"),
        "sparse-shape-object-scalar": (
            _sparse(_shape=(_Reduce(_SCALAR, (np.dtype("O"), 5)), 162)),
            "dtype O8 is not a number type",
        ),
        "sparse-object-data": (_sparse(data=np.array([os.getcwd] * nnz, dtype=object)), "posix.getcwd"),
        "sparse-slotstate-build": (_Ops(csc + b")\x81N}\x86b"), "csc_matrix has no state dict"),
        "sparse-built-twice": (_Ops(csc + b")\x81}b}b"), "csc_matrix is given a state twice"),
        # ndarrays: sizes, dtypes and byte counts are checked before anything is allocated
        "array-huge-shape": (_array_state((100_000, 100_000, 3), "f8", b"\0" * 8), "30,000,000,000 values"),
        "array-data-shorter-than-shape": (_array_state((100, 3), "f8", b"\0" * 8), "holds 8 bytes"),
        "array-object-dtype": (np.array([1, 2, 3], dtype=object), "dtype O8 is not a number type"),
        "array-object-data": (_array_state((2,), "f8", [1, 2]), "an object array"),
        "array-structured-dtype": (np.zeros(3, [("a", "<f8")]), "dtype V8 is not a number type"),
        "array-dtype-state-with-fields": (
            _Reduce(
                _RECONSTRUCT,
                (np.ndarray, (0,), b"b"),
                (
                    1,
                    (3,),
                    _Reduce(
                        np.dtype,
                        ("f8", False, True),
                        (3, "<", None, ("a",), {"a": (np.dtype("f8"), 0)}, 8, 1, 16),
                    ),
                    False,
                    b"\0" * 24,
                ),
            ),
            "not a plain number type's",
        ),
        "reconstruct-terabyte-allocation": (
            _Reduce(_RECONSTRUCT, (np.ndarray, (1 << 40,), b"b")),
            "other arguments than (numpy.ndarray, (0,), 'b')",
        ),
        "reconstruct-sparse-subtype": (
            _Reduce(_RECONSTRUCT, (sp.csc_matrix, (0,), b"b")),
            "other arguments than (numpy.ndarray",
        ),
        "ndarray-called": (_Reduce(np.ndarray, ((1 << 40,),)), "numpy.ndarray may only be named as a type"),
        "ndarray-newobj": (
            _Ops(_global("numpy", "ndarray") + b"\x8a\x06\x00\x00\x00\x00\x00\x01\x85\x85\x81"),
            "numpy.ndarray may only be named as a type",
        ),
        "reconstructor-makes-an-ndarray": (
            _Reduce(copyreg._reconstructor, (np.ndarray, np.ndarray, (1 << 40,))),
            "copyreg._reconstructor may only make",
        ),
        "build-on-a-class": (
            _Ops(_global("numpy", "ndarray") + b"N}X\x03\x00\x00\x00abcNs\x86b"),
            "numpy.ndarray itself is given a state",
        ),
        "build-on-a-chumpy-class": (_Ops(_global("chumpy.ch", "Ch") + b"}b"), "chumpy.ch.Ch itself is given"),
        "chumpy-x-is-a-set": (_Ch({1, 2}), "v_template.x: holds builtins.set"),
        "chumpy-without-x": (
            _Ops(_global("chumpy.ch", "Ch") + b")\x81}b"),
            "chumpy.ch.Ch is not a plain array",
        ),
        # code execution: every other global is refused by name before anything is called
        "os-system": (_Reduce(os.system, (f"touch {marker}",)), "refusing to load posix.system"),
        "builtins-eval": (
            _Reduce(eval, (touch,)),
            "refusing to load __builtin__.eval",
        ),  # protocol 2 spelling
        "builtins-getattr": (_Reduce(getattr, ("", "join")), "refusing to load __builtin__.getattr"),
        "numpy-load": (_Reduce(np.load, (str(marker),)), "refusing to load numpy.load"),
        "numpy-frombuffer": (_Reduce(np.frombuffer, (b"\0" * 8,)), "frombuffer"),
        "stack-global-os-system": (_Ops(b"\x8c\x05posix\x8c\x06system\x93"), "refusing to load posix.system"),
        "inst-os-system": (_Ops(b"(X\x04\x00\x00\x00trueiposix\nsystem\n"), "refusing to load posix.system"),
        "nested-eval-inside-a-chumpy-state": (_Ch({"k": [_Reduce(eval, (touch,))]}), "__builtin__.eval"),
        "nested-codecs-zlib": (
            _Reduce(_RECONSTRUCT, (np.ndarray, (0,), _Reduce(__import__("_codecs").encode, ("b", "zlib")))),
            "_codecs.encode may only turn text into latin-1 bytes",
        ),
        "persistent-id": (_Ops(b"X\x01\x00\x00\x00xQ"), "no persistent references"),
        "deep-nesting": (_Ops(b"]" * 50_000 + b"a" * 49_999), "v_template: holds a list"),
        # well-formed arrays whose values would send the renderer out of bounds
        "faces-past-the-vertices": (np.full((320, 3), 10**6, np.int64), "f names a vertex outside"),
        "kintree-parent-out-of-range": (
            np.array([[4294967295, 0, 1, 99, 1], [0, 1, 2, 3, 4]]),
            "parents must come before",
        ),
        "values-beyond-float32": (np.full((162, 3), 1e300), "beyond float32"),
    }
    fields = {"faces-past-the-vertices": "f", "kintree-parent-out-of-range": "kintree_table"}
    out = {}
    for name, (value, fragment) in attacks.items():
        key = "J_regressor" if name.startswith("sparse") else fields.get(name, "v_template")
        out[name] = (_flame_pickle(**{key: value}), fragment)
    return out


_DRIVER = """
import gc, json, os, sys
import scipy.sparse
from studio.cli import build_parser, main

build_parser()  # imports every command's module once; each case then runs in a forked process
gc.freeze()  # a child's collections then skip the inherited objects instead of copying their pages

results = {}
for name, path in json.loads(sys.argv[1]):
    pid = os.fork()
    if pid == 0:
        for fd, suffix in ((1, ".out"), (2, ".err")):
            os.dup2(os.open(path + suffix, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        try:
            code = main(["flame-convert", path, "-o", path + ".npz"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 70
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    with open(path + ".err", encoding="utf-8", errors="replace") as stream:
        results[name] = [os.waitstatus_to_exitcode(status), stream.read()]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def attack_results(tmp_path_factory):
    """Every crafted pickle through ``flame-convert``, each in its own process (a signal shows as
    a negative exit code instead of killing the test run); ``name -> (exit code, stderr, fragment)``."""
    folder = tmp_path_factory.mktemp("attacks")
    marker = folder / "pwned"
    attacks = _attacks(marker)
    cases = []
    for name, (data, _) in attacks.items():
        (folder / f"{name}.pkl").write_bytes(data)
        cases.append((name, str(folder / f"{name}.pkl")))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, json.dumps(cases)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not marker.exists(), "a crafted pickle ran code"
    results = json.loads(done.stdout)
    return {name: (*results[name], attacks[name][1], folder / f"{name}.pkl") for name in attacks}


@pytest.mark.parametrize("name", list(_attacks(Path("/nonexistent/marker"))))
def test_crafted_pickles_exit_2_with_one_line(attack_results, name):
    code, err, fragment, path = attack_results[name]
    assert code == 2, f"exit code {code} (negative: killed by a signal)\n{err}"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), err
    assert fragment in lines[0]
    assert "Traceback" not in err and not path.with_suffix(".pkl.npz").exists()


def test_out_of_bounds_sparse_indices_through_the_real_command(tmp_path):
    """The memory corruption this unpickler exists to stop, end to end through ``python -m studio``."""
    path = tmp_path / "FLAME_NEUTRAL.pkl"
    nnz = tiny_flame_model()["J_regressor"].nnz
    path.write_bytes(_flame_pickle(J_regressor=_sparse(indices=np.full(nnz, 10**8, np.int32))))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "studio", "flame-convert", str(path), "-o", str(tmp_path / "o.npz")]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [f"error: {path}: J_regressor.indices: an index lies outside 0..4"]


def test_restricted_load_builds_no_real_objects():
    """What the unpickler returns for allowed globals is inert: no scipy or numpy object exists yet."""
    loaded = restricted_load(_pickle_with_fake_chumpy(tiny_flame_model()))
    assert not any(isinstance(v, sp.spmatrix | np.ndarray) for v in loaded.values())
