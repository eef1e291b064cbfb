"""``python -m studio train FAMILY --data DIR --out CKPT``: train any trainable family.

A family is trainable when its class has ``train(data, out, *, seed, quick) -> str``, which
reads a dataset folder (see studio.formats.dataset), writes ``out`` (.safetensors + .json) and
returns the checkpoint's SHA-256.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from studio.cli import UsageError


def cmd_train(args: argparse.Namespace) -> int:
    from studio.models.base import FAMILY_MODULES, ModelError, family_class

    if args.family not in FAMILY_MODULES:
        raise UsageError(f"unknown family {args.family!r}; known: {', '.join(sorted(FAMILY_MODULES))}")
    try:
        cls = family_class(args.family)
    except ModelError as exc:
        raise UsageError(str(exc)) from None
    train = getattr(cls, "train", None)
    if train is None:
        raise UsageError(f"family {args.family!r} is not trainable")
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
    train.add_argument("--out", required=True, help="checkpoint to write (.safetensors)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--quick", action="store_true", help="a tiny run for smoke tests")
    train.set_defaults(run=cmd_train)
