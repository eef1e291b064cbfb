"""The field's metrics as pure functions on numpy arrays.

Every function validates its inputs (shape, finiteness, enough samples) and raises ``ValueError``
with a message that names the argument; every result is a small frozen dataclass that carries the
constants it was computed with (``result.to_dict()`` gives a JSON-ready dict), so a table built
from results can always say how its numbers were made. Arithmetic is float64 throughout, whatever
the input dtype.

Conventions, per source:

* **HumanML3D protocol** (Guo et al. 2022, text-to-motion code; used by Express4D):
  :func:`frechet_distance` (FID), :func:`r_precision`, :func:`multimodal_distance` (MM-Dist),
  :func:`diversity`, :func:`multimodality`; 20 replications summarised as mean ± 1.96·σ/√n by
  :func:`replication_summary` / :func:`replicate` (σ with ddof=0, as ``np.std`` in that code).
* **KeyframeFace**: :func:`wasserstein_distance` (W-Dist), :func:`coefficient_errors` (MSE, MAE,
  RMSE), plus FID / R-precision / MM-Dist above.
* **CTEG / EmoAva** ("When Words Smile", App. D): :func:`variation` (eq. 13),
  :func:`fine_grained_diversity` (FgD, eq. 14), :func:`diversity_on_test` (DoT, eq. 15),
  :func:`continuous_perplexity` (Cppl, eqs. 16–18, box reading); standard errors by
  :func:`bootstrap_se` (1,000 resamples). :func:`temporal_variation` (variance over time) is
  *not* the paper's Variation and is named so.
* **EmoteGPT**: :func:`ccc` (Lin's concordance correlation coefficient; valence and arousal are
  reported separately, V-CCC and A-CCC, from ``per_column``).

Where the papers leave a detail open, the reading chosen is stated in the function's docstring
and in the result's fields, never silently.

Modules: :mod:`~evaluations.metrics.protocol` (constants), :mod:`~evaluations.metrics.distribution`
(FID, Diversity, MultiModality, W-Dist), :mod:`~evaluations.metrics.retrieval` (R-precision,
MM-Dist), :mod:`~evaluations.metrics.agreement` (coefficient errors, CCC),
:mod:`~evaluations.metrics.sequence` (Variation, temporal variation, FgD, DoT, Cppl) and
:mod:`~evaluations.metrics.uncertainty` (bootstrap, replications); every public name is importable
from this package.
"""

from evaluations.metrics.agreement import CCCResult, CoefficientErrors, ccc, coefficient_errors
from evaluations.metrics.distribution import (
    DiversityResult,
    FIDResult,
    MultimodalityResult,
    WassersteinResult,
    diversity,
    frechet_distance,
    multimodality,
    wasserstein_distance,
)
from evaluations.metrics.protocol import (
    BOOTSTRAP_RESAMPLES,
    CONFIDENCE_Z,
    CPPL_DELTA,
    CPPL_SIGMA,
    EXPRESS4D_DIVERSITY_PAIRS,
    HUMANML3D_DIVERSITY_PAIRS,
    HUMANML3D_MM_PAIRS,
    HUMANML3D_MM_PROMPTS,
    HUMANML3D_MM_SAMPLES,
    HUMANML3D_REPLICATIONS,
    R_PRECISION_BATCH_SIZE,
    R_PRECISION_CONVENTIONS,
    R_PRECISION_TOP_K,
    describe_convention,
)
from evaluations.metrics.retrieval import (
    MultimodalDistanceResult,
    RPrecisionResult,
    multimodal_distance,
    r_precision,
)
from evaluations.metrics.sequence import (
    CPPL_READING,
    PerplexityResult,
    SequenceMetricResult,
    continuous_perplexity,
    diversity_on_test,
    fine_grained_diversity,
    temporal_variation,
    variation,
)
from evaluations.metrics.uncertainty import (
    BootstrapResult,
    ReplicationSummary,
    bootstrap_se,
    replicate,
    replication_summary,
)

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "CONFIDENCE_Z",
    "CPPL_DELTA",
    "CPPL_READING",
    "CPPL_SIGMA",
    "EXPRESS4D_DIVERSITY_PAIRS",
    "HUMANML3D_DIVERSITY_PAIRS",
    "HUMANML3D_MM_PAIRS",
    "HUMANML3D_MM_PROMPTS",
    "HUMANML3D_MM_SAMPLES",
    "HUMANML3D_REPLICATIONS",
    "R_PRECISION_BATCH_SIZE",
    "R_PRECISION_CONVENTIONS",
    "R_PRECISION_TOP_K",
    "BootstrapResult",
    "CCCResult",
    "CoefficientErrors",
    "DiversityResult",
    "FIDResult",
    "MultimodalDistanceResult",
    "MultimodalityResult",
    "PerplexityResult",
    "RPrecisionResult",
    "ReplicationSummary",
    "SequenceMetricResult",
    "WassersteinResult",
    "bootstrap_se",
    "ccc",
    "coefficient_errors",
    "continuous_perplexity",
    "describe_convention",
    "diversity",
    "diversity_on_test",
    "fine_grained_diversity",
    "frechet_distance",
    "multimodal_distance",
    "multimodality",
    "r_precision",
    "replicate",
    "replication_summary",
    "temporal_variation",
    "variation",
    "wasserstein_distance",
]
