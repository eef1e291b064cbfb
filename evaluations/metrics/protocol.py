"""Protocol constants of the field's metrics and the two R-precision conventions.

Metric functions take these as defaults and their results echo what was used.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

R_PRECISION_BATCH_SIZE = 32
R_PRECISION_TOP_K = 3
HUMANML3D_DIVERSITY_PAIRS = 300
EXPRESS4D_DIVERSITY_PAIRS = 48
HUMANML3D_MM_PROMPTS = 100
HUMANML3D_MM_SAMPLES = 30
HUMANML3D_MM_PAIRS = 10
HUMANML3D_REPLICATIONS = 20
CONFIDENCE_Z = 1.96
CPPL_DELTA = 0.8
CPPL_SIGMA = 0.2
BOOTSTRAP_RESAMPLES = 1000

Metric = Literal["euclidean", "cosine"]
Direction = Literal["text_to_motion", "motion_to_text"]

#: The two R-precision conventions in the literature, as ``(metric, direction)``. The HumanML3D
#: code (and so MDM and Express4D's released evaluation) ranks the batch's motions for each text
#: by Euclidean distance; the Express4D paper's text describes cosine, ranking texts per motion.
R_PRECISION_CONVENTIONS: Mapping[str, tuple[Metric, Direction]] = MappingProxyType(
    {
        "humanml3d-code": ("euclidean", "text_to_motion"),
        "express4d-paper": ("cosine", "motion_to_text"),
    }
)

DIRECTION_ARROWS: Mapping[str, str] = MappingProxyType(
    {"text_to_motion": "text→motion", "motion_to_text": "motion→text"}
)


def describe_convention(metric: str, direction: str) -> str:
    """``"euclidean distance, text→motion"``: an R-precision convention in words."""
    return f"{metric} distance, {DIRECTION_ARROWS[direction]}"
