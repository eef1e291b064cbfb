"""Study administration: what the command line (:mod:`studio.study.cli`) and the admin pages
(:mod:`studio.ui.study_admin`) both do to a study, over one :class:`StudyAdmin`.

Open the store, find a study by id or hash, validate and store a config, render its stimuli, list
them, read its progress, compute its report, write the report and the raw-data export. Every
mistake an administrator can make (no such study, a bad config, a value out of range, no secret)
raises :class:`AdminError` with one line to show; the front ends only parse arguments or wire
widgets and format what comes back.

Previews: :class:`StudyPreviews` signs short-lived links that open the participant page of a
study as one participant index would see it (``/study?study=<id>&preview=<token>``), and
:class:`ParticipantPreview` answers that page's actions without writing anything: no participant,
no assignment slot, no event, no answer, no rate-limit entry, nothing in the statistics. The
participant page accepts preview links only for a store whose admin pages are on
(:func:`enable_previews`, which :func:`studio.ui.study_admin.build_admin` calls): a server without
``STUDIO_ADMIN_TOKEN`` has no previews at all.
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.config import StudioConfig
from studio.errors import StudioError
from studio.formats import FormatError
from studio.formats.errors import ERROR_CHARS, one_line
from studio.models.pool import ModelPool
from studio.security.tokens import Signer
from studio.study.agreement import DEFAULT_REDUCTION, REDUCTIONS
from studio.study.answers import AnswerError, validate_answer
from studio.study.assignment import participant_trials
from studio.study.definition import ClipRef, DefinitionError, StudyDefinition, Trial
from studio.study.exports import export_answers
from studio.study.parsing import load_definition, parse_config_text
from studio.study.records import StoredTrial, StudyRecord
from studio.study.report import write_report
from studio.study.schema import StorageError
from studio.study.service import ServiceError, SessionView, StudyService
from studio.study.statistics import StudyReport, build_report
from studio.study.stimuli import StimulusError, StimulusManifest, load_manifest, render_stimuli
from studio.study.storage import StudyStore

MAX_CONFIG_BYTES = 256 * 1024  # a study config with 1000 prompts is ~100 kB
SIZE_RANGE = (64, 2048)  # stimulus frame sizes, pixels
MAX_BOOTSTRAP = 100_000
_HASH_PREFIX = re.compile(r"[0-9a-fA-F]{6,64}")
PREVIEW_TTL_S = 6 * 3600  # an afternoon of checking a study before it goes out
MAX_PREVIEW_INDEX = 1_000_000


class AdminError(StudioError):
    """Something the administrator should read (no such study, a bad config); one line."""


def known_models(config: StudioConfig) -> list[str] | None:
    """The models config's names (to check a study's model names), or None when there is none."""
    from studio.models import read_models_config

    if not config.models_config.is_file():
        return None
    try:
        return [spec.name for spec in read_models_config(config.models_config)]
    except FormatError:
        return None


def design_line(definition: StudyDefinition) -> str:
    """The design in one line: trial type, items x raters, screens per participant, participants."""
    d = definition
    return (
        f"{d.trial_type}, {len(d.items)} items x {d.raters_per_item} raters, "
        f"{d.trials_per_participant} trials per participant, {d.participants_needed} participants needed"
    )


@dataclass(frozen=True)
class Stimulus:
    """One clip of a study as the admin sees it: the ``clip`` (model, generating prompt, seed), its
    rendered ``path`` (``<sha256>.mp4``: the blinded id participants' URLs carry), the study
    ``prompt_id`` it was made for (``check`` for an attention check's own texts) and how many clips
    of the study share this very file (``shared`` > 1: identical motion rendered once)."""

    clip: ClipRef
    path: Path
    prompt_id: str
    shared: int = 1

    @property
    def blinded_id(self) -> str:
        """The 64-hex content hash participants see in the clip's URL."""
        return self.path.stem


def _clip_label(trial: Trial, clip: ClipRef) -> str:
    """A model name, marked when the clip was made from another text than the screen shows."""
    return clip.model if clip.prompt == trial.prompt else f"{clip.model} (for {clip.prompt[:40]!r})"


def _preview_index(value: Any) -> int:
    """A participant index from a widget or a token: a whole number in [0, MAX_PREVIEW_INDEX]."""
    whole_float = isinstance(value, float) and value.is_integer()
    digits = isinstance(value, str) and value.strip().isascii() and value.strip().isdigit()
    if whole_float or (digits and len(value.strip()) < 10):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PREVIEW_INDEX:
        raise AdminError(f"the participant index must be a whole number in [0, {MAX_PREVIEW_INDEX}]")
    return value


class StudyAdmin:
    """The administration of the studies in ``store``; stimuli live under ``config.output_dir``."""

    def __init__(self, config: StudioConfig, store: StudyStore) -> None:
        self.config, self.store = config, store

    @classmethod
    def open(cls, config: StudioConfig, url: str | None = None) -> StudyAdmin:
        """Open the database at ``url`` (default ``config.db_url``) with the configured secret."""
        from sqlalchemy.exc import ArgumentError, SQLAlchemyError

        if config.study_secret is None:
            raise AdminError("set STUDIO_STUDY_SECRET (16+ characters; keep it for the life of the study)")
        try:
            store = StudyStore(url or config.db_url, config.study_secret)
        except (StorageError, ArgumentError, SQLAlchemyError, ValueError) as exc:
            raise AdminError(f"cannot open the study database: {one_line(str(exc))[:ERROR_CHARS]}") from None
        return cls(config, store)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> StudyAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- studies ---------------------------------------------------------------------------------
    def studies(self) -> list[tuple[int, str, str]]:
        """``(id, sha256, name)`` of every study, oldest first."""
        return self.store.list_studies()

    def find(self, key: int | str | None) -> StudyRecord:
        """A stored study by database id, full SHA-256 or a unique SHA-256 prefix (6+ hex digits)."""
        if key is None or str(key).strip() == "":
            raise AdminError("choose a study first (or create one)")
        text = str(key).strip()
        try:
            if text.isdigit() and len(text) < 19:
                try:
                    return self.store.get_study(int(text))
                except KeyError:
                    pass  # an all-digit SHA-256 prefix ("12345678") is a prefix, not an id
            if _HASH_PREFIX.fullmatch(text):
                matches = [sha for _, sha, _ in self.store.list_studies() if sha.startswith(text.lower())]
                if len(matches) > 1:
                    raise AdminError(
                        f"study prefix {text!r} matches {len(matches)} studies; give more digits"
                    )
                if matches:
                    return self.store.get_study(matches[0])
        except KeyError:
            pass
        except StorageError as exc:
            raise AdminError(str(exc)) from None
        raise AdminError(f"no study {key!r} in the database")

    def parse_config(self, text: str, source: str, known: Collection[str] | None = None) -> StudyDefinition:
        """Validate a pasted or uploaded YAML/JSON config (at most :data:`MAX_CONFIG_BYTES`).
        Relative results folders are refused: there is no config folder to resolve them against.
        Raises :class:`~studio.study.definition.DefinitionError` listing every problem."""
        if len(text.encode("utf-8")) > MAX_CONFIG_BYTES:
            raise DefinitionError(source, [("", f"larger than {MAX_CONFIG_BYTES // 1024} kB")])
        return parse_config_text(text, source, known_models=known)

    def load_config(self, path: str | Path) -> StudyDefinition:
        """Validate a config file, checking model names against the models config."""
        return load_definition(path, known_models=known_models(self.config))

    def create(self, definition: StudyDefinition) -> StudyRecord:
        """Store (freeze) a study, or return the stored one with the same hash (``created=False``)."""
        return self.store.create_study(definition)

    # -- stimuli ---------------------------------------------------------------------------------
    def manifest(self, record: StudyRecord) -> StimulusManifest | None:
        """The study's rendered stimuli, or None while they are not rendered."""
        try:
            return load_manifest(self.config.output_dir, record.definition)
        except StimulusError:
            return None

    def render(
        self, record: StudyRecord, pool: ModelPool | None = None, *, progress: Any = None, **stage: Any
    ) -> StimulusManifest:
        """Render the study's stimuli (reusing any already rendered). ``stage``: the keyword
        arguments of :func:`~studio.study.stimuli.render_stimuli` (``size`` in pixels, ``camera``,
        ``rig``, ``force``), its defaults where left out. ``pool`` defaults to the configured models.
        Raises :class:`~studio.study.stimuli.StimulusError` when a clip cannot be made."""
        size = stage.get("size")
        if size is not None and not SIZE_RANGE[0] <= int(size) <= SIZE_RANGE[1]:
            low, high = SIZE_RANGE
            raise AdminError(f"the frame size must be in [{low}, {high}] pixels, got {size}")
        if pool is None:
            from studio.models import read_models_config

            models = self.config.models_config
            pool = ModelPool(read_models_config(models) if models.is_file() else [])
        return render_stimuli(record.definition, pool, self.config.output_dir, progress=progress, **stage)

    def stimuli(self, record: StudyRecord) -> list[Stimulus]:
        """Every clip the study can show, in :meth:`StudyDefinition.stimuli` order, with its rendered
        file; empty while the stimuli are not rendered (or some file is gone)."""
        manifest = self.manifest(record)
        if manifest is None:
            return []
        try:
            paths = [(clip, manifest.path_for(clip)) for clip in record.definition.stimuli()]
        except StimulusError:
            return []
        prompt_ids = {p.text: p.id for p in record.definition.prompts}
        users: dict[str, int] = {}
        for _, path in paths:
            users[path.name] = users.get(path.name, 0) + 1
        return [
            Stimulus(clip, path, prompt_ids.get(clip.prompt, "check"), users[path.name])
            for clip, path in paths
        ]

    def next_participant_index(self, record: StudyRecord) -> int:
        """The assignment index the next new participant will get (the store gives max + 1)."""
        indices = [p.participant_index for p in self.store.participant_summaries(record)]
        return max(indices) + 1 if indices else 0

    def screens(self, record: StudyRecord, participant_index: int) -> list[dict[str, Any]]:
        """What participant ``participant_index`` sees, screen by screen: kind (item, attention,
        control), item, the prompt shown and the models from left to right (for the admin only)."""
        index = _preview_index(participant_index)
        return [
            {
                "screen": t.position + 1,
                "kind": t.kind,
                "item": t.item_id,
                "prompt": t.prompt,
                "clips (left to right)": " | ".join(_clip_label(t, c) for c in t.clips),
            }
            for t in participant_trials(record.definition, index)
        ]

    # -- progress and results --------------------------------------------------------------------
    def progress(self, record: StudyRecord) -> StudyReport:
        """The report without bootstrap intervals: participants, items, checks, rejections (fast)."""
        return build_report(self.store, record, n_bootstrap=0)

    def report(
        self,
        record: StudyRecord,
        *,
        reduction: str | None = None,
        n_bootstrap: int = 1000,
        seed: int = 0,
        include_incomplete: bool = False,
    ) -> StudyReport:
        """The full report (:func:`~studio.study.statistics.analyse`) with ``n_bootstrap`` resamples."""
        reduction = reduction or DEFAULT_REDUCTION
        if reduction not in REDUCTIONS:
            raise AdminError(f"the reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
        if not 0 <= int(n_bootstrap) <= MAX_BOOTSTRAP:
            raise AdminError(f"bootstrap resamples must be in [0, {MAX_BOOTSTRAP}], got {n_bootstrap}")
        return build_report(
            self.store,
            record,
            reduction=reduction,
            n_bootstrap=int(n_bootstrap),
            seed=seed,
            include_incomplete=include_incomplete,
        )

    def write_report(self, report: StudyReport, out_dir: str | Path) -> list[Path]:
        """``report.md``, ``report.html`` (+ plotly.js) and ``report.json`` in ``out_dir``."""
        return write_report(report, out_dir)

    def export(
        self, record: StudyRecord, out_dir: str | Path, *, with_report: str | None = None
    ) -> list[Path]:
        """Raw answers and participants (CSV, Parquet) with the codebook in ``out_dir``; with
        ``with_report`` (a Fleiss reduction) also the report's Markdown and JSON."""
        paths = export_answers(self.store, record, out_dir)
        if with_report is not None:
            report = self.report(record, reduction=with_report)
            paths += [p for p in write_report(report, out_dir) if p.suffix in (".md", ".json")]
        return paths


# ----------------------------------------------------------------------------------------------
# previews of the participant page
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewGrant:
    """What a valid preview token allows: showing study ``study_id`` (whose SHA-256 starts with
    ``sha_prefix``) as participant ``participant_index`` would see it, until ``expires`` (unix s)."""

    study_id: int
    sha_prefix: str
    participant_index: int
    expires: float


class StudyPreviews:
    """Signs and checks preview tokens: ``<payload>.<mac>`` (:class:`~studio.security.tokens.Signer`,
    its own key derived from the study secret, so a participant's session token is never a preview
    token and the reverse). The payload holds the study id, a prefix of its hash, the participant
    index and the expiry; nothing about models. A token opens the page only until it expires
    (``ttl_s``); whoever holds the link sees the screens that participant index would, and nothing
    they do is stored."""

    def __init__(
        self, secret: bytes | str, *, ttl_s: float = PREVIEW_TTL_S, clock: Callable[[], float] = time.time
    ) -> None:
        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        self._signer = Signer(key, b"studio-study-preview-v1")
        self.ttl_s, self._clock = float(ttl_s), clock

    def token(self, record: StudyRecord, participant_index: Any) -> str:
        index = _preview_index(participant_index)
        expires = int(self._clock() + self.ttl_s)
        return self._signer.sign({"s": record.id, "h": record.sha256[:16], "i": index, "x": expires})

    def grant(self, token: Any) -> PreviewGrant:
        """The grant of a token this object (or one with the same secret) signed; raises
        :class:`~studio.study.service.ServiceError` (403) for anything forged or malformed, and for
        an expired token."""
        refused = ServiceError(
            403, "preview.invalid", "This preview link is not valid. Open a new one from the admin page."
        )
        data = self._signer.verify(token)
        if data is None:
            raise refused
        try:
            grant = PreviewGrant(int(data["s"]), str(data["h"]), _preview_index(data["i"]), float(data["x"]))
        except (KeyError, TypeError, ValueError, AdminError):
            raise refused from None
        if self._clock() > grant.expires:
            raise ServiceError(
                403, "preview.expired", "This preview link has expired. Open a new one from the admin page."
            )
        return grant


def preview_url(base_url: str, record: StudyRecord, token: str) -> str:
    """The participant page of ``record`` in preview mode: ``<base_url>/study?study=<id>&preview=<token>``."""
    return f"{base_url.rstrip('/')}/study?study={record.id}&preview={token}"


# The stores whose admin pages are on, and their previews: the participant page looks its store up
# here, so previews exist only on a server that also serves the admin pages.
_PREVIEWS: weakref.WeakKeyDictionary[Any, StudyPreviews] = weakref.WeakKeyDictionary()


def enable_previews(store: StudyStore, previews: StudyPreviews) -> None:
    """Let the participant page open preview links of ``previews`` for studies in ``store``."""
    _PREVIEWS[store] = previews


def previews_for(store: StudyStore) -> StudyPreviews | None:
    """The previews enabled for ``store`` (None: none; the participant page refuses preview links)."""
    return _PREVIEWS.get(store)


class ParticipantPreview:
    """The participant page's actions for a preview link, with the views a
    :class:`~studio.study.service.StudyService` gives a participant (the same consent and
    instruction texts, trial views, clips under the same content-hash URLs) and nothing written:
    the participant's screens come from :func:`~studio.study.assignment.participant_trials` for the
    token's index, answers are only validated, events only checked. A preview trial's id is its
    screen number (1-based); the page keeps which screen it shows."""

    def __init__(self, service: StudyService, previews: StudyPreviews) -> None:
        self.service, self.previews = service, previews

    def _open(self, token: Any, study_key: Any = None) -> tuple[StudyRecord, tuple[Trial, ...]]:
        grant = self.previews.grant(token)
        study = self.service.study(grant.study_id)
        mismatch = study_key is not None and str(study_key).strip() not in (str(study.id), study.sha256)
        if mismatch or not study.sha256.startswith(grant.sha_prefix):
            raise ServiceError(403, "preview.invalid", "This preview link belongs to another study.")
        return study, participant_trials(study.definition, grant.participant_index)

    def _view(self, study: StudyRecord, token: str, trials: tuple[Trial, ...], answered: int) -> SessionView:
        d, total = study.definition, len(trials)
        stored = None if answered >= total else StoredTrial(answered + 1, trials[answered])
        return SessionView(
            token=token,
            answered=answered,
            total=total,
            trial=None if stored is None else self.service.trial_view(study, stored, total),
            completion_code=None,
            resumed=False,
            consent=d.consent,
            instructions=d.instructions,
        )

    def start(self, study_key: Any, token: Any) -> SessionView:
        """The first screen of the preview of ``study_key`` (the link's ``study``) for ``token``."""
        study, trials = self._open(token, study_key)
        self.service.check_stimuli(study)  # as for a participant: not ready means no screens
        return self._view(study, str(token), trials, 0)

    def check(self, token: Any) -> None:
        """Raise :class:`~studio.study.service.ServiceError` unless ``token`` still opens its preview."""
        self._open(token)

    def submit_answer(self, token: Any, trial_id: Any, payload: Any) -> SessionView:
        """Validate an answer to screen ``trial_id`` exactly as the store would, store nothing, and
        return the next screen (``completion_code`` stays None after the last)."""
        study, trials = self._open(token)
        if isinstance(trial_id, bool) or not isinstance(trial_id, int) or not 1 <= trial_id <= len(trials):
            raise ServiceError(404, "answer.unknown_trial", "This submission was not accepted.")
        trial = trials[trial_id - 1]
        if not isinstance(payload, Mapping):
            raise ServiceError(400, "answer.not_json", "This submission was not accepted.")
        try:
            validate_answer(study.definition.trial_type, len(trial.clips), dict(payload))
        except AnswerError as exc:
            raise ServiceError(
                422,
                "answer.invalid_answer",
                "That answer is not complete; please check it and submit again.",
                str(exc),
            ) from None
        return self._view(study, str(token), trials, trial_id)
