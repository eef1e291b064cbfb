"""The participant service: Prolific identities, signed tokens, blind trial views, completion codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.study_server import MODELS, SECRET, TinyStudy, prepare_study
from studio.study.service import ServiceError, StudyService, participant_url
from studio.study.storage import StudyStore
from tests.study.simulate import backdate


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> TinyStudy:
    """The tiny rank study (3 screens of 3 clips), stimuli really rendered (64 px, 1 s)."""
    return prepare_study(tmp_path_factory.mktemp("study"))


@pytest.fixture
def service(tiny: TinyStudy, tmp_path: Path):
    """A fresh copy of the study database per test, so tests do not see each other's participants."""
    db = tmp_path / "study.db"
    db.write_bytes(Path(tiny.db_url.removeprefix("sqlite:///")).read_bytes())
    with StudyStore(f"sqlite:///{db}", SECRET) as store:
        yield StudyService(store, SECRET, tiny.output_dir)


def params(pid: str = "5f0c1d2e3a4b5c6d7e8f9a0b", session: str = "sess1") -> dict[str, str]:
    return {"PROLIFIC_PID": pid, "STUDY_ID": "study42", "SESSION_ID": session}


def watch(service: StudyService, token: str, trial) -> None:
    """Play every clip to the end; the screen counts as shown 5 s ago (its clips last 1 s)."""
    for clip in trial.clips:
        service.record_event(token, "play", trial_id=trial.trial_id, clip=clip.position)
        service.record_event(token, "ended", trial_id=trial.trial_id, clip=clip.position)
    backdate(service.store, trial.trial_id, 0.0, served_s=5.0)


def test_views_never_name_a_model(service, tiny):
    view = service.start(tiny.study_id, params())
    text = json.dumps(view.to_json())
    trial = view.trial
    assert trial is not None and trial.number == 1 and trial.total == view.total == 3
    for secret in [*MODELS, "results", str(tiny.root)]:
        assert secret not in text
    trial_text = json.dumps(trial.to_json())
    assert "check" not in trial_text and "kind" not in trial_text and "item" not in trial_text
    assert [c.label for c in trial.clips] == ["Clip 1", "Clip 2", "Clip 3"]
    for clip in trial.clips:
        assert clip.url.startswith("/study/media/") and len(clip.url.rsplit("/", 1)[1]) == 64 + 4
        assert clip.path.is_file() and clip.path.parent == tiny.output_dir / "stimuli"
    assert [v for v, _ in trial.options] == ["1", "2", "3"]


def test_the_same_prolific_id_resumes_and_ids_are_stored_only_as_hashes(service, tiny):
    first = service.start(tiny.study_id, params(session="a"))
    watch(service, first.token, first.trial)
    after = service.submit_answer(first.token, first.trial.trial_id, {"ranking": [1, 2, 3]})
    again = service.start(str(tiny.study_id), params(session="b"))  # a reload, even a new session
    assert again.resumed and again.answered == 1 and again.trial.trial_id == after.trial.trial_id
    other = service.start(tiny.sha256, params(pid="someoneelse"))  # the study by its hash works too
    assert not other.resumed and other.answered == 0
    raw = b"".join(p.read_bytes() for p in Path(service.store.engine.url.database).parent.glob("study.db*"))
    assert b"5f0c1d2e3a4b5c6d7e8f9a0b" not in raw and b"someoneelse" not in raw


@pytest.mark.parametrize(
    ("study", "query", "status", "code"),
    [
        ("999", params(), 404, "unknown_study"),
        ("1; DROP TABLE", params(), 404, "unknown_study"),
        (None, params(), 404, "unknown_study"),
        ("1", {"STUDY_ID": "x"}, 400, "missing_prolific_id"),
        ("1", params(pid="abc<script>"), 400, "bad_prolific_id"),
    ],
)
def test_bad_links_are_refused_with_a_readable_message(service, study, query, status, code):
    with pytest.raises(ServiceError) as caught:
        service.start(study, query)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert "Traceback" not in caught.value.message and caught.value.message.endswith(".")


def test_forged_and_expired_tokens_are_refused(service, tiny):
    view = service.start(tiny.study_id, params())
    body, mac = view.token.split(".")
    forged = json.dumps({"s": tiny.study_id, "p": 99, "t": 2_000_000_000}).encode()
    import base64

    forged_body = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    for token in (f"{forged_body}.{mac}", f"{body}.{mac[:-2]}AA", "", "a.b.c", None, "x" * 600):
        with pytest.raises(ServiceError) as caught:
            service.current(token)
        assert caught.value.status == 401
    other_secret = StudyService(service.store, "another-secret-0123456789", tiny.output_dir)
    with pytest.raises(ServiceError, match="bad_token"):
        other_secret.current(view.token)
    later = StudyService(service.store, SECRET, tiny.output_dir, clock=lambda: 4e9)
    with pytest.raises(ServiceError) as caught:
        later.current(view.token)
    assert caught.value.code == "expired_token"


def test_completion_code_only_after_the_last_answer_commits(service, tiny):
    view = service.start(tiny.study_id, params())
    token = view.token
    with pytest.raises(ServiceError) as caught:  # the store refuses an answer before playback
        service.submit_answer(token, view.trial.trial_id, {"ranking": [1, 2, 3]})
    assert (caught.value.status, caught.value.code) == (409, "answer.not_played")
    while view.trial is not None:
        assert view.completion_code is None and service.current(token).completion_code is None
        watch(service, token, view.trial)
        view = service.submit_answer(token, view.trial.trial_id, {"ranking": [3, 1, 2]})
    record = service.study(tiny.study_id)
    assert view.completion_code == service.store.completion_code(
        record, service.session(token).participant_id
    )
    assert view.completion_url.endswith("cc=" + view.completion_code) and view.answered == view.total == 3
    assert service.current(token).completion_code == view.completion_code
    assert service.store.rejection_counts(record) == {"answer.not_played": 1}


def test_a_study_without_rendered_stimuli_admits_nobody(service, tiny, tmp_path):
    bare = StudyService(service.store, SECRET, tmp_path / "empty-outputs")
    with pytest.raises(ServiceError) as caught:
        bare.start(tiny.study_id, params())
    assert (caught.value.status, caught.value.code) == (503, "stimuli_not_ready")
    assert service.store.participant_summaries(service.study(tiny.study_id)) == []


def test_participant_url_carries_prolific_placeholders():
    url = participant_url("https://lab.example/", 3)
    assert url == (
        "https://lab.example/study?study=3&PROLIFIC_PID={{%PROLIFIC_PID%}}"
        "&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
    )


def test_a_whole_participant_on_sqlite_and_postgresql(db_url, tiny):
    """Same service, both databases (the page and the API share this code path)."""
    from studio.study.parsing import parse_definition
    from studio.study.stimuli import load_manifest

    with StudyStore(tiny.db_url, SECRET) as source:
        definition = source.get_study(tiny.study_id).definition
    definition = parse_definition(json.loads(definition.canonical_json()))
    with StudyStore(db_url, SECRET) as store:
        record = store.create_study(definition)
        service = StudyService(store, SECRET, tiny.output_dir)
        assert load_manifest(tiny.output_dir, definition).study_sha256 == record.sha256
        view = service.start(record.id, params())
        while view.trial is not None:
            watch(service, view.token, view.trial)
            view = service.submit_answer(view.token, view.trial.trial_id, {"ranking": [1, 3, 2]})
        assert view.completion_code and len(store.export_answers(record)) == 3
