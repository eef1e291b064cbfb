import struct
import tracemalloc
import warnings
import zipfile

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


# -- bad input is one clear error (security review) ---------------------------------------------


def studio_npz(path, **changes):
    arrays = {
        "values": np.zeros((3, 61), np.float32),
        "fps": np.float64(30),
        "space": np.str_("arkit"),
        "channels": np.array(ARKIT_CHANNELS),
        "meta_json": np.str_("{}"),
    }
    np.savez(path, **{**arrays, **changes})
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"meta_json": np.str_("[1, 2]")}, "key 'meta_json'.*expected a JSON object, found list"),
        ({"meta_json": np.str_("[" * 100_000)}, "key 'meta_json'.*nested 100000 levels deep"),
        ({"meta_json": np.str_('{"a": 1' + "0" * 5000 + "}")}, "integer with 5001 digits"),
        ({"space": np.str_("arkitx")}, "unknown space 'arkitx'"),  # was silently read as ARKit
        ({"space": np.str_("ARKIT")}, "unknown space"),
        ({"fps": np.str_("0_1")}, "key 'fps'.*expected one number"),
        ({"fps": np.array([30.0, 30.0])}, "key 'fps'.*expected one number"),
        ({"values": np.full((3, 61), 1e300)}, "far outside any channel's range"),
        ({"channels": np.array([ARKIT_CHANNELS])}, "key 'channels'"),
    ],
)
def test_bad_studio_npz_fields(tmp_path, changes, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warning before the error
        with pytest.raises(FormatError, match=message):
            read_clip(studio_npz(tmp_path / "c.npz", **changes))


def test_flame_with_more_than_300_expression_columns(tmp_path):
    np.savez(tmp_path / "keys.npz", expression=np.zeros((3, 301)))
    with pytest.raises(FormatError, match="301 expression coefficients; FLAME has at most 300"):
        read_clip(tmp_path / "keys.npz")
    names = np.array([f"expr_{i:03d}" for i in range(301)])
    path = studio_npz(tmp_path / "s.npz", values=np.zeros((3, 301)), space=np.str_("flame"), channels=names)
    with pytest.raises(FormatError, match=r"n_expression must be in 1\.\.300"):
        read_clip(path)


def test_a_zip_bomb_is_refused_from_its_declared_sizes(tmp_path):
    from benchmarks.fuzz_formats import npz_bomb

    bomb = tmp_path / "bomb.npz"
    bomb.write_bytes(npz_bomb((175_000, 1000)))  # 1.4 GB of float64 zeros in ~1.4 MB
    assert bomb.stat().st_size < 2_000_000
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match=r"members declare 1,400,000,128 bytes uncompressed"):
            read_clip(bomb)  # the default cap: 200,000 frames
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20
    # the bound follows the frame cap: 4.8 MB of arrays is too much for a 1,000-frame clip
    bomb.write_bytes(npz_bomb((2000, 300)))
    with pytest.raises(FormatError, match="a clip holds at most 3,592,576"):
        read_clip(bomb, max_frames=1000)
    assert read_clip(bomb, max_frames=2000).clip.n_frames == 2000


def _patched(data: bytes, offset_from_directory: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, data.rfind(b"PK\x01\x02") + offset_from_directory, value)
    return bytes(out)


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "message"),
    [
        (24, "<I", 1_400_000_000, "members declare 1,400,000,000 bytes"),  # a lying size
        (8, "<H", 1, "is encrypted"),
        (10, "<H", 99, "unsupported compression"),
    ],
)
def test_zip_members_that_lie_or_cannot_be_read(tmp_path, offset, fmt, value, message):
    np.savez(tmp_path / "ok.npz", expression=np.zeros((3, 50)))
    data = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "bad.npz").write_bytes(_patched(data, offset, fmt, value))
    with pytest.raises(FormatError, match=message):
        read_clip(tmp_path / "bad.npz")


def test_archives_with_many_members_or_odd_members(tmp_path):
    np.savez(tmp_path / "many.npz", **{f"a{i}": np.zeros(1) for i in range(100)})
    with pytest.raises(FormatError, match="more than 64 members"):
        read_clip(tmp_path / "many.npz")
    with zipfile.ZipFile(tmp_path / "odd.npz", "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(FormatError, match=r"member 'notes\.txt' is not a \.npy array"):
        read_clip(tmp_path / "odd.npz")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("'<f8', 'fortran_order': False, 'shape': (200000000, 53), }", "more than 50,000,000 numbers"),
        ("'<f8', 'fortran_order': False, 'shape': (400000, 53), }", "more than a clip can hold"),
        ("'<f8', 'fortran_order': False, 'shape': (2000, 53), }", r"holds fewer \(truncated\)"),
        ("'|V1000000000', 'fortran_order': False, 'shape': (2,), }", "structured array"),
        ("'<f8', 'fortran_order': False, 'shape': (-3, 53), }", "negative shape"),
        ("'<f8', 'fortran_order': False, 'shape': (3, 5", "not a readable NumPy file"),
        ("'<f8', 'fortran_order': False, 'shape': (3L, 53L), }", "not a readable NumPy file"),  # Python 2
    ],
)
def test_npy_headers_are_checked_before_reading(tmp_path, header, message):
    text = ("{'descr': " + header).ljust(118) + "\n"
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode() + bytes(64)
    (tmp_path / "h.npy").write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns while it parses a Python 2 header
        with pytest.raises(FormatError, match=message):
            read_clip(tmp_path / "h.npy", max_frames=1000)  # at most ~3.6 MB of arrays


def test_a_rate_that_makes_a_clip_last_for_days_is_refused(tmp_path):
    np.save(tmp_path / "seq.npy", np.zeros((10, 53)))
    with pytest.raises(FormatError, match="longer than the limit"):
        read_clip(tmp_path / "seq.npy", fps=1e-6)
    with pytest.raises(FormatError, match="frame rate inf"):
        read_clip(tmp_path / "seq.npy", fps=float("inf"))
