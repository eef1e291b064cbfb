"""Study statistics against hand-made answer sets, statsmodels, scipy and the krippendorff package."""

from __future__ import annotations

import json

import krippendorff
import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from studio.study.agreement import bradley_terry, kendall_w, pooled_w, wilson_interval
from studio.study.definition import CHOICES_2AFC5
from studio.study.parsing import parse_definition
from studio.study.records import EXPORT_COLUMNS, ParticipantSummary
from studio.study.report import report_html, report_markdown
from studio.study.statistics import analyse

MODELS = ("alpha", "beta", "gamma")
PROMPTS = ("a wide happy smile", "a sad frown", "a surprised gasp")
# ranks (alpha, beta, gamma) per prompt and rater; raters 0-3 complete and kept
RANKINGS = {
    0: [[1, 2, 3], [1, 3, 2], [2, 1, 3], [1, 2, 3]],
    1: [[2, 1, 3], [1, 2, 3], [2, 1, 3], [3, 1, 2]],
    2: [[1, 2, 3], [1, 2, 3], [1, 3, 2], [2, 1, 3]],
}
EXCLUDED = 4  # ranks everything backwards and failed the attention check
INCOMPLETE = 5  # rated only the first prompt


def rank_definition(**overrides):
    config = {
        "name": "hand-made rank study",
        "trial_type": "rank",
        "seed": 1,
        "prompts": list(PROMPTS),
        "models": list(MODELS),
        "raters_per_item": 4,
        "exclusion": {"median_dwell_below_s": 2.0},
    }
    config.update(overrides)
    return parse_definition(config)


def summary(index: int, *, completed: bool = True, reasons: tuple[str, ...] = ()) -> ParticipantSummary:
    return ParticipantSummary(
        index + 100, index, f"{index:064x}", 3, 3 if completed else 1, completed, 0, 0, 5.0, 0, reasons
    )


def row(index: int, kind: str, item_id: str, prompt: str, clip_models, **extra) -> dict:
    base = dict.fromkeys(EXPORT_COLUMNS)
    base.update(
        {
            "participant": f"{index:064x}",
            "participant_index": index,
            "kind": kind,
            "item_id": item_id,
            "prompt": prompt,
            "clip_models": json.dumps(list(clip_models)),
            "clip_prompts": json.dumps([prompt] * len(clip_models)),
        }
    )
    base.update(extra)
    return base


def rank_row(index: int, prompt_index: int, ranks: list[int]) -> dict:
    """A rank answer shown in a rotated order (the report must read it by model, not position)."""
    shift = (index + prompt_index) % 3
    shown = MODELS[shift:] + MODELS[:shift]
    by_model = dict(zip(MODELS, ranks, strict=True))
    ranking = [by_model[m] for m in shown]
    return row(
        index,
        "item",
        f"p{prompt_index + 1:03d}",
        PROMPTS[prompt_index],
        shown,
        ranking=json.dumps(ranking),
        ranks=json.dumps(by_model, sort_keys=True),
        answer=json.dumps({"ranking": ranking}),
    )


@pytest.fixture
def rank_answers():
    rows = [rank_row(r, p, RANKINGS[p][r]) for p in range(3) for r in range(4)]
    rows += [rank_row(EXCLUDED, p, [3, 2, 1]) for p in range(3)]
    rows.append(rank_row(INCOMPLETE, 0, [3, 1, 2]))
    people = [summary(i) for i in range(4)]
    people += [
        summary(EXCLUDED, reasons=("median dwell 0.50 s (rule: < 2 s)",)),
        summary(INCOMPLETE, completed=False),
    ]
    return rows, people


def statistic(report, prefix: str):
    return next(s for s in report.statistics if s.name.startswith(prefix))


def test_rank_statistics_match_reference_implementations(rank_answers):
    rows, people = rank_answers
    report = analyse(rank_definition(), rows, people, n_bootstrap=300)
    assert (report.n_participants, report.n_excluded, report.n_analysed) == (6, 1, 4)
    ranks = np.array([RANKINGS[p] for p in range(3)])  # (prompts, raters, models)

    by_item = ranks.transpose(0, 2, 1).reshape(-1, 4)  # (prompt*model, raters): rank as category
    expected = sm_fleiss_kappa(aggregate_raters(by_item)[0], method="fleiss")
    declared = statistic(report, "Fleiss' kappa, rank as category (declared)")
    assert declared.estimate == pytest.approx(expected, abs=1e-12)
    top = np.argmin(ranks, axis=2)  # (prompts, raters): model ranked first
    other = statistic(report, "Fleiss' kappa, top choice (shown for comparison)")
    assert other.estimate == pytest.approx(sm_fleiss_kappa(aggregate_raters(top)[0]), abs=1e-12)

    per_prompt_w = [stats.friedmanchisquare(*ranks[p].T).statistic / (4 * 2) for p in range(3)]
    assert statistic(report, "Kendall's W, mean over prompts").estimate == pytest.approx(
        np.mean(per_prompt_w)
    )
    pooled = stats.friedmanchisquare(*ranks.reshape(-1, 3).T)
    w_pooled = statistic(report, "Kendall's W, all rankings pooled")
    assert w_pooled.estimate == pytest.approx(pooled.statistic / (12 * 2))
    assert f"p = {pooled.pvalue:.3f}" in w_pooled.note

    reliability = ranks.transpose(1, 0, 2).reshape(4, -1).astype(float)  # (raters, prompt*model)
    alpha = krippendorff.alpha(reliability_data=reliability, level_of_measurement="ordinal")
    assert statistic(report, "Krippendorff's alpha").estimate == pytest.approx(alpha, abs=1e-9)
    for s in report.statistics:  # every agreement figure carries a bootstrap CI over prompts
        assert s.low is not None and s.low <= s.estimate + 1e-9 and s.estimate - 1e-9 <= s.high, s

    assert report.rank_counts[0].tolist() == [7, 4, 1]  # alpha: ranked 1st 7 times of 12
    np.testing.assert_allclose(report.rank_shares.sum(axis=1), 1.0)
    comparisons = [
        (MODELS[i], MODELS[j], 1.0 if v[i] < v[j] else 0.0)
        for v in ranks.reshape(-1, 3)
        for i in range(3)
        for j in range(i + 1, 3)
    ]
    fit = bradley_terry(comparisons, n_bootstrap=300, seed=0)
    strengths = {r["model"]: r["strength"] for r in report.bradley_terry}
    assert strengths == pytest.approx(dict(zip(fit.models, fit.strength, strict=True)))
    assert report.win_rates[0, 1] == pytest.approx(np.mean([v[0] < v[1] for v in ranks.reshape(-1, 3)]))


def test_exclusions_and_incomplete_participants_are_applied_and_stated(rank_answers):
    rows, people = rank_answers
    report = analyse(rank_definition(), rows, people, n_bootstrap=0)
    items = {i["item"]: (i["answers"], i["analysed"]) for i in report.items}
    assert items == {"p001": (6, 4), "p002": (5, 4), "p003": (5, 4)}
    status = {p["participant_index"]: p["status"] for p in report.participants}
    assert status[EXCLUDED].startswith("excluded: median dwell")
    assert status[INCOMPLETE] == "not analysed: incomplete"
    assert "excluded by the pre-registered rules: 1" in report.notes[0]

    # the excluded participant's reversed rankings would change the result if they were counted
    kept_alpha = report.rank_counts[0].tolist()
    everyone = [summary(i) for i in (0, 1, 2, 3, EXCLUDED)] + [summary(INCOMPLETE, completed=False)]
    assert analyse(rank_definition(), rows, everyone, n_bootstrap=0).rank_counts[0].tolist() != kept_alpha

    # incomplete participants on request: alpha uses every rating, kappa the first 4 per prompt
    with_incomplete = analyse(rank_definition(), rows, people, n_bootstrap=0, include_incomplete=True)
    assert with_incomplete.n_analysed == 5
    reliability = np.full((5, 9), np.nan)
    reliability[:4] = np.array([RANKINGS[p] for p in range(3)]).transpose(1, 0, 2).reshape(4, -1)
    reliability[4, :3] = [3, 1, 2]
    alpha = krippendorff.alpha(reliability_data=reliability, level_of_measurement="ordinal")
    assert statistic(with_incomplete, "Krippendorff's alpha").estimate == pytest.approx(alpha, abs=1e-9)
    assert statistic(with_incomplete, "Fleiss' kappa, rank as category").estimate == pytest.approx(
        statistic(report, "Fleiss' kappa, rank as category").estimate
    )
    assert any("first 4 analysed ratings" in n for n in with_incomplete.notes)


def test_declared_reduction_is_stated_and_both_are_shown(rank_answers):
    rows, people = rank_answers
    report = analyse(rank_definition(), rows, people, reduction="top_choice", n_bootstrap=50)
    text = report_markdown(report)
    assert "declared for this report: **top choice**" in text
    assert "Fleiss' kappa, top choice (declared)" in text
    assert "Fleiss' kappa, rank as category (shown for comparison)" in text
    assert "Kendall's W" in text and "Krippendorff's alpha (ordinal)" in text
    page = report_html(report)
    assert page.count("plotly-graph-div") == 2  # rank heatmap and preference bars
    with pytest.raises(ValueError, match="reduction"):
        analyse(rank_definition(), rows, people, reduction="majority")


def test_pooled_w_equals_kendall_w_on_rankings():
    rng = np.random.default_rng(3)
    rankings = np.array([[rng.permutation(5) + 1 for _ in range(4)] for _ in range(6)])
    assert pooled_w(rankings) == pytest.approx(kendall_w(rankings.reshape(-1, 5)).w)


# -- two-clip studies ----------------------------------------------------------------------------

PAIR_LEVELS = {  # canonical answers (a = the pair's first model) per (prompt, pair), 3 raters
    ("p001", "alpha", "beta"): ["strong_a", "weak_a", "strong_a"],
    ("p001", "alpha", "gamma"): ["equal", "weak_b", "equal"],
    ("p001", "beta", "gamma"): ["strong_b", "strong_b", "weak_b"],
    ("p002", "alpha", "beta"): ["weak_a", "weak_a", "equal"],
    ("p002", "alpha", "gamma"): ["strong_a", "weak_b", "weak_a"],
    ("p002", "beta", "gamma"): ["strong_b", "weak_b", "strong_b"],
}
FLIP = {
    "strong_a": "strong_b",
    "weak_a": "weak_b",
    "equal": "equal",
    "weak_b": "weak_a",
    "strong_b": "strong_a",
}


def pair_rows() -> list[dict]:
    rows = []
    for (prompt_id, a, b), answers in PAIR_LEVELS.items():
        prompt = PROMPTS[int(prompt_id[-1]) - 1]
        for rater, level in enumerate(answers):
            flipped = rater % 2 == 1  # right/left counterbalanced: the stored choice is by position
            shown, choice = ((b, a), FLIP[level]) if flipped else ((a, b), level)
            rows.append(
                row(
                    rater,
                    "item",
                    f"{prompt_id}:{a}~{b}",
                    prompt,
                    shown,
                    choice=choice,
                    answer=json.dumps({"choice": choice}),
                )
            )
    return rows


def test_2afc5_shares_agreement_and_orientation():
    study = parse_definition(
        {
            "name": "hand-made 2afc5",
            "trial_type": "2afc5",
            "seed": 2,
            "prompts": list(PROMPTS[:2]),
            "models": list(MODELS),
            "raters_per_item": 3,
        }
    )
    report = analyse(study, pair_rows(), [summary(i) for i in range(3)], n_bootstrap=200)
    by_pair = {(p.a, p.b): p for p in report.preferences}
    ab = by_pair[("alpha", "beta")]
    # p001 and p002 answers on alpha~beta, read back in the pair's own orientation despite flips
    assert dict(zip(ab.levels, ab.counts, strict=True)) == {
        "strong_a": 2,
        "weak_a": 3,
        "equal": 1,
        "weak_b": 0,
        "strong_b": 0,
    }
    assert ab.labels[0] == "alpha much better" and ab.labels[4] == "beta much better"
    low, high = proportion_confint(3, 6, alpha=0.05, method="wilson")
    assert (ab.low[1], ab.high[1]) == pytest.approx((low, high))

    levels = np.array([[CHOICES_2AFC5.index(c) for c in answers] for answers in PAIR_LEVELS.values()])
    expected = sm_fleiss_kappa(aggregate_raters(levels, n_cat=5)[0])
    assert statistic(report, "Fleiss' kappa").estimate == pytest.approx(expected, abs=1e-12)
    alpha = krippendorff.alpha(reliability_data=levels.T.astype(float), level_of_measurement="ordinal")
    assert statistic(report, "Krippendorff's alpha (ordinal)").estimate == pytest.approx(alpha, abs=1e-9)
    ranking = [r["model"] for r in report.bradley_terry]
    assert ranking[-1] == "beta"  # beta loses to alpha 5:0 (one equal) and to gamma 6:0


def test_pairwise_both_bad_is_shown_but_not_a_preference():
    study = parse_definition(
        {
            "name": "arena",
            "trial_type": "pairwise",
            "seed": 3,
            "prompts": [PROMPTS[0]],
            "models": ["alpha", "beta"],
        }
    )
    choices = ["a", "a", "b", "tie", "both_bad", "both_bad"]
    rows = [
        row(i, "item", "p001:alpha~beta", PROMPTS[0], ("alpha", "beta"), choice=c)
        for i, c in enumerate(choices)
    ]
    report = analyse(study, rows, [summary(i) for i in range(6)], n_bootstrap=20)
    (pair,) = report.preferences
    assert dict(zip(pair.levels, pair.counts, strict=True)) == {"a": 2, "b": 1, "tie": 1, "both_bad": 2}
    assert any("4 comparisons" in n for n in report.notes)  # both_bad left out of Bradley-Terry
    assert report.win_rates[0, 1] == pytest.approx(2.5 / 4)  # the tie counts half


def test_controls_and_attention_checks_are_reported():
    study = rank_definition(
        prompt_mismatch_control={"per_participant": 1},
        attention_checks=[{"kind": "instruction", "prompt": "a calm face"}],
    )
    rows = []
    for i, matched_wins in enumerate([True, True, False]):
        prompts = [PROMPTS[0], PROMPTS[1]] if i != 1 else [PROMPTS[1], PROMPTS[0]]
        matched = prompts.index(PROMPTS[0])
        ranking = [1, 2] if (matched == 0) == matched_wins else [2, 1]
        rows.append(
            row(
                i,
                "control",
                "control:alpha:p001",
                PROMPTS[0],
                ("alpha", "alpha"),
                clip_prompts=json.dumps(prompts),
                ranking=json.dumps(ranking),
            )
        )
        rows.append(row(i, "attention", "check:0", "a calm face", MODELS, attention_passed=i != 2))
    report = analyse(study, rows, [summary(i) for i in range(3)], n_bootstrap=0)
    everyone = next(c for c in report.controls if c["model"] == "all models")
    assert (everyone["answers"], everyone["matched_preferred"]) == (3, pytest.approx(2 / 3))
    assert (everyone["ci_low"], everyone["ci_high"]) == pytest.approx(wilson_interval(2, 3))
    assert report.attention == [
        {
            "check": "check:0",
            "prompt": "a calm face",
            "answered": 3,
            "failed": 1,
            "pass_rate": pytest.approx(2 / 3),
        }
    ]


def test_wilson_interval_matches_statsmodels():
    for k, n in [(0, 5), (3, 7), (10, 10), (17, 40)]:
        assert wilson_interval(k, n) == pytest.approx(proportion_confint(k, n, method="wilson"))
