"""``expression-studio`` (or ``python -m studio``): the command line, one small function per command.

Every expected failure is a :class:`~studio.errors.StudioError` (a bad file, a wrong option, a
bad setting, a renderer that cannot start); it prints one line on stderr and exits with code 2,
and nothing else: Python warnings raised on the way (numpy, pandas) are held back and shown only
when the command succeeds. A traceback means a bug in the studio.

Other packages add commands by listing a module in :data:`COMMAND_MODULES`; the module has
``register(subparsers)`` that adds its parser and sets ``run=`` to a function taking the
parsed arguments and returning an exit code. Heavy imports belong inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

import numpy as np

from studio.config import StudioConfig
from studio.errors import StudioError, UsageError
from studio.formats import WRITE_FORMATS, read_clip, write_clip
from studio.formats.errors import one_line

COMMAND_MODULES: tuple[str, ...] = (
    "studio.models.cli",
    "studio.models.train_cli",
    "renderers.cli",
    "studio.corpus.cli",
    "studio.study.cli",
    "evaluations.cli",
    "studio.analysis.cli",
)


def max_frames() -> int:
    """The frame cap (``STUDIO_MAX_FRAMES``) every command reading clips applies; a malformed
    setting raises :class:`~studio.config.ConfigError`, reported by :func:`main` in one line."""
    return StudioConfig.from_env().max_frames


def cmd_info(args: argparse.Namespace) -> int:
    loaded = read_clip(args.file, fps=args.fps, max_frames=max_frames())
    clip = loaded.clip
    measured = clip.meta.get("measured_fps")
    rate = f"{clip.fps:g} fps"
    if isinstance(measured, float) and np.isfinite(measured):
        rate += f" (measured {measured:.3f} from timecodes)"
    print(f"file:      {loaded.path}")
    print(f"format:    {loaded.format}")
    print(f"space:     {clip.space} ({clip.n_channels} channels)")
    print(f"fps:       {rate}")
    print(f"frames:    {clip.n_frames}")
    print(f"duration:  {clip.duration_s:.2f} s")
    print(f"dropped:   {loaded.dropped_rows} rows (tracking lost)")
    for warning in loaded.warnings:
        print(f"warning:   {warning}")
    spread = clip.values.max(axis=0) - clip.values.min(axis=0)
    busiest = np.argsort(-spread, kind="stable")[: args.top]
    print(f"busiest {len(busiest)} channels (min .. max):")
    for column in busiest:
        lo, hi = clip.values[:, column].min(), clip.values[:, column].max()
        print(f"  {clip.channels[column]:<20} {lo:8.4f} .. {hi:8.4f}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    limit = max_frames()
    if args.fps is not None and not (np.isfinite(args.fps) and 0 < args.fps <= 1000):
        raise UsageError(f"--fps must be a rate in (0, 1000], got {args.fps:g}")
    loaded = read_clip(args.input, fps=args.input_fps, max_frames=limit)
    clip = loaded.clip
    if args.fps is not None:
        wanted = clip.n_frames * args.fps / clip.fps
        if wanted > limit:
            raise UsageError(f"--fps {args.fps:g} would make {wanted:.0f} frames (the limit is {limit})")
        clip = clip.resample(args.fps)
    try:
        fmt = write_clip(clip, args.output, args.format)
    except ValueError as exc:
        raise UsageError(f"{args.output}: {exc}") from None
    print(f"wrote {args.output} ({fmt}, {clip.n_frames} frames at {clip.fps:g} fps)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from studio.server import serve

    serve(StudioConfig.from_env())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="expression-studio", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server (as `python app.py`; settings from STUDIO_*)")
    serve.set_defaults(run=cmd_serve)

    info = sub.add_parser("info", help="describe a clip file")
    info.add_argument("file")
    info.add_argument("--fps", type=float, help="rate for files that do not store one")
    info.add_argument("--top", type=int, default=10, help="how many busy channels to list")
    info.set_defaults(run=cmd_info)

    convert = sub.add_parser("convert", help="convert between clip formats (by extension)")
    convert.add_argument("input")
    convert.add_argument("output", help=".csv (Live Link), .keyframes.csv, .npz")
    convert.add_argument("--format", choices=sorted(WRITE_FORMATS), help="override the extension")
    convert.add_argument("--fps", type=float, help="resample to this rate before writing")
    convert.add_argument("--input-fps", type=float, help="rate for inputs that do not store one")
    convert.set_defaults(run=cmd_convert)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    held: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as held:
            code = int(args.run(args))
    except (StudioError, OSError) as exc:  # OSError: unwritable output, full disk
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except BaseException:  # a bug or Ctrl-C: what was held back may help, show it first
        _show(held)
        raise
    _show(held)
    return code


def _show(held: list[warnings.WarningMessage]) -> None:
    for w in held:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)
