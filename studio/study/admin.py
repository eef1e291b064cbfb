"""Study administration: what the command line (:mod:`studio.study.cli`) and the admin pages
(:mod:`studio.ui.study_admin`) both do to a study, over one :class:`StudyAdmin`.

Open the store, find a study by id or hash, validate and store a config, render its stimuli, read
its progress, compute its report, write the report and the raw-data export. Every mistake an
administrator can make (no such study, a bad config, a value out of range, no secret) raises
:class:`AdminError` with one line to show; the front ends only parse arguments or wire widgets
and format what comes back.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from studio.config import StudioConfig
from studio.errors import StudioError
from studio.formats import FormatError
from studio.formats.errors import ERROR_CHARS, one_line
from studio.models.pool import ModelPool
from studio.study.agreement import DEFAULT_REDUCTION, REDUCTIONS
from studio.study.definition import DefinitionError, StudyDefinition
from studio.study.exports import export_answers
from studio.study.parsing import load_definition, parse_config_text
from studio.study.records import StudyRecord
from studio.study.report import write_report
from studio.study.schema import StorageError
from studio.study.statistics import StudyReport, build_report
from studio.study.stimuli import StimulusError, StimulusManifest, load_manifest, render_stimuli
from studio.study.storage import StudyStore

MAX_CONFIG_BYTES = 256 * 1024  # a study config with 1000 prompts is ~100 kB
SIZE_RANGE = (64, 2048)  # stimulus frame sizes, pixels
MAX_BOOTSTRAP = 100_000
_HASH_PREFIX = re.compile(r"[0-9a-fA-F]{6,64}")


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
