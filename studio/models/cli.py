"""``python -m studio models list|import``, ``python -m studio generate`` and ``compare``.

One model's failure, of any kind, stays in that model's status row or panel: loading and
generation go through :func:`studio.models.load_model` and :func:`studio.models.run_model`, which
turn even an unexpected exception into that model's error, and the other models still run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from studio.errors import UsageError
from studio.models import load_models, run_model


def _specs(args: argparse.Namespace):
    from studio.config import StudioConfig
    from studio.models import read_models_config

    if args.config:
        path = Path(args.config)
    else:
        try:
            path = StudioConfig.from_env().models_config
        except ValueError as exc:  # a malformed setting: the user's, reported in one line
            raise UsageError(str(exc)) from None
    if not path.is_file():
        raise UsageError(f"models config {path} not found")
    return read_models_config(path)


def cmd_list(args: argparse.Namespace) -> int:
    from studio.models import load_families, resolve_device

    families = load_families()
    reports = load_models(_specs(args))
    if not reports:
        print("no models configured")
    else:
        print(f"{'name':<18} {'family':<14} {'space':<6} {'device':<6} {'checkpoint':<14} status")
    for report in reports:
        spec = report.spec
        device = resolve_device(spec.device) if spec.checkpoint else "-"
        digest = report.model.checkpoint_sha256 if report.model else None
        short = (digest or spec.sha256 or "-")[:12]
        status = f"OK ({report.load_s:.2f} s)" if report.error is None else f"FAILED: {report.error}"
        print(f"{spec.name:<18} {spec.family:<14} {spec.space:<6} {device:<6} {short:<14} {status}")
    print()
    failed = print_families(families)
    return 0 if all(r.error is None for r in reports) and not failed else 1


def cmd_families(args: argparse.Namespace) -> int:
    from studio.models import load_families

    return 1 if print_families(load_families()) else 0


def print_families(families) -> int:
    """One line per family: name, where it comes from, what it can do or why it failed; returns
    the number that failed."""
    from studio.models import family_class
    from studio.models.registry import ENTRY_POINT_GROUP

    print(f"families (built in, and plugins from entry points {ENTRY_POINT_GROUP}):")
    for status in families.values():
        if status.ok:
            cls = family_class(status.name)
            flags = {
                "trainable": cls.trainable,
                "looks up prompts": cls.looks_up_prompts,
                "mixed-length batches": cls.mixed_length_batches,
            }
            abilities = [flag for flag, on in flags.items() if on]
            state = "OK" + (f" ({', '.join(abilities)})" if abilities else "")
        else:
            state = f"FAILED: {status.error}"
        print(f"  {status.name:<16} {status.source:<24} {state}")
    return sum(not status.ok for status in families.values())


def cmd_import(args: argparse.Namespace) -> int:
    from studio.models.importer import import_checkpoint

    result = import_checkpoint(
        args.checkpoint,
        args.out,
        family=args.family,
        state_key=args.state,
        mean=args.mean,
        std=args.std,
        args_json=args.args,
        hf=args.hf,
    )
    for note in result.notes:
        print(f"note: {note}")
    print(f"wrote {result.path} ({result.n_tensors} tensors, {result.n_parameters:,} numbers)")
    print(f"sha256: {result.sha256}")
    if not args.hf:
        family = result.config.get("family") or "<your family>"
        extra = "\n    options: {clip_path: /path/to/clip-vit-base-patch32}" if family == "express4d" else ""
        print("models config entry:")
        print(
            f"  - name: {result.path.stem.lower()[:60]}\n    family: {family}\n    space: arkit\n"
            f"    checkpoint: {result.path.resolve()}\n    sha256: {result.sha256}{extra}"
        )
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from studio.formats import write_clip

    specs = [s for s in _specs(args) if s.name == args.model]
    if not specs:
        raise UsageError(f"no model named {args.model!r} in the models config")
    report = load_models(specs)[0]
    if report.model is None:
        raise UsageError(report.error or "the model did not load")
    result = run_model(report.model, args.prompt, seed=args.seed, duration_s=args.duration)
    for notice in result.notices:
        print(f"note: {notice}")
    if result.clip is None:
        raise UsageError(result.error or "no clip")
    try:
        write_clip(result.clip, args.output)
    except ValueError as exc:  # e.g. a FLAME clip asked for as Live Link CSV
        raise UsageError(f"{args.output}: {exc}") from None
    print(
        f"wrote {args.output} ({result.clip.n_frames} frames at {result.clip.fps:g} fps, "
        f"{result.latency_ms:.0f} ms)"
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    # imported here: studio.compare sits above studio.models, which must not import it on load
    from studio.compare import CompareRequest, compare

    wanted = [name.strip() for name in args.models.split(",") if name.strip()]
    specs = {s.name: s for s in _specs(args)}
    unknown = [name for name in wanted if name not in specs]
    if unknown or not wanted:
        raise UsageError(f"unknown model(s) {unknown}; configured: {', '.join(specs) or 'none'}")
    if not str(args.output).lower().endswith(".mp4"):
        raise UsageError("the output must be an .mp4 file")
    request = CompareRequest(
        args.prompt,
        tuple(wanted),
        seed=args.seed,
        duration_s=args.duration,
        rig=args.rig,
        camera=args.camera,
        size=args.size,
        curves=args.curves,
    )
    result = compare(request, lambda name: load_models([specs[name]])[0], video_path=args.output)
    if result.error is not None:
        raise UsageError(result.error)
    for row in result.rows:
        if row.state == "not loaded":
            print(f"warning: {row.detail}")
        else:
            print(f"{row.model:<18} {row.latency_ms:8.0f} ms  {row.detail}")
    if result.render_error is not None:
        raise result.render_error
    print(f"wrote {result.video}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="list the configured models")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    listing = models_sub.add_parser("list", help="name, family, space, device, checkpoint hash, load status")
    listing.add_argument(
        "--config", help="models config (default: $STUDIO_MODELS_CONFIG or assets/models.yaml)"
    )
    listing.set_defaults(run=cmd_list)
    families = models_sub.add_parser(
        "families", help="every model family: built in or plugin, and its status"
    )
    families.set_defaults(run=cmd_families)

    importing = models_sub.add_parser(
        "import",
        help="convert a pickled .pt/.pth/.ckpt once (torch.load weights_only=True) to safetensors + JSON",
    )
    importing.add_argument("checkpoint", help="the .pt / .pth / .ckpt / .bin file")
    importing.add_argument("--out", required=True, help="folder for NAME.safetensors and NAME.json")
    importing.add_argument("--family", help="check and configure for a family (express4d)")
    importing.add_argument("--state", help="import only this top-level entry (e.g. model, model_avg)")
    importing.add_argument("--mean", help="express4d: the dataset mean (.npy, 61 values)")
    importing.add_argument("--std", help="express4d: the dataset std (.npy, 61 values)")
    importing.add_argument(
        "--args", help="express4d: MDM's args.json (default: the one beside the checkpoint)"
    )
    importing.add_argument(
        "--hf",
        action="store_true",
        help="write a plain model.safetensors for a transformers folder (e.g. CLIP)",
    )
    importing.set_defaults(run=cmd_import)

    generate = sub.add_parser("generate", help="run one model on one prompt and write the clip")
    generate.add_argument("--model", required=True)
    generate.add_argument("--prompt", required=True)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--duration", type=float, default=4.0, help="seconds")
    generate.add_argument("-o", "--output", required=True, help=".csv (Live Link), .npz, .keyframes.csv")
    generate.add_argument("--config", help="models config")
    generate.set_defaults(run=cmd_generate)

    from renderers import CAMERA_PRESETS
    from studio.compare import DEFAULT_PANEL_SIZE

    compare = sub.add_parser("compare", help="run several models on one prompt and seed, side by side")
    compare.add_argument("--prompt", required=True)
    compare.add_argument("--models", required=True, help="comma-separated model names")
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument("--duration", type=float, default=4.0, help="seconds")
    compare.add_argument("-o", "--output", required=True, help="the side-by-side .mp4")
    compare.add_argument("--rig", default="default", help="default | ict | OBJ folder | rig .npz")
    compare.add_argument("--camera", default="front", choices=CAMERA_PRESETS, help="camera preset")
    compare.add_argument("--size", type=int, default=DEFAULT_PANEL_SIZE, help="panel size in pixels")
    compare.add_argument("--curves", action="store_true", help="coefficient curves under each panel")
    compare.add_argument("--config", help="models config")
    compare.set_defaults(run=cmd_compare)
