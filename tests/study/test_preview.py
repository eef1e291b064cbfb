"""Previews of the participant page: signed, expiring, bound to one study; the same screens a
participant gets, and nothing written to the database. Also the admin's view of a study's stimuli
and of one participant's screens."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from benchmarks.study_server import MODELS, SECRET, TinyStudy, prepare_study
from studio.config import StudioConfig
from studio.study.admin import (
    MAX_PREVIEW_INDEX,
    PREVIEW_TTL_S,
    AdminError,
    ParticipantPreview,
    StudyAdmin,
    StudyPreviews,
    enable_previews,
    preview_url,
    previews_for,
)
from studio.study.assignment import participant_trials
from studio.study.service import ServiceError, StudyService
from studio.study.storage import StudyStore


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> TinyStudy:
    """The tiny rank study (3 screens of 3 clips), stimuli really rendered (64 px, 1 s)."""
    return prepare_study(tmp_path_factory.mktemp("preview"))


@pytest.fixture
def store(tiny: TinyStudy, tmp_path: Path):
    db = tmp_path / "study.db"
    db.write_bytes(Path(tiny.db_url.removeprefix("sqlite:///")).read_bytes())
    with StudyStore(f"sqlite:///{db}", SECRET) as store:
        yield store


def rows(store: StudyStore) -> dict[str, list[tuple]]:
    """Every row of every table: what 'nothing stored' is checked against."""
    with store.engine.connect() as conn:
        return {
            table: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {table}")).all()))
            for table in inspect(store.engine).get_table_names()
        }


def test_a_preview_shows_a_participants_screens_and_stores_nothing(store, tiny):
    service = StudyService(store, SECRET, tiny.output_dir)
    previews = StudyPreviews(SECRET)
    preview = ParticipantPreview(service, previews)
    record = store.get_study(tiny.study_id)
    before = rows(store)
    token = previews.token(record, 1)

    view = preview.start(str(tiny.study_id), token)
    expected = participant_trials(record.definition, 1)
    assert view.total == len(expected) == 3 and view.answered == 0 and view.completion_code is None
    assert view.consent == record.definition.consent and view.instructions == record.definition.instructions
    seen = []
    while view.trial is not None:
        trial = view.trial
        shown = expected[trial.number - 1]
        assert trial.trial_id == trial.number and trial.prompt == shown.prompt
        assert trial.question == shown.question and [c.label for c in trial.clips] == [
            "Clip 1",
            "Clip 2",
            "Clip 3",
        ]
        # the same content-hash files a participant with that index gets, in the same order
        assert [c.path for c in trial.clips] == [service.clip_path(record, c) for c in shown.clips]
        assert all(c.url == f"/study/media/{c.path.name}" for c in trial.clips)
        assert not any(name in json.dumps(trial.to_json()) for name in MODELS)
        preview.check(token)  # what a play/ended event does: checks the link, writes nothing
        seen.append(trial.number)
        view = preview.submit_answer(token, trial.trial_id, {"ranking": [3, 1, 2]})
    assert seen == [1, 2, 3] and view.answered == 3 and view.completion_code is None
    assert rows(store) == before  # no participant, trial, event, answer, rejection or rate entry
    assert store.participant_summaries(record) == [] and store.rejection_counts(record) == {}


def test_preview_answers_are_validated_like_a_participants(store, tiny):
    previews = StudyPreviews(SECRET)
    preview = ParticipantPreview(StudyService(store, SECRET, tiny.output_dir), previews)
    token = previews.token(store.get_study(tiny.study_id), 0)
    before = rows(store)
    for payload, code in (
        ({"ranking": [1, 1, 2]}, "answer.invalid_answer"),
        ({"ranking": [1, 2]}, "answer.invalid_answer"),
        ({"choice": "a"}, "answer.invalid_answer"),
        ('{"ranking": [1, 2, 3]}', "answer.not_json"),  # the page sends mappings only
    ):
        with pytest.raises(ServiceError) as caught:
            preview.submit_answer(token, 1, payload)
        assert caught.value.code == code and caught.value.status in (400, 422)
    for trial_id in (0, 4, "1", True, None):
        with pytest.raises(ServiceError, match="unknown_trial"):
            preview.submit_answer(token, trial_id, {"ranking": [1, 2, 3]})
    assert preview.submit_answer(token, 3, {"ranking": [1, 2, 3]}).trial is None  # any screen, in any order
    assert rows(store) == before  # refusals are not counted either: a preview is not a participant


def test_preview_tokens_are_signed_expire_and_name_one_study(store, tiny):
    record = store.get_study(tiny.study_id)
    now = [1_000_000.0]
    previews = StudyPreviews(SECRET, clock=lambda: now[0])
    preview = ParticipantPreview(StudyService(store, SECRET, tiny.output_dir), previews)
    token = previews.token(record, 5)
    assert previews.grant(token).participant_index == 5
    body, mac = token.split(".")
    assert not any(name in base64.urlsafe_b64decode(body + "==").decode() for name in MODELS)
    forged = base64.urlsafe_b64encode(
        json.dumps({"s": record.id, "h": record.sha256[:16], "i": 5, "x": 9e9}).encode()
    )
    for bad in (f"{forged.rstrip(b'=').decode()}.{mac}", f"{body}.{mac[:-2]}AA", "", None, "x" * 600, 7):
        with pytest.raises(ServiceError) as caught:
            preview.start(tiny.study_id, bad)
        assert (caught.value.status, caught.value.code) == (403, "preview.invalid")
    with pytest.raises(ServiceError, match=r"preview\.invalid"):  # another secret: another key
        StudyPreviews("another-secret-0123456789", clock=lambda: now[0]).grant(token)
    # a participant's session token is not a preview token, and a preview token is no session
    service = StudyService(store, SECRET, tiny.output_dir)
    session = service.start(tiny.study_id, {"PROLIFIC_PID": "p1"}).token
    with pytest.raises(ServiceError, match=r"preview\.invalid"):
        preview.start(tiny.study_id, session)
    with pytest.raises(ServiceError, match="bad_token"):
        service.current(token)
    with pytest.raises(ServiceError, match="another study"):  # the link's study must be the token's
        preview.start(tiny.study_id + 1, token)
    assert preview.start(record.sha256, token).total == 3  # the study by its hash works too
    now[0] += PREVIEW_TTL_S + 1
    for action in (lambda: preview.start(tiny.study_id, token), lambda: preview.check(token)):
        with pytest.raises(ServiceError) as caught:
            action()
        assert caught.value.code == "preview.expired" and "admin page" in caught.value.message
    for index in (-1, MAX_PREVIEW_INDEX + 1, 1.5, "x", True, None):
        with pytest.raises(AdminError, match="participant index"):
            previews.token(record, index)
    assert previews.grant(previews.token(record, "3")).participant_index == 3  # a widget's text


def test_a_preview_of_a_study_without_stimuli_says_it_is_not_ready(store, tiny, tmp_path):
    previews = StudyPreviews(SECRET)
    preview = ParticipantPreview(StudyService(store, SECRET, tmp_path / "empty-outputs"), previews)
    with pytest.raises(ServiceError) as caught:
        preview.start(tiny.study_id, previews.token(store.get_study(tiny.study_id), 0))
    assert (caught.value.status, caught.value.code) == (503, "stimuli_not_ready")


def test_previews_exist_only_for_stores_whose_admin_pages_enabled_them(store):
    assert previews_for(store) is None  # the participant page then refuses every preview link
    previews = StudyPreviews(SECRET)
    enable_previews(store, previews)
    assert previews_for(store) is previews
    url = preview_url("https://studio.example.org/", store.get_study(1), "abc.def")
    assert url == "https://studio.example.org/study?study=1&preview=abc.def"


def test_the_admin_sees_every_stimulus_with_its_blinded_id_and_model(store, tiny, tmp_path):
    admin = StudyAdmin(StudioConfig(output_dir=tiny.output_dir), store)
    record = store.get_study(tiny.study_id)
    stimuli = admin.stimuli(record)
    assert [s.clip for s in stimuli] == list(record.definition.stimuli())
    assert {s.clip.model for s in stimuli} == set(MODELS)
    for s in stimuli:
        assert s.path.parent == tiny.output_dir / "stimuli" and s.path.is_file()
        assert len(s.blinded_id) == 64 and s.path.name == f"{s.blinded_id}.mp4"
    assert {s.prompt_id for s in stimuli} == {p.id for p in record.definition.prompts} | {"check"}
    # the instruction check shows each model's clip of the calm face; nothing is rendered twice here
    assert all(s.shared == 1 for s in stimuli) and len({s.path for s in stimuli}) == len(stimuli)
    assert StudyAdmin(StudioConfig(output_dir=tmp_path), store).stimuli(record) == []  # not rendered


def test_the_admin_sees_whose_screens_a_preview_shows(store, tiny):
    admin = StudyAdmin(StudioConfig(output_dir=tiny.output_dir), store)
    record = store.get_study(tiny.study_id)
    assert admin.next_participant_index(record) == 0
    service = StudyService(store, SECRET, tiny.output_dir)
    for pid in ("p1", "p2"):
        service.start(tiny.study_id, {"PROLIFIC_PID": pid})
    assert admin.next_participant_index(record) == 2
    screens = admin.screens(record, 2)
    trials = participant_trials(record.definition, 2)
    assert [s["kind"] for s in screens] == [t.kind for t in trials]
    assert [s["clips (left to right)"].split(" | ") for s in screens] == [
        [c.model for c in t.clips] for t in trials
    ]
    with pytest.raises(AdminError, match="participant index"):
        admin.screens(record, -1)
