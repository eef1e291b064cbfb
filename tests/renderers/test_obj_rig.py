"""Rigs from OBJ folders: name matching through the alias table, halves, cache; the real ICT rig."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from renderers import RigError, RigWarning, load_obj_rig, obj_rig
from studio.motion import ARKIT_BLENDSHAPES
from tests.renderers.conftest import weights

QUAD = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\n"


def _obj(path: Path, offset: tuple[float, float, float] = (0, 0, 0), faces: bool = False) -> None:
    verts = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float) + offset
    text = "".join(f"v {x} {y} {z}\n" for x, y, z in verts)
    if faces:
        text += "usemtl skin\nf 1/1 2/2 3/3 4/4\n"
    path.write_text(text)


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file in ``folder`` (hidden ones too) with its size and modification time."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


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
    before = _listing(folder)
    with pytest.warns(RigWarning):
        first = load_obj_rig(folder)
    assert len(list((folder / "..").glob("cache/rigs/myrig-*.npz"))) == 1
    assert _listing(folder) == before  # the rig folder is an input: nothing is written into it

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


@pytest.fixture
def read_only_folder(folder):
    """The rig folder with no write bits (root could still write: the test compares listings)."""
    for path in folder.iterdir():
        path.chmod(0o444)
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def test_a_read_only_rig_folder_loads_from_the_cache_root_and_stays_untouched(read_only_folder, tmp_path):
    before = _listing(read_only_folder)
    with pytest.warns(RigWarning):
        first = load_obj_rig(read_only_folder)
    second = load_obj_rig(read_only_folder)  # from the cache: no warnings this time
    np.testing.assert_array_equal(first.deltas, second.deltas)
    assert list((tmp_path / "cache" / "rigs").glob("myrig-*.npz"))
    assert _listing(read_only_folder) == before


def test_a_read_only_rig_folder_renders(gl, read_only_folder):
    from renderers import Stage, frames_for
    from studio.motion import ARKIT_CHANNELS, MotionClip

    before = _listing(read_only_folder)
    with pytest.warns(RigWarning):
        rig = load_obj_rig(read_only_folder)
    clip = MotionClip(np.repeat(weights(browInnerUp=1.0), 2, axis=0), 30.0, "arkit", ARKIT_CHANNELS)
    frames = list(frames_for(clip, rig, Stage(size=64)))
    assert len(frames) == 2 and frames[0].shape == (64, 64, 3) and frames[0].any()
    assert _listing(read_only_folder) == before


def test_an_unwritable_cache_root_still_loads(folder, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache root should be")
    monkeypatch.setenv("STUDIO_CACHE_DIR", str(blocker))
    with pytest.warns(RigWarning):
        rig = load_obj_rig(folder)
    assert rig.faces.shape == (2, 3) and blocker.read_text().startswith("a file")
    assert not [p for p in folder.iterdir() if p.name.startswith(".") or "tmp" in p.name]


def test_two_folders_of_the_same_name_never_share_a_cache(folder, tmp_path):
    other = tmp_path / "elsewhere" / "myrig"
    other.mkdir(parents=True)
    for path in folder.iterdir():  # the same names, sizes and times: only the path differs
        other.joinpath(path.name).write_bytes(path.read_bytes())
        os.utime(other / path.name, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    for rig in (folder, other):
        with pytest.warns(RigWarning):
            load_obj_rig(rig)
    assert len(list((tmp_path / "cache" / "rigs").glob("myrig-*.npz"))) == 2
