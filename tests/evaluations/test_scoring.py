"""Scoring wiring (issue #17): the CTEG metrics under their paper readings, V-CCC and A-CCC apart,
and Cppl of free-running samples under its own key. Fake context, no trained models."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from evaluations import metric_table as table
from evaluations import metrics as M  # noqa: N812
from evaluations import scoring
from evaluations.data import N_ARKIT


class _Identity:
    """An evaluator whose z-scoring is the identity (mean 0, std 1), so z-space = the clips."""

    mean = np.zeros(N_ARKIT, np.float32)
    std = np.ones(N_ARKIT, np.float32)

    def normalise(self, m):
        return np.asarray(m, np.float64)


def _ctx(gt_z):
    return SimpleNamespace(
        protocol=SimpleNamespace(bootstrap_resamples=50, seed=0), evaluator=_Identity(), gt_z=gt_z
    )


@pytest.fixture
def clips():
    rng = np.random.default_rng(0)
    gt = [rng.standard_normal((t, N_ARKIT)) * 0.3 for t in (4, 11, 7)]
    gen = [g[: len(g) - 1] + 0.05 * rng.standard_normal((len(g) - 1, N_ARKIT)) for g in gt]  # ragged
    return gt, gen


def test_sequence_metrics_use_the_paper_readings(clips):
    gt, gen = clips
    out = scoring._sequence_metrics(_ctx(gt), gen, ground_truth=False)
    assert out[table.VARIATION].value == pytest.approx(M.variation(gen).value, rel=1e-12)
    assert out[table.TEMPORAL_VARIATION].value == pytest.approx(M.temporal_variation(gen).value, rel=1e-12)
    assert out[table.VARIATION].value != pytest.approx(out[table.TEMPORAL_VARIATION].value, rel=1e-3)
    # FgD pooled over all steps (eq. 14), not the mean of per-clip FgDs: the clips are ragged.
    pooled = M.fine_grained_diversity(gen).value
    assert out[table.FGD].value == pytest.approx(pooled, rel=1e-12)
    per_clip = np.mean([M.fine_grained_diversity([g]).value for g in gen])
    assert pooled != pytest.approx(per_clip, rel=1e-6)
    assert out[table.FGD].kind == "bootstrap" and out[table.FGD].uncertainty > 0
    cppl = out[table.CPPL_FREE_RUNNING]
    expected = M.continuous_perplexity([g[: len(s)] for g, s in zip(gt, gen, strict=True)], gen)
    assert cppl.value == pytest.approx(expected.value, rel=1e-12) and cppl.uncertainty > 0
    assert cppl.detail["reading"] == M.CPPL_READING and "free-running" in cppl.detail["note"]
    assert "cppl" not in out and not any(k in out for k in ("va_ccc",))


def test_free_running_cppl_past_the_float_range_keeps_an_entropy_uncertainty(clips):
    gt, _ = clips
    far = [g + 3.0 for g in gt]  # 15σ off in all 61 channels: thousands of bits per frame
    out = scoring._sequence_metrics(_ctx(gt), far, ground_truth=False)
    cppl = out[table.CPPL_FREE_RUNNING]
    assert cppl.value == math.inf and cppl.uncertainty is None
    assert cppl.detail["mean_entropy_bits"] > 1024 and cppl.detail["entropy_bits_se"] >= 0


def test_valence_and_arousal_ccc_are_separate_metrics(monkeypatch):
    rng = np.random.default_rng(1)
    target = rng.uniform(-1, 1, (40, 2))
    pred = np.column_stack([target[:, 0] + 0.1 * rng.standard_normal(40), -target[:, 1]])
    scores = SimpleNamespace(accuracy=0.5, va_pred=pred, va_target=target)
    import evaluations.emotion

    monkeypatch.setattr(evaluations.emotion, "emotion_scores_against_prompts", lambda *a: scores)
    p = SimpleNamespace(
        r_precision_convention="humanml3d-code", seed=0, r_precision_batch_size=32, diversity_pairs=8
    )
    feats = rng.standard_normal((40, 4))
    ctx = SimpleNamespace(
        protocol=p,
        text_feats=feats,
        reference_feats=feats,
        reference_frames=rng.standard_normal((50, N_ARKIT)),
        gt=SimpleNamespace(motions=[np.zeros((3, N_ARKIT))] * 40, emotion_scores=np.ones((40, 6))),
        recogniser=object(),
    )
    motions = [np.zeros((3, N_ARKIT))] * 40
    values = scoring._replication_metrics(ctx, motions, feats, 0, ground_truth=False)
    v, a = M.ccc(target, pred).per_column
    assert values[table.V_CCC] == pytest.approx(v) and values[table.A_CCC] == pytest.approx(a)
    assert values[table.V_CCC] > 0.8 and values[table.A_CCC] < 0  # arousal reversed
    assert "va_ccc" not in values
