from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from studio import facs
from studio.analysis.categorise import ZeroShotCategoriser
from studio.curve_channels import (
    BLINKS,
    MIN_MOVEMENT,
    CurveChoice,
    asymmetric_pairs,
    category_action_units,
    curve_picker_groups,
    mirror,
    prompt_category,
    prompt_curves,
    rank_curves,
)
from studio.motion import ARKIT_CHANNELS, ARKIT_INDEX, ARKIT_ROTATIONS, MotionClip
from tests.analysis.conftest import keyword_embed

FPS = 30.0
KEYWORDS = ZeroShotCategoriser(keyword_embed)  # no MiniLM: keyword hits decide the category


def make_clip(
    aus: Mapping[int | str, float] | None = None,
    *,
    seconds: float = 3.0,
    blinks: bool = True,
    extra: Mapping[str, float] | None = None,
    offset: Mapping[str, float] | None = None,
) -> MotionClip:
    """A ``(T, 61) float32`` 30 fps ARKit clip: ``aus`` (FACS intensities) rise to their peak and
    back, ``extra`` channels (name -> peak) oscillate twice, ``offset`` adds a constant to a
    channel, and with ``blinks`` both eyes close fully for 4 frames every second (range 1.0:
    wider than any expression here)."""
    frames = round(seconds * FPS)
    t = np.linspace(0.0, 1.0, frames)
    values = np.zeros((frames, len(ARKIT_CHANNELS)), np.float32)
    if aus:
        values += np.sin(np.pi * t)[:, None] * facs.au_to_arkit(facs.au_vector(aus))[None, :]
    for name, peak in (extra or {}).items():
        values[:, ARKIT_INDEX[name]] += peak * 0.5 * (1 - np.cos(4 * np.pi * t))
    for name, value in (offset or {}).items():
        values[:, ARKIT_INDEX[name]] += value
    if blinks:
        for start in range(10, frames - 4, int(FPS)):
            values[start : start + 4, [ARKIT_INDEX["eyeBlinkLeft"], ARKIT_INDEX["eyeBlinkRight"]]] = 1.0
    return MotionClip(np.clip(values, 0.0, 1.0).astype(np.float32), FPS, "arkit", ARKIT_CHANNELS)


def ranges(clip: MotionClip) -> dict[str, float]:
    return dict(zip(ARKIT_CHANNELS, np.ptp(clip.values, axis=0).tolist(), strict=True))


class NoCategoriser:
    """Fails the test if asked: for paths that must not read the prompt."""

    def categorise(self, texts):
        raise AssertionError(f"the categoriser was asked about {texts}")


# -- the prompt's category picks the channels ---------------------------------------------------


def test_smile_prompt_picks_smile_and_cheek_channels_over_wider_blinks():
    clip = make_clip({12: 0.7, 6: 0.5}, extra={"jawOpen": 0.3})
    widths = ranges(clip)
    assert max(widths, key=widths.get) in BLINKS  # the widest range is the blinks, as in real takes

    choice = prompt_curves("A happy person smiles", [clip], n=4, categoriser=KEYWORDS)

    assert isinstance(choice, CurveChoice) and choice.category == "happiness"
    assert choice.channels[:2] == ("mouthSmileLeft", "cheekSquintLeft")  # AU12 moves more than AU6
    assert len(choice.channels) == 4 and not BLINKS & set(choice.channels)
    assert "mouthSmileRight" not in choice.channels  # a symmetric smile needs one side only
    assert choice.channels[2] == "jawOpen"  # then the widest-moving other channel
    assert "'happiness'" in choice.reason
    assert "AU12 lip corner puller" in choice.reason and "AU6 cheek raiser" in choice.reason
    assert "then the widest-moving others" in choice.reason


def test_surprise_prompt_picks_brow_raise_eye_widen_and_jaw_open_over_a_wider_other_channel():
    clip = make_clip({1: 0.6, 2: 0.7, 5: 0.5, 26: 0.9}, extra={"mouthPucker": 0.95})
    choice = prompt_curves("She looks surprised, then amazed", [clip], n=4, categoriser=KEYWORDS)

    assert choice.category == "surprise"
    # Ranked by how far each moves: AU1 0.6 + 0.15 x AU2, AU2 0.7, AU5 0.5, AU26 0.5 x 0.9.
    assert choice.channels == ("browInnerUp", "browOuterUpLeft", "eyeWideLeft", "jawOpen")
    assert "mouthPucker" not in choice.channels  # the widest mover, but not what surprise moves
    assert "AU2 outer brow raiser" in choice.reason and "AU26 jaw drop" in choice.reason
    assert "others" not in choice.reason

    two = prompt_curves("She looks surprised, then amazed", [clip], n=2, categoriser=KEYWORDS)
    assert two.channels == ("browInnerUp", "browOuterUpLeft")
    assert "AU26" not in two.reason  # the reason names only the AUs shown


def test_category_channels_are_ranked_by_the_mean_over_all_clips():
    strong_jaw = make_clip({1: 0.2, 2: 0.2, 5: 0.2, 26: 1.0})
    weak_jaw = make_clip({1: 0.2, 2: 0.2, 5: 0.2})  # this model does not open the jaw at all
    one = rank_curves("surprise", [strong_jaw], n=1)
    both = rank_curves("surprise", [strong_jaw, weak_jaw, weak_jaw], n=1)
    assert one.channels == ("jawOpen",)  # 0.5 in the one clip
    assert both.channels == ("browInnerUp",)  # 0.23 in every clip beats jawOpen's mean of 0.17


def test_a_prompt_with_no_category_falls_back_to_the_widest_channels_and_says_so():
    clip = make_clip({12: 0.3}, extra={"jawOpen": 0.8, "browInnerUp": 0.6, "mouthFunnel": 0.4})
    choice = prompt_curves("Looks to the left", [clip], n=3, categoriser=KEYWORDS)
    assert choice.category is None
    assert choice.channels == ("jawOpen", "browInnerUp", "mouthFunnel")  # blinks not among them
    assert choice.reason.startswith("the prompt names no emotion category")
    assert "widest-moving" in choice.reason and "blinks last" in choice.reason


def test_a_category_whose_channels_do_not_move_falls_back_and_says_so():
    clip = make_clip(extra={"jawOpen": 0.5, "mouthFunnel": 0.3})
    choice = prompt_curves("a sad story", [clip], n=2, categoriser=KEYWORDS)
    assert choice.category == "sadness"
    assert choice.channels == ("jawOpen", "mouthFunnel")
    assert "do not move in these clips" in choice.reason


def test_channels_that_never_move_are_never_picked():
    clip = make_clip({12: 0.6}, blinks=False, extra={"jawOpen": 0.4, "cheekPuff": MIN_MOVEMENT / 10})
    clip_held = make_clip(blinks=False, offset={"tongueOut": 0.7, "mouthSmileLeft": 0.9})  # still all along
    assert 0 < ranges(clip)["cheekPuff"] < MIN_MOVEMENT  # float-noise sized
    choice = prompt_curves("A happy person smiles", [clip, clip_held], n=6, categoriser=KEYWORDS)
    # AU6's cheekSquint is happiness's too, but flat here; only the smile and the jaw move (the
    # smile's second side last: a held one-sided smile is an offset, not a lopsided movement).
    assert choice.channels == ("mouthSmileLeft", "mouthSmileRight", "jawOpen")
    assert "AU6" not in choice.reason and "AU12" in choice.reason
    alone = prompt_curves("A happy person smiles", [clip], n=6, categoriser=KEYWORDS)
    assert set(alone.channels) == {"mouthSmileLeft", "mouthSmileRight", "jawOpen"}
    assert "tongueOut" not in choice.channels and "cheekPuff" not in alone.channels


def test_still_clips_pick_nothing_without_reading_the_prompt():
    still = make_clip(blinks=False)
    choice = prompt_curves("A happy person smiles", [still, still], categoriser=NoCategoriser())
    assert choice == CurveChoice(None, (), "no blendshape moves in these clips")
    assert prompt_curves("A happy person smiles", [], categoriser=NoCategoriser()).channels == ()


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 6])
def test_n_is_respected(n):
    clip = make_clip({12: 0.7, 6: 0.5, 26: 0.6}, extra={"browInnerUp": 0.5, "mouthFunnel": 0.4})
    choice = prompt_curves("A happy person smiles", [clip], n=n, categoriser=KEYWORDS)
    assert len(choice.channels) == n
    assert len(set(choice.channels)) == n
    if n:
        assert choice.channels[0] == "mouthSmileLeft"


def test_negative_n_is_refused():
    with pytest.raises(ValueError, match="n must be"):
        rank_curves(None, [make_clip({12: 0.5})], n=-1)


# -- left/right pairs ---------------------------------------------------------------------------


def test_a_lopsided_pair_shows_both_sides_next_to_each_other():
    smirk = make_clip({6: 0.4}, extra={"mouthSmileRight": 0.8, "mouthSmileLeft": 0.1})
    assert {"mouthSmileLeft", "mouthSmileRight"} <= asymmetric_pairs([smirk])
    assert not {"cheekSquintLeft", "eyeBlinkLeft"} & asymmetric_pairs([smirk])
    # Dimples moving together, one held deeper throughout: an offset, not a lopsided movement.
    assert not asymmetric_pairs([make_clip({14: 0.3}, blinks=False, offset={"mouthDimpleLeft": 0.4})])
    # One lopsided clip among symmetric ones still counts (sums over the clips).
    wink = make_clip(blinks=False, extra={"eyeBlinkLeft": 1.0})
    assert asymmetric_pairs([wink, make_clip(), make_clip()]) == {"eyeBlinkLeft", "eyeBlinkRight"}
    choice = rank_curves("happiness", [smirk], n=3)
    # The side that moves more leads; its weaker partner follows it, before AU6.
    assert choice.channels == ("mouthSmileRight", "mouthSmileLeft", "cheekSquintLeft")


def test_second_sides_of_symmetric_pairs_come_after_every_other_moving_channel():
    clip = make_clip({12: 0.7}, extra={"jawOpen": 0.3})
    choice = rank_curves("happiness", [clip], n=10)
    assert choice.channels == (
        "mouthSmileLeft",
        "mouthSmileRight",  # plotted next to its side, though picked last
        "jawOpen",
        "eyeBlinkLeft",
        "eyeBlinkRight",
    )
    assert rank_curves("happiness", [clip], n=3).channels == ("mouthSmileLeft", "jawOpen", "eyeBlinkLeft")


def test_mirror_pairs_are_mirror_halves_only():
    assert mirror("mouthSmileLeft") == "mouthSmileRight"
    assert mirror("eyeBlinkRight") == "eyeBlinkLeft"
    assert mirror("browInnerUp") is None
    # The jaw and mouth shifted left or right are opposite actions, both worth a curve.
    assert mirror("jawLeft") is None and mirror("mouthRight") is None
    sideways = make_clip(extra={"jawLeft": 0.6, "jawRight": 0.5}, blinks=False)
    assert rank_curves(None, [sideways], n=2).channels == ("jawLeft", "jawRight")


def test_flame_clips_are_skipped():
    moving = np.repeat(np.arange(10, dtype=np.float32)[:, None], 3, axis=1)
    flame = MotionClip(moving, FPS, "flame", ("expr_000", "expr_001", "expr_002"))
    arkit = make_clip({12: 0.5}, blinks=False)
    assert rank_curves("happiness", [flame, arkit], n=2).channels == ("mouthSmileLeft", "mouthSmileRight")
    assert rank_curves("happiness", [flame], n=2).channels == ()


# -- the FACS tables --------------------------------------------------------------------------


def test_category_action_units_follow_emfacs():
    codes = [au.code for au in category_action_units("disgust")]
    assert codes == ["AU9", "AU15", "AU16", "AU17", "AU10", "AU26"]  # prototype first, then variants
    assert [au.code for au in category_action_units("happiness")] == ["AU6", "AU12"]
    with pytest.raises(KeyError, match="unknown category"):
        category_action_units("neutral")


# -- reading the prompt -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "category", "why"),
    [
        ("A happy person smiles", "happiness", ""),
        ("   ", None, "the prompt is empty"),
        ("Looks to the left", None, "the prompt names no emotion category (best"),
        ("一个人开心地笑了", None, "the prompt's category cannot be read (not in Latin script)"),
    ],
)
def test_prompt_category(prompt, category, why):
    got, note = prompt_category(prompt, KEYWORDS)
    assert got == category
    assert note.startswith(why) and bool(note) == bool(why)


def test_min_score_decides_when_a_prompt_names_a_category():
    # "a sad smile": two keywords of two categories, about half the mass each.
    assert prompt_category("a sad smile", KEYWORDS, min_score=0.3)[0] in {"happiness", "sadness"}
    assert prompt_category("a sad smile", KEYWORDS, min_score=0.9)[0] is None


@pytest.mark.slow
def test_real_minilm_reads_the_prompts_the_player_gets():
    """The shipped offline encoder, as the player and Compare call it (no categoriser passed)."""
    smile = make_clip({12: 0.7, 6: 0.5})
    surprise = make_clip({1: 0.6, 2: 0.7, 5: 0.5, 26: 0.9})
    assert prompt_curves("A person smiles widely", [smile], n=2).channels == (
        "mouthSmileLeft",
        "cheekSquintLeft",
    )
    assert prompt_curves("His jaw drops in astonishment", [surprise]).category == "surprise"
    assert prompt_curves("Looks to the left", [smile]).category is None


# -- the picker ---------------------------------------------------------------------------------


def test_picker_groups_cover_all_61_channels_once_in_arkit_order():
    groups = curve_picker_groups()
    listed = [c for _, channels in groups for c in channels]
    assert len(listed) == 61 and sorted(listed) == sorted(ARKIT_CHANNELS)
    for _, channels in groups:
        assert channels, "no empty group"
        assert [ARKIT_INDEX[c] for c in channels] == sorted(ARKIT_INDEX[c] for c in channels)
    labels = [label for label, _ in groups]
    assert labels[:7] == ["Brows", "Eyes", "Cheeks", "Nose", "Mouth", "Jaw", "Tongue"]
    assert groups[-1][1] == list(ARKIT_ROTATIONS)
    assert dict(groups)["Jaw"] == ["jawForward", "jawRight", "jawLeft", "jawOpen"]
    assert dict(groups)["Cheeks"] == ["cheekPuff", "cheekSquintLeft", "cheekSquintRight"]


def test_picker_groups_are_a_fresh_list_each_call():
    curve_picker_groups()[0][1].clear()
    assert len(curve_picker_groups()[0][1]) == 5
