"""What the study store refuses and limits: rejected submissions and rate limits.

A rejected submission raises :class:`SubmissionRejected` with a :class:`Rejection` reason; the
checks that need no database (payload size and JSON, event shape) are here, the rest
(replays, foreign trials, playback) in :class:`~studio.study.storage.StudyStore`. Playback timing is
judged on the server's clock: an answer is refused as ``too_fast`` unless at least
:func:`playback_floor_ms` has passed since its trial was served.

Rate limits: a :data:`RatePolicy` looks at the hits of one scope through a :class:`HitLog` and
says how long the client must still wait; :class:`Admission` is the limit on new participants.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from studio.errors import StudioError
from studio.study.definition import StudyDefinition
from studio.study.parsing import no_json_constant
from studio.study.schema import RateHitRow

MAX_ANSWER_BYTES = 2048  # a rank answer of 8 clips is ~40 bytes; anything near this is not an answer
MAX_EVENT_DETAIL_BYTES = 1024
MAX_EVENTS_PER_PARTICIPANT = 20_000  # ~40 per trial at the 500-trial limit; bounds a flooding client
# An answer may come this much sooner than the longest clip lasts: the video's last frame and
# timer granularity, never a whole clip.
PLAYBACK_TOLERANCE_MS = 100

CLIP_EVENTS = ("play", "pause", "seek", "ended")
TRIAL_EVENTS = ("shown",)
FREE_EVENTS = ("consent", "instructions", "page_hidden", "page_visible", "completed_page")
EVENT_KINDS: tuple[str, ...] = CLIP_EVENTS + TRIAL_EVENTS + FREE_EVENTS


class Rejection(StrEnum):
    """Why a submission was refused. Counted per (study, participant, ``<what>.<reason>``)."""

    UNKNOWN_PARTICIPANT = "unknown_participant"  # no such participant in this study
    UNKNOWN_TRIAL = "unknown_trial"  # no such trial in this study
    FOREIGN_TRIAL = "foreign_trial"  # the trial belongs to another participant
    REPLAYED = "replayed"  # the trial already has an answer
    OVERSIZED = "oversized"  # payload larger than MAX_ANSWER_BYTES / MAX_EVENT_DETAIL_BYTES
    NOT_JSON = "not_json"  # payload is not a JSON document (or has NaN, duplicate keys)
    INVALID_ANSWER = "invalid_answer"  # JSON, but not an answer to this trial
    NOT_PLAYED = "not_played"  # some clip has no recorded 'ended' event
    TOO_FAST = "too_fast"  # answered sooner after the trial was served than its clips last
    INVALID_EVENT = "invalid_event"  # unknown kind, clip out of range, missing trial
    TOO_MANY_EVENTS = "too_many_events"  # MAX_EVENTS_PER_PARTICIPANT reached


class RateLimited(StudioError):  # noqa: N818  (a refusal is an outcome, not a crash)
    """A rate-limited action was refused (nothing recorded); try again in ``retry_after_s``."""

    def __init__(self, scope: str, retry_after_s: float) -> None:
        self.scope, self.retry_after_s = scope, max(0.0, retry_after_s)
        super().__init__(f"{scope}: rate limited, retry after {self.retry_after_s:.1f} s")


class SubmissionRejected(StudioError):  # noqa: N818  (a rejection is an outcome, not a crash)
    """A submission was refused; nothing was stored. ``what`` is ``answer`` or ``event``."""

    def __init__(self, reason: Rejection, detail: str, what: Literal["answer", "event"] = "answer") -> None:
        self.reason, self.detail, self.what = reason, detail, what
        super().__init__(f"{what} rejected ({reason.value}): {detail}")


class HitLog:
    """The rate hits of one scope as a rate policy sees them, inside the transaction that decides
    (under the scope's lock). ``per_client``: only this client's hits, else every client's."""

    def __init__(self, session: Session, scope: str, client: str, now: datetime) -> None:
        self._session, self._scope, self._client, self._now = session, scope, client, now

    def _where(self, window_s: float, per_client: bool) -> list[Any]:
        since = self._now - timedelta(seconds=window_s)
        where = [RateHitRow.scope == self._scope, RateHitRow.at > since]
        if per_client:
            where.append(RateHitRow.client == self._client)
        return where

    def count(self, window_s: float, *, per_client: bool = True) -> int:
        """Hits within the last ``window_s`` seconds."""
        query = select(func.count()).select_from(RateHitRow).where(*self._where(window_s, per_client))
        return int(self._session.scalar(query) or 0)

    def age_s(self, n: int, window_s: float, *, per_client: bool = True) -> float | None:
        """Seconds since the ``n``-th newest hit (1 = newest) within the window; None if fewer."""
        query = (
            select(RateHitRow.at)
            .where(*self._where(window_s, per_client))
            .order_by(RateHitRow.at.desc())
            .offset(n - 1)
            .limit(1)
        )
        at = self._session.scalar(query)
        return None if at is None else (self._now - at).total_seconds()


RatePolicy = Callable[[HitLog], float]
"""Decides one attempt: seconds the client must still wait (<= 0: allowed, and recorded)."""


@dataclass(frozen=True)
class Admission:
    """The rate limit on admitting a new participant: the ``client``'s address (stored only as a
    keyed hash), the ``policy`` and ``retention_s``, the longest window it looks back over."""

    client: str
    policy: RatePolicy = field(repr=False)
    retention_s: float
    scope: str = "start"


def playback_floor_ms(definition: StudyDefinition) -> float:
    """The least time from serving a trial to its answer: the longest clip (clips can play side by
    side; every clip of a study has the same length), less :data:`PLAYBACK_TOLERANCE_MS`."""
    return max(0.0, definition.stimulus.clip_duration_s * 1000 - PLAYBACK_TOLERANCE_MS)


def check_event(
    kind: Any, trial_id: Any, clip: Any, client_ms: Any, detail: Mapping[str, Any] | None
) -> str | None:
    def bad(why: str) -> SubmissionRejected:
        return SubmissionRejected(Rejection.INVALID_EVENT, why, "event")

    if kind not in EVENT_KINDS:
        raise bad(f"unknown event kind {str(kind)[:40]!r}")
    if trial_id is not None and (isinstance(trial_id, bool) or not isinstance(trial_id, int)):
        raise bad("trial_id must be an integer")
    if kind in CLIP_EVENTS + TRIAL_EVENTS and trial_id is None:
        raise bad(f"a {kind!r} event needs a trial")
    if kind in CLIP_EVENTS:
        if isinstance(clip, bool) or not isinstance(clip, int) or clip < 0:
            raise bad(f"a {kind!r} event needs a clip position >= 0")
    elif clip is not None:
        raise bad(f"a {kind!r} event has no clip")
    if client_ms is not None and (
        isinstance(client_ms, bool) or not isinstance(client_ms, int | float) or not math.isfinite(client_ms)
    ):
        raise bad("client_ms must be a finite number")
    if detail is None:
        return None
    try:
        detail_json = json.dumps(dict(detail), allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise SubmissionRejected(Rejection.NOT_JSON, f"detail: {exc}", "event") from None
    if len(detail_json.encode("utf-8")) > MAX_EVENT_DETAIL_BYTES:
        raise SubmissionRejected(Rejection.OVERSIZED, f"detail over {MAX_EVENT_DETAIL_BYTES} bytes", "event")
    return detail_json


def rate_lock_key(scope: str) -> int:
    return int.from_bytes(
        hashlib.sha256(f"studio.study.storage/rate/{scope}".encode()).digest()[:8], "big", signed=True
    )


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate keys")  # which value would count? refuse rather than guess
    return dict(pairs)


def decode_payload(payload: Any) -> Any:
    """JSON text/bytes or a mapping -> the decoded value, at most MAX_ANSWER_BYTES of UTF-8."""
    if isinstance(payload, str):
        if len(payload) > MAX_ANSWER_BYTES:  # cheap pre-check: characters <= bytes
            raise SubmissionRejected(Rejection.OVERSIZED, f"payload over {MAX_ANSWER_BYTES} bytes")
        try:
            raw = payload.encode("utf-8")
        except UnicodeEncodeError:
            raise SubmissionRejected(Rejection.NOT_JSON, "payload is not valid Unicode") from None
    elif isinstance(payload, bytes | bytearray | memoryview):
        raw = bytes(payload)
    elif isinstance(payload, Mapping):
        try:
            raw = json.dumps(dict(payload), allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise SubmissionRejected(Rejection.NOT_JSON, f"payload cannot be JSON: {exc}") from None
    else:
        raise SubmissionRejected(
            Rejection.NOT_JSON, f"payload must be JSON text, got {type(payload).__name__}"
        )
    if len(raw) > MAX_ANSWER_BYTES:
        raise SubmissionRejected(
            Rejection.OVERSIZED, f"payload is {len(raw)} bytes (limit {MAX_ANSWER_BYTES})"
        )
    try:
        return json.loads(raw, parse_constant=no_json_constant, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise SubmissionRejected(Rejection.NOT_JSON, f"payload is not JSON: {exc}") from None
