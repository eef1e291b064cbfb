"""``python -m studio study create|list|render|status|report|export``: run a study from the shell.

The database is ``--db`` or ``STUDIO_DB_URL`` (default: SQLite ``data/studio.db``); the HMAC
secret is ``STUDIO_STUDY_SECRET`` (16+ characters, the same for the whole life of a study: it
makes participant ids and completion codes). A study is named by its database id or by its
SHA-256 (or a unique prefix of at least 6 hex digits). Every user mistake is one line on stderr
and exit code 2. The work is :class:`~studio.study.admin.StudyAdmin`'s; this module parses arguments
and prints.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from renderers import CAMERA_PRESETS
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
        "study", parents=[db], help="user-preference studies: create, render, status, report, export, plan"
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
    render.add_argument("--size", type=int, default=argparse.SUPPRESS, help="frame size in pixels")
    render.add_argument("--camera", default=argparse.SUPPRESS, choices=list(CAMERA_PRESETS))
    render.add_argument(
        "--rig", default=argparse.SUPPRESS, help="default, ict, a folder of OBJs or a rig .npz"
    )
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
        default=None,
        help="the Fleiss' kappa reduction the report declares for rank studies, rank_as_category "
        "(default) or top_choice; the other is shown too",
    )
    report.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    report.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    report.add_argument(
        "--include-incomplete", action="store_true", help="analyse participants who did not finish"
    )
    report.set_defaults(run=cmd_report)

    planner = commands.add_parser(
        "plan", help="how many participants separate every adjacent pair of models (simulation)"
    )
    planner.add_argument(
        "--strengths",
        required=True,
        help="expected Bradley-Terry log-strengths, name=value pairs: a=0.6,b=0.3,c=0",
    )
    planner.add_argument(
        "--spread", type=float, default=0.0, help="sd of a participant's own strengths (disagreement)"
    )
    planner.add_argument("--trial-type", default="rank", choices=["rank", "pairwise"])
    planner.add_argument("--trials", type=int, required=True, help="trials per participant")
    planner.add_argument("--power", type=float, default=0.8, help="target power (default 0.8)")
    planner.add_argument("--sims", type=int, default=1000, help="simulated studies per size (default 1000)")
    planner.add_argument("--seed", type=int, default=0)
    planner.set_defaults(run=cmd_plan)

    export = commands.add_parser(
        "export", parents=[db], help="raw answers as CSV and Parquet, with a codebook"
    )
    export.add_argument("study", help="study id or SHA-256 (prefix)")
    export.add_argument("--out", required=True, help="folder for the export files")
    export.set_defaults(run=cmd_export)


# ----------------------------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------------------------


def _admin(args: argparse.Namespace) -> Any:
    """The study admin over ``--db`` / STUDIO_DB_URL with STUDIO_STUDY_SECRET."""
    from studio.config import StudioConfig
    from studio.study.admin import StudyAdmin

    try:
        config = StudioConfig.from_env()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return StudyAdmin.open(config, getattr(args, "db", None))


def cmd_create(args: argparse.Namespace) -> int:
    from studio.study.admin import design_line
    from studio.study.definition import DefinitionError
    from studio.study.service import participant_url

    with _admin(args) as admin:
        try:
            definition = admin.load_config(args.config)
        except DefinitionError as exc:
            problems = "; ".join(f"{where or 'top level'}: {problem}" for where, problem in exc.problems)
            count = f"{len(exc.problems)} problems: " if len(exc.problems) > 1 else ""
            raise UsageError(f"{exc.path}: {count}{problems}") from None
        record = admin.create(definition)
        config = admin.config
    verb = "created" if record.created else "already stored (same frozen config)"
    base = args.base_url or (
        DEFAULT_BASE_URL if config.port == 7860 else f"http://{config.host}:{config.port}"
    )
    print(f"study {record.id} {verb}: {record.definition.name!r}")
    print(f"sha256:        {record.sha256}")
    print(f"design:        {design_line(record.definition)}")
    print(f"stimuli:       {len(record.definition.stimuli())} clips to render")
    print(f"participants:  {participant_url(base, record)}")
    print(f"next:          python -m studio study render {record.id}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with _admin(args) as admin:
        studies = admin.studies()
    if not studies:
        print("no studies")
    for study_id, sha, name in studies:
        print(f"{study_id:>4}  {sha[:12]}  {name}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    bars: list[Any] = []  # opened on the first progress report: a refused option prints no bar

    def progress(done: int, total: int, description: str) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="clip", file=sys.stderr))
        bar = bars[0]
        bar.total = total
        bar.n = done
        bar.set_description(description[:40], refresh=False)
        bar.refresh()

    with _admin(args) as admin:
        record = admin.find(args.study)
        stage = {k: getattr(args, k) for k in ("size", "camera", "rig") if hasattr(args, k)}
        try:
            manifest = admin.render(record, progress=progress, force=args.force, **stage)
        finally:
            for bar in bars:
                bar.close()
        stimuli_dir = admin.config.output_dir / "stimuli"
    reused = len(set(manifest.files.values())) - manifest.rendered
    print(
        f"study {record.id}: {len(manifest.files)} stimuli in {stimuli_dir} "
        f"({manifest.rendered} rendered now, {max(reused, 0)} reused)"
    )
    for notice in manifest.notices:
        print(f"notice: {notice}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with _admin(args) as admin:
        record = admin.find(args.study)
        report, manifest = admin.progress(record), admin.manifest(record)
    d = record.definition
    stimuli = (
        "NOT rendered (python -m studio study render)"
        if manifest is None
        else f"{len(manifest.files)} rendered"
    )
    lines = [
        f"study {record.id} {d.name!r} ({record.sha256[:12]}), {d.trial_type}",
        f"stimuli:       {stimuli}",
        f"participants:  {report.n_participants} started, {report.n_completed} completed, "
        f"{report.n_excluded} excluded, {report.n_analysed} analysed (needed: {d.participants_needed})",
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
    print("\n".join(lines))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from studio.study.report import statistics_rows

    with _admin(args) as admin:
        record = admin.find(args.study)
        report = admin.report(
            record,
            reduction=args.reduction,
            n_bootstrap=args.bootstrap,
            seed=args.seed,
            include_incomplete=args.include_incomplete,
        )
        paths = admin.write_report(report, args.out)
    print(f"study {record.id}: {report.n_analysed} of {report.n_participants} participants analysed")
    for row in statistics_rows(report):
        print(f"  {row['statistic']:<52} {row['estimate']:>7}  {row['95% CI']}")
    print("wrote " + ", ".join(str(p) for p in paths if p.suffix != ".js"))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with _admin(args) as admin:
        record = admin.find(args.study)
        paths = admin.export(record, args.out)
    print(f"study {record.id}: wrote " + ", ".join(str(p) for p in paths))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from studio.study.power import (
        Assumptions,
        PlanError,
        describe_curve,
        parse_strengths,
        plan_from_assumptions,
    )

    try:
        models, strengths = parse_strengths(args.strengths)
        assumptions = Assumptions(models, strengths, args.spread, args.trial_type)
        if args.sims < 50:
            raise PlanError("use at least 50 simulated studies per size (--sims)")
        found = plan_from_assumptions(
            assumptions, args.trials, target=args.power, simulations=args.sims, seed=args.seed
        )
    except PlanError as exc:
        raise UsageError(str(exc)) from None
    print(found.summary())
    print(f"power by participants: {describe_curve(found.curve)}")
    return 0
