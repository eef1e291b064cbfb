"""``python -m studio train FAMILY --data DIR --out CKPT``: train any trainable family.

A family is trainable when its class says ``trainable = True`` and defines
``train(data, out, *, seed, quick) -> str``, which
reads a dataset folder (see studio.formats.dataset), writes ``out`` (.safetensors + .json) and
returns the checkpoint's SHA-256. The evaluation models (:data:`EVALUATION_MODELS`) train
through the same command and have the same ``train`` signature; ``--out`` defaults to
``NAME.safetensors`` in the current folder for them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from studio.errors import UsageError

# name -> module whose ``train(data, out, *, seed, quick)`` trains it
EVALUATION_MODELS = {"evaluator": "evaluations.evaluator", "emotion-recogniser": "evaluations.emotion"}


def cmd_train(args: argparse.Namespace) -> int:
    import importlib

    from studio.models import family_names, load_families
    from studio.models.registry import family_class

    if args.family in EVALUATION_MODELS:
        train = importlib.import_module(EVALUATION_MODELS[args.family]).train
        args.out = args.out or f"{args.family}.safetensors"
    elif args.family not in load_families():
        known = family_names() + sorted(EVALUATION_MODELS)
        raise UsageError(f"unknown family {args.family!r}; known: {', '.join(known)}")
    else:
        cls = family_class(args.family)
        if not cls.trainable:
            raise UsageError(f"family {args.family!r} is not trainable")
        train = cls.train
        if not args.out:
            raise UsageError("--out is required (the checkpoint to write, .safetensors)")
    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise UsageError("--out must name a .safetensors file")
    start = time.perf_counter()
    digest = train(Path(args.data), out, seed=args.seed, quick=args.quick)
    print(f"wrote {out} in {time.perf_counter() - start:.1f} s")
    print(f"sha256: {digest}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train a model family on a dataset folder")
    train.add_argument("family")
    train.add_argument("--data", required=True, help="dataset folder (prompts.csv, clips/, splits/)")
    train.add_argument("--out", help="checkpoint to write (.safetensors; evaluator models: NAME.safetensors)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--quick", action="store_true", help="a tiny run for smoke tests")
    train.set_defaults(run=cmd_train)
