"""The constants of one benchmark run: :class:`Protocol`, with every count that lands in
``results.json``, and :class:`BenchmarkError` for a run that cannot go as asked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evaluations import metrics as M  # noqa: N812 - read as M.HUMANML3D_REPLICATIONS, as in benchmark
from studio.errors import StudioError

PROTOCOL_PROMPTS = 512
SUBSET_SEED = 0
QUICK_REPLICATIONS = 3
MM_PROMPTS = M.HUMANML3D_MM_PROMPTS
GEOMETRY_CLIPS = 64  # posing two clips per frame through a 17k-vertex rig is the costly part
BOOTSTRAP_RESAMPLES = M.BOOTSTRAP_RESAMPLES
REFERENCE_MIN, REFERENCE_MAX = 256, 2048  # FID on 128-D features wants n well above 128


class BenchmarkError(StudioError, ValueError):
    """The benchmark cannot run as asked (unknown model, too few items, bad options)."""


@dataclass(frozen=True)
class Protocol:
    """The constants of one benchmark run (all of them land in ``results.json``)."""

    replications: int = M.HUMANML3D_REPLICATIONS
    seed: int = 0
    n_prompts: int = PROTOCOL_PROMPTS
    r_precision_convention: str = "humanml3d-code"
    r_precision_batch_size: int = M.R_PRECISION_BATCH_SIZE
    diversity_pairs: int = M.HUMANML3D_DIVERSITY_PAIRS
    mm_prompts: int = MM_PROMPTS
    mm_pairs: int = M.HUMANML3D_MM_PAIRS
    bootstrap_resamples: int = BOOTSTRAP_RESAMPLES
    geometry_clips: int = GEOMETRY_CLIPS
    quick: bool = False
    # Guards (recorded so a reader sees them): scoring the train or val split, and scoring items
    # the evaluator was trained on, are refused unless asked for; the results then say so.
    allow_non_test: bool = False
    allow_overlap: bool = False

    def __post_init__(self) -> None:
        if self.r_precision_convention not in M.R_PRECISION_CONVENTIONS:
            raise BenchmarkError(
                f"unknown R-precision convention {self.r_precision_convention!r}; "
                f"choose {', '.join(M.R_PRECISION_CONVENTIONS)}"
            )
        if self.replications < 2:
            raise BenchmarkError("at least 2 replications are needed for a confidence interval")
        if self.n_prompts < self.r_precision_batch_size:
            raise BenchmarkError(
                f"n_prompts must be at least the R-precision batch size {self.r_precision_batch_size}"
            )


def quick_protocol(**overrides: Any) -> Protocol:
    """``--quick``: 3 replications, everything else as the full protocol."""
    return Protocol(replications=QUICK_REPLICATIONS, quick=True, **overrides)
