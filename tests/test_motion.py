import warnings

import numpy as np
import pytest

from studio.motion import (
    ARKIT_BLENDSHAPES,
    ARKIT_CHANNELS,
    ARKIT_ROTATIONS,
    ClipError,
    FlameLayout,
    MotionClip,
    arkit_alias,
    arkit_name_map,
    concatenate,
    livelink_name,
    matrix_to_rotation_6d,
    rotation_6d_to_matrix,
)


def random_clip(frames=20, fps=60.0, seed=0):
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.random((frames, 52)), rng.uniform(-0.3, 0.3, (frames, 9))], axis=1)
    return MotionClip(values, fps, "arkit", ARKIT_CHANNELS)


def test_arkit_spec_matches_live_link_order():
    assert len(ARKIT_BLENDSHAPES) == 52 and len(ARKIT_ROTATIONS) == 9 and len(ARKIT_CHANNELS) == 61
    assert ARKIT_CHANNELS[14:18] == ("jawForward", "jawRight", "jawLeft", "jawOpen")
    assert ARKIT_CHANNELS[21:23] == ("mouthRight", "mouthLeft")
    assert ARKIT_CHANNELS[51] == "tongueOut" and ARKIT_CHANNELS[52] == "headYaw"
    assert livelink_name("eyeBlinkLeft") == "EyeBlinkLeft"


@pytest.mark.parametrize(
    ("spelling", "canonical", "half"),
    [
        ("eyeBlinkLeft", "eyeBlinkLeft", False),
        ("EyeBlinkLeft", "eyeBlinkLeft", False),
        ("EYEBLINKLEFT", "eyeBlinkLeft", False),
        ("eyeBlink_L", "eyeBlinkLeft", False),
        ("eyeBlink_R", "eyeBlinkRight", False),
        ("mouthSmile_L", "mouthSmileLeft", False),
        ("browInnerUp_L", "browInnerUp", True),
        ("cheekPuff_R", "cheekPuff", True),
        ("HeadYaw", "headYaw", False),
        ("jawOpen", "jawOpen", False),
    ],
)
def test_aliases_resolve_case_insensitively(spelling, canonical, half):
    index, is_half = arkit_alias(spelling)
    assert ARKIT_CHANNELS[index] == canonical and is_half is half


def test_unknown_names_are_reported_not_guessed():
    assert arkit_alias("cheekRaiser_L") is None and arkit_alias("PupilDilate_L") is None
    name_map = arkit_name_map(["eyeBlink_L", "cheekRaiser_L"])
    assert name_map.unknown == ("cheekRaiser_L",)
    assert "eyeBlinkRight" in name_map.missing


def test_split_halves_are_summed():
    names = [livelink_name(c) for c in ARKIT_CHANNELS if c != "browInnerUp"] + [
        "browInnerUp_L",
        "browInnerUp_R",
    ]
    values = np.zeros((1, len(names)), np.float32)
    values[0, -2:] = [0.25, 0.5]
    clip = MotionClip.from_named(values, names, 30)
    assert clip.channel("browInnerUp")[0] == pytest.approx(0.75)


def test_from_named_maps_shuffled_columns_by_name():
    clip = random_clip()
    order = np.random.default_rng(1).permutation(61)
    names = [ARKIT_CHANNELS[i].upper() for i in order]
    shuffled = MotionClip.from_named(clip.values[:, order], names, 60)
    assert shuffled.allclose(clip, atol=0)


def test_from_named_refuses_missing_and_duplicate_channels():
    names = list(ARKIT_CHANNELS)
    with pytest.raises(ClipError, match="missing"):
        MotionClip.from_named(np.zeros((2, 60)), names[:-1], 30)
    clip = MotionClip.from_named(np.zeros((2, 60)), names[:-1], 30, allow_missing=True)
    assert clip.meta["missing_channels"] == ["rightEyeRoll"]
    with pytest.raises(ClipError, match="twice"):
        MotionClip.from_named(np.zeros((2, 62)), [*names, "EyeBlinkLeft"], 30)


@pytest.mark.parametrize(
    ("values", "fps", "message"),
    [
        (np.zeros((5, 60)), 30, "columns"),
        (np.zeros((0, 61)), 30, "at least one frame"),
        (np.zeros(61), 30, "2-D"),
        (np.full((2, 61), np.nan), 30, "non-finite"),
        (np.zeros((2, 61)), 0, "fps"),
        (np.zeros((2, 61)), float("inf"), "fps"),
    ],
)
def test_clip_validation(values, fps, message):
    with pytest.raises(ClipError, match=message):
        MotionClip(values, fps, "arkit", ARKIT_CHANNELS)


def test_clip_is_immutable_and_float32():
    clip = random_clip()
    assert clip.values.dtype == np.float32
    with pytest.raises(ValueError):
        clip.values[0, 0] = 1.0
    with pytest.raises(AttributeError):
        clip.fps = 10  # type: ignore[misc]


def test_arkit_clip_must_use_canonical_order():
    with pytest.raises(ClipError, match="Live Link order"):
        MotionClip(np.zeros((1, 61)), 30, "arkit", tuple(reversed(ARKIT_CHANNELS)))


def test_resample_60_to_20_keeps_every_third_frame():
    clip = random_clip(frames=180, fps=60)
    down = clip.resample(20)
    assert down.n_frames == 60 and down.fps == 20
    np.testing.assert_allclose(down.values, clip.values[::3], atol=1e-6)
    assert down.duration_s == pytest.approx(clip.duration_s)


def test_resample_up_is_linear_and_keeps_duration():
    clip = random_clip(frames=30, fps=30)
    up = clip.resample(60)
    assert up.n_frames == 60
    np.testing.assert_allclose(up.values[::2], clip.values, atol=1e-6)
    np.testing.assert_allclose(
        up.values[1:-2:2, 0], (clip.values[:-1, 0] + clip.values[1:, 0]) / 2, atol=1e-6
    )


def test_arkit_rotations_interpolate_the_short_way_round():
    values = np.zeros((2, 61), np.float32)
    yaw = ARKIT_CHANNELS.index("headYaw")
    values[:, yaw] = [np.pi - 0.1, -np.pi + 0.1]  # 20° apart through ±180°, not 340°
    up = MotionClip(values, 1, "arkit", ARKIT_CHANNELS).resample(2)
    assert abs(up.values[1, yaw]) == pytest.approx(np.pi, abs=1e-5)


def test_flame_axis_angle_is_slerped():
    layout = FlameLayout(50, "axis_angle")
    values = np.zeros((2, 53))
    values[:, 50] = [0.0, 0.4]
    values[:, 52] = [0.4, 0.0]
    up = MotionClip(values, 1, "flame", layout.channels).resample(2)
    from scipy.spatial.transform import Rotation, Slerp

    expected = Slerp([0, 1], Rotation.from_rotvec(values[:, 50:53]))([0.5]).as_rotvec()[0]
    np.testing.assert_allclose(up.values[1, 50:53], expected, atol=1e-6)
    assert not np.allclose(expected, [0.2, 0, 0.2])  # slerp differs from linear on this pair


def test_6d_rotation_round_trip():
    from scipy.spatial.transform import Rotation

    matrices = Rotation.random(8, random_state=0).as_matrix()
    np.testing.assert_allclose(rotation_6d_to_matrix(matrix_to_rotation_6d(matrices)), matrices, atol=1e-9)


def test_flame_layout_from_channels_and_errors():
    layout = FlameLayout(100, "6d", global_pose=True, neck_pose=True, eye_pose=True)
    assert FlameLayout.from_channels(layout.channels) == layout
    assert len(layout.channels) == 100 + 6 + 3 + 3 + 6
    with pytest.raises(ValueError, match="incomplete"):
        FlameLayout.from_channels([*FlameLayout(50, None).channels, "jaw_x"])
    with pytest.raises(ValueError, match="gaps"):
        FlameLayout.from_channels(["expr_000", "expr_002"])
    with pytest.raises(ValueError, match="unknown"):
        FlameLayout.from_channels(["expr_000", "eyeBlinkLeft"])


def test_static_flame_expression_resamples_to_held_frames():
    clip = MotionClip(np.ones((1, 56)), 25, "flame", FlameLayout(50, "6d").channels)
    assert clip.is_static
    held = clip.resample(50)
    assert held.n_frames == 2 and np.all(held.values == clip.values)


def test_concatenate_requires_matching_clips():
    a, b = random_clip(10), random_clip(5, seed=1)
    assert concatenate([a, b]).n_frames == 15
    with pytest.raises(ClipError):
        concatenate([a, b.resample(30)])


def test_bad_input_is_a_clip_error_without_warnings():
    names = list(ARKIT_CHANNELS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's overflow warning would raise here
        with pytest.raises(ClipError, match="space must be 'arkit' or 'flame'"):
            MotionClip.from_named(np.zeros((2, 61)), names, 30, "smpl")  # was read as ARKit
        with pytest.raises(ClipError, match=r"n_expression must be in 1\.\.300"):
            MotionClip.from_named(np.zeros((2, 301)), [f"expr_{i:03d}" for i in range(301)], 30, "flame")
        with pytest.raises(ClipError, match="non-finite value"):
            MotionClip(np.full((2, 61), 1e300), 30, "arkit", ARKIT_CHANNELS)
        clip = MotionClip.zeros(10, 30)
        for fps in (float("inf"), float("nan"), 0.0, -1.0, 1e4):
            with pytest.raises(ClipError, match="fps must be in"):
                clip.resample(fps)
        with pytest.raises(ClipError, match="would make"):
            MotionClip.zeros(10, 1e-6).resample(30)
