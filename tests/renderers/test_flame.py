"""FLAME: the restricted unpickler, conversion, and posing a small synthetic FLAME model."""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse as sp
import trimesh

from renderers.flame import FlameFormatError, FlameHead, convert_flame_pickle, restricted_load
from studio.motion import FlameLayout, MotionClip


class _Ch:
    """Pickles like chumpy's Ch: class chumpy.ch.Ch with its array in the state's 'x'."""

    def __init__(self, x):
        self.x = x

    def __getstate__(self):
        return {"x": self.x, "_dirty_vars": set()}


def _pickle_with_fake_chumpy(model: dict) -> bytes:
    chumpy = types.ModuleType("chumpy")
    ch = types.ModuleType("chumpy.ch")
    _Ch.__module__, _Ch.__qualname__ = "chumpy.ch", "Ch"
    ch.Ch = _Ch
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = chumpy, ch
    try:
        return pickle.dumps(model, protocol=2)
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]


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


def test_flame_renders(gl, flame_npz, monkeypatch):
    from renderers.pipeline import Stage, frames_for

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
    from renderers.pipeline import Stage, frames_for

    monkeypatch.delenv("STUDIO_FLAME_DIR", raising=False)
    clip = MotionClip.zeros(5, 30.0, "flame", FlameLayout(n_expression=10))
    frames = list(frames_for(clip, None, Stage(size=256)))
    assert len(frames) == 5 and frames[0].shape == (256, 256, 3)
    assert not np.array_equal(frames[0], frames[4])  # the time cursor moves
