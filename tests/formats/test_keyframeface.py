import json
import time

import numpy as np
import pytest

from studio.formats import FormatError, read_clip, write_clip
from studio.formats.keyframeface import (
    KeyframeRecord,
    KeyframeScript,
    answer_json,
    format_user_message,
    keyframes_to_clip,
    parse_keyframe_answer,
    parse_user_message,
    read_keyframeface_jsonl,
    write_keyframeface_jsonl,
)
from studio.motion import ARKIT_CHANNELS, livelink_name

SCRIPT = KeyframeScript(
    ("She frowns slightly, lips pressed.", "Her mouth opens in shock."),
    background="She reads a letter with bad news.",
    emotion="sadness turning to surprise",
)


def keyframes(k=2, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.random((k, 52)), rng.uniform(-0.5, 0.5, (k, 9))], axis=1).astype(np.float32)


def test_user_message_round_trip():
    text = format_user_message(SCRIPT, keyframe=2)
    assert "Keyframe Description Sequence" in text and "Keyframe_2" in text
    assert parse_user_message(text) == SCRIPT


def test_user_message_parser_tolerates_markdown_headings():
    text = "### Keyframe Description Sequence\n- smile\n- laugh\n### Background: party\n### Emotion: joy\n"
    script = parse_user_message(text)
    assert script.keyframes == ("smile", "laugh") and script.background == "party" and script.emotion == "joy"


def test_answer_round_trip_and_any_spelling():
    values = keyframes(3)
    answer = parse_keyframe_answer(answer_json(values))
    assert answer.names == ("Keyframe_1", "Keyframe_2", "Keyframe_3") and not answer.problems
    np.testing.assert_allclose(answer.values, values, atol=5e-5)
    fenced = (
        "```json\n"
        + json.dumps({"Keyframe_1": dict(zip(ARKIT_CHANNELS, values[0].tolist(), strict=True))})
        + "\n```"
    )
    assert parse_keyframe_answer(fenced).values.shape == (1, 61)


def test_answer_problems_are_reported_per_keyframe():
    good = {livelink_name(c): 0.1 for c in ARKIT_CHANNELS}
    missing = dict(good)
    del missing["JawOpen"]
    data = {
        "Keyframe_1": good,
        "Keyframe_2": missing,
        "Keyframe_3": {**good, "MouthSmileLeft": 1.7},
        "Keyframe_4": {**good, "HeadYaw": "left"},
        "Keyframe_5": {**good, "Sparkle": 0.3},
        "Frame_6": good,
    }
    answer = parse_keyframe_answer(json.dumps(data))
    assert answer.names == ("Keyframe_1",)
    joined = " | ".join(answer.problems)
    for expected in (
        "Keyframe_2: missing 1 names (JawOpen",
        "Keyframe_3: MouthSmileLeft=1.7 out of [0, 1]",
        "Keyframe_4: HeadYaw is not a finite number",
        "Keyframe_5: unknown names",
        "Frame_6",
    ):
        assert expected in joined
    assert parse_keyframe_answer('{"Keyframe_1": {').problems[0].startswith("invalid JSON")
    assert "not a JSON object" in parse_keyframe_answer("[1, 2]").problems[0]


def test_keyframes_to_clip_eases_through_each_keyframe():
    keys = keyframes(2)
    clip = keyframes_to_clip(keys, fps=30)
    assert clip.meta["keyframe_times_s"] == [1.0, 2.0]
    np.testing.assert_allclose(clip.values[0], 0, atol=1e-7)  # starts neutral
    np.testing.assert_allclose(clip.values[30], keys[0], atol=1e-6)
    np.testing.assert_allclose(clip.values[60], keys[1], atol=1e-6)
    np.testing.assert_allclose(clip.values[-1], keys[1], atol=1e-6)  # holds the last pose
    # eased: the first step out of a keyframe is smaller than a linear step would be
    linear_step = np.abs(keys[1] - keys[0]).max() / 30
    assert np.abs(clip.values[31] - clip.values[30]).max() < linear_step * 0.1
    assert clip.n_frames == round(2.5 * 30) + 1


def test_keyframes_to_clip_rejects_bad_times():
    with pytest.raises(ValueError, match="increasing"):
        keyframes_to_clip(keyframes(2), times_s=[1.0, 0.5])


def test_keyframe_csv_round_trip(tmp_path):
    clip = keyframes_to_clip(keyframes(3), fps=30, times_s=[0.5, 1.5, 2.0])
    write_clip(clip, tmp_path / "k.keyframes.csv")
    again = read_clip(tmp_path / "k.keyframes.csv").clip
    assert again.allclose(clip, atol=1e-6)


def test_keyframe_csv_errors(tmp_path):
    (tmp_path / "a.keyframes.csv").write_text("Keyframe,Time,EyeBlinkLeft\nKeyframe_1,0.5,0.2\n")
    with pytest.raises(FormatError, match="missing channel"):
        read_clip(tmp_path / "a.keyframes.csv")
    header = "Keyframe," + ",".join(livelink_name(c) for c in ARKIT_CHANNELS)
    (tmp_path / "b.keyframes.csv").write_text(header + "\nKeyframe_1," + ",".join(["x"] * 61) + "\n")
    with pytest.raises(FormatError, match=r"row 2.*non-numeric"):
        read_clip(tmp_path / "b.keyframes.csv")
    (tmp_path / "c.keyframes.csv").write_text(header + "\nKeyframe_1," + ",".join(["9"] * 61) + "\n")
    with pytest.raises(FormatError, match="far outside"):
        read_clip(tmp_path / "c.keyframes.csv")


def test_answer_json_file_reads_as_clip(tmp_path):
    (tmp_path / "answer.json").write_text(answer_json(keyframes(2)))
    assert read_clip(tmp_path / "answer.json").clip.n_frames == 76
    (tmp_path / "broken.json").write_text('{"Keyframe_1": 3}')
    with pytest.raises(FormatError, match="Keyframe_1: expected an object"):
        read_clip(tmp_path / "broken.json")


def test_chat_jsonl_round_trip(tmp_path):
    answer = parse_keyframe_answer(answer_json(keyframes(2)))
    records = [KeyframeRecord(SCRIPT, answer), KeyframeRecord(KeyframeScript(("a wink",)))]
    write_keyframeface_jsonl(records, tmp_path / "chat.jsonl")
    again = read_keyframeface_jsonl(tmp_path / "chat.jsonl")
    assert [r.script for r in again] == [r.script for r in records]
    np.testing.assert_allclose(again[0].answer.values, answer.values, atol=1e-6)
    assert again[1].answer is None


def test_chat_jsonl_bad_line_is_named(tmp_path):
    good = json.dumps({"messages": [{"role": "user", "content": format_user_message(SCRIPT)}]})
    (tmp_path / "chat.jsonl").write_text(good + "\n{not json}\n")
    with pytest.raises(FormatError, match="line 2"):
        read_keyframeface_jsonl(tmp_path / "chat.jsonl")


# -- bad input is one clear error (security review) ---------------------------------------------

NAMES = [livelink_name(c) for c in ARKIT_CHANNELS]
KEYFRAME_HEADER = "Keyframe,Time," + ",".join(NAMES)


def keyframe_rows(times):
    return "".join(f"Keyframe_{i},{t}," + ",".join(["0.1"] * 61) + "\n" for i, t in enumerate(times, 1))


def test_more_than_64_keyframes_is_one_clear_error(tmp_path):
    answer = json.loads(answer_json(keyframes(65)))
    (tmp_path / "many.json").write_text(json.dumps(answer))
    with pytest.raises(FormatError, match="65 keyframes; at most 64"):
        read_clip(tmp_path / "many.json")
    (tmp_path / "many.keyframes.csv").write_text(KEYFRAME_HEADER + "\n" + keyframe_rows(range(1, 70)))
    with pytest.raises(FormatError, match="more than 64 keyframes"):
        read_clip(tmp_path / "many.keyframes.csv")


def test_deep_nesting_and_huge_integers_are_problems_not_crashes(tmp_path):
    assert parse_keyframe_answer("[" * 100_000).problems[0].startswith("invalid JSON: nested 100000 levels")
    big = answer_json(keyframes(1)).replace("0.", "1" + "0" * 5000 + ".", 1)
    assert "integer with" in parse_keyframe_answer(big.replace(".", "", 1)).problems[0]
    huge_key = {"Keyframe_" + "9" * 5000: dict(zip(NAMES, [0.1] * 61, strict=True))}
    assert "not a Keyframe_<n> key" in parse_keyframe_answer(json.dumps(huge_key)).problems[0]
    (tmp_path / "deep.json").write_text('{"Keyframe_1": ' * 5000 + "}" * 5000)
    with pytest.raises(FormatError, match="nested"):
        read_clip(tmp_path / "deep.json")
    (tmp_path / "chat.jsonl").write_text('{"messages": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(FormatError, match=r"line 1.*nested"):
        read_keyframeface_jsonl(tmp_path / "chat.jsonl")


def test_parsing_long_text_takes_linear_time():
    start = time.perf_counter()
    assert parse_keyframe_answer(" " * 300_000 + "x").problems  # was quadratic: the fence regex
    with pytest.raises(ValueError, match="no 'Keyframe Description Sequence'"):
        parse_user_message("\n" * 300_000 + "x")  # was quadratic in the section regex
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(
    ("times", "max_frames", "message"),
    [
        (["1e9"], 200_000, r"makes 3e\+10 frames at 30 fps, more than the limit 200000"),  # 224 GB
        (["1", "400"], 10_000, "more than the limit 10000"),  # STUDIO_MAX_FRAMES
        (["0_1"], 200_000, "non-numeric value '0_1'"),
        (["1e400"], 200_000, "NaN or inf"),
    ],
)
def test_keyframe_times_are_strict_and_bounded(tmp_path, times, max_frames, message):
    path = tmp_path / "k.keyframes.csv"
    path.write_text(KEYFRAME_HEADER + "\n" + keyframe_rows(times))
    with pytest.raises(FormatError, match=message):
        read_clip(path, max_frames=max_frames)


def test_a_channel_given_twice_is_refused(tmp_path):
    header = KEYFRAME_HEADER + ",EyeBlinkLeft"
    (tmp_path / "d.keyframes.csv").write_text(header + "\n" + keyframe_rows([1]).rstrip("\n") + ",0.2\n")
    with pytest.raises(FormatError, match="given twice: EyeBlinkLeft"):
        read_clip(tmp_path / "d.keyframes.csv")
    twice = answer_json(keyframes(1)).replace('"EyeBlinkLeft"', '"eyeBlink_L": 0.3, "EyeBlinkLeft"')
    assert "given twice" in parse_keyframe_answer(twice).problems[0]
