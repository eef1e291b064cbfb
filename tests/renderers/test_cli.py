"""``python -m studio render`` / ``rig-sheet`` / ``flame-convert`` end to end on real takes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from renderers import read_mp4
from studio.cli import main
from studio.formats import read_clip
from studio.motion import ARKIT_CHANNELS


def test_render_follows_the_take_on_the_default_rig(gl, take_path, tmp_path):
    out = tmp_path / "take.mp4"
    assert main(["render", str(take_path), "-o", str(out), "--size", "128", "--max-seconds", "20"]) == 0
    frames, fps = read_mp4(out)
    assert frames.shape == (600, 128, 128, 3) and fps == pytest.approx(30)
    # the mouth region changes most where the jaw opens most: the face follows the take
    jaw = read_clip(take_path).clip.values[:600, ARKIT_CHANNELS.index("jawOpen")]
    closed, opened = int(np.argmin(jaw)), int(np.argmax(jaw))
    assert jaw[opened] - jaw[closed] > 0.3
    mouth = (slice(80, 112), slice(44, 84))
    eyes = (slice(40, 60), slice(20, 108))
    diff = np.abs(frames[opened].astype(int) - frames[closed].astype(int))
    assert diff[mouth].mean() > 8
    blink = read_clip(take_path).clip.values[:600, ARKIT_CHANNELS.index("eyeBlinkLeft")]
    shut, wide = int(np.argmax(blink)), int(np.argmin(blink))
    assert blink[shut] - blink[wide] > 0.5
    assert np.abs(frames[shut].astype(int) - frames[wide].astype(int))[eyes].mean() > 3


def test_render_on_ict_and_side_by_side(gl, ict_rig, take_path, tmp_path):
    out = tmp_path / "ict.mp4"
    assert (
        main(["render", str(take_path), "-o", str(out), "--rig", "ict", "--size", "96", "--max-seconds", "1"])
        == 0
    )
    frames, _ = read_mp4(out)
    assert frames.shape == (30, 96, 96, 3)
    other = take_path.parent / "S88-001.csv"
    both = tmp_path / "both.mp4"
    assert (
        main(
            [
                "render",
                str(take_path),
                str(other),
                "-o",
                str(both),
                "--size",
                "96",
                "--max-seconds",
                "1",
                "--labels",
                "facial",
                "S88",
                "--camera",
                "three-quarter",
                "--curves",
            ]
        )
        == 0
    )
    frames, _ = read_mp4(both)
    assert frames.shape[0] == 30 and frames.shape[2] == 96 * 2 + 4


def test_rig_sheet(gl, tmp_path):
    out = tmp_path / "sheet.png"
    assert main(["rig-sheet", "-o", str(out), "--size", "64"]) == 0
    width, height = Image.open(out).size
    assert width == 9 * 64 + 8 * 4 and height > 6 * 64


def test_user_errors_exit_2(gl, take_path, tmp_path, capsys):
    assert main(["render", str(take_path), "-o", str(tmp_path / "x.mp4"), "--rig", "nope"]) == 2
    assert "--rig must be" in capsys.readouterr().err
    assert main(["render", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "x.mp4")]) == 2
    assert main(["render", str(take_path), "-o", str(tmp_path / "x.avi")]) == 2
    assert main(["render", str(take_path), "-o", str(tmp_path / "x.mp4"), "--labels", "a", "b"]) == 2
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.")
    assert main(["flame-convert", str(evil), "-o", str(tmp_path / "f.npz")]) == 2
    assert "refusing to load os.system" in capsys.readouterr().err
