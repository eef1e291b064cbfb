"""``python -m studio``: the command line. Each command is a small function over studio calls.

A problem with the user's input (a bad file, a wrong option) prints one line on stderr and
exits with code 2; a traceback means a bug in the studio.

Other packages add commands by listing a module in :data:`COMMAND_MODULES`; the module has
``register(subparsers)`` that adds its parser and sets ``run=`` to a function taking the
parsed arguments and returning an exit code. Heavy imports belong inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import numpy as np

from studio.formats import WRITE_FORMATS, FormatError, read_clip, write_clip
from studio.motion import ClipError

COMMAND_MODULES: tuple[str, ...] = (
    "studio.models.cli",
    "studio.models.train_cli",
    "renderers.cli",
    "studio.corpus.cli",
    "studio.study.cli",
    "evaluations.cli",
    "studio.analysis.cli",
)


class UsageError(Exception):
    """A user mistake the CLI reports in one line (exit code 2)."""


def cmd_info(args: argparse.Namespace) -> int:
    loaded = read_clip(args.file, fps=args.fps)
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
    loaded = read_clip(args.input, fps=args.input_fps)
    clip = loaded.clip.resample(args.fps) if args.fps else loaded.clip
    try:
        fmt = write_clip(clip, args.output, args.format)
    except ValueError as exc:
        raise UsageError(f"{args.output}: {exc}") from None
    print(f"wrote {args.output} ({fmt}, {clip.n_frames} frames at {clip.fps:g} fps)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m studio", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

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
    try:
        return int(args.run(args))
    except (FormatError, ClipError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # unwritable output, full disk: the user's environment, not a bug
        print(f"error: {exc}", file=sys.stderr)
        return 2
