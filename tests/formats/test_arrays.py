import numpy as np
import pytest

from studio.formats import FormatError, read_clip, write_clip
from studio.formats.arrays import PACKED_LAYOUTS, write_flame_npz
from studio.motion import ARKIT_CHANNELS, FlameLayout, MotionClip


def test_studio_npz_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    clip = MotionClip(rng.random((40, 61)), 20, "arkit", ARKIT_CHANNELS, {"prompt": "a smile"})
    write_clip(clip, tmp_path / "c.npz")
    again = read_clip(tmp_path / "c.npz").clip
    assert again.allclose(clip, atol=0) and again.meta["prompt"] == "a smile"


def test_studio_npz_flame_round_trip(tmp_path):
    layout = FlameLayout(100, "6d", eye_pose=True)
    clip = MotionClip.zeros(7, 25, "flame", layout)
    write_clip(clip, tmp_path / "f.npz")
    assert read_clip(tmp_path / "f.npz").clip.allclose(clip, atol=0)


@pytest.mark.parametrize("width", sorted(PACKED_LAYOUTS))
def test_packed_npy_sequences(tmp_path, width):
    data = np.random.default_rng(width).normal(0, 0.3, (12, width))
    np.save(tmp_path / "seq.npy", data)
    loaded = read_clip(tmp_path / "seq.npy")
    clip = loaded.clip
    assert clip.space == "flame" and clip.n_frames == 12 and clip.layout == PACKED_LAYOUTS[width]
    assert clip.fps == 24 and "assuming 24 fps" in loaded.warnings[0]
    np.testing.assert_allclose(clip.values, data, atol=1e-6)


@pytest.mark.parametrize(("width", "jaw"), [(50, None), (56, "6d")])
def test_static_vectors_are_single_frame_expressions(tmp_path, width, jaw):
    np.save(tmp_path / "static.npy", np.linspace(-1, 1, width))
    clip = read_clip(tmp_path / "static.npy", fps=30).clip
    assert clip.is_static and clip.layout.jaw == jaw and clip.fps == 30


def test_cteg_53_maps_expression_then_jaw(tmp_path):
    data = np.zeros((3, 53))
    data[:, 50] = 0.2  # jaw opening about x
    np.save(tmp_path / "cteg.npy", data)
    clip = read_clip(tmp_path / "cteg.npy").clip
    assert clip.channel("jaw_x")[0] == pytest.approx(0.2) and clip.channel("expr_049")[0] == 0


def test_flame_npz_by_keys_and_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(
        tmp_path / "keys.npz",
        expression=rng.normal(size=(9, 50)),
        jaw_pose=rng.normal(0, 0.1, (9, 3)),
        neck_pose=np.zeros((9, 3)),
        eye_pose=np.zeros((9, 6)),
        fps=np.float64(30),
    )
    clip = read_clip(tmp_path / "keys.npz").clip
    assert clip.layout == FlameLayout(50, "axis_angle", neck_pose=True, eye_pose=True) and clip.fps == 30
    write_flame_npz(clip, tmp_path / "again.npz")
    assert read_clip(tmp_path / "again.npz").clip.allclose(clip, atol=1e-7)


def test_deca_pose_is_split_into_global_and_jaw(tmp_path):
    pose = np.zeros((4, 6))
    pose[:, 3] = 0.3
    np.savez(tmp_path / "deca.npz", exp=np.zeros((4, 50)), pose=pose)
    clip = read_clip(tmp_path / "deca.npz", fps=25).clip
    assert clip.layout.global_pose and clip.channel("jaw_x")[0] == pytest.approx(0.3)


def test_pickled_objects_are_refused(tmp_path):
    np.save(tmp_path / "evil.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FormatError, match="pickled"):
        read_clip(tmp_path / "evil.npy")


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"arr": np.zeros((5, 61))}, "width 61 is not a known FLAME layout"),
        ({"expression": np.full((3, 50), np.nan)}, "NaN"),
        ({"expression": np.zeros((3, 50)), "jaw_pose": np.zeros((4, 3))}, "disagree"),
        ({"expression": np.zeros((3, 50)), "jaw_pose": np.zeros((3, 4))}, "expected"),
        ({"expression": np.full((3, 50), 1e4)}, "far outside"),
        ({"expression": np.array(["a", "b"])}, "expected numbers"),
        ({"a": np.zeros(3), "b": np.zeros(3)}, "single packed array"),
    ],
)
def test_bad_flame_files(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(FormatError, match=message):
        read_clip(tmp_path / "bad.npz")


def test_frame_limit_and_truncated_file(tmp_path):
    np.save(tmp_path / "long.npy", np.zeros((100, 53)))
    with pytest.raises(FormatError, match="limit"):
        read_clip(tmp_path / "long.npy", max_frames=99)
    (tmp_path / "cut.npz").write_bytes((tmp_path / "long.npy").read_bytes()[:50])
    with pytest.raises(FormatError, match="not a readable NumPy file"):
        read_clip(tmp_path / "cut.npz")


def test_studio_npz_with_out_of_range_arkit_values(tmp_path):
    values = np.zeros((2, 61), np.float32)
    values[1, 17] = 9.0
    np.savez(tmp_path / "c.npz", values=values, fps=30.0, space="arkit", channels=np.array(ARKIT_CHANNELS))
    with pytest.raises(FormatError, match="frame 1, channel 'jawOpen'"):
        read_clip(tmp_path / "c.npz")


def test_oversized_array_is_refused_from_its_header(tmp_path, monkeypatch):
    import studio.formats.arrays as arrays

    monkeypatch.setattr(arrays, "MAX_ELEMENTS", 1000)
    np.savez_compressed(tmp_path / "bomb.npz", expression=np.zeros((100, 50)))
    with pytest.raises(FormatError, match="more than 1,000 numbers"):
        read_clip(tmp_path / "bomb.npz")
