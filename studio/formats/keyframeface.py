"""KeyframeFace records: chat-format scripts, the model's JSON keyframes, and keyframe CSVs.

A KeyframeFace script has a background, an emotion and 1–5 keyframe descriptions. Its
fine-tuning data is chat JSONL, one record per line::

    {"messages": [{"role": "system", "content": SYSTEM_PROMPT},
                  {"role": "user", "content": "Keyframe Description Sequence:\\n1. ...\\n"
                                              "Background: ...\\nEmotion: ...\\n"
                                              "Task Instruction: ..."},
                  {"role": "assistant", "content": "{\\"Keyframe_1\\": {\\"EyeBlinkLeft\\": 0.0, ...}}"}]}

The answer maps ``Keyframe_<n>`` to all 61 ARKit coefficients (Live Link spelling; any known
spelling is accepted); blendshapes lie in [0, 1], pose channels in [-1, 1].

The keyframe CSV (``*.keyframes.csv``) is the tabular form of an answer, one row per keyframe::

    Keyframe,Time,EyeBlinkLeft,...,RightEyeRoll     (Time in seconds from the clip start)

Keyframes become a clip by eased (cosine) interpolation: :func:`keyframes_to_clip`.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.formats.arrays import check_arkit_range
from studio.formats.errors import (
    DEFAULT_MAX_FRAMES,
    FormatError,
    LoadedClip,
    check_length,
    check_rate,
    quote,
    shorten,
)
from studio.formats.text import TextError, checked_lines, loads_json, open_text, parse_float
from studio.motion import (
    ARKIT_BLENDSHAPES,
    ARKIT_CHANNELS,
    BLENDSHAPE_RANGE,
    MAX_FPS,
    N_ARKIT,
    ROTATION_RANGE,
    MotionClip,
    arkit_name_map,
    arkit_out_of_range,
    livelink_name,
)

SYSTEM_PROMPT = (
    "You are a facial animation expert. Given a sequence of keyframe descriptions, the "
    "background of the scene and the character's emotion, you write the ARKit blendshape and "
    "head pose coefficients of the requested keyframe as strict JSON: an object mapping "
    '"Keyframe_<n>" to an object of all 61 Live Link Face channel names. Blendshape values lie '
    "in [0, 1]; HeadYaw, HeadPitch, HeadRoll and the eye rotations lie in [-1, 1]."
)
SECTIONS = ("Keyframe Description Sequence", "Background", "Emotion", "Task Instruction")
KEYFRAME_KEY = re.compile(r"Keyframe_(\d{1,6})\Z", re.ASCII)
SECONDS_PER_KEYFRAME = 1.0  # default spacing when a script gives no keyframe times
MAX_KEYFRAMES = 64
# A keyframe names 61 channels (split halves make a few more); far more names is not an answer.
MAX_NAMES_PER_KEYFRAME = 256
MAX_COLUMNS = 1024


@dataclass(frozen=True)
class KeyframeScript:
    """What a KeyframeFace record asks for: keyframe descriptions, background, emotion."""

    keyframes: tuple[str, ...]
    background: str = ""
    emotion: str = ""

    @property
    def prompt(self) -> str:
        """One-line text for models that take a single prompt."""
        parts = [f"{self.emotion}." if self.emotion else "", self.background, " Then ".join(self.keyframes)]
        return " ".join(p.strip() for p in parts if p.strip())


@dataclass(frozen=True)
class KeyframeAnswer:
    """A parsed model answer: ``values (K, 61) float32`` for the keyframes that were valid.

    ``problems`` lists, per keyframe, everything wrong (bad JSON, missing names, out of range):
    a caller counts them (LLMs do return malformed or partial JSON).
    """

    names: tuple[str, ...]
    values: np.ndarray
    problems: tuple[str, ...] = field(default_factory=tuple)


def task_instruction(keyframe: int | None = None) -> str:
    target = f"Keyframe_{keyframe}" if keyframe else "every keyframe"
    return (
        f"Generate the 61 ARKit coefficients for {target} as strict JSON of the form "
        '{"Keyframe_<n>": {"EyeBlinkLeft": 0.0, ...}}.'
    )


def format_user_message(script: KeyframeScript, keyframe: int | None = None) -> str:
    """The user turn of a KeyframeFace chat record."""
    lines = [f"{SECTIONS[0]}:"]
    lines += [f"{i}. {text}" for i, text in enumerate(script.keyframes, 1)]
    lines += [
        f"{SECTIONS[1]}: {script.background}",
        f"{SECTIONS[2]}: {script.emotion}",
        f"{SECTIONS[3]}: {task_instruction(keyframe)}",
    ]
    return "\n".join(lines)


def parse_user_message(text: str) -> KeyframeScript:
    """Inverse of :func:`format_user_message`; tolerant of headings (``###``) and bullets."""
    pattern = "|".join(re.escape(s) for s in SECTIONS)
    # [^\w\n] rather than \W: a run of blank lines must not be rescanned from every line (quadratic)
    pieces = re.split(rf"^[^\w\n]*({pattern})[^\w\n]*:?[^\S\n]*", text, flags=re.MULTILINE | re.IGNORECASE)
    sections = {name.lower(): body.strip() for name, body in zip(pieces[1::2], pieces[2::2], strict=True)}
    raw = sections.get(SECTIONS[0].lower())
    if raw is None:
        raise ValueError(f"no '{SECTIONS[0]}' section")
    keyframes = tuple(
        re.sub(r"^\s*(?:\d+[.)]|[-*•]|Keyframe_\d+:?)\s*", "", line).strip()
        for line in raw.splitlines()
        if line.strip()
    )
    if not keyframes:
        raise ValueError("the keyframe description sequence is empty")
    return KeyframeScript(keyframes, sections.get("background", ""), sections.get("emotion", ""))


def parse_keyframe_answer(text: str) -> KeyframeAnswer:
    """Parse ``{"Keyframe_x": {name: value, ...}}``; collect every problem, keep what is valid.

    A single surrounding markdown code fence is stripped; nothing else is repaired. More than
    :data:`MAX_KEYFRAMES` keyframes, or JSON nested deeper than a few levels, is one problem.
    """
    empty = np.zeros((0, N_ARKIT), np.float32)
    try:
        data = loads_json(_strip_fence(text))
    except TextError as exc:
        return KeyframeAnswer((), empty, (str(exc),))
    if not isinstance(data, dict):
        return KeyframeAnswer((), empty, ("the answer is not a JSON object",))
    if len(data) > MAX_KEYFRAMES:
        return KeyframeAnswer((), empty, (f"{len(data)} keyframes; at most {MAX_KEYFRAMES}",))
    names, rows, problems = [], [], []
    for key in sorted(data, key=lambda k: _keyframe_number(k) or 10**9):
        row, problem = _parse_keyframe(key, data[key])
        if problem:
            problems.append(problem)
        else:
            names.append(key)
            rows.append(row)
    values = np.array(rows, np.float32).reshape(-1, N_ARKIT)
    return KeyframeAnswer(tuple(names), values, tuple(problems))


def _strip_fence(text: str) -> str:
    """``text`` without one surrounding markdown code fence (string methods: linear time)."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped[3:]
        if stripped.startswith("json"):
            stripped = stripped[4:]
    if stripped.endswith("```"):
        stripped = stripped[:-3]
    return stripped


def _keyframe_number(key: str) -> int | None:
    match = KEYFRAME_KEY.match(key)
    return int(match.group(1)) if match else None


def _parse_keyframe(key: str, body: object) -> tuple[np.ndarray | None, str | None]:
    if _keyframe_number(key) is None:
        return None, f"{shorten(key)}: not a Keyframe_<n> key"
    if not isinstance(body, dict):
        return None, f"{key}: expected an object of coefficients"
    if len(body) > MAX_NAMES_PER_KEYFRAME:
        return None, f"{key}: {len(body)} names; a keyframe has 61"
    numbers = {}
    for name, value in body.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            return None, f"{key}: {shorten(str(name))} is not a finite number ({shorten(repr(value))})"
        numbers[name] = float(value)
    name_map = arkit_name_map(list(numbers))
    if name_map.unknown:
        return None, f"{key}: unknown names {shorten(str(list(name_map.unknown)[:3]), 200)}"
    if name_map.duplicates:
        return None, f"{key}: channel given twice: {livelink_name(name_map.duplicates[0])}"
    if name_map.missing:
        missing = [livelink_name(n) for n in name_map.missing]
        return None, f"{key}: missing {len(missing)} names ({', '.join(missing[:3])}...)"
    row = name_map.apply(np.array([list(numbers.values())]))[0]
    low = np.array([BLENDSHAPE_RANGE[0]] * len(ARKIT_BLENDSHAPES) + [ROTATION_RANGE[0]] * 9)
    high = np.array([BLENDSHAPE_RANGE[1]] * len(ARKIT_BLENDSHAPES) + [ROTATION_RANGE[1]] * 9)
    out = np.flatnonzero((row < low - 1e-6) | (row > high + 1e-6))
    if len(out):
        i = out[0]
        return (
            None,
            f"{key}: {livelink_name(ARKIT_CHANNELS[i])}={row[i]:.4g} out of [{low[i]:g}, {high[i]:g}]",
        )
    return row, None


def keyframes_to_clip(
    keyframes: np.ndarray,
    *,
    fps: float = 30.0,
    times_s: Sequence[float] | None = None,
    start_from_neutral: bool = True,
    hold_s: float = 0.5,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> MotionClip:
    """Eased interpolation of ``keyframes (K, 61)`` into an ARKit clip at ``fps``.

    Keyframe ``k`` sits at ``times_s[k]`` (default ``(k + 1) * SECONDS_PER_KEYFRAME``); the clip
    starts from the neutral face at t = 0 when ``start_from_neutral`` (so a one-keyframe script
    still moves), eases between neighbours with ``(1 - cos(pi u)) / 2`` and holds the last pose
    for ``hold_s``. ``meta["keyframe_times_s"]`` records the times. Raises ``ValueError`` when
    the clip would have more than ``max_frames`` frames (checked before anything is allocated).
    """
    keys = np.asarray(keyframes, np.float64).reshape(-1, N_ARKIT)
    if not 1 <= len(keys) <= MAX_KEYFRAMES:
        raise ValueError(f"need 1..{MAX_KEYFRAMES} keyframes, got {len(keys)}")
    if not (np.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise ValueError(f"fps must be in (0, {MAX_FPS:g}], got {fps:g}")
    if times_s is None:
        offset = 1 if start_from_neutral else 0
        times = (np.arange(len(keys)) + offset) * SECONDS_PER_KEYFRAME
    else:
        times = np.asarray(times_s, np.float64)
        if times.shape != (len(keys),) or not np.all(np.isfinite(times)):
            raise ValueError("keyframe times must be finite numbers, one per keyframe")
        if np.any(np.diff(times) <= 0) or times[0] < 0:
            raise ValueError("keyframe times must be increasing, non-negative, one per keyframe")
    if start_from_neutral and times[0] > 0:
        anchor_t, anchor_v = np.concatenate([[0.0], times]), np.vstack([np.zeros(N_ARKIT), keys])
    else:
        anchor_t, anchor_v = times, keys
    wanted = (times[-1] + hold_s) * fps + 1
    if not wanted <= max_frames:  # a Time of 1e9 s would ask for gigabytes
        raise ValueError(
            f"the last keyframe at {times[-1]:.6g} s makes {wanted:.4g} frames at {fps:g} fps, "
            f"more than the limit {max_frames}"
        )
    n_frames = round(wanted - 1) + 1
    t = np.arange(n_frames) / fps
    segment = np.clip(np.searchsorted(anchor_t, t, side="right") - 1, 0, len(anchor_t) - 1)
    nxt = np.minimum(segment + 1, len(anchor_t) - 1)
    span = np.where(nxt > segment, anchor_t[nxt] - anchor_t[segment], 1.0)
    u = np.clip((t - anchor_t[segment]) / span, 0.0, 1.0)
    u = np.where(t < anchor_t[0], 0.0, u)
    w = ((1 - np.cos(np.pi * u)) / 2)[:, None]
    values = anchor_v[segment] * (1 - w) + anchor_v[nxt] * w
    meta = {"keyframe_times_s": [float(x) for x in times]}
    return MotionClip(values, fps, "arkit", ARKIT_CHANNELS, meta)


def clip_to_keyframes(clip: MotionClip, max_keyframes: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Pick keyframes from a clip: ``(times_s (K,), values (K, 61))``.

    Uses ``meta["keyframe_times_s"]`` when present (exact round trip); otherwise splits the
    clip into up to ``max_keyframes`` one-second-or-longer segments and takes the frame of
    each segment that is furthest from neutral.
    """
    if "keyframe_times_s" in clip.meta:
        times = np.asarray(clip.meta["keyframe_times_s"], np.float64)
        index = np.minimum(np.round(times * clip.fps).astype(int), clip.n_frames - 1)
        return times, clip.values[index]
    k = int(np.clip(np.floor(clip.duration_s), 1, max_keyframes))
    energy = np.abs(clip.values[:, : len(ARKIT_BLENDSHAPES)]).sum(axis=1)
    bounds = np.linspace(0, clip.n_frames, k + 1).astype(int)
    index = np.array([lo + int(np.argmax(energy[lo:hi])) for lo, hi in itertools.pairwise(bounds)])
    return index / clip.fps, clip.values[index]


def read_keyframe_csv(
    path: str | Path, *, fps: float = 30.0, max_frames: int = DEFAULT_MAX_FRAMES
) -> LoadedClip:
    """Read a keyframe CSV (one row per keyframe, at most :data:`MAX_KEYFRAMES`) into a clip.

    Numbers are strict decimals; a ``Time`` that would make more than ``max_frames`` frames is
    refused before the clip is built.
    """
    path = Path(path)
    check_rate(path, fps)
    rows: list[tuple[int, list[str]]] = []
    handle = open_text(path)
    try:
        with handle:
            reader = csv.reader(checked_lines(handle))
            for row in reader:
                if not any(c.strip() for c in row):
                    continue
                if len(row) > MAX_COLUMNS:
                    where = f"line {reader.line_num}"
                    raise FormatError(path, f"{len(row)} fields; a keyframe row has 63", where)
                if len(rows) > MAX_KEYFRAMES:  # the header and MAX_KEYFRAMES rows are already in
                    raise FormatError(path, f"more than {MAX_KEYFRAMES} keyframes", f"line {reader.line_num}")
                rows.append((reader.line_num, row))
    except TextError as exc:
        raise FormatError(path, str(exc)) from None
    except csv.Error as exc:
        raise FormatError(path, f"not a readable CSV: {exc}") from None
    if not rows:
        raise FormatError(path, "empty file")
    header, body = [c.strip() for c in rows[0][1]], rows[1:]
    if not header or header[0].lower() != "keyframe":
        raise FormatError(path, "first column must be 'Keyframe'", "header")
    if not body:
        raise FormatError(path, "no keyframe rows")
    has_time = len(header) > 1 and header[1].lower() == "time"
    first = 2 if has_time else 1
    name_map = arkit_name_map(header[first:])
    if name_map.unknown or name_map.missing or name_map.duplicates:
        if name_map.unknown:
            problem = f"unknown columns {shorten(str(list(name_map.unknown)[:3]), 200)}"
        elif name_map.missing:
            problem = f"missing channel(s) {[livelink_name(n) for n in name_map.missing[:5]]}"
        else:
            problem = f"channel given twice: {livelink_name(name_map.duplicates[0])}"
        raise FormatError(path, problem, "header")
    names = header[1:]
    values, times = [], []
    for line, row in body:
        if len(row) != len(header):
            raise FormatError(path, f"expected {len(header)} fields, found {len(row)}", f"row {line}")
        numbers = []
        for text, name in zip(row[1:], names, strict=True):
            try:
                number = parse_float(text)
            except TextError as exc:
                raise FormatError(path, str(exc), f"row {line}, column {quote(name)}") from None
            if not np.isfinite(number):
                raise FormatError(path, f"NaN or inf ({quote(text)})", f"row {line}, column {quote(name)}")
            numbers.append(number)
        if has_time:
            times.append(numbers[0])
        values.append(numbers[first - 1 :])
    keys = name_map.apply(np.array(values))  # float32: inf where a value is beyond its range
    hit = arkit_out_of_range(keys)
    if hit is not None:  # before interpolating, so that the row can be named
        k, channel = hit
        where = f"row {body[k][0]}, channel {livelink_name(ARKIT_CHANNELS[channel])!r}"
        raise FormatError(path, f"value {keys[k, channel]:.4g} is far outside the channel's range", where)
    try:
        clip = keyframes_to_clip(keys, fps=fps, times_s=times if has_time else None, max_frames=max_frames)
    except ValueError as exc:
        raise FormatError(path, str(exc)) from None
    check_arkit_range(path, clip)
    check_length(path, clip, max_frames)
    meta = {**clip.meta, "source": str(path), "format": "keyframes"}
    return LoadedClip(clip.replace(meta=meta), str(path), "keyframes")


def write_keyframe_csv(clip: MotionClip, path: str | Path) -> None:
    """Write the keyframes of an ARKit clip (see :func:`clip_to_keyframes`) as a keyframe CSV."""
    if clip.space != "arkit":
        raise ValueError("only ARKit clips can be written as keyframe CSV")
    times, keys = clip_to_keyframes(clip)
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["Keyframe", "Time", *(livelink_name(c) for c in ARKIT_CHANNELS)])
        for i, (t, row) in enumerate(zip(times, keys, strict=True), 1):
            writer.writerow([f"Keyframe_{i}", f"{t:.6f}", *(f"{v:.10f}" for v in row.tolist())])


@dataclass(frozen=True)
class KeyframeRecord:
    """One chat record: the script, and the answer when the record has one."""

    script: KeyframeScript
    answer: KeyframeAnswer | None = None
    system: str = SYSTEM_PROMPT


def read_keyframeface_jsonl(path: str | Path) -> list[KeyframeRecord]:
    """Read chat JSONL; a malformed line raises :class:`FormatError` naming the line."""
    path = Path(path)
    records = []
    handle = open_text(path)
    with handle:
        try:
            for number, line in enumerate(checked_lines(handle), 1):
                if line.strip():
                    records.append(_chat_record(path, number, line))
        except TextError as exc:
            raise FormatError(path, str(exc)) from None
    if not records:
        raise FormatError(path, "empty file")
    return records


def _chat_record(path: Path, number: int, line: str) -> KeyframeRecord:
    where = f"line {number}"
    try:
        record = loads_json(line)
    except TextError as exc:
        raise FormatError(path, f"not a KeyframeFace chat record: {exc}", where) from None
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        for m in messages
    ):
        problem = "not a KeyframeFace chat record: needs 'messages', a list of {role, content} texts"
        raise FormatError(path, problem, where)
    by_role = {m["role"]: m["content"] for m in messages}
    if "user" not in by_role:
        raise FormatError(path, "not a KeyframeFace chat record: no user message", where)
    try:
        script = parse_user_message(by_role["user"])
    except ValueError as exc:
        raise FormatError(path, f"not a KeyframeFace chat record: {exc}", where) from None
    answer = None
    if "assistant" in by_role:
        answer = parse_keyframe_answer(by_role["assistant"])
        if answer.problems:
            raise FormatError(path, answer.problems[0], where)
    return KeyframeRecord(script, answer, by_role.get("system", SYSTEM_PROMPT))


def answer_json(values: np.ndarray) -> str:
    """``values (K, 61)`` -> the model answer JSON, Live Link spelling, 4 decimals."""
    keys = np.asarray(values).reshape(-1, N_ARKIT)
    names = [livelink_name(n) for n in ARKIT_CHANNELS]
    answer = {
        f"Keyframe_{k}": {name: round(float(v), 4) for name, v in zip(names, row, strict=True)}
        for k, row in enumerate(keys, 1)
    }
    return json.dumps(answer)


def write_keyframeface_jsonl(records: Sequence[KeyframeRecord], path: str | Path) -> None:
    """Write chat JSONL records (the answer is included when present)."""
    with Path(path).open("w", encoding="utf-8") as handle:
        for record in records:
            messages = [
                {"role": "system", "content": record.system},
                {"role": "user", "content": format_user_message(record.script)},
            ]
            if record.answer is not None:
                messages.append({"role": "assistant", "content": answer_json(record.answer.values)})
            handle.write(json.dumps({"messages": messages}) + "\n")
