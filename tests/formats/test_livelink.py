import csv
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.formats import FormatError, read_clip
from studio.formats.livelink import (
    format_timecode,
    measure_fps,
    parse_timecode,
    read_livelink_csv,
    write_livelink_csv,
)
from studio.motion import ARKIT_CHANNELS, MotionClip, livelink_name

# (file, data rows kept, tracking-lost rows) as SOURCE.md documents them
REAL_TAKES = [
    ("S88-001.csv", 1939 - 277, 277),
    ("alex_rom_3.csv", 4030, 0),
    ("alex_rom_4.csv", 3809, 0),
    ("facial.csv", 1913, 0),
]


@pytest.mark.parametrize(("name", "frames", "dropped"), REAL_TAKES)
def test_real_takes_load_with_right_counts_and_rate(livelink_dir, name, frames, dropped):
    loaded = read_livelink_csv(livelink_dir / name)
    assert loaded.clip.n_frames == frames
    assert loaded.dropped_rows == dropped
    assert loaded.clip.fps == 30.0
    assert 29.9 < loaded.clip.meta["measured_fps"] < 30.1
    values = loaded.clip.values
    assert values[:, :52].max() <= 1.1 and values[:, :52].min() >= -1e-6  # real takes exceed 1 a little


def test_real_take_values_land_in_named_channels(livelink_dir):
    path = livelink_dir / "facial.csv"
    with path.open() as handle:
        header = next(csv.reader(handle))
        first = next(csv.reader(handle))
    clip = read_livelink_csv(path).clip
    for column, name in enumerate(header[2:], start=2):
        assert clip.channel(name)[0] == pytest.approx(float(first[column]), abs=1e-7)


@pytest.mark.parametrize(("name", "_frames", "_dropped"), REAL_TAKES)
def test_real_takes_round_trip_exactly(livelink_dir, tmp_path, name, _frames, _dropped):
    clip = read_livelink_csv(livelink_dir / name).clip
    write_livelink_csv(clip, tmp_path / "out.csv")
    again = read_livelink_csv(tmp_path / "out.csv").clip
    assert again.allclose(clip, atol=1e-6)
    assert again.meta["start_time_s"] == pytest.approx(clip.meta["start_time_s"], abs=1e-4)


def shuffle_columns(source: Path, target: Path, seed: int = 0) -> None:
    with source.open(newline="") as handle:
        rows = list(csv.reader(handle))
    width = len(rows[0])
    order = [0, 1, *(2 + np.random.default_rng(seed).permutation(width - 2))]
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle)
        for row in rows:
            writer.writerow([row[i] for i in order] if len(row) == width else row)


def test_shuffled_column_order_loads_every_value_in_its_channel(livelink_dir, tmp_path):
    shuffle_columns(livelink_dir / "S88-001.csv", tmp_path / "shuffled.csv")
    original = read_livelink_csv(livelink_dir / "S88-001.csv").clip
    shuffled = read_livelink_csv(tmp_path / "shuffled.csv")
    assert shuffled.dropped_rows == 277
    assert shuffled.clip.allclose(original, atol=0)


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


HEADER = ["Timecode", "BlendShapeCount", *(livelink_name(c) for c in ARKIT_CHANNELS)]


def good_rows(n: int = 5) -> list[list[str]]:
    return [[format_timecode(3600 + i / 30), "61", *["0.1"] * 61] for i in range(n)]


def test_alternative_count_spelling_and_trailing_comma(tmp_path):
    header = ["Timecode", "BlendshapeCount", *HEADER[2:], ""]
    rows = [[*row, ""] for row in good_rows()]
    loaded = read_livelink_csv(write_rows(tmp_path / "a.csv", header, rows))
    assert loaded.clip.n_frames == 5 and loaded.clip.fps == 30


def test_tracking_lost_rows_are_dropped_and_counted(tmp_path):
    rows = good_rows(6)
    rows[2] = [rows[2][0], "0"]
    rows[3] = [rows[3][0], "0", *["0"] * 61]
    loaded = read_livelink_csv(write_rows(tmp_path / "a.csv", HEADER, rows))
    assert loaded.dropped_rows == 2 and loaded.clip.n_frames == 4
    assert any("gap" in w for w in loaded.warnings)


def test_unknown_extra_columns_are_ignored_with_a_warning(tmp_path):
    rows = [[*row, "7"] for row in good_rows()]
    loaded = read_livelink_csv(write_rows(tmp_path / "a.csv", [*HEADER, "Mystery"], rows))
    assert loaded.clip.n_frames == 5 and "Mystery" in loaded.warnings[0]


def test_timecodes_across_midnight(tmp_path):
    rows = [[format_timecode(24 * 3600 - 2 / 30 + i / 30), "61", *["0"] * 61] for i in range(4)]
    loaded = read_livelink_csv(write_rows(tmp_path / "a.csv", HEADER, rows))
    assert loaded.clip.fps == 30 and loaded.clip.n_frames == 4


def break_cell(rows, row, column, text):
    rows = [list(r) for r in rows]
    rows[row][column] = text
    return rows


MALFORMED = {
    "empty": (None, None, "empty file"),
    "header only": (HEADER, [], "no data rows"),
    "all lost": (HEADER, [[format_timecode(i / 30), "0"] for i in range(3)], "tracking-lost"),
    "missing channel": (HEADER[:-1], [r[:-1] for r in good_rows()], "missing channel.*RightEyeRoll"),
    "no timecode": (["Time", *HEADER[1:]], good_rows(), "Timecode"),
    "non-numeric": (
        HEADER,
        break_cell(good_rows(), 2, 10, "abc"),
        "line 4, column 'EyeLookDownRight'.*non-numeric",
    ),
    "nan": (HEADER, break_cell(good_rows(), 1, 5, "nan"), "line 3.*finite"),
    "inf": (HEADER, break_cell(good_rows(), 1, 5, "inf"), "line 3.*finite"),
    "far out of range": (
        HEADER,
        break_cell(good_rows(), 3, 19, "57.0"),
        "line 5, column 'JawOpen'.*far outside",
    ),
    "rotation out of range": (HEADER, break_cell(good_rows(), 0, 54, "-40"), "HeadYaw.*far outside"),
    "backwards": (HEADER, break_cell(good_rows(), 3, 0, format_timecode(3600)), "line 5.*does not advance"),
    "bad timecode": (HEADER, break_cell(good_rows(), 0, 0, "yesterday"), "line 2.*HH:MM:SS"),
    "frame field too big": (HEADER, break_cell(good_rows(), 0, 0, "01:00:00:75.000"), "out of range"),
    "ragged row": (HEADER, [*good_rows(), ["01:00:01:00.000", "61", "0.5"]], "line 7.*expected 63 fields"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_raise_one_clear_error(tmp_path, case):
    header, rows, message = MALFORMED[case]
    path = tmp_path / "bad.csv"
    if header is None:
        path.write_text("")
    else:
        write_rows(path, header, rows)
    with pytest.raises(FormatError, match=message) as info:
        read_clip(path)
    assert str(path) in str(info.value)


def test_frame_limit(tmp_path):
    path = write_rows(tmp_path / "long.csv", HEADER, good_rows(50))
    assert read_livelink_csv(path, max_frames=50).clip.n_frames == 50
    with pytest.raises(FormatError, match="more than 49 frames"):
        read_livelink_csv(path, max_frames=49)


def test_binary_garbage_is_a_format_error(tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(FormatError):
        read_clip(path)


def test_missing_file_is_a_format_error(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        read_clip(tmp_path / "nope.csv")


@pytest.mark.parametrize("seconds", [0.0, 1 / 30, 59.999, 3600 + 17 / 60, 86399.98])
def test_timecode_round_trip(seconds):
    assert parse_timecode(format_timecode(seconds)) == pytest.approx(seconds, abs=1e-5)


def test_measure_fps_ignores_gaps():
    times = np.arange(100) / 30
    kept = np.delete(times, range(40, 60))
    fps, measured, gaps = measure_fps(kept)
    assert fps == 30 and measured == pytest.approx(30, rel=1e-9) and gaps == 1


blendshape = st.floats(0.0, 1.0625, allow_nan=False, width=32)
rotation = st.floats(-1.0, 1.0, allow_nan=False, width=32)


@st.composite
def clips(draw):
    frames = draw(st.integers(1, 12))
    values = np.array(
        [[draw(blendshape) for _ in range(52)] + [draw(rotation) for _ in range(9)] for _ in range(frames)],
        np.float32,
    )
    fps = draw(st.sampled_from([20.0, 24.0, 25.0, 29.97, 30.0, 50.0, 60.0]))
    start = draw(st.floats(0, 80000, allow_nan=False))
    return MotionClip(values, fps, "arkit", ARKIT_CHANNELS, {"start_time_s": start})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(clip=clips(), seed=st.integers(0, 2**16))
def test_property_write_then_read_is_identity(tmp_path, clip, seed):
    path = tmp_path / f"clip{seed}.csv"
    write_livelink_csv(clip, path)
    loaded = read_livelink_csv(path)
    assert loaded.clip.values.shape == clip.values.shape
    np.testing.assert_allclose(loaded.clip.values, clip.values, atol=1e-6, rtol=0)
    if clip.n_frames > 2:
        assert loaded.clip.fps == clip.fps
    # and the column order of the file never matters
    shuffled = tmp_path / f"shuffled{seed}.csv"
    shuffle_columns(path, shuffled, seed)
    np.testing.assert_array_equal(read_livelink_csv(shuffled).clip.values, loaded.clip.values)


def test_copy_of_real_take_keeps_its_quirks(livelink_dir, tmp_path):
    # the reader must not depend on the file name or location
    target = tmp_path / "renamed take.csv"
    shutil.copy(livelink_dir / "S88-001.csv", target)
    assert read_clip(target).dropped_rows == 277


# -- bad input is one clear error (security review) ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0_1", "non-numeric value '0_1'"),  # float() reads it as 1.0
        ("1_000", "non-numeric value '1_000'"),
        ("\u0663", "non-numeric value"),  # an Arabic-Indic 3: float() takes it
        ("0x10", "non-numeric value"),
        ("1e400", "'1e400' is not a finite number"),
    ],
)
def test_numbers_are_strict_decimals(tmp_path, text, message):
    path = write_rows(tmp_path / "n.csv", HEADER, break_cell(good_rows(), 1, 5, text))
    with pytest.raises(FormatError, match=message) as info:
        read_clip(path)
    assert "line 3, column 'EyeLookOutLeft'" in str(info.value)


def test_a_value_beyond_float32_is_refused_without_a_warning(tmp_path):
    path = write_rows(tmp_path / "big.csv", HEADER, break_cell(good_rows(), 1, 5, "1e300"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "overflow encountered in cast" would raise here
        with pytest.raises(FormatError, match=r"1e\+300 is far outside"):
            read_clip(path)


def _text_with_accent() -> str:
    header = [*HEADER, "Café"]
    return "\n".join(",".join(row) for row in [header, *([*row, "1"] for row in good_rows())]) + "\n"


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        ("utf-16", "UTF-16 text; save the file as UTF-8"),
        ("utf-32", "UTF-32 text"),
        ("utf-16-le", "NUL byte|not UTF-8 text"),  # no byte-order mark: ASCII spelled with NULs
        ("latin-1", r"not UTF-8 text \(invalid continuation byte\)"),
    ],
)
def test_other_encodings_are_one_clear_error(tmp_path, encoding, message):
    path = tmp_path / "enc.csv"
    path.write_bytes(_text_with_accent().encode(encoding))
    with pytest.raises(FormatError, match=message):
        read_clip(path)


def test_a_utf8_byte_order_mark_is_fine(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _text_with_accent().encode())
    assert read_clip(path).clip.n_frames == 5


def test_huge_fields_and_headers_give_short_messages(tmp_path):
    path = write_rows(tmp_path / "field.csv", HEADER, break_cell(good_rows(), 1, 5, "7" * 100_000 + "x"))
    with pytest.raises(FormatError, match=r"\(100,001 characters\)") as info:
        read_clip(path)
    assert len(str(info.value)) < 400
    wide = write_rows(tmp_path / "wide.csv", [*HEADER, *(f"x{i}" for i in range(3000))], good_rows())
    with pytest.raises(FormatError, match="3063 columns"):
        read_clip(wide)
    (tmp_path / "line.csv").write_text(",".join(HEADER) + "\n" + "1" * 2_000_000)
    with pytest.raises(FormatError, match="longer than 1,048,576 characters"):
        read_clip(tmp_path / "line.csv")


@pytest.mark.parametrize(
    ("step_s", "message"),
    [(1 / 30_000, "frame rate 30000 is not in"), (6 * 3600, r"lasts 6\.48e\+04 s .* longer than the limit")],
)
def test_timecodes_that_imply_an_absurd_rate_are_refused(tmp_path, step_s, message):
    rows = [[format_timecode(3600 + i * step_s), "61", *["0.1"] * 61] for i in range(3)]
    with pytest.raises(FormatError, match=message):
        read_clip(write_rows(tmp_path / "rate.csv", HEADER, rows))


def test_unicode_digits_in_timecodes_are_refused(tmp_path):
    rows = good_rows()
    rows[0][0] = "\u0660\u0661:00:00:00.000"
    with pytest.raises(FormatError, match=r"line 2.*HH:MM:SS"):
        read_clip(write_rows(tmp_path / "tc.csv", HEADER, rows))
