"""Composition: side by side on one timeline, captions, contact sheets, curve strips."""

from __future__ import annotations

import numpy as np
import pytest

from renderers.compose import CAPTION_BG, GAP, CurveStrip, contact_sheet, side_by_side, text_band, with_strip


def test_side_by_side_shares_one_timeline_and_holds_the_last_frame():
    a = np.stack([np.full((20, 30, 3), t, np.uint8) for t in range(5)])
    b = np.stack([np.full((20, 10, 3), 100 + t, np.uint8) for t in range(3)])
    out = side_by_side([a, b], ["a", "b"], caption_height=12)
    assert out.shape == (5, 32, 30 + GAP + 10, 3)
    assert (out[:, :20, :30] == a).all()
    assert out[4, 0, 30 + GAP, 0] == 102  # b held its last frame
    assert (out[:, :20, 30 : 30 + GAP] == CAPTION_BG).all()
    with pytest.raises(ValueError, match="labels"):
        side_by_side([a], ["a", "b"])


def test_text_band_draws_text():
    band = text_band("jawOpen", 120, 20)
    assert band.shape == (20, 120, 3)
    assert (band != CAPTION_BG).any()
    assert (text_band("", 120, 20) == CAPTION_BG).all()


def test_contact_sheet_grid():
    images = [np.full((10, 12, 3), i, np.uint8) for i in range(5)]
    sheet = contact_sheet(images, [str(i) for i in range(5)], columns=3, caption_height=8, title="t")
    assert sheet.shape == (34 + 2 * 18 + GAP, 3 * 12 + 2 * GAP, 3)


def test_curve_strip_cursor_moves_with_time():
    values = np.stack([np.linspace(0, 1, 50), np.zeros(50), np.sin(np.linspace(0, 6, 50))], 1)
    strip = CurveStrip(values, ["up", "flat", "wave"], width=200, height=60)
    assert strip.channels == ("wave", "up")  # busiest first; a flat channel is not drawn
    first, last = strip.frame(0), strip.frame(49)
    assert first.shape == (60, 200, 3)
    white_first = np.nonzero((first == 255).all(axis=(0, 2)))[0]
    white_last = np.nonzero((last == 255).all(axis=(0, 2)))[0]
    assert white_first.max() < 10 and white_last.min() > 190
    frames = list(with_strip([np.zeros((30, 200, 3), np.uint8)] * 3, strip))
    assert frames[0].shape == (90, 200, 3)


def test_message_cards_wrap_to_their_pixel_width():
    from renderers.compose import _wrap_to_width, message_frame

    def measure(text: str) -> float:
        return 7.0 * len(text)  # a monospaced stand-in

    text = "No FLAME model is configured: see https://flame.is.tue.mpg.de/download"
    lines = _wrap_to_width(text, measure, 70)
    assert all(measure(line) <= 70 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")  # nothing lost
    card = message_frame(["word " * 60, "x" * 300], 200, 300)
    assert card.shape == (300, 200, 3)
    right_margin = card[:, -8:].reshape(-1, 3)
    assert (right_margin == right_margin[0]).all()  # no text runs into the right margin
