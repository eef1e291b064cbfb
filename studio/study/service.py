"""Participant actions of a study, shared by the Gradio participant page and the JSON API.

One :class:`StudyService` per server: it turns Prolific URL parameters into a participant (new or
resumed, through :class:`~studio.study.storage.StudyStore`, which stores identities only as HMACs),
hands out a signed session token, and answers every later action by that token alone:

- :meth:`StudyService.start` -- ``(study key, URL parameters) -> SessionView`` (token, progress,
  the next trial or the completion code);
- :meth:`StudyService.current` -- where the token's participant stands now (resume);
- :meth:`StudyService.record_event` -- play/pause/seek/ended/shown/consent... events;
- :meth:`StudyService.submit_answer` -- store an answer; the completion code comes back only with
  the acknowledgement of the last answer (storage commits first).

Tokens are ``<payload>.<mac>``: URL-safe base64 of ``{"s": study id, "p": participant id, "t": issued
(unix s)}`` and HMAC-SHA256 of it with a key derived from the study secret. A participant cannot
change the ids in it without the secret; a token older than ``token_max_age_s`` is refused (the
participant reloads the Prolific link and resumes).

What participants see is deliberately poor: a :class:`TrialView` carries the trial's database id,
its number, the prompt, the question, the answer options and clip URLs named by content hash
(``<media_url><sha256>.mp4``). Never model names, item ids (they contain model names) or whether a
screen is an attention check.

The participant URL is ``<base>/study?study=<study id>&PROLIFIC_PID=...&STUDY_ID=...&SESSION_ID=...``
(:func:`participant_url`; ``study`` may also be the study's 64-hex SHA-256). Stimulus files come
from the stimulus manifest (:func:`studio.study.stimuli.load_manifest`); a study whose stimuli are
not rendered refuses new participants with a clear message instead of showing broken screens.

Every refusal is a :class:`ServiceError` with an HTTP status, a stable ``code`` and a message a
participant can read; rejected submissions are counted by the store.

New participants are rate limited (:class:`StartLimits`): at most ``per_client`` admitted from one
client address per ``client_window_s`` and ``total`` from all clients together per
``total_window_s``; over either, ``start`` refuses with 429 ``rate_limited`` and
``retry_after_s``. The store decides and records this in the transaction that creates the
participant, so it holds across every process serving one database. A returning participant
(same PROLIFIC_PID and STUDY_ID) is never limited. Answers sooner than the trial's clips could
have played are refused by the store as ``answer.too_fast`` (see :mod:`studio.study.storage`).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from studio.errors import StudioError
from studio.security.tokens import Signer
from studio.study.definition import CHOICE_LABELS, CHOICES_2AFC5, CHOICES_PAIRWISE, ClipRef, StudyDefinition
from studio.study.limits import Admission, HitLog, RateLimited, Rejection, SubmissionRejected
from studio.study.records import ParticipantState, ProlificIdentity, StoredTrial, StudyRecord
from studio.study.stimuli import STIMULUS_NAME, load_manifest
from studio.study.storage import StudyStore

__all__ = [
    "PROLIFIC_PARAMS",
    "REJECTION_STATUS",
    "ClipView",
    "ServiceError",
    "SessionView",
    "StartLimits",
    "StudyService",
    "TrialView",
    "participant_url",
]

PROLIFIC_PARAMS = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")
PROLIFIC_COMPLETE_URL = "https://app.prolific.com/submissions/complete?cc="
DEFAULT_TOKEN_MAX_AGE_S = 3 * 24 * 3600  # Prolific studies run for hours, rarely days
_STUDY_KEY = re.compile(r"^(?:[0-9]{1,12}|[0-9a-f]{64})$")

# HTTP status of each storage rejection: 4xx, and distinct enough for a client to act on.
REJECTION_STATUS: Mapping[Rejection, int] = {
    Rejection.UNKNOWN_PARTICIPANT: 403,
    Rejection.UNKNOWN_TRIAL: 404,
    Rejection.FOREIGN_TRIAL: 403,
    Rejection.REPLAYED: 409,
    Rejection.OVERSIZED: 413,
    Rejection.NOT_JSON: 400,
    Rejection.INVALID_ANSWER: 422,
    Rejection.NOT_PLAYED: 409,
    Rejection.TOO_FAST: 409,
    Rejection.INVALID_EVENT: 422,
    Rejection.TOO_MANY_EVENTS: 429,
}
# What a participant reads when the page itself hits a rejection (the API returns ``detail`` too).
_REJECTION_TEXT: Mapping[Rejection, str] = {
    Rejection.REPLAYED: "This screen was already answered; continuing with the next one.",
    Rejection.NOT_PLAYED: "Please play every clip to the end before answering.",
    Rejection.TOO_FAST: "Please watch every clip to the end before answering.",
    Rejection.INVALID_ANSWER: "That answer is not complete; please check it and submit again.",
}


class ServiceError(StudioError):
    """A participant action was refused. ``status``: HTTP status (4xx, or 503 when the study is not
    ready); ``code``: stable machine-readable reason; ``message``: text for the participant;
    ``detail``: more for scripted clients and logs (never model names); ``retry_after_s``: when a
    rate-limited action may be tried again (the API sends it as ``Retry-After``)."""

    def __init__(
        self, status: int, code: str, message: str, detail: str = "", *, retry_after_s: float | None = None
    ) -> None:
        self.status, self.code, self.message, self.detail = status, code, message, detail or message
        self.retry_after_s = retry_after_s
        super().__init__(f"{code}: {self.detail}")

    @property
    def retry_after(self) -> str | None:
        """The ``Retry-After`` header value (whole seconds, at least 1), or None."""
        return None if self.retry_after_s is None else str(max(1, math.ceil(self.retry_after_s)))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message, "detail": self.detail}
        if self.retry_after is not None:
            out["retry_after_s"] = int(self.retry_after)
        return out


@dataclass(frozen=True)
class StartLimits:
    """How many new participants are admitted: ``per_client`` from one client address per
    ``client_window_s`` seconds and ``total`` from everyone per ``total_window_s``; 0 turns a limit
    off. Sliding windows: no window of that length ever holds more admissions than the limit."""

    per_client: int = 10
    client_window_s: float = 600.0
    total: int = 300
    total_window_s: float = 60.0

    @property
    def retention_s(self) -> float:
        return max(self.client_window_s, self.total_window_s)

    def wait_s(self, log: HitLog) -> float:
        """Seconds until this client may be admitted (<= 0: now)."""
        wait = 0.0
        for count, window, per_client in (
            (self.per_client, self.client_window_s, True),
            (self.total, self.total_window_s, False),
        ):
            if count > 0:
                age = log.age_s(count, window, per_client=per_client)  # the count-th newest admission
                if age is not None:
                    wait = max(wait, window - age)
        return wait


@dataclass(frozen=True)
class ClipView:
    """One clip on a screen: ``position`` from the left (0-based), a neutral ``label``, its ``url``
    (content-hash name) and, for the Gradio page only, the local ``path`` (never sent as JSON)."""

    position: int
    label: str
    url: str
    path: Path = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"position": self.position, "label": self.label, "url": self.url}


@dataclass(frozen=True)
class TrialView:
    """What a participant sees of one trial. ``number`` counts from 1 of ``total`` screens.

    ``options``: ``(value, label)`` pairs of the answer choices (2afc5 / pairwise); for ``rank``
    trials the ranks ``1..len(clips)`` are the options (1 = best). Answers are JSON objects:
    ``{"ranking": [rank of clip 0, rank of clip 1, ...]}`` or ``{"choice": value}``.
    """

    trial_id: int
    number: int
    total: int
    trial_type: str
    prompt: str
    question: str
    clips: tuple[ClipView, ...]
    options: tuple[tuple[str, str], ...]
    clip_duration_s: float = 0.0  # every clip's length; an answer sooner than this is refused

    def to_json(self) -> dict[str, Any]:
        answer = (
            {"ranking": "a permutation of 1..K: the rank of each clip from the left, 1 = best"}
            if self.trial_type == "rank"
            else {"choice": "one of the option values"}
        )
        return {
            "trial_id": self.trial_id,
            "number": self.number,
            "total": self.total,
            "trial_type": self.trial_type,
            "prompt": self.prompt,
            "question": self.question,
            "clips": [c.to_json() for c in self.clips],
            "options": [{"value": v, "label": label} for v, label in self.options],
            "answer_format": answer,
            "clip_duration_s": self.clip_duration_s,
        }


@dataclass(frozen=True)
class SessionView:
    """Where a participant stands: ``token`` for later calls, ``answered`` of ``total``, the next
    ``trial`` (None when done), the ``completion_code`` (only once every answer is committed),
    ``resumed`` (a returning participant), the study's ``consent``/``instructions`` texts, and
    whether the participant already gave consent and saw the instructions (``consented``,
    ``instructed``: recorded on the server, so a reload goes straight back to where they were)."""

    token: str
    answered: int
    total: int
    trial: TrialView | None
    completion_code: str | None
    resumed: bool
    consent: str = ""
    instructions: str = ""
    consented: bool = False
    instructed: bool = False

    @property
    def completion_url(self) -> str | None:
        return None if self.completion_code is None else PROLIFIC_COMPLETE_URL + self.completion_code

    def to_json(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "answered": self.answered,
            "total": self.total,
            "trial": None if self.trial is None else self.trial.to_json(),
            "completion_code": self.completion_code,
            "completion_url": self.completion_url,
            "resumed": self.resumed,
            "consent": self.consent,
            "instructions": self.instructions,
            "consented": self.consented,
            "instructed": self.instructed,
        }


@dataclass(frozen=True)
class _Session:
    study: StudyRecord
    participant_id: int


def participant_url(base_url: str, study: StudyRecord | int, *, prolific_placeholders: bool = True) -> str:
    """The link to give Prolific: ``<base_url>/study?study=<id>&PROLIFIC_PID={{%PROLIFIC_PID%}}...``.

    With ``prolific_placeholders`` the Prolific parameters are Prolific's own placeholders, which it
    replaces per participant; without, the bare page URL."""
    study_id = study if isinstance(study, int) else study.id
    url = f"{base_url.rstrip('/')}/study?{urlencode({'study': study_id})}"
    if prolific_placeholders:
        url += "".join(f"&{name}={{{{%{name}%}}}}" for name in PROLIFIC_PARAMS)
    return url


ManifestLoader = Callable[[Path, StudyDefinition], Any]  # returns an object with .path_for(ClipRef)


class StudyService:
    """Participant actions over one :class:`StudyStore`. Thread-safe (the store is; caches lock).

    ``secret``: the study secret (the store's HMAC key); tokens use a key derived from it.
    ``output_dir``: the studio's output folder, holding ``stimuli/`` and the manifests.
    ``media_url``: URL prefix under which ``output_dir/stimuli/<name>`` is served.
    ``manifest_loader``: ``(output_dir, definition) -> manifest`` (default: stimuli.load_manifest).
    ``start_limits``: the rate limit on new participants (None: none, e.g. the command line).
    ``trusted_proxy_hops``: how many proxies in front of the server append to X-Forwarded-For
    (the page and the API use it to find the client's address; 0 trusts no header).
    """

    def __init__(
        self,
        store: StudyStore,
        secret: bytes | str,
        output_dir: str | Path,
        *,
        media_url: str = "/study/media/",
        manifest_loader: ManifestLoader | None = None,
        token_max_age_s: float = DEFAULT_TOKEN_MAX_AGE_S,
        clock: Callable[[], float] = time.time,
        start_limits: StartLimits | None = StartLimits(),  # frozen: safe as a default
        trusted_proxy_hops: int = 0,
    ) -> None:
        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        self.store = store
        self.output_dir = Path(output_dir)
        self.stimuli_dir = self.output_dir / "stimuli"
        self.media_url = media_url if media_url.endswith("/") else media_url + "/"
        self._tokens = Signer(key, b"studio-session-token-v1")
        self._load_manifest = manifest_loader or load_manifest
        self._max_age = token_max_age_s
        self._clock = clock
        self.start_limits = start_limits
        self.trusted_proxy_hops = trusted_proxy_hops
        self._lock = threading.Lock()
        # SQLite takes one writer at a time and makes the others poll with growing sleeps (up to
        # 100 ms each), which under load turns into multi-second tails; queueing this process's
        # writers on a lock instead hands the database over at once. PostgreSQL needs no such help.
        self._writing: AbstractContextManager[Any] = (
            threading.Lock() if store.dialect == "sqlite" else nullcontext()
        )
        self._studies: dict[int, StudyRecord] = {}
        self._manifests: dict[str, Any] = {}  # by definition hash; only successful loads are cached

    @classmethod
    def from_config(cls, store: StudyStore, config: Any) -> StudyService:
        """The service a server runs (a :class:`~studio.config.StudioConfig`: secret, output folder,
        start limits, trusted proxy hops)."""
        limits = StartLimits(
            config.start_limit_per_client,
            config.start_limit_client_window_s,
            config.start_limit_total,
            config.start_limit_total_window_s,
        )
        return cls(
            store,
            config.study_secret or "",
            config.output_dir,
            start_limits=limits,
            trusted_proxy_hops=config.trusted_proxy_hops,
        )

    # -- studies and stimuli -------------------------------------------------------------------
    def study(self, key: Any) -> StudyRecord:
        """The study named by a URL's ``study`` value: its database id or its 64-hex SHA-256."""
        text = str(key).strip().lower() if key is not None else ""
        if not _STUDY_KEY.match(text):
            raise ServiceError(404, "unknown_study", "This study link is not valid. Please check the link.")
        with self._lock:
            cached = next((s for s in self._studies.values() if text in (str(s.id), s.sha256)), None)
        if cached is not None:
            return cached
        try:
            record = self.store.get_study(int(text) if text.isdigit() else text)
        except KeyError:
            raise ServiceError(
                404, "unknown_study", "This study link is not valid. Please check the link."
            ) from None
        with self._lock:
            self._studies[record.id] = record
        return record

    def _study_by_id(self, study_id: int) -> StudyRecord:
        with self._lock:
            record = self._studies.get(study_id)
        return record if record is not None else self.study(study_id)

    def _manifest(self, study: StudyRecord) -> Any:
        with self._lock:
            manifest = self._manifests.get(study.sha256)
        if manifest is not None:
            return manifest
        try:
            manifest = self._load_manifest(self.output_dir, study.definition)
        except (OSError, ValueError, KeyError, ImportError) as exc:
            raise ServiceError(
                503,
                "stimuli_not_ready",
                "This study is not ready yet. Please try again in a few minutes.",
                f"stimuli not rendered: {type(exc).__name__}",
            ) from None
        with self._lock:
            self._manifests[study.sha256] = manifest
        return manifest

    def clip_path(self, study: StudyRecord, clip: ClipRef) -> Path:
        """The rendered file of one clip; only content-hash names inside ``output_dir/stimuli``."""
        try:
            path = Path(self._manifest(study).path_for(clip))
        except (OSError, ValueError, KeyError) as exc:
            raise ServiceError(
                503,
                "stimuli_not_ready",
                "This study is not ready yet. Please try again in a few minutes.",
                f"a clip is not rendered: {type(exc).__name__}",
            ) from None
        if not STIMULUS_NAME.match(path.name) or path.resolve().parent != self.stimuli_dir.resolve():
            # a name that is not a content hash could reveal a model: refuse rather than show it
            raise ServiceError(503, "stimuli_not_ready", "This study is not ready yet.", "bad stimulus name")
        return path

    def check_stimuli(self, study: StudyRecord) -> None:
        """Raise ServiceError(503) unless every clip of the study is rendered (before admitting anyone)."""
        for clip in study.definition.stimuli():
            if not self.clip_path(study, clip).is_file():
                raise ServiceError(
                    503, "stimuli_not_ready", "This study is not ready yet.", "a clip file is missing"
                )

    # -- tokens --------------------------------------------------------------------------------
    def _token(self, study: StudyRecord, participant_id: int) -> str:
        return self._tokens.sign({"s": study.id, "p": participant_id, "t": int(self._clock())})

    def session(self, token: Any) -> _Session:
        """Verify a token; raises ServiceError(401) for a forged, malformed or expired one."""
        bad = ServiceError(401, "bad_token", "Your session is not valid. Please reopen the study link.")
        data = self._tokens.verify(token)
        if data is None:
            raise bad
        try:
            study_id, participant_id, issued = int(data["s"]), int(data["p"]), float(data["t"])
        except (ValueError, KeyError, TypeError):
            raise bad from None
        if self._clock() - issued > self._max_age:
            raise ServiceError(
                401, "expired_token", "Your session has expired. Please reopen the study link."
            )
        return _Session(self._study_by_id(study_id), participant_id)

    # -- views ---------------------------------------------------------------------------------
    def trial_view(self, study: StudyRecord, stored: StoredTrial, total: int) -> TrialView:
        trial, d = stored.trial, study.definition
        k = len(trial.clips)
        labels = ("Left", "Right") if k == 2 else tuple(f"Clip {i + 1}" for i in range(k))
        clips = []
        for i, clip in enumerate(trial.clips):
            path = self.clip_path(study, clip)
            clips.append(ClipView(i, labels[i], self.media_url + path.name, path))
        if d.trial_type == "rank":
            options = tuple((str(r), str(r)) for r in range(1, k + 1))
        else:
            values = CHOICES_2AFC5 if d.trial_type == "2afc5" else CHOICES_PAIRWISE
            options = tuple((v, CHOICE_LABELS[v]) for v in values)
        return TrialView(
            stored.id,
            trial.position + 1,
            total,
            d.trial_type,
            trial.prompt,
            trial.question,
            tuple(clips),
            options,
            d.stimulus.clip_duration_s,
        )

    def _view(self, study: StudyRecord, token: str, state: ParticipantState) -> SessionView:
        trial = None if state.next_trial is None else self.trial_view(study, state.next_trial, state.total)
        return SessionView(
            token=token,
            answered=state.answered,
            total=state.total,
            trial=trial,
            completion_code=state.completion_code,
            resumed=not state.created,
            consent=study.definition.consent,
            instructions=study.definition.instructions,
            consented=state.consented,
            instructed=state.instructed,
        )

    # -- actions -------------------------------------------------------------------------------
    def start(self, study_key: Any, params: Mapping[str, Any], *, client: str | None = None) -> SessionView:
        """Admit or resume the participant named by the Prolific URL parameters.

        ``params``: the page's query parameters (``PROLIFIC_PID`` required; ``STUDY_ID``,
        ``SESSION_ID`` optional). The same PROLIFIC_PID and STUDY_ID resume the same participant.
        ``client``: the client's address (:func:`studio.security.clients.client_address`), for the
        rate limit on new participants; a caller without one (the command line, tests) passes None
        and is counted under one shared name.
        """
        study = self.study(study_key)
        values = {name: params.get(name) or "" for name in PROLIFIC_PARAMS}
        if any(not isinstance(v, str) for v in values.values()):
            raise ServiceError(400, "bad_prolific_id", "This study link is not valid. Please check the link.")
        if not values["PROLIFIC_PID"]:
            raise ServiceError(
                400,
                "missing_prolific_id",
                "This link has no Prolific ID. Please open the study from Prolific.",
            )
        try:
            identity = ProlificIdentity(values["PROLIFIC_PID"], values["STUDY_ID"], values["SESSION_ID"])
        except ValueError:
            raise ServiceError(
                400,
                "bad_prolific_id",
                "This link's Prolific ID is not valid. Please open the study from Prolific.",
            ) from None
        self.check_stimuli(study)  # before a participant index is spent on a study nobody can take
        limits = self.start_limits
        admission = (
            None
            if limits is None or (limits.per_client <= 0 and limits.total <= 0)
            else Admission(client or "unknown", limits.wait_s, limits.retention_s)
        )
        try:
            with self._writing:
                state = self.store.get_or_create_participant(study, identity, admission=admission)
        except RateLimited as limited:
            minutes = max(1, math.ceil(limited.retry_after_s / 60))
            raise ServiceError(
                429,
                "rate_limited",
                f"Too many people started this study from your network just now. Please try again in "
                f"{minutes} minute{'s' if minutes > 1 else ''}.",
                f"new participants are rate limited; retry after {limited.retry_after_s:.0f} s",
                retry_after_s=limited.retry_after_s,
            ) from None
        return self._view(study, self._token(study, state.participant_id), state)

    def current(self, token: str) -> SessionView:
        """The token's participant now: next trial or completion code (nothing written)."""
        session = self.session(token)
        try:
            state = self.store.participant_state(session.study, session.participant_id)
        except KeyError:
            raise ServiceError(
                401, "bad_token", "Your session is not valid. Please reopen the study link."
            ) from None
        return self._view(session.study, token, state)

    def record_event(
        self,
        token: str,
        kind: Any,
        *,
        trial_id: Any = None,
        clip: Any = None,
        client_ms: Any = None,
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        """Store one event (see :meth:`StudyStore.record_event`); returns its id after commit."""
        session = self.session(token)
        try:
            with self._writing:
                return self.store.record_event(
                    session.study,
                    session.participant_id,
                    kind,
                    trial_id=trial_id,
                    clip=clip,
                    client_ms=client_ms,
                    detail=detail,
                )
        except SubmissionRejected as exc:
            raise self._error(exc) from None

    def reject_malformed_event(self, token: str, why: str) -> ServiceError:
        """Count an event request whose body could not be read as an event; returns the error to send."""
        session = self.session(token)
        try:
            # an unknown kind is refused and counted by the store as event.invalid_event
            with self._writing:
                self.store.record_event(session.study, session.participant_id, f"malformed:{why}"[:40])
        except SubmissionRejected as exc:
            return self._error(exc)
        raise AssertionError("the store accepted a malformed event")

    def submit_answer(self, token: str, trial_id: Any, payload: Any) -> SessionView:
        """Store one answer (JSON text/bytes or a mapping); returns the participant's new state,
        with the completion code when this was the last answer (after it committed)."""
        session = self.session(token)
        try:
            with self._writing:
                ack = self.store.submit_answer(session.study, session.participant_id, trial_id, payload)
        except SubmissionRejected as exc:
            raise self._error(exc) from None
        trial = None if ack.next_trial is None else self.trial_view(session.study, ack.next_trial, ack.total)
        d = session.study.definition
        return SessionView(
            token=token,
            answered=ack.answered,
            total=ack.total,
            trial=trial,
            completion_code=ack.completion_code,
            resumed=True,
            consent=d.consent,
            instructions=d.instructions,
            consented=True,
            instructed=True,
        )

    @staticmethod
    def _error(exc: SubmissionRejected) -> ServiceError:
        message = _REJECTION_TEXT.get(exc.reason, "This submission was not accepted.")
        return ServiceError(
            REJECTION_STATUS.get(exc.reason, 400), f"{exc.what}.{exc.reason.value}", message, exc.detail
        )
