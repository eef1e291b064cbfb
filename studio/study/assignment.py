"""Assignment: (definition, participant index) -> that participant's trials, deterministic in the
study seed.

Items are dealt round-robin from one seeded permutation, so the first
``definition.participants_needed`` participants give every item at least ``raters_per_item``
ratings and no participant sees an item twice; clip positions rotate like the rows of a cyclic
Latin square across the successive raters of an item, so every clip sits in every position equally
often (within one) across participants. Randomness comes from SHA-256 counter streams, not
:mod:`random`, so the same seed gives the same assignment on every Python version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from studio.study.definition import CheckRule, ClipRef, StudyDefinition, Trial
from studio.study.seeds import SeedStream


def _rotate(seq: Sequence[Any], shift: int) -> tuple[Any, ...]:
    """Element ``i`` moves to position ``(i - shift) mod K``."""
    shift %= len(seq)
    return tuple(seq[shift:]) + tuple(seq[:shift])


def _deal(pool: int, per: int, participant: int) -> list[tuple[int, int]]:
    """Round-robin dealing: slot ``g = participant * per + j`` takes pool entry ``k = g mod pool``
    in round ``r = g div pool``. Returns ``(k, r)`` per slot; ``per <= pool`` means no repeats."""
    return [((participant * per + j) % pool, (participant * per + j) // pool) for j in range(per)]


def participant_trials(definition: StudyDefinition, participant_index: int) -> tuple[Trial, ...]:
    """The trials of participant ``participant_index`` (0-based), in presentation order.

    Pure and deterministic in ``definition.seed``. Items: a seeded permutation is dealt
    round-robin (see :func:`_deal`); the ``r``-th rater of the item at permutation index ``k``
    sees its clips (in the seeded base order of models) rotated by ``(r + k) mod K``, so across
    successive raters every clip takes every position equally often (cyclic Latin square), and
    consecutive trials of one participant alternate. Attention checks (every participant, every
    check) and mismatch controls rotate by participant index. The final order is a seeded shuffle
    per participant, with an attention check never first.
    """
    if isinstance(participant_index, bool) or not isinstance(participant_index, int) or participant_index < 0:
        raise ValueError(f"participant_index must be a non-negative integer, got {participant_index!r}")
    d, p = definition, participant_index
    seed = d.stimulus.seed
    rank = d._model_rank
    trials: list[Trial] = []

    order = d._item_order
    for k, r in _deal(len(d.items), d.items_per_participant, p):
        item = d.items[order[k]]
        base = sorted(item.models, key=rank.__getitem__)
        clips = _rotate([ClipRef(m, item.prompt.text, seed) for m in base], r + k)
        trials.append(Trial(0, "item", item.id, item.prompt.text, d.question, clips))

    for c, check in enumerate(d.attention_checks):
        shift = p + c
        if check.kind == "contradiction":
            if d.clips_per_item == 2:
                base_refs = [ClipRef(str(check.model), check.prompt, seed)]
            else:
                others = [m for m in sorted(rank, key=rank.__getitem__) if m != check.model]
                base_refs = [ClipRef(m, check.prompt, seed) for m in others]
            decoy = ClipRef(str(check.model), str(check.decoy_prompt), seed)
            clips = _rotate([*base_refs, decoy], shift)
            rule = CheckRule("reject", clips.index(decoy))
            question = d.question
        else:
            names = [m.name for m in d.models[: d.clips_per_item]]
            clips = _rotate([ClipRef(m, check.prompt, seed) for m in names], shift)
            side = check.side if check.side != "alternate" else ("left", "right")[shift % 2]
            rule = CheckRule("choose", 0 if side == "left" else len(clips) - 1)
            question = str(check.text).replace("{side}", str(side))
        trials.append(Trial(0, "attention", f"check:{c}", check.prompt, question, clips, check=rule))

    if d.mismatch_control is not None:
        combos = [(m.name, i) for m in d.models for i in range(len(d.prompts))]
        combo_order = SeedStream(d.seed, "controls").permutation(len(combos))
        per = d.mismatch_control.per_participant
        for k, r in _deal(len(combos), per, p):
            model, i = combos[combo_order[k]]
            offset = SeedStream(d.seed, "wrong-prompt", model, i).below(len(d.prompts) - 1)
            shown, wrong = d.prompts[i], d.prompts[(i + 1 + offset) % len(d.prompts)]
            matched = ClipRef(model, shown.text, seed)
            clips = _rotate([matched, ClipRef(model, wrong.text, seed)], r + k)
            item_id = f"control:{model}:{shown.id}"
            trials.append(
                Trial(0, "control", item_id, shown.text, d.question, clips, matched=clips.index(matched))
            )

    shuffled = [trials[i] for i in SeedStream(d.seed, "order", p).permutation(len(trials))]
    if shuffled[0].kind == "attention":
        # a check as the very first screen measures confusion about the task, not attention
        first = next((i for i, t in enumerate(shuffled) if t.kind != "attention"), 0)
        shuffled[0], shuffled[first] = shuffled[first], shuffled[0]
    return tuple(
        Trial(i, t.kind, t.item_id, t.prompt, t.question, t.clips, t.check, t.matched)
        for i, t in enumerate(shuffled)
    )
