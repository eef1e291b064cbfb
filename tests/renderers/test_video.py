"""MP4 writing (H.264, yuv420p, playable in browsers) and reading back."""

from __future__ import annotations

import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from renderers import VideoWriter, read_mp4, write_mp4, write_png


def _probe(path) -> str:
    run = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return run.stderr


def test_mp4_roundtrip_keeps_count_size_rate_and_content(tmp_path):
    frames = np.zeros((12, 64, 96, 3), np.uint8)
    for t in range(12):
        frames[t, :, : 8 * (t + 1)] = (200, 60, 30)  # a bar that grows frame by frame
    path = tmp_path / "bar.mp4"
    assert write_mp4(frames, path, fps=24) == 12
    back, fps = read_mp4(path)
    assert back.shape == frames.shape and fps == pytest.approx(24)
    assert np.abs(back.astype(int) - frames.astype(int)).mean() < 6
    info = _probe(path)
    assert "h264" in info and "yuv420p" in info


def test_odd_sizes_are_padded_and_mismatches_refused(tmp_path):
    path = tmp_path / "odd.mp4"
    with VideoWriter(path, 30) as writer:
        writer.append(np.full((33, 45, 3), 128, np.uint8))
        with pytest.raises(ValueError, match="differs"):
            writer.append(np.zeros((34, 46, 3), np.uint8))
        with pytest.raises(ValueError, match="uint8"):
            writer.append(np.zeros((33, 45, 3), np.float32))
    back, _ = read_mp4(path)
    assert back.shape == (1, 34, 46, 3)


def test_png(tmp_path):
    from PIL import Image

    write_png(np.full((5, 7, 3), 9, np.uint8), tmp_path / "a" / "x.png")
    assert Image.open(tmp_path / "a" / "x.png").size == (7, 5)
