"""Simulated participants answering a study through the real store (events, then answers).

Each simulated participant prefers models by a latent score plus Gaussian noise; a careless one
answers at random and fails every attention check (so exclusions are exact). The store
measures dwell and playback time on the server clock; the simulation backdates a trial's events
and the time it was served by ``dwell_s`` (:func:`backdate`) so the store sees the watching time a
real participant would have spent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from studio.study.definition import CHOICES_2AFC5, CHOICES_PAIRWISE, Trial
from studio.study.records import ProlificIdentity, StudyRecord
from studio.study.schema import EventRow, TrialRow
from studio.study.storage import StudyStore


def backdate(store: StudyStore, trial_id: int, seconds: float, served_s: float | None = None) -> None:
    """Move a trial's events ``seconds`` and when it was served ``served_s`` (default: the same)
    into the past: as if its participant had spent that long on the screen (the store times
    answers and dwell on its own clock). A trial not served yet counts as served then."""
    with Session(store.engine) as session, session.begin():
        trial = session.get(TrialRow, trial_id)
        if trial is not None:  # one not handed out yet (a test answering out of order): now served
            served = trial.served_at or datetime.now(UTC)
            trial.served_at = served - timedelta(seconds=seconds if served_s is None else served_s)
        for event in session.scalars(select(EventRow).where(EventRow.trial_id == trial_id)):
            event.created_at -= timedelta(seconds=seconds)


def answer_for(
    trial_type: str, trial: Trial, quality: Mapping[str, float], rng: np.random.Generator, careless: bool
) -> dict:
    """An answer of someone who sees ``quality[model] + noise`` in each clip (or random if careless).
    Attention checks are answered as instructed / by rejecting the decoy unless careless."""
    k = len(trial.clips)
    if careless:
        scores = rng.normal(size=k)
        if trial.check is not None:  # a careless participant fails every check, so tests are exact
            scores[trial.check.position] = -5.0 if trial.check.rule == "choose" else 5.0
    else:
        scores = np.array([quality.get(c.model, 0.0) for c in trial.clips]) + rng.normal(0, 0.7, k)
        if trial.check is not None:
            scores = np.zeros(k) + rng.normal(0, 0.01, k)
            scores[trial.check.position] = 5.0 if trial.check.rule == "choose" else -5.0
        if trial.matched is not None:  # controls: the clip made from the shown text looks right
            scores[trial.matched] += 1.0
    if trial_type == "rank":
        order = np.argsort(-scores)
        ranking = np.empty(k, dtype=int)
        ranking[order] = np.arange(1, k + 1)
        return {"ranking": ranking.tolist()}
    diff = scores[0] - scores[1]
    if trial_type == "2afc5":
        if trial.check is not None and trial.check.rule == "choose":
            wanted = trial.check.position if not careless else 1 - trial.check.position
            return {"choice": "strong_a" if wanted == 0 else "strong_b"}
        level = 0 if diff > 1.2 else 1 if diff > 0.3 else 2 if diff > -0.3 else 3 if diff > -1.2 else 4
        return {"choice": CHOICES_2AFC5[level]}
    if abs(diff) < 0.2:
        return {"choice": CHOICES_PAIRWISE[2 if rng.random() < 0.5 else 3]}
    return {"choice": "a" if diff > 0 else "b"}


def simulate(
    store: StudyStore,
    study: StudyRecord,
    n_participants: int,
    quality: Mapping[str, float],
    *,
    careless: Sequence[int] = (),
    incomplete: Sequence[int] = (),
    dwell_s: float = 5.0,
    seed: int = 0,
) -> list[int]:
    """Run ``n_participants`` through the study; returns their participant ids. Indices in
    ``careless`` answer at random; those in ``incomplete`` stop after their first answer."""
    rng = np.random.default_rng(seed)
    trial_type = study.definition.trial_type
    ids = []
    for n in range(n_participants):
        state = store.get_or_create_participant(
            study, ProlificIdentity(f"sim{seed}x{n:04d}", "simstudy", "s1")
        )
        ids.append(state.participant_id)
        while state.next_trial is not None:
            stored = state.next_trial
            store.record_event(study, state.participant_id, "shown", trial_id=stored.id)
            for clip in range(len(stored.trial.clips)):
                store.record_event(study, state.participant_id, "play", trial_id=stored.id, clip=clip)
                store.record_event(study, state.participant_id, "ended", trial_id=stored.id, clip=clip)
            # served at least one clip length ago, whatever dwell the test wants to see
            backdate(store, stored.id, dwell_s, max(dwell_s, study.definition.stimulus.clip_duration_s))
            answer = answer_for(trial_type, stored.trial, quality, rng, n in careless)
            ack = store.submit_answer(study, state.participant_id, stored.id, json.dumps(answer))
            if n in incomplete:
                break
            state = store.participant_state(study, state.participant_id)
            assert ack.answered == state.answered
    return ids
