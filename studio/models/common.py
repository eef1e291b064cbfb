"""Small pieces every built-in family needs: seeded randomness, the synthetic cast, checkpoints."""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from studio.formats.checkpoints import Checkpoint, read_checkpoint
from studio.models.base import ModelError, ModelSpec


def prompt_rng(prompt: str, seed: int) -> np.random.Generator:
    """A generator fixed by (prompt, seed); a stable digest, not ``hash()`` (salted per process)."""
    digest = int.from_bytes(hashlib.blake2b(prompt.encode("utf-8"), digest_size=8).digest(), "little")
    return np.random.default_rng([seed, digest])


@lru_cache(maxsize=1)
def performers():
    """The corpus's 64 synthetic performers (idle-life style); the seed picks one per clip."""
    from studio.corpus.performers import make_performers

    return make_performers(0)


def family_checkpoint(spec: ModelSpec, family: str) -> Checkpoint:
    """Read ``spec.checkpoint`` (refusing a hash mismatch) and check it belongs to ``family``."""
    if spec.checkpoint is None:
        raise ModelError(f"{spec.name}: the {family} family needs a 'checkpoint' (.safetensors)")
    if spec.checkpoint.suffix.lower() in (".pt", ".pth", ".ckpt", ".bin", ".pkl"):
        raise ModelError(
            f"{spec.name}: {spec.checkpoint} is a pickle, which the studio never loads; convert it once with "
            f"`python -m studio models import {spec.checkpoint} --out DIR` and use the .safetensors it writes"
        )
    checkpoint = read_checkpoint(spec.checkpoint, spec.sha256)
    found = checkpoint.config.get("family")
    if found not in (None, family):
        raise ModelError(f"{spec.name}: {checkpoint.path.name} is a {found!r} checkpoint, not {family!r}")
    return checkpoint
