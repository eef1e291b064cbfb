"""Composing frames: captions, side-by-side on one timeline, contact sheets, curve strips.

All functions take and return ``uint8`` RGB arrays; nothing here touches files. Text is drawn
with Pillow's bundled scalable font, so no system font is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache

import numpy as np

CAPTION_BG = (24, 26, 30)
CAPTION_FG = (235, 235, 235)
GAP = 4  # pixels between panels
CURVE_COLORS = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
    (200, 200, 200),
)  # Okabe-Ito: distinguishable for colour-blind viewers


@lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def text_band(text: str, width: int, height: int = 28, *, align: str = "center") -> np.ndarray:
    """A ``(height, width, 3) uint8`` band with ``text`` on the caption background.

    Text wider than the band is shortened with an ellipsis rather than clipped mid-glyph.
    """
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), CAPTION_BG)
    draw = ImageDraw.Draw(image)
    font = _font(max(8, int(height * 0.55)))
    shown = text
    while shown and draw.textlength(shown, font=font) > width - 8:
        shown = shown[:-2] + "…" if len(shown) > 2 else ""
    text_w = draw.textlength(shown, font=font)
    x = (width - text_w) / 2 if align == "center" else 6
    draw.text((x, height / 2), shown, fill=CAPTION_FG, font=font, anchor="lm")
    return np.asarray(image)


def caption(frame: np.ndarray, text: str, height: int = 28) -> np.ndarray:
    """Stack a caption band under one ``(H, W, 3)`` frame: ``(H + height, W, 3)``."""
    return np.concatenate([frame, text_band(text, frame.shape[1], height)], axis=0)


def hstack(frames: Sequence[np.ndarray], gap: int = GAP) -> np.ndarray:
    """Frames of equal height side by side with a ``gap``-pixel dark gutter."""
    height = frames[0].shape[0]
    pieces: list[np.ndarray] = []
    for i, frame in enumerate(frames):
        if frame.shape[0] != height:
            raise ValueError("panels must share one height")
        if i:
            pieces.append(np.full((height, gap, 3), CAPTION_BG, np.uint8))
        pieces.append(frame)
    return np.concatenate(pieces, axis=1)


def side_by_side_frames(
    streams: Sequence[Iterable[np.ndarray]], labels: Sequence[str], caption_height: int = 28
) -> Iterator[np.ndarray]:
    """Lock-step composition of several frame streams on one shared timeline.

    Each stream yields ``(H, W, 3)`` frames at the same rate. A stream that ends early holds
    its last frame (the others keep playing) until the longest ends. Yields composite frames
    ``(H + caption_height, sum(W) + gaps, 3)``.
    """
    if len(streams) != len(labels):
        raise ValueError(f"{len(streams)} streams but {len(labels)} labels")
    iterators = [iter(s) for s in streams]
    last: list[np.ndarray | None] = [None] * len(iterators)
    bands: list[np.ndarray | None] = [None] * len(iterators)
    while True:
        alive = False
        for i, it in enumerate(iterators):
            frame = next(it, None)
            if frame is not None:
                last[i] = frame
                alive = True
        if not alive:
            return
        panels = []
        for i, frame in enumerate(last):
            if frame is None:
                raise ValueError(f"stream {labels[i]!r} yielded no frame")
            if bands[i] is None:
                bands[i] = text_band(labels[i], frame.shape[1], caption_height)
            panels.append(np.concatenate([frame, bands[i]], axis=0))
        yield hstack(panels)


def side_by_side(videos: Sequence[np.ndarray], labels: Sequence[str], caption_height: int = 28) -> np.ndarray:
    """``videos``: each ``(T_i, H, W_i, 3)`` at one frame rate -> ``(max T_i, H + c, W', 3)``.

    One composite on a shared timeline (two players never stay in sync; one video does).
    Shorter clips hold their last frame.
    """
    return np.stack(list(side_by_side_frames(videos, labels, caption_height)))


def contact_sheet(
    images: Sequence[np.ndarray],
    labels: Sequence[str],
    columns: int = 8,
    caption_height: int = 22,
    title: str | None = None,
) -> np.ndarray:
    """A labelled grid of equal-sized ``(H, W, 3)`` images: ``(rows*(H+c)+..., ..., 3)``."""
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    w = images[0].shape[1]
    tiles = [
        np.concatenate([im, text_band(lb, w, caption_height)], 0)
        for im, lb in zip(images, labels, strict=True)
    ]
    blank = np.full_like(tiles[0], CAPTION_BG)
    rows = []
    for start in range(0, len(tiles), columns):
        row = tiles[start : start + columns]
        row += [blank] * (columns - len(row))
        rows.append(hstack(row))
        rows.append(np.full((GAP, rows[-1].shape[1], 3), CAPTION_BG, np.uint8))
    sheet = np.concatenate(rows[:-1], 0)
    if title:
        sheet = np.concatenate([text_band(title, sheet.shape[1], 34, align="left"), sheet], 0)
    return sheet


class CurveStrip:
    """Coefficient curves under a video, with a cursor that moves with the frame.

    ``values``: ``(T, C)`` float; ``names``: the C channel names. The ``max_curves`` busiest
    channels (largest range) are drawn, each scaled to the strip's height by its own
    ``[min(0, lo), max(1, hi)]`` range for blendshape-like data. The static plot is drawn once;
    :meth:`frame` only paints the cursor, so it costs a copy per frame.
    """

    def __init__(
        self,
        values: np.ndarray,
        names: Sequence[str],
        width: int,
        height: int = 120,
        max_curves: int = 6,
        title: str | None = None,
    ) -> None:
        from PIL import Image, ImageDraw

        values = np.asarray(values, np.float64)
        self.n_frames, self.width, self.height = values.shape[0], int(width), int(height)
        spread = values.max(axis=0) - values.min(axis=0)
        chosen = [int(i) for i in np.argsort(-spread, kind="stable")[:max_curves] if spread[i] > 0]
        image = Image.new("RGB", (self.width, self.height), CAPTION_BG)
        draw = ImageDraw.Draw(image)
        font = _font(11)
        top, bottom = 16, self.height - 4
        lo = min(0.0, float(values[:, chosen].min())) if chosen else 0.0
        hi = max(1.0, float(values[:, chosen].max())) if chosen else 1.0
        xs = self._x(np.arange(self.n_frames))
        legend_x = 4
        if title:
            draw.text((legend_x, 2), title, fill=CAPTION_FG, font=font)
            legend_x += int(draw.textlength(title, font=font)) + 10
        for k, column in enumerate(chosen):
            color = CURVE_COLORS[k % len(CURVE_COLORS)]
            ys = bottom - (values[:, column] - lo) / (hi - lo) * (bottom - top)
            points = list(zip(xs.tolist(), ys.tolist(), strict=True))
            if len(points) == 1:
                points = points * 2
            draw.line(points, fill=color, width=1)
            label = str(names[column])
            draw.text((legend_x, 2), label, fill=color, font=font)
            legend_x += int(draw.textlength(label, font=font)) + 10
        self.channels = tuple(str(names[c]) for c in chosen)
        self._base = np.asarray(image)

    def _x(self, t: np.ndarray) -> np.ndarray:
        return 4 + t / max(self.n_frames - 1, 1) * (self.width - 8)

    def frame(self, t: int) -> np.ndarray:
        """``(height, width, 3) uint8``: the curves with the cursor at frame ``t``."""
        image = self._base.copy()
        x = round(float(self._x(np.array(min(max(t, 0), self.n_frames - 1)))))
        image[:, max(x - 1, 0) : x + 1] = (255, 255, 255)
        return image


def with_strip(frames: Iterable[np.ndarray], strip: CurveStrip) -> Iterator[np.ndarray]:
    """Stack ``strip.frame(t)`` under each frame ``t`` (widths must match)."""
    for t, frame in enumerate(frames):
        yield np.concatenate([frame, strip.frame(t)], axis=0)


def _wrap_to_width(text: str, measure: Callable[[str], float], max_px: float) -> list[str]:
    """Greedy word wrap of ``text`` so each line measures at most ``max_px`` pixels."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if measure(candidate) <= max_px:
            current = candidate
            continue
        if current:
            lines.append(current)
        while measure(word) > max_px and len(word) > 1:  # a long path or URL: break it
            cut = max([1] + [i for i in range(2, len(word)) if measure(word[:i]) <= max_px])
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    return lines or [""]


def message_frame(lines: Sequence[str], width: int, height: int) -> np.ndarray:
    """A ``(height, width, 3)`` card with text wrapped to the card's pixel width, for when there
    is nothing to render. A word wider than the card is broken where it no longer fits."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), CAPTION_BG)
    draw = ImageDraw.Draw(image)
    font = _font(max(10, width // 40))
    margin = 12
    y = margin
    for line in lines:
        for piece in _wrap_to_width(line, lambda text: draw.textlength(text, font=font), width - 2 * margin):
            draw.text((margin, y), piece, fill=CAPTION_FG, font=font)
            y += int(font.size * 1.35)
    return np.asarray(image)
