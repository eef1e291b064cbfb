"""L1 vertex error through a rig: hand-computed values, region masks, units and the sparse twin."""

import warnings
from pathlib import Path

import numpy as np
import pytest

from evaluations.geometry import GeometryError, region_masks, sparse_twin, vertex_l1_errors
from renderers import BlendshapeRig, load_default_rig
from studio.motion import ARKIT_BLENDSHAPES, ARKIT_CHANNELS, MotionClip

ICT = Path(__file__).resolve().parents[3] / "shared" / "rigs" / "ict-facekit"


def tiny_rig(unit: str = "cm") -> BlendshapeRig:
    """Six vertices: mouthFunnel moves vertex 0 by +1 cm in x; jawOpen moves vertices 0, 1 by -2 cm in y."""
    deltas = np.zeros((52, 6, 3), np.float32)
    deltas[ARKIT_BLENDSHAPES.index("mouthFunnel"), 0] = (1.0, 0.0, 0.0)
    deltas[ARKIT_BLENDSHAPES.index("jawOpen"), [0, 1]] = (0.0, -2.0, 0.0)
    return BlendshapeRig(
        name="tiny",
        neutral=np.arange(18, dtype=np.float32).reshape(6, 3),
        faces=np.array([[0, 1, 2]], np.int32),
        colors=np.full((6, 3), 0.5, np.float32),
        deltas=deltas,
        eye_vertices=(np.array([], np.int64), np.array([], np.int64)),
        eye_pivots=np.zeros((2, 3), np.float32),
        head_pivot=np.zeros(3, np.float32),
        frame_center=np.zeros(3, np.float32),
        frame_radius=1.0,
        unit=unit,
    )


def clip_with(name: str, weight: float, frames: int = 10) -> np.ndarray:
    values = np.zeros((frames, 61), np.float32)
    values[:, ARKIT_CHANNELS.index(name)] = weight
    return values


def test_hand_computed_errors():
    rig = tiny_rig()
    masks = region_masks(rig)
    assert masks["head"].sum() == 6 and masks["face"].nonzero()[0].tolist() == [0, 1]
    assert masks["lip"].nonzero()[0].tolist() == [0]
    errors = vertex_l1_errors(rig, clip_with("mouthFunnel", 0.5), np.zeros((12, 61), np.float32))
    # vertex 0 is 0.5 cm = 5 mm off in x, the other axes and vertices agree; 10 frames compared.
    # head: 5 / (6 vertices * 3 axes); face: 5 / (2 * 3); lip: 5 / (1 * 3)
    assert errors.n_frames == 10
    assert errors.per_region_mm["head"] == pytest.approx(5 / 18)
    assert errors.per_region_mm["face"] == pytest.approx(5 / 6)
    assert errors.per_region_mm["lip"] == pytest.approx(5 / 3)


def test_identical_clips_have_zero_error_and_units_are_required():
    rig = tiny_rig()
    same = clip_with("jawOpen", 0.7)
    assert all(v == 0 for v in vertex_l1_errors(rig, same, same).per_region_mm.values())
    unknown = tiny_rig(unit="unit")
    with pytest.raises(GeometryError, match="millimetres"):
        vertex_l1_errors(unknown, same, same)
    errors = vertex_l1_errors(
        unknown, clip_with("mouthFunnel", 1.0), clip_with("mouthFunnel", 0.0), unit_mm=2.0
    )
    assert errors.per_region_mm["lip"] == pytest.approx(2.0 / 3)  # 1 unit = 2 mm in x only


def test_clips_at_different_rates_are_refused():
    a = MotionClip(clip_with("jawOpen", 0.2), 30.0, "arkit", ARKIT_CHANNELS)
    b = MotionClip(clip_with("jawOpen", 0.2), 10.0, "arkit", ARKIT_CHANNELS)
    with pytest.raises(GeometryError, match="rates"):
        vertex_l1_errors(tiny_rig(), a, b)


def test_default_rig_regions_and_sparse_twin():
    rig = load_default_rig()
    masks = region_masks(rig)
    assert masks["lip"].sum() > 100 and masks["face"].sum() > 10 * masks["lip"].sum()
    assert not np.any(masks["lip"] & ~masks["face"])  # the lips are part of the face
    # the lips sit below the face region's centre, the face below the head's top
    assert rig.neutral[masks["lip"], 1].mean() < rig.neutral[masks["face"], 1].mean()
    rng = np.random.default_rng(0)
    values = np.zeros((5, 61), np.float32)
    values[:, :52] = rng.random((5, 52))
    values[:, 52:] = rng.uniform(-0.3, 0.3, (5, 9))  # head and eye rotations too
    assert np.allclose(sparse_twin(rig).evaluate(values), rig.evaluate(values), atol=1e-5)
    jaw = vertex_l1_errors(rig, clip_with("jawOpen", 0.8), np.zeros((10, 61), np.float32)).per_region_mm
    assert jaw["lip"] > jaw["face"] > jaw["head"] > 0  # a jaw drop concentrates at the mouth
    assert 1.0 < jaw["lip"] < 50.0  # millimetres on a life-size head


@pytest.mark.slow
def test_ict_facekit_regions_in_millimetres():
    """The real ICT-FaceKit rig (centimetres): regions derive from its own shapes."""
    if not (ICT / "generic_neutral_mesh.obj").is_file():
        pytest.skip(f"ICT-FaceKit rig not found at {ICT} (the shared rigs folder is absent)")
    from renderers.obj_rig import load_obj_rig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ICT lacks tongueOut; the loader says so
        rig = load_obj_rig(ICT)
    masks = region_masks(rig)
    assert rig.unit == "cm"
    assert 0 < masks["lip"].sum() < masks["face"].sum() < masks["head"].sum()
    jaw = vertex_l1_errors(rig, clip_with("jawOpen", 0.8), np.zeros((4, 61), np.float32)).per_region_mm
    assert jaw["lip"] > jaw["face"] > jaw["head"] > 0
    assert 1.0 < jaw["lip"] < 50.0
