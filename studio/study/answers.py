"""Answers: what a participant may send for a trial, whether it passes an attention check, and
what it says about the models.

Answers are JSON objects, by trial type (clip positions count from the left, 0-based):
``rank``: ``{"ranking": [r_0, ..., r_{K-1}]}``, the rank (1 = best) given to the clip at each
position, a permutation of 1..K; ``2afc5``: ``{"choice": one of CHOICES_2AFC5}`` (A = left clip);
``pairwise``: ``{"choice": one of CHOICES_PAIRWISE}``. :func:`validate_answer` checks them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from studio.errors import StudioError
from studio.study.definition import CHOICES_2AFC5, CHOICES_PAIRWISE, Trial


class AnswerError(StudioError, ValueError):
    """An answer payload does not fit its trial. ``str(error)`` says what is wrong."""


def validate_answer(trial_type: str, n_clips: int, payload: Any) -> dict[str, Any]:
    """Check a decoded JSON answer against the trial type; returns its canonical form.

    Raises :class:`AnswerError` naming the problem. Unknown keys are errors: the stored answer is
    exactly what the participant page is allowed to send.
    """
    if not isinstance(payload, Mapping):
        raise AnswerError(f"the answer must be a JSON object, got {type(payload).__name__}")
    if trial_type == "rank":
        if set(payload) != {"ranking"}:
            raise AnswerError(f"a rank answer has exactly the key 'ranking', got {sorted(map(str, payload))}")
        ranking = payload["ranking"]
        if not isinstance(ranking, list) or len(ranking) != n_clips:
            raise AnswerError(f"'ranking' must list {n_clips} ranks, one per clip from the left")
        if any(isinstance(r, bool) or not isinstance(r, int) for r in ranking):
            raise AnswerError("ranks must be integers")
        if sorted(ranking) != list(range(1, n_clips + 1)):
            raise AnswerError(f"'ranking' must use each rank 1..{n_clips} exactly once, got {ranking}")
        return {"ranking": list(ranking)}
    choices = {"2afc5": CHOICES_2AFC5, "pairwise": CHOICES_PAIRWISE}.get(trial_type)
    if choices is None:
        raise AnswerError(f"unknown trial type {trial_type!r}")
    if n_clips != 2:
        raise AnswerError(f"a {trial_type} trial shows two clips, this one has {n_clips}")
    if set(payload) != {"choice"}:
        raise AnswerError(
            f"a {trial_type} answer has exactly the key 'choice', got {sorted(map(str, payload))}"
        )
    if payload["choice"] not in choices:
        raise AnswerError(f"'choice' must be one of {', '.join(choices)}, got {payload['choice']!r}")
    return {"choice": payload["choice"]}


def _winner(trial_type: str, answer: Mapping[str, Any]) -> int | None:
    """Position of the preferred clip of a two-clip answer (None: no preference)."""
    choice = answer.get("choice")
    if trial_type == "pairwise":
        return {"a": 0, "b": 1}.get(choice)
    return {"strong_a": 0, "weak_a": 0, "strong_b": 1, "weak_b": 1}.get(choice)


def check_passed(trial_type: str, trial: Trial, answer: Mapping[str, Any]) -> bool:
    """Whether a validated answer passes the trial's attention check (``trial.check`` not None)."""
    if trial.check is None:
        raise ValueError(f"trial {trial.item_id} is not an attention check")
    rule, target = trial.check.rule, trial.check.position
    if "ranking" in answer:
        rank = answer["ranking"][target]
        return rank == 1 if rule == "choose" else rank == len(answer["ranking"])
    winner = _winner(trial_type, answer)
    if rule == "choose":
        if trial_type == "2afc5":  # the instruction asks for "much better"
            return answer["choice"] == ("strong_a" if target == 0 else "strong_b")
        return winner == target
    return winner is not None and winner != target


def answer_outcome(trial_type: str, trial: Trial, answer: Mapping[str, Any]) -> dict[str, Any]:
    """Model-level reading of a validated answer, for exports.

    Returns ``preferred_model`` (two-clip trials; None for equal/tie/both bad), ``strength``
    (2afc5: 2 strong, 1 weak, 0 equal; pairwise: 1 or 0) and ``ranks`` (rank trials: model ->
    rank, None otherwise). Control and check trials show one model twice: read them with positions.
    """
    if "ranking" in answer:
        ranks = {clip.model: rank for clip, rank in zip(trial.clips, answer["ranking"], strict=True)}
        return {"preferred_model": None, "strength": None, "ranks": ranks}
    winner = _winner(trial_type, answer)
    choice = answer["choice"]
    if trial_type == "2afc5":
        strength = 2 if choice.startswith("strong") else 1 if choice.startswith("weak") else 0
    else:
        strength = int(winner is not None)
    return {
        "preferred_model": None if winner is None else trial.clips[winner].model,
        "strength": strength,
        "ranks": None,
    }
