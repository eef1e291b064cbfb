"""Answers: validation by trial type, attention-check scoring, outcomes naming models."""

from __future__ import annotations

import pytest

from studio.study.answers import AnswerError, answer_outcome, check_passed, validate_answer
from studio.study.definition import (
    CHOICES_2AFC5,
    CHOICES_PAIRWISE,
    CheckRule,
    ClipRef,
    Trial,
)

# -- answers ------------------------------------------------------------------------------------


def test_validate_answer_by_trial_type():
    assert validate_answer("rank", 3, {"ranking": [2, 3, 1]}) == {"ranking": [2, 3, 1]}
    for choice in CHOICES_2AFC5:
        assert validate_answer("2afc5", 2, {"choice": choice}) == {"choice": choice}
    for choice in CHOICES_PAIRWISE:
        assert validate_answer("pairwise", 2, {"choice": choice}) == {"choice": choice}
    bad = [
        ("rank", 3, {"ranking": [1, 1, 2]}, "exactly once"),
        ("rank", 3, {"ranking": [1, 2]}, "3 ranks"),
        ("rank", 3, {"ranking": [1, 2, True]}, "integers"),
        ("rank", 3, {"ranking": [1, 2, 3], "note": "x"}, "exactly the key"),
        ("2afc5", 2, {"choice": "tie"}, "strong_a"),
        ("pairwise", 2, {"choice": "equal"}, "both_bad"),
        ("pairwise", 3, {"choice": "a"}, "two clips"),
        ("pairwise", 2, ["a"], "JSON object"),
        ("arena", 2, {"choice": "a"}, "unknown trial type"),
    ]
    for trial_type, n, payload, message in bad:
        with pytest.raises(AnswerError, match=message):
            validate_answer(trial_type, n, payload)


def _trial(check: CheckRule | None, n: int = 2) -> Trial:
    clips = tuple(ClipRef(f"m{i}", "p", 0) for i in range(n))
    return Trial(0, "attention" if check else "item", "x", "p", "q", clips, check)


def test_attention_check_scoring():
    reject_left, choose_right = _trial(CheckRule("reject", 0)), _trial(CheckRule("choose", 1))
    assert check_passed("pairwise", reject_left, {"choice": "b"})
    for choice in ("a", "tie", "both_bad"):
        assert not check_passed("pairwise", reject_left, {"choice": choice})
    assert check_passed("2afc5", reject_left, {"choice": "weak_b"})
    assert not check_passed("2afc5", reject_left, {"choice": "equal"})
    assert check_passed("pairwise", choose_right, {"choice": "b"})
    assert check_passed("2afc5", choose_right, {"choice": "strong_b"})
    assert not check_passed("2afc5", choose_right, {"choice": "weak_b"})  # the text asked for "much better"
    rank_decoy = _trial(CheckRule("reject", 1), n=3)
    assert check_passed("rank", rank_decoy, {"ranking": [1, 3, 2]})
    assert not check_passed("rank", rank_decoy, {"ranking": [3, 2, 1]})
    assert check_passed("rank", _trial(CheckRule("choose", 2), n=3), {"ranking": [2, 3, 1]})
    with pytest.raises(ValueError, match="not an attention check"):
        check_passed("pairwise", _trial(None), {"choice": "a"})


def test_answer_outcome_names_models():
    trial = _trial(None)
    assert answer_outcome("pairwise", trial, {"choice": "b"})["preferred_model"] == "m1"
    assert answer_outcome("pairwise", trial, {"choice": "both_bad"}) == {
        "preferred_model": None,
        "strength": 0,
        "ranks": None,
    }
    assert answer_outcome("2afc5", trial, {"choice": "strong_a"})["strength"] == 2
    assert answer_outcome("2afc5", trial, {"choice": "weak_b"}) == {
        "preferred_model": "m1",
        "strength": 1,
        "ranks": None,
    }
    assert answer_outcome("rank", _trial(None, 3), {"ranking": [3, 1, 2]})["ranks"] == {
        "m0": 3,
        "m1": 1,
        "m2": 2,
    }
