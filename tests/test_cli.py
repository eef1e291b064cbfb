import subprocess
import sys

import numpy as np
import pytest

from studio.cli import main
from studio.formats import read_clip


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
