"""``python -m studio study create|list|render|status|report|export``: run a study from the shell.

The database is ``--db`` or ``STUDIO_DB_URL`` (default: SQLite ``data/studio.db``); the HMAC
secret is ``STUDIO_STUDY_SECRET`` (16+ characters, the same for the whole life of a study: it
makes participant ids and completion codes). A study is named by its database id or by its
SHA-256 (or a unique prefix of at least 6 hex digits). Every user mistake is one line on stderr
and exit code 2 (:class:`studio.cli.UsageError`).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from studio.errors import UsageError

DEFAULT_BASE_URL = "http://127.0.0.1:7860"


def register(sub: argparse._SubParsersAction) -> None:
    # --db goes before or after the command: `study --db URL status 1` or `study status 1 --db URL`
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument(
        "--db",
        default=argparse.SUPPRESS,
        help="database URL (default: STUDIO_DB_URL or sqlite data/studio.db)",
    )
    study = sub.add_parser(
        "study", parents=[db], help="user-preference studies: create, render, status, report, export"
    )
    commands = study.add_subparsers(dest="study_command", required=True)

    create = commands.add_parser(
        "create", parents=[db], help="validate a study config, freeze it and store it"
    )
    create.add_argument("config", help="study config (.yaml, .yml or .json)")
    create.add_argument(
        "--base-url", default=None, help=f"public URL of the server (default {DEFAULT_BASE_URL})"
    )
    create.set_defaults(run=cmd_create)

    listing = commands.add_parser("list", parents=[db], help="list the stored studies")
    listing.set_defaults(run=cmd_list)

    render = commands.add_parser(
        "render", parents=[db], help="render the study's stimuli (once; re-runs reuse them)"
    )
    render.add_argument("study", help="study id or SHA-256 (prefix)")
    render.add_argument("--size", type=int, default=384, help="frame size in pixels (default 384)")
    render.add_argument("--camera", default="front", choices=["front", "three-quarter"])
    render.add_argument("--rig", default="default", help="default, ict, a folder of OBJs or a rig .npz")
    render.add_argument("--force", action="store_true", help="generate again even if a manifest exists")
    render.set_defaults(run=cmd_render)

    status = commands.add_parser(
        "status", parents=[db], help="participants, answers per item, checks, exclusions"
    )
    status.add_argument("study", help="study id or SHA-256 (prefix)")
    status.set_defaults(run=cmd_status)

    report = commands.add_parser(
        "report", parents=[db], help="statistics and charts: report.md, report.html, report.json"
    )
    report.add_argument("study", help="study id or SHA-256 (prefix)")
    report.add_argument("--out", required=True, help="folder for the report files")
    report.add_argument(
        "--reduction",
        default="rank_as_category",
        choices=["rank_as_category", "top_choice"],
        help="the Fleiss' kappa reduction the report declares for rank studies (the other is shown too)",
    )
    report.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    report.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    report.add_argument(
        "--include-incomplete", action="store_true", help="analyse participants who did not finish"
    )
    report.set_defaults(run=cmd_report)

    export = commands.add_parser(
        "export", parents=[db], help="raw answers as CSV and Parquet, with a codebook"
    )
    export.add_argument("study", help="study id or SHA-256 (prefix)")
    export.add_argument("--out", required=True, help="folder for the export files")
    export.set_defaults(run=cmd_export)


# ----------------------------------------------------------------------------------------------
# shared steps
# ----------------------------------------------------------------------------------------------


def _config() -> Any:
    from studio.config import StudioConfig

    try:
        return StudioConfig.from_env()
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def open_store(args: argparse.Namespace) -> Any:
    """The study store of ``--db`` / STUDIO_DB_URL with STUDIO_STUDY_SECRET."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from studio.study.storage import StorageError, StudyStore

    config = _config()
    if config.study_secret is None:
        raise UsageError("set STUDIO_STUDY_SECRET (16+ characters; keep it for the life of the study)")
    url = getattr(args, "db", None) or config.db_url
    try:
        return StudyStore(url, config.study_secret)
    except (StorageError, ArgumentError, SQLAlchemyError, ValueError) as exc:
        raise UsageError(f"cannot open the study database: {_one_line(exc)}") from None


def find_study(store: Any, key: str) -> Any:
    """A stored study by id, full SHA-256 or a unique SHA-256 prefix (6+ hex digits)."""
    from studio.study.storage import StorageError

    key = key.strip()
    try:
        if key.isdigit() and len(key) < 19:
            try:
                return store.get_study(int(key))
            except KeyError:
                pass  # an all-digit SHA-256 prefix ("12345678") is a prefix, not an id
        if re.fullmatch(r"[0-9a-fA-F]{6,64}", key):
            matches = [sha for _, sha, _ in store.list_studies() if sha.startswith(key.lower())]
            if len(matches) > 1:
                raise UsageError(f"study prefix {key!r} matches {len(matches)} studies; give more digits")
            if matches:
                return store.get_study(matches[0])
    except KeyError:
        pass
    except StorageError as exc:
        raise UsageError(str(exc)) from None
    raise UsageError(f"no study {key!r} in the database (python -m studio study list shows them)")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _known_models(config: Any) -> list[str] | None:
    """The models config's names (to check a study's model names), or None when there is none."""
    from studio.formats import FormatError
    from studio.models import read_models_config

    if not config.models_config.is_file():
        return None
    try:
        return [spec.name for spec in read_models_config(config.models_config)]
    except FormatError:
        return None


# ----------------------------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------------------------


def cmd_create(args: argparse.Namespace) -> int:
    from studio.study.definition import DefinitionError, load_definition
    from studio.study.service import participant_url

    config = _config()
    try:
        definition = load_definition(args.config, known_models=_known_models(config))
    except DefinitionError as exc:
        problems = "; ".join(f"{where or 'top level'}: {problem}" for where, problem in exc.problems)
        count = f"{len(exc.problems)} problems: " if len(exc.problems) > 1 else ""
        raise UsageError(f"{exc.path}: {count}{problems}") from None
    with open_store(args) as store:
        record = store.create_study(definition)
    verb = "created" if record.created else "already stored (same frozen config)"
    base = args.base_url or (
        DEFAULT_BASE_URL if config.port == 7860 else f"http://{config.host}:{config.port}"
    )
    d = record.definition
    print(f"study {record.id} {verb}: {d.name!r}")
    print(f"sha256:        {record.sha256}")
    print(
        f"design:        {d.trial_type}, {len(d.items)} items x {d.raters_per_item} raters, "
        f"{d.trials_per_participant} trials per participant, {d.participants_needed} participants needed"
    )
    print(f"stimuli:       {len(d.stimuli())} clips to render")
    print(f"participants:  {participant_url(base, record)}")
    print(f"next:          python -m studio study render {record.id}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        studies = store.list_studies()
    if not studies:
        print("no studies")
    for study_id, sha, name in studies:
        print(f"{study_id:>4}  {sha[:12]}  {name}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from studio.models import read_models_config
    from studio.models.pool import ModelPool
    from studio.study.stimuli import render_stimuli

    if not 64 <= args.size <= 2048:
        raise UsageError(f"--size must be in [64, 2048], got {args.size}")
    config = _config()
    with open_store(args) as store:
        record = find_study(store, args.study)
    pool = ModelPool(read_models_config(config.models_config) if config.models_config.is_file() else [])
    with tqdm(total=len(record.definition.stimuli()), unit="clip", file=sys.stderr) as bar:

        def progress(done: int, total: int, description: str) -> None:
            bar.total = total
            bar.n = done
            bar.set_description(description[:40], refresh=False)
            bar.refresh()

        manifest = render_stimuli(
            record.definition,
            pool,
            config.output_dir,
            progress=progress,
            size=args.size,
            camera=args.camera,
            rig=args.rig,
            force=args.force,
        )
    reused = len(set(manifest.files.values())) - manifest.rendered
    print(
        f"study {record.id}: {len(manifest.files)} stimuli in {config.output_dir / 'stimuli'} "
        f"({manifest.rendered} rendered now, {max(reused, 0)} reused)"
    )
    for notice in manifest.notices:
        print(f"notice: {notice}")
    return 0


def status_text(store: Any, record: Any, output_dir: Path) -> str:
    """What ``study status`` prints (also the admin page's progress summary)."""
    from studio.study.report import analyse
    from studio.study.stimuli import StimulusError, load_manifest

    report = analyse(
        record.definition,
        store.export_answers(record),
        store.participant_summaries(record),
        store.rejection_counts(record),
        n_bootstrap=0,
    )
    try:
        manifest = load_manifest(output_dir, record.definition)
        stimuli = f"{len(manifest.files)} rendered"
    except StimulusError:
        stimuli = "NOT rendered (python -m studio study render)"
    lines = [
        f"study {record.id} {record.definition.name!r} ({record.sha256[:12]}), "
        f"{record.definition.trial_type}",
        f"stimuli:       {stimuli}",
        f"participants:  {report.n_participants} started, {report.n_completed} completed, "
        f"{report.n_excluded} excluded, {report.n_analysed} analysed "
        f"(needed: {record.definition.participants_needed})",
        "answers per item (all / analysed / target):",
    ]
    lines += [
        f"  {i['item']:<28} {i['answers']:>4} / {i['analysed']:>4} / {i['target']}" for i in report.items
    ]
    lines.append("attention checks:")
    lines += [f"  {c['check']:<10} {c['answered']} answered, {c['failed']} failed" for c in report.attention]
    if not report.attention:
        lines.append("  none answered yet")
    excluded = [p for p in report.participants if p["status"].startswith("excluded")]
    lines.append(f"exclusions:    {len(excluded)}")
    lines += [f"  participant {p['participant_index']}: {p['status'][len('excluded: ') :]}" for p in excluded]
    rejected = ", ".join(f"{k} {v}" for k, v in report.rejections.items()) or "none"
    lines.append(f"rejected submissions: {rejected}")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    config = _config()
    with open_store(args) as store:
        print(status_text(store, find_study(store, args.study), config.output_dir))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from studio.study.report import build_report, statistics_rows, write_report

    if not 0 <= args.bootstrap <= 100_000:
        raise UsageError(f"--bootstrap must be in [0, 100000], got {args.bootstrap}")
    with open_store(args) as store:
        record = find_study(store, args.study)
        report = build_report(
            store,
            record,
            reduction=args.reduction,
            n_bootstrap=args.bootstrap,
            seed=args.seed,
            include_incomplete=args.include_incomplete,
        )
    paths = write_report(report, args.out)
    print(f"study {record.id}: {report.n_analysed} of {report.n_participants} participants analysed")
    for row in statistics_rows(report):
        print(f"  {row['statistic']:<52} {row['estimate']:>7}  {row['95% CI']}")
    print("wrote " + ", ".join(str(p) for p in paths if p.suffix != ".js"))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from studio.study.report import export_answers

    with open_store(args) as store:
        record = find_study(store, args.study)
        paths = export_answers(store, record, args.out)
    print(f"study {record.id}: wrote " + ", ".join(str(p) for p in paths))
    return 0
