import subprocess
import sys
import warnings

import numpy as np
import pytest

from studio.cli import main
from studio.formats import read_clip
from studio.motion import ARKIT_CHANNELS as ARKIT


def run_cli(*args):
    """Run the real entry point in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=120
    )


def test_info_on_real_take(livelink_dir):
    result = run_cli("info", str(livelink_dir / "S88-001.csv"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "30 fps (measured 30.0" in out
    assert "dropped:   277 rows" in out and "frames:    1662" in out
    assert "eyeBlink" in out  # the busiest channels are listed


def test_bad_file_gives_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Timecode,BlendShapeCount,EyeBlinkLeft\n00:00:00:00.000,61,0.5\n")
    result = run_cli("info", str(bad))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "missing channel" in result.stderr and str(bad) in result.stderr


def test_convert_between_formats(livelink_dir, tmp_path):
    source = livelink_dir / "facial.csv"
    assert main(["convert", str(source), str(tmp_path / "a.npz")]) == 0
    assert main(["convert", str(tmp_path / "a.npz"), str(tmp_path / "b.csv")]) == 0
    assert read_clip(tmp_path / "b.csv").clip.allclose(read_clip(source).clip, atol=1e-6)
    assert main(["convert", str(source), str(tmp_path / "c.npz"), "--fps", "20"]) == 0
    down = read_clip(tmp_path / "c.npz").clip
    assert down.fps == 20 and down.n_frames == round(1913 * 20 / 30)


def test_convert_keyframes(livelink_dir, tmp_path):
    assert main(["convert", str(livelink_dir / "facial.csv"), str(tmp_path / "k.keyframes.csv")]) == 0
    clip = read_clip(tmp_path / "k.keyframes.csv").clip
    assert len(clip.meta["keyframe_times_s"]) == 5


def test_convert_refuses_flame_to_live_link(tmp_path, capsys):
    np.save(tmp_path / "f.npy", np.zeros((4, 53)))
    assert main(["convert", str(tmp_path / "f.npy"), str(tmp_path / "out.csv")]) == 2
    assert "only ARKit clips" in capsys.readouterr().err


def test_unknown_extension(tmp_path, capsys):
    (tmp_path / "x.txt").write_text("hello")
    assert main(["info", str(tmp_path / "x.txt")]) == 2
    assert "unknown file type" in capsys.readouterr().err


def test_unwritable_output(livelink_dir, tmp_path, capsys):
    target = tmp_path / "missing-folder" / "out.npz"
    assert main(["convert", str(livelink_dir / "facial.csv"), str(target)]) == 2
    assert "error:" in capsys.readouterr().err


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2


# -- every bad input is one line and exit code 2 (security review) -------------------------------


def _live_link(rows=3, cell="0.1"):
    from studio.formats.livelink import format_timecode
    from studio.motion import ARKIT_CHANNELS, livelink_name

    header = ["Timecode", "BlendShapeCount", *(livelink_name(c) for c in ARKIT_CHANNELS)]
    body = [[format_timecode(i / 30), "61", cell, *["0.1"] * 60] for i in range(rows)]
    return "\n".join(",".join(r) for r in [header, *body]) + "\n"


def _keyframes(time_s):
    from studio.motion import ARKIT_CHANNELS, livelink_name

    header = "Keyframe,Time," + ",".join(livelink_name(c) for c in ARKIT_CHANNELS)
    return f"{header}\nKeyframe_1,{time_s}," + ",".join(["0.1"] * 61) + "\n"


def _write_bad(tmp_path, name):
    """One file per class of bad input the review found; returns (path, expected words)."""
    from benchmarks.fuzz_formats import npz_bomb
    from studio.formats.keyframeface import answer_json

    path = tmp_path / name
    if name == "underscore.csv":
        path.write_text(_live_link(cell="0_1"))
        return path, "non-numeric value '0_1'"
    if name == "beyond-float.csv":
        path.write_text(_live_link(cell="1e400"))
        return path, "'1e400' is not a finite number"
    if name == "huge-float.csv":  # numpy used to print "overflow encountered in cast" first
        path.write_text(_live_link(cell="1e300"))
        return path, "far outside"
    if name == "utf16.csv":
        path.write_bytes(_live_link().encode("utf-16"))
        return path, "UTF-16 text"
    if name == "many.json":
        path.write_text(answer_json(np.full((65, 61), 0.1)))
        return path, "65 keyframes; at most 64"
    if name == "nested.json":
        path.write_text("[" * 100_000 + "]" * 100_000)
        return path, "nested 100000 levels deep"
    if name == "gigabytes.keyframes.csv":
        path.write_text(_keyframes("1e9"))
        return path, "more than the limit"
    if name == "flame301.npz":
        np.savez(path, expression=np.zeros((4, 301)))
        return path, "FLAME has at most 300"
    if name == "meta.npz":
        np.savez(
            path,
            values=np.zeros((2, 61)),
            fps=30.0,
            space="arkit",
            channels=np.array(ARKIT),
            meta_json="[" * 100_000,
        )
        return path, "nested"
    if name == "meta-list.npz":
        np.savez(
            path, values=np.zeros((2, 61)), fps=30.0, space="arkit", channels=np.array(ARKIT), meta_json="[1]"
        )
        return path, "expected a JSON object"
    if name == "space.npz":
        np.savez(path, values=np.zeros((2, 61)), fps=30.0, space="smpl", channels=np.array(ARKIT))
        return path, "unknown space 'smpl'"
    if name == "bomb.npz":
        path.write_bytes(npz_bomb((175_000, 1000)))
        return path, "members declare 1,400,000,128 bytes"
    raise AssertionError(name)


BAD_FILES = [
    "underscore.csv",
    "beyond-float.csv",
    "huge-float.csv",
    "utf16.csv",
    "many.json",
    "nested.json",
    "gigabytes.keyframes.csv",
    "flame301.npz",
    "meta.npz",
    "meta-list.npz",
    "space.npz",
    "bomb.npz",
]


@pytest.mark.parametrize("name", BAD_FILES)
def test_each_bad_file_is_one_line_and_exit_2_in_info_and_convert(tmp_path, capsys, name):
    path, words = _write_bad(tmp_path, name)
    for argv in (["info", str(path)], ["convert", str(path), str(tmp_path / "out.npz")]):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"error: {path}") and words in err, err


def test_render_refuses_a_bad_flame_file_in_one_line(tmp_path, capsys):
    path, words = _write_bad(tmp_path, "flame301.npz")
    assert main(["render", str(path), "-o", str(tmp_path / "out.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


def test_studio_max_frames_applies_to_info_and_convert(tmp_path, capsys, monkeypatch):
    path = tmp_path / "k.keyframes.csv"
    path.write_text(_keyframes("5"))  # (5 + 0.5 s) * 30 fps + 1 = 166 frames
    assert main(["info", str(path)]) == 0
    capsys.readouterr()
    monkeypatch.setenv("STUDIO_MAX_FRAMES", "100")
    assert main(["info", str(path)]) == 2
    assert "more than the limit 100" in capsys.readouterr().err
    monkeypatch.setenv("STUDIO_MAX_FRAMES", "200")
    assert main(["convert", str(path), str(tmp_path / "o.npz"), "--fps", "60"]) == 2  # 332 frames
    assert "would make 332 frames (the limit is 200)" in capsys.readouterr().err
    for rate in ("1e400", "nan", "0", "-5"):
        assert main(["convert", str(path), str(tmp_path / "o.npz"), "--fps", rate]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--fps must be a rate in (0, 1000]" in err


def test_warnings_are_held_back_when_the_command_fails(tmp_path, monkeypatch):
    import studio.cli

    # in a real process, where a warning would reach stderr (under pytest it is recorded instead)
    script = (
        "import warnings, studio.cli as cli\n"
        "from studio.formats import FormatError\n"
        "def read(*a, **k):\n"
        "    warnings.warn('overflow encountered in cast', RuntimeWarning, stacklevel=2)\n"
        "    raise FormatError('x.csv', 'bad', 'line 2')\n"
        "cli.read_clip = read\n"
        "raise SystemExit(cli.main(['info', 'x.csv']))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr == "error: x.csv (line 2): bad\n"
    np.save(tmp_path / "f.npy", np.zeros((4, 53)))
    loaded = read_clip(tmp_path / "f.npy")

    def warn_then_read(*args, **kwargs):
        warnings.warn("overflow encountered in cast", RuntimeWarning, stacklevel=2)
        return loaded

    monkeypatch.setattr(studio.cli, "read_clip", warn_then_read)
    with pytest.warns(RuntimeWarning, match="overflow encountered in cast"):  # shown when it succeeds
        assert main(["info", "f.npy"]) == 0


def test_a_real_process_prints_one_line_for_a_zip_bomb(tmp_path):
    path, words = _write_bad(tmp_path, "bomb.npz")
    result = run_cli("info", str(path))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and words in result.stderr


def test_a_file_name_too_long_for_the_file_system_is_one_line(tmp_path, capsys):
    assert main(["info", str(tmp_path / ("y" * 300 + ".csv"))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be resolved (File name too long)" in err
