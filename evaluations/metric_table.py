"""The metrics a benchmark reports, named once: key, column title, better direction, digits, group.

The benchmark runner (:mod:`evaluations.benchmark`) writes each row's numbers under these keys
and the leaderboard (:mod:`evaluations.results`) reads them back through :data:`METRICS`; both
spell a key only through the constants below. Pure Python, so the UI can import it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

# Directions: which way a number is better.
HIGHER, LOWER, CLOSER_TO_GT = "higher", "lower", "closer to GT"

# Table groups, one per source of the metrics.
HUMANML3D, KEYFRAMEFACE, EMOTEGPT, CTEG = "humanml3d", "keyframeface", "emotegpt", "cteg"
# Cppl of free-running samples: the CTEG formula, but not the paper's one-step-ahead perplexity,
# so it is kept out of the CTEG group.
FREE_RUNNING = "free_running"


def r_precision_key(k: int) -> str:
    """The key of R@k (k = 1, 2, 3)."""
    return f"r_precision_top{k}"


def vertex_l1_key(region: str) -> str:
    """The key of the L1 vertex error (mm) over a rig region (``head``, ``face``, ``lip``)."""
    return f"vertex_l1_{region}_mm"


FID = "fid"
MM_DIST = "mm_dist"
DIVERSITY = "diversity"
MULTIMODALITY = "multimodality"
W_DIST = "w_dist"
MAE = "mae"
EMOTION_ACCURACY = "emotion_accuracy"
V_CCC = "v_ccc"  # valence CCC (EmoteGPT reports valence and arousal separately)
A_CCC = "a_ccc"  # arousal CCC
VARIATION = "variation"  # CTEG eq. 13 (variance across a frame's channels)
TEMPORAL_VARIATION = "temporal_variation"  # variance over time per channel: not CTEG's Variation
FGD = "fgd"
DOT = "dot"
CPPL_FREE_RUNNING = "cppl_free_running"


@dataclass(frozen=True)
class MetricSpec:
    """How a metric is shown: column title, which direction is better, decimals, table group."""

    key: str
    title: str
    better: str  # HIGHER, LOWER or CLOSER_TO_GT
    digits: int
    group: str  # HUMANML3D, KEYFRAMEFACE, EMOTEGPT, CTEG or FREE_RUNNING

    @property
    def arrow(self) -> str:
        return {HIGHER: "↑", LOWER: "↓"}.get(self.better, "→")


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(r_precision_key(1), "R@1", HIGHER, 3, HUMANML3D),
    MetricSpec(r_precision_key(2), "R@2", HIGHER, 3, HUMANML3D),
    MetricSpec(r_precision_key(3), "R@3", HIGHER, 3, HUMANML3D),
    MetricSpec(FID, "FID", LOWER, 3, HUMANML3D),
    MetricSpec(MM_DIST, "MM-Dist", LOWER, 3, HUMANML3D),
    MetricSpec(DIVERSITY, "Diversity", CLOSER_TO_GT, 3, HUMANML3D),
    MetricSpec(MULTIMODALITY, "MModality", HIGHER, 3, HUMANML3D),
    MetricSpec(W_DIST, "W-Dist", LOWER, 4, KEYFRAMEFACE),
    MetricSpec(MAE, "MAE", LOWER, 4, KEYFRAMEFACE),
    MetricSpec(EMOTION_ACCURACY, "Emo acc", HIGHER, 3, EMOTEGPT),
    MetricSpec(V_CCC, "V-CCC", HIGHER, 3, EMOTEGPT),
    MetricSpec(A_CCC, "A-CCC", HIGHER, 3, EMOTEGPT),
    MetricSpec(vertex_l1_key("head"), "L1 head mm", LOWER, 2, EMOTEGPT),
    MetricSpec(vertex_l1_key("face"), "L1 face mm", LOWER, 2, EMOTEGPT),
    MetricSpec(vertex_l1_key("lip"), "L1 lip mm", LOWER, 2, EMOTEGPT),
    MetricSpec(VARIATION, "Variation", CLOSER_TO_GT, 3, CTEG),
    MetricSpec(TEMPORAL_VARIATION, "Temporal var. (not CTEG's)", CLOSER_TO_GT, 3, CTEG),
    MetricSpec(FGD, "FgD", CLOSER_TO_GT, 3, CTEG),
    MetricSpec(DOT, "DoT", CLOSER_TO_GT, 2, CTEG),
    MetricSpec(CPPL_FREE_RUNNING, "Cppl (free-running)", LOWER, 3, FREE_RUNNING),
)
METRIC_INDEX = {m.key: m for m in METRICS}
GROUP_TITLES = {
    HUMANML3D: "HumanML3D protocol (± 1.96·σ/√n over replications; MModality ± bootstrap SE)",
    KEYFRAMEFACE: "KeyframeFace coefficient metrics, ARKit units (± 1.96·σ/√n over replications)",
    EMOTEGPT: "EmoteGPT emotion (± 1.96·σ/√n over replications) and rig vertex error (± bootstrap SE)",
    CTEG: "CTEG sequence metrics (App. D eqs. 13–15), evaluator z-units (± bootstrap SE)",
    FREE_RUNNING: (
        "Cppl (CTEG eqs. 16–18) of ground truth around free-running samples, evaluator z-units "
        "(± bootstrap SE): not the paper's one-step-ahead perplexity"
    ),
}
