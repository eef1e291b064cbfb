"""Rigs from OBJ folders: name matching through the alias table, halves, cache; the real ICT rig."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from renderers import obj_rig
from renderers.obj_rig import load_obj_rig
from renderers.rig import RigError, RigWarning
from studio.motion import ARKIT_BLENDSHAPES
from tests.renderers.conftest import weights

QUAD = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\n"


def _obj(path: Path, offset: tuple[float, float, float] = (0, 0, 0), faces: bool = False) -> None:
    verts = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float) + offset
    text = "".join(f"v {x} {y} {z}\n" for x, y, z in verts)
    if faces:
        text += "usemtl skin\nf 1/1 2/2 3/3 4/4\n"
    path.write_text(text)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    rig = tmp_path / "myrig"
    rig.mkdir()
    _obj(rig / "neutral.obj", faces=True)
    _obj(rig / "EyeBlink_L.obj", (0, -0.5, 0))
    _obj(rig / "browInnerUp_L.obj", (0, 0.25, 0))
    _obj(rig / "browInnerUp_R.obj", (0, 0.5, 0))
    _obj(rig / "wrinkle.obj", (1, 0, 0))
    return rig


def test_names_halves_missing_and_unknown(folder):
    with pytest.warns(RigWarning) as record:
        rig = load_obj_rig(folder)
    text = " ".join(str(w.message) for w in record)
    assert "wrinkle" in text and "jawOpen" in text
    assert rig.faces.shape == (2, 3)  # the quad was fanned into two triangles
    k_blink, k_brow = ARKIT_BLENDSHAPES.index("eyeBlinkLeft"), ARKIT_BLENDSHAPES.index("browInnerUp")
    np.testing.assert_allclose(rig.deltas[k_blink, :, 1], -0.5)
    np.testing.assert_allclose(rig.deltas[k_brow, :, 1], 0.75)  # the halves add up
    assert len(rig.missing) == 50 and "eyeBlinkLeft" not in rig.missing
    posed = rig.evaluate(weights(browInnerUp=1.0))[0]
    np.testing.assert_allclose(posed[:, 1] - rig.neutral[:, 1], 0.75)


def test_second_load_reads_the_cache_and_edits_invalidate_it(folder, monkeypatch):
    with pytest.warns(RigWarning):
        first = load_obj_rig(folder)
    assert list((folder / "..").glob("cache/rigs/*.npz")) or list(folder.glob(".studio-rig-*.npz"))

    def refuse(_folder):
        raise AssertionError("parsed the OBJs again instead of reading the cache")

    monkeypatch.setattr(obj_rig, "build_obj_rig", refuse)
    cached = load_obj_rig(folder)
    np.testing.assert_array_equal(cached.deltas, first.deltas)
    _obj(folder / "EyeBlink_L.obj", (0, -0.25, 0.0001))  # a changed file: the key changes
    with pytest.raises(AssertionError, match="parsed the OBJs again"):
        load_obj_rig(folder)


def test_bad_folders(tmp_path):
    with pytest.raises(RigError, match="no neutral"):
        load_obj_rig(tmp_path)
    (tmp_path / "neutral.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    (tmp_path / "jawOpen.obj").write_text("v 0 0 0\nv 1 0 0\n")
    with pytest.raises(RigError, match="2 vertices"):
        load_obj_rig(tmp_path, use_cache=False)


def test_real_ict_rig(ict_rig):
    rig = ict_rig
    assert rig.missing == ("tongueOut",)
    present = [n for n in ARKIT_BLENDSHAPES if n != "tongueOut"]
    for name in present:
        assert np.abs(rig.deltas[ARKIT_BLENDSHAPES.index(name)]).max() > 0, name
    assert rig.unit == "cm"
    # eyeballs: two groups mirrored across x = 0, each rotating about its fitted centre
    np.testing.assert_allclose(rig.eye_pivots[0] * [-1, 1, 1], rig.eye_pivots[1], atol=0.05)
    assert rig.eye_pivots[0, 0] > 0  # the character's left is +x
    radii = np.linalg.norm(rig.neutral[rig.eye_vertices[0]] - rig.eye_pivots[0], axis=1)
    assert radii.std() / radii.mean() < 0.15
    blink = rig.evaluate(weights(eyeBlinkLeft=1.0))[0]
    moved = np.linalg.norm(blink - rig.neutral, axis=1) > 0.05
    assert rig.neutral[moved, 0].mean() > 1.0  # the left lid (+x) moves
    assert not moved[rig.eye_vertices[0]].any()  # ICT shapes never move the eyeball
