"""The blendshape rig: evaluation, repair of bad input, and the default head's shapes."""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from renderers import BlendshapeRig, RigError, RigWarning, load_rig_npz, save_rig_npz
from renderers.rig import DEFAULT_RIG_PATH, N_SHAPES, rotation_matrices
from studio.motion import ARKIT_BLENDSHAPES, ARKIT_CHANNELS, FlameLayout, MotionClip
from tests.renderers.conftest import weights

ROOT = Path(__file__).resolve().parents[2]


def test_default_asset_is_small_and_complete(default_rig):
    assert DEFAULT_RIG_PATH.stat().st_size < 5_000_000
    assert default_rig.deltas.shape == (N_SHAPES, default_rig.n_vertices, 3)
    assert default_rig.missing == ()
    assert 5_000 <= default_rig.n_vertices <= 25_000
    assert all(len(e) > 100 for e in default_rig.eye_vertices)


def test_build_script_is_deterministic_and_matches_the_asset():
    spec = importlib.util.spec_from_file_location(
        "build_default_rig", ROOT / "scripts" / "build_default_rig.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    a, b = module.build_rig(), module.build_rig()
    assert np.array_equal(a.neutral, b.neutral) and np.array_equal(a.deltas, b.deltas)
    shipped = load_rig_npz(DEFAULT_RIG_PATH)
    assert np.array_equal(a.faces, shipped.faces)
    np.testing.assert_allclose(a.neutral, shipped.neutral, atol=1e-6)
    np.testing.assert_allclose(a.deltas, shipped.deltas, atol=1e-6)
    np.testing.assert_allclose(a.colors, shipped.colors, atol=1 / 255)


def test_evaluate_is_linear_in_the_blendshapes(default_rig):
    rng = np.random.default_rng(0)
    values = np.zeros((4, 61), np.float32)
    values[:, :N_SHAPES] = rng.uniform(0, 1, (4, N_SHAPES))
    posed = default_rig.evaluate(values)
    assert posed.shape == (4, default_rig.n_vertices, 3) and posed.dtype == np.float32
    # no rotations: every vertex is neutral + sum_k w_k delta_k (eyeballs included)
    expected = default_rig.neutral + np.einsum("tk,kvc->tvc", values[:, :N_SHAPES], default_rig.deltas)
    np.testing.assert_allclose(posed, expected, atol=1e-5)
    np.testing.assert_array_equal(default_rig.evaluate(np.zeros((1, 61))), default_rig.neutral[None])
    # chunked evaluation gives the same frames
    chunks = np.concatenate(list(default_rig.iter_evaluate(values, chunk=3)))
    np.testing.assert_allclose(chunks, posed, atol=1e-6)


@pytest.mark.parametrize("name", ARKIT_BLENDSHAPES)
def test_every_shape_is_a_visible_local_deformation(default_rig, name):
    k = ARKIT_BLENDSHAPES.index(name)
    moved = np.linalg.norm(default_rig.deltas[k], axis=1)
    scale = np.ptp(default_rig.neutral, axis=0).max()
    assert moved.max() > 0.006 * scale, f"{name} barely moves"
    assert (moved > 1e-4).mean() < 0.35, f"{name} moves most of the head"


def _centroid_x(rig: BlendshapeRig, name: str) -> float:
    moved = np.linalg.norm(rig.deltas[ARKIT_BLENDSHAPES.index(name)], axis=1)
    return float((rig.neutral[:, 0] * moved).sum() / moved.sum())


@pytest.mark.parametrize(
    "base",
    sorted({n[:-4] for n in ARKIT_BLENDSHAPES if n.endswith("Left") and n[:-4] not in ("jaw", "mouth")}),
)
def test_left_and_right_shapes_mirror_each_other(default_rig, base):
    left, right = (
        default_rig.deltas[ARKIT_BLENDSHAPES.index(base + "Left")],
        default_rig.deltas[ARKIT_BLENDSHAPES.index(base + "Right")],
    )
    assert np.linalg.norm(left, axis=1).sum() == pytest.approx(np.linalg.norm(right, axis=1).sum(), rel=1e-3)
    x_left, x_right = _centroid_x(default_rig, base + "Left"), _centroid_x(default_rig, base + "Right")
    assert x_left == pytest.approx(-x_right, abs=1e-3)
    if base not in ("eyeLookIn", "eyeLookOut"):  # +x is the character's left
        assert x_left > 0


def test_anatomy_of_key_shapes(default_rig):
    rig = default_rig
    neutral = rig.neutral
    front = neutral[:, 2] > 0.3
    # jawOpen: the chin drops; the lips part (lowest lip point moves down a lot more than the top)
    chin = front & (neutral[:, 1] < -0.6) & (np.abs(neutral[:, 0]) < 0.1)
    opened = rig.evaluate(weights(jawOpen=1.0))[0]
    assert (opened[chin, 1] - neutral[chin, 1]).mean() < -0.1

    # eyeBlinkLeft: the left (+x) lid gap closes, the right one stays
    def lid_gap(posed: np.ndarray, side: int) -> float:
        region = front & (np.abs(neutral[:, 0] - side * 0.29) < 0.02) & (np.abs(neutral[:, 1] - 0.15) < 0.09)
        skin = np.setdiff1d(np.nonzero(region)[0], np.concatenate(rig.eye_vertices))
        ys = posed[skin, 1]
        above = ys[neutral[skin, 1] >= 0.15 + 1e-4]
        below = ys[neutral[skin, 1] <= 0.15 - 1e-4]
        return float(above.min() - below.max())

    blink = rig.evaluate(weights(eyeBlinkLeft=1.0))[0]
    assert lid_gap(neutral, 1) > 0.06
    assert lid_gap(blink, 1) < 0.01
    assert lid_gap(blink, -1) == pytest.approx(lid_gap(neutral, -1), abs=0.005)
    # mouthSmileLeft lifts the left corner, not the right one
    smile = rig.evaluate(weights(mouthSmileLeft=1.0))[0] - neutral
    corner_l = front & (np.abs(neutral[:, 0] - 0.175) < 0.03) & (np.abs(neutral[:, 1] + 0.455) < 0.03)
    corner_r = front & (np.abs(neutral[:, 0] + 0.175) < 0.03) & (np.abs(neutral[:, 1] + 0.455) < 0.03)
    assert smile[corner_l, 1].mean() > 0.04 and abs(smile[corner_r, 1].mean()) < 0.01
    # browInnerUp raises the inner brows; tongueOut brings the tongue past the lips
    brow = rig.evaluate(weights(browInnerUp=1.0))[0] - neutral
    inner = front & (np.abs(np.abs(neutral[:, 0]) - 0.13) < 0.03) & (np.abs(neutral[:, 1] - 0.37) < 0.03)
    assert brow[inner, 1].mean() > 0.04
    tongue = rig.evaluate(weights(tongueOut=1.0))[0]
    moved = np.linalg.norm(tongue - neutral, axis=1) > 0.1
    assert tongue[moved, 2].max() > neutral[front, 2][np.abs(neutral[front, 1] + 0.455) < 0.05].max()


def test_eyes_and_head_rotate_rigidly_about_their_pivots(default_rig):
    rig = default_rig
    left = rig.eye_vertices[0]
    posed = rig.evaluate(weights(leftEyeYaw=0.4, leftEyePitch=0.2))[0]
    dist = np.linalg.norm(posed[left] - rig.eye_pivots[0], axis=1)
    np.testing.assert_allclose(dist, np.linalg.norm(rig.neutral[left] - rig.eye_pivots[0], axis=1), atol=1e-5)
    others = np.setdiff1d(np.arange(rig.n_vertices), left)
    np.testing.assert_array_equal(posed[others], rig.neutral[others])
    # +yaw turns towards -x (Live Link: leftEyeYaw rises with eyeLookInLeft); +pitch looks down
    front = left[np.argmax(rig.neutral[left, 2])]
    assert posed[front, 0] < rig.neutral[front, 0] and posed[front, 1] < rig.neutral[front, 1]
    head = rig.evaluate(weights(headYaw=0.3, headRoll=0.1))[0]
    pairs = np.random.default_rng(1).integers(0, rig.n_vertices, (200, 2))
    np.testing.assert_allclose(
        np.linalg.norm(head[pairs[:, 0]] - head[pairs[:, 1]], axis=1),
        np.linalg.norm(rig.neutral[pairs[:, 0]] - rig.neutral[pairs[:, 1]], axis=1),
        atol=1e-4,
    )


def test_rotation_matrices_are_proper():
    r = rotation_matrices(np.array([0.3, -1.0]), np.array([0.2, 0.5]), np.array([-0.1, 2.0]))
    np.testing.assert_allclose(r @ r.transpose(0, 2, 1), np.broadcast_to(np.eye(3), r.shape), atol=1e-6)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-6)


def test_bad_values_are_repaired_with_warnings(default_rig):
    values = np.zeros((3, 61), np.float32)
    values[0, 0] = np.nan
    values[1, 1] = 1.5
    values[2, 2] = 1.05  # real captures overshoot this much: clamped quietly
    with pytest.warns(RigWarning) as record:
        posed = default_rig.evaluate(values)
    messages = " | ".join(str(w.message) for w in record)
    assert "non-finite" in messages and "eyeBlinkLeft" in messages
    assert "clamped" in messages and "eyeLookDownLeft" in messages and "eyeLookInLeft" not in messages
    assert np.all(np.isfinite(posed))
    np.testing.assert_array_equal(posed[0], default_rig.neutral)
    np.testing.assert_allclose(posed[1], default_rig.evaluate(weights(eyeLookDownLeft=1.0))[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        default_rig.evaluate(np.clip(values[2:], 0, 1.05))


def test_wrong_input_is_refused(default_rig):
    with pytest.raises(RigError, match="61"):
        default_rig.evaluate(np.zeros((2, 52)))
    flame = MotionClip.zeros(3, 30.0, "flame", FlameLayout(n_expression=10))
    with pytest.raises(RigError, match="flame"):
        default_rig.evaluate(flame)
    with pytest.warns(RigWarning, match="unknown channels ignored: notAShape"):
        values = default_rig.values_from_named(np.ones((1, 2)), ["EyeBlink_L", "notAShape"])
    assert values[0, ARKIT_CHANNELS.index("eyeBlinkLeft")] == 1.0


def test_npz_roundtrip_and_refusals(default_rig, tmp_path):
    path = tmp_path / "rig.npz"
    save_rig_npz(default_rig, path)
    back = load_rig_npz(path)
    np.testing.assert_array_equal(back.deltas, default_rig.deltas)
    np.testing.assert_array_equal(back.eye_vertices[1], default_rig.eye_vertices[1])
    assert back.frame_radius == pytest.approx(default_rig.frame_radius)
    # an object array would need pickle: refused, not loaded
    arrays = default_rig.to_arrays()
    arrays["name"] = np.array([{"evil": 1}], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)
    with pytest.raises(RigError):
        load_rig_npz(tmp_path / "evil.npz")
    arrays = default_rig.to_arrays()
    del arrays["faces"]
    np.savez(tmp_path / "partial.npz", **arrays)
    with pytest.raises(RigError, match="faces"):
        load_rig_npz(tmp_path / "partial.npz")
