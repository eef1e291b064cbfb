"""Study reports: progress, exclusions, agreement and preference statistics, charts, exports.

:func:`analyse` is pure: the definition, the stored answers (rows of
:meth:`StudyStore.export_answers`) and the participant summaries in, a :class:`StudyReport` out.
:func:`build_report` reads those from a store first. The writers at the bottom
(:func:`write_report`, :func:`export_answers`) are the only functions here that touch files.

Who is analysed, decided before anyone looks at results:

- a participant is **excluded** when the study's pre-registered rules say so
  (:meth:`ExclusionRules.reasons`: failed attention checks, median dwell);
- a participant who has not answered every trial is **not analysed** (``include_incomplete``
  changes that, and the report says so);
- only ``item`` trials enter the statistics; attention checks are reported per check and
  mismatch controls as "matched clip preferred".

Rank studies: Fleiss' kappa needs a reduction of rankings to categories. The report declares one
(``reduction``, default ``rank_as_category``: each (prompt, model) is an item, its rank the
category) and shows the other (``top_choice``: each prompt is an item, the model ranked first the
category) beside it, with Kendall's W and Krippendorff's alpha (ordinal). Fleiss' kappa and W
need the same number of raters on every item: they use the first ``n`` included ratings of each
prompt (by participant index), ``n`` being the smallest count among prompts rated at least twice;
Krippendorff's alpha uses every included rating. Every agreement figure has a percentile
bootstrap CI resampling items (prompts for rank studies, (prompt, pair) items otherwise).

Preferences: Bradley-Terry strengths with bootstrap CIs and rank intervals (from
:func:`studio.study.agreement.bradley_terry`, resampling items with all their comparisons), a
win-rate matrix, and for two-clip studies the share of answers at each preference level per pair
with Wilson 95% CIs.
A ranking of K clips gives K(K-1)/2 comparisons; "equal"/"tie" count half a win each way; an
arena's "both bad" is not a preference and is left out of Bradley-Terry (it is in the shares).
"""

from __future__ import annotations

import csv
import html
import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.study.agreement import (
    REDUCTIONS,
    bootstrap_items,
    bradley_terry,
    fleiss_kappa,
    kendall_w,
    krippendorff_alpha,
    rankings_to_fleiss_table,
    win_rate_matrix,
)
from studio.study.definition import CHOICES_2AFC5, CHOICES_PAIRWISE, StudyDefinition
from studio.study.storage import EXPORT_COLUMNS, ParticipantSummary, StudyRecord, StudyStore

__all__ = [
    "CODEBOOK",
    "PARTICIPANT_CODEBOOK",
    "PairPreference",
    "Statistic",
    "StudyReport",
    "analyse",
    "build_report",
    "export_answers",
    "preference_bars",
    "rank_heatmap",
    "report_html",
    "report_markdown",
    "wilson_interval",
    "write_report",
]

Z95 = 1.959963984540054  # two-sided 95% normal quantile
_FLIP = {
    "strong_a": "strong_b",
    "weak_a": "weak_b",
    "equal": "equal",
    "weak_b": "weak_a",
    "strong_b": "strong_a",
    "a": "b",
    "b": "a",
    "tie": "tie",
    "both_bad": "both_bad",
}
_LEVELS = {"2afc5": CHOICES_2AFC5, "pairwise": CHOICES_PAIRWISE}
# Bradley-Terry score of the pair's first model per level; None: not a preference, left out
_BT_SCORE = {
    "strong_a": 1.0,
    "weak_a": 1.0,
    "equal": 0.5,
    "weak_b": 0.0,
    "strong_b": 0.0,
    "a": 1.0,
    "b": 0.0,
    "tie": 0.5,
    "both_bad": None,
}


# ----------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statistic:
    """One figure of the statistics table: ``estimate`` with a 95% ``[low, high]`` (None where
    undefined), ``basis`` (what it was computed on) and a ``note`` (why it is missing, a test)."""

    name: str
    estimate: float | None
    low: float | None = None
    high: float | None = None
    basis: str = ""
    note: str = ""


@dataclass(frozen=True)
class PairPreference:
    """Answers on one model pair, oriented so that ``a`` is the pair's first model.

    ``levels``: level keys (``strong_a`` ... for 2afc5, ``a``/``b``/``tie``/``both_bad`` for
    pairwise, ``a``/``b`` for pairs read off rankings); ``labels``: what each level means with the
    model names; ``counts``/``shares``/``low``/``high``: per level, shares with Wilson 95% CIs.
    """

    a: str
    b: str
    levels: tuple[str, ...]
    labels: tuple[str, ...]
    counts: tuple[int, ...]
    shares: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]

    @property
    def n(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class StudyReport:
    """Everything a study's report shows. Tables are lists of dicts (column -> value), in order."""

    name: str
    sha256: str
    trial_type: str
    question: str
    reduction: str | None  # the declared Fleiss reduction (rank studies)
    n_participants: int
    n_completed: int
    n_excluded: int
    n_analysed: int
    participants: list[dict[str, Any]]
    items: list[dict[str, Any]]
    attention: list[dict[str, Any]]
    controls: list[dict[str, Any]]
    rejections: dict[str, int]
    statistics: list[Statistic]
    models: tuple[str, ...]
    rank_shares: np.ndarray | None  # (models, ranks) share of votes; rank studies
    rank_counts: np.ndarray | None
    mean_ranks: list[dict[str, Any]]
    bradley_terry: list[dict[str, Any]]
    win_rates: np.ndarray | None  # (models, models), NaN where a pair never met
    preferences: list[PairPreference]
    per_prompt: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------
# analysis
# ----------------------------------------------------------------------------------------------


def build_report(store: StudyStore, study: StudyRecord, **options: Any) -> StudyReport:
    """:func:`analyse` on what ``store`` holds for ``study`` (options as for :func:`analyse`)."""
    return analyse(
        study.definition,
        store.export_answers(study),
        store.participant_summaries(study),
        store.rejection_counts(study),
        **options,
    )


def analyse(
    definition: StudyDefinition,
    rows: Sequence[Mapping[str, Any]],
    participants: Sequence[ParticipantSummary],
    rejections: Mapping[str, int] | None = None,
    *,
    reduction: str = "rank_as_category",
    n_bootstrap: int = 1000,
    seed: int = 0,
    include_incomplete: bool = False,
) -> StudyReport:
    """The report of one study. ``rows``: answers as :data:`EXPORT_COLUMNS` dicts;
    ``participants``: :meth:`StudyStore.participant_summaries`; ``reduction``: the Fleiss
    reduction this report declares for rank studies; ``n_bootstrap``/``seed``: every bootstrap."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    analysed = {
        p.participant for p in participants if not p.exclusion_reasons and (p.completed or include_incomplete)
    }
    item_rows = [r for r in rows if r["kind"] == "item" and r["participant"] in analysed]
    notes = [
        f"{len(analysed)} of {len(participants)} participants analysed: excluded by the pre-registered "
        f"rules: {sum(bool(p.exclusion_reasons) for p in participants)}; "
        + (
            "incomplete participants are included."
            if include_incomplete
            else f"not analysed because incomplete: "
            f"{sum(not p.completed and not p.exclusion_reasons for p in participants)}."
        )
    ]
    common: dict[str, Any] = {
        "name": definition.name,
        "sha256": definition.sha256,
        "trial_type": definition.trial_type,
        "question": definition.question,
        "n_participants": len(participants),
        "n_completed": sum(p.completed for p in participants),
        "n_excluded": sum(bool(p.exclusion_reasons) for p in participants),
        "n_analysed": len(analysed),
        "participants": _participant_table(participants, analysed, include_incomplete),
        "items": _item_table(definition, rows, analysed),
        "attention": _attention_table(rows),
        "controls": _control_table(definition, rows, analysed),
        "rejections": dict(sorted((rejections or {}).items())),
        "models": tuple(m.name for m in definition.models),
    }
    boot = {"n_bootstrap": n_bootstrap, "seed": seed}
    if definition.trial_type == "rank":
        return _analyse_rank(definition, item_rows, common, notes, reduction, boot)
    return _analyse_pairs(definition, item_rows, common, notes, boot)


def _analyse_rank(
    definition: StudyDefinition,
    rows: Sequence[Mapping[str, Any]],
    common: dict[str, Any],
    notes: list[str],
    reduction: str,
    boot: dict[str, Any],
) -> StudyReport:
    models = common["models"]
    k = len(models)
    prompt_of = {item.id: item.prompt.text for item in definition.items}
    per_item: dict[str, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for row in rows:
        ranks = json.loads(row["ranks"])
        per_item[row["item_id"]].append((row["participant_index"], np.array([ranks[m] for m in models])))
    item_ids = [item.id for item in definition.items if per_item.get(item.id)]
    statistics: list[Statistic] = []

    balanced, n_raters, used = _balanced(per_item, item_ids)
    other = next(r for r in REDUCTIONS if r != reduction)
    if balanced is None:
        notes.append("agreement needs at least two analysed ratings of some prompt: none yet.")
    else:
        basis = f"{len(used)} prompts x {n_raters} raters"
        dropped = sum(len(per_item[i]) for i in item_ids) - len(used) * n_raters
        if dropped:
            notes.append(
                f"Fleiss' kappa and Kendall's W need equal raters per prompt: they use the first {n_raters} "
                f"analysed ratings of each of {len(used)} prompts ({dropped} ratings left out)."
            )
        for red, role in ((reduction, "declared"), (other, "shown for comparison")):
            statistics.append(
                _bootstrapped(
                    f"Fleiss' kappa, {red.replace('_', ' ')} ({role})",
                    lambda a, red=red: fleiss_kappa(rankings_to_fleiss_table(a, red)),
                    balanced,
                    basis,
                    boot,
                    REDUCTIONS[red],
                )
            )
        statistics.append(
            _bootstrapped(
                "Kendall's W, mean over prompts",
                lambda w: float(np.mean(w)),
                np.array([kendall_w(prompt).w for prompt in balanced]),  # resampling prompts resamples these
                basis,
                boot,
                "agreement of raters on each prompt's ordering of the models",
            )
        )
        pooled = balanced.reshape(-1, k)
        try:
            w = kendall_w(pooled)
            test = f"Friedman chi2({w.df}) = {w.chi2:.2f}, {_p(w.p_value)}"
        except ValueError as exc:
            test = f"undefined: {exc}"
        statistics.append(
            _bootstrapped(
                "Kendall's W, all rankings pooled",
                pooled_w,
                balanced,
                f"{pooled.shape[0]} rankings (prompt x rater)",
                boot,
                f"do the models differ overall? {test}",
            )
        )
    participants = sorted({row["participant_index"] for row in rows})
    if len(participants) >= 2 and item_ids:
        column = {p: j for j, p in enumerate(participants)}
        full = np.full((len(item_ids), len(participants), k), np.nan)
        for i, item in enumerate(item_ids):
            for index, vector in per_item[item]:
                full[i, column[index]] = vector
        statistics.append(
            _bootstrapped(
                "Krippendorff's alpha (ordinal)",
                lambda a: krippendorff_alpha(a.transpose(1, 0, 2).reshape(a.shape[1], -1), "ordinal"),
                full,
                f"{len(participants)} raters x {len(item_ids) * k} (prompt, model) units",
                boot,
                "every analysed rating; units are (prompt, model), values ranks",
            )
        )

    vectors = [v for item in item_ids for _, v in per_item[item]]
    counts = np.zeros((k, k), dtype=int)
    for vector in vectors:
        counts[np.arange(k), vector - 1] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(
            counts.sum(axis=1, keepdims=True) > 0, counts / counts.sum(axis=1, keepdims=True), 0.0
        )
    mean_ranks = []
    if vectors:
        by_prompt = np.array([np.mean([v for _, v in per_item[i]], axis=0) for i in item_ids])
        for j, model in enumerate(models):
            interval = None
            if len(item_ids) >= 2 and boot["n_bootstrap"] >= 1:
                interval = bootstrap_items(lambda a, j=j: float(np.mean(a[:, j])), by_prompt, **boot)
            mean_ranks.append(
                {
                    "model": model,
                    "mean_rank": float(np.mean([v[j] for v in vectors])),
                    "ci_low": None if interval is None else interval.low,
                    "ci_high": None if interval is None else interval.high,
                    "top_choice_share": float(np.mean([v[j] == 1 for v in vectors])),
                    "rankings": len(vectors),
                }
            )
    comparisons, groups = [], []
    for item in item_ids:  # grouped by prompt: the bootstrap resamples prompts, as above
        for _, v in per_item[item]:
            for i in range(k):
                for j in range(i + 1, k):
                    comparisons.append((models[i], models[j], 1.0 if v[i] < v[j] else 0.0))
                    groups.append(item)
    per_prompt = []
    for item in item_ids:
        entry: dict[str, Any] = {"item": item, "prompt": prompt_of[item], "ratings": len(per_item[item])}
        vs = np.array([v for _, v in per_item[item]])
        entry.update({f"mean rank {m}": float(vs[:, j].mean()) for j, m in enumerate(models)})
        if len(vs) >= 2:
            try:
                w = kendall_w(vs)
                entry.update({"kendall_w": w.w, "friedman_p": w.p_value})
            except ValueError:
                entry.update({"kendall_w": None, "friedman_p": None})
        per_prompt.append(entry)
    preferences = []
    for i in range(k):
        for j in range(i + 1, k):
            wins = sum(1 for v in vectors if v[i] < v[j])
            preferences.append(
                _pair(
                    models[i],
                    models[j],
                    ("a", "b"),
                    (f"{models[i]} ranked higher", f"{models[j]} ranked higher"),
                    (wins, len(vectors) - wins),
                )
            )
    notes.append(
        f"Fleiss' kappa on rankings uses the declared reduction {reduction!r} ({REDUCTIONS[reduction]}); "
        f"{other!r} is shown beside it and gives a different number by design."
    )
    bt_rows, win_rates = _preferences_from(comparisons, groups, models, boot, notes)
    return StudyReport(
        **common,
        reduction=reduction,
        statistics=statistics,
        rank_shares=shares,
        rank_counts=counts,
        mean_ranks=mean_ranks,
        bradley_terry=bt_rows,
        win_rates=win_rates,
        preferences=preferences,
        per_prompt=per_prompt,
        notes=notes,
    )


def _analyse_pairs(
    definition: StudyDefinition,
    rows: Sequence[Mapping[str, Any]],
    common: dict[str, Any],
    notes: list[str],
    boot: dict[str, Any],
) -> StudyReport:
    trial_type = definition.trial_type
    levels = _LEVELS[trial_type]
    items = {item.id: item for item in definition.items}
    per_item: dict[str, list[tuple[int, int]]] = defaultdict(list)  # item -> (participant, level index)
    for row in rows:
        item = items[row["item_id"]]
        left = json.loads(row["clip_models"])[0]
        choice = row["choice"] if left == item.models[0] else _FLIP[row["choice"]]
        per_item[row["item_id"]].append((row["participant_index"], levels.index(choice)))
    item_ids = [item.id for item in definition.items if per_item.get(item.id)]
    statistics: list[Statistic] = []
    keyed = {i: [(p, np.array([level])) for p, level in per_item[i]] for i in item_ids}
    balanced, n_raters, used = _balanced(keyed, item_ids)
    if balanced is None:
        notes.append("agreement needs at least two analysed ratings of some item: none yet.")
    else:
        table = balanced[:, :, 0].astype(int)
        statistics.append(
            _bootstrapped(
                "Fleiss' kappa (answer levels as categories)",
                lambda a: fleiss_kappa(np.stack([(a == c).sum(axis=1) for c in range(len(levels))], axis=1)),
                table,
                f"{len(used)} items x {n_raters} raters",
                boot,
                "each (prompt, pair) is an item, oriented to the pair's first model",
            )
        )
    participants = sorted({p for i in item_ids for p, _ in per_item[i]})
    if len(participants) >= 2 and item_ids:
        column = {p: j for j, p in enumerate(participants)}
        full = np.full((len(item_ids), len(participants)), np.nan)
        for i, item in enumerate(item_ids):
            for index, level in per_item[item]:
                full[i, column[index]] = level
        level_kind = "ordinal" if trial_type == "2afc5" else "nominal"
        statistics.append(
            _bootstrapped(
                f"Krippendorff's alpha ({level_kind})",
                lambda a: krippendorff_alpha(a.T, level_kind),
                full,
                f"{len(participants)} raters x {len(item_ids)} items",
                boot,
                "every analysed answer",
            )
        )
    models = common["models"]
    pair_counts: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    comparisons, groups = [], []
    for item_id in item_ids:
        a, b = items[item_id].models
        for _, level in per_item[item_id]:
            pair_counts[(a, b)][level] += 1
            score = _BT_SCORE[levels[level]]
            if score is not None:
                comparisons.append((a, b, score))
                groups.append(item_id)
    preferences = []
    for a, b in [(a, b) for i, a in enumerate(models) for b in models[i + 1 :]]:
        tally = pair_counts.get((a, b))
        if tally:
            preferences.append(
                _pair(
                    a, b, levels, _level_labels(trial_type, a, b), tuple(tally[c] for c in range(len(levels)))
                )
            )
    per_prompt = []
    for item_id in item_ids:
        tally = Counter(level for _, level in per_item[item_id])
        per_prompt.append(
            {
                "item": item_id,
                "prompt": items[item_id].prompt.text,
                "ratings": len(per_item[item_id]),
                **{levels[c]: tally[c] for c in range(len(levels))},
            }
        )
    if trial_type == "pairwise":
        notes.append(
            "'both bad' answers are shown in the shares but are not preferences: "
            "Bradley-Terry leaves them out."
        )
    notes.append(
        "'equal'/'tie' answers count as half a win for each model in Bradley-Terry and the win rates."
    )
    bt_rows, win_rates = _preferences_from(comparisons, groups, models, boot, notes)
    return StudyReport(
        **common,
        reduction=None,
        statistics=statistics,
        rank_shares=None,
        rank_counts=None,
        mean_ranks=[],
        bradley_terry=bt_rows,
        win_rates=win_rates,
        preferences=preferences,
        per_prompt=per_prompt,
        notes=notes,
    )


def _balanced(
    per_item: Mapping[str, list[tuple[int, np.ndarray]]], item_ids: Sequence[str]
) -> tuple[np.ndarray | None, int, list[str]]:
    """``(items, n, ...)``: the first ``n`` ratings (by participant index) of every item rated at
    least twice, ``n`` the smallest such count. None when no item has two ratings."""
    used = [i for i in item_ids if len(per_item[i]) >= 2]
    if not used:
        return None, 0, []
    n = min(len(per_item[i]) for i in used)
    stacked = np.array([[v for _, v in sorted(per_item[i], key=lambda pv: pv[0])[:n]] for i in used])
    return stacked, n, used


def _bootstrapped(
    name: str,
    statistic: Callable[[np.ndarray], float],
    data: np.ndarray,
    basis: str,
    boot: Mapping[str, Any],
    note: str = "",
) -> Statistic:
    """The statistic with a percentile CI over items (axis 0); undefined values become None with
    the reason; fewer than two items give no CI (resampling one item says nothing)."""
    try:
        estimate = float(statistic(data))
    except ValueError as exc:
        return Statistic(name, None, None, None, basis, f"undefined: {exc}")
    if len(data) < 2 or boot["n_bootstrap"] < 1:
        return Statistic(
            name, estimate, None, None, basis, (note + "; " if note else "") + "no CI with one item"
        )
    try:
        interval = bootstrap_items(statistic, data, **boot)
    except ValueError as exc:
        return Statistic(name, estimate, None, None, basis, f"{note}; no CI: {exc}")
    if interval.n_bootstrap < boot["n_bootstrap"]:
        skipped = boot["n_bootstrap"] - interval.n_bootstrap
        note = (note + "; " if note else "") + f"{skipped} resamples undefined and skipped"
    return Statistic(name, estimate, interval.low, interval.high, basis, note)


def pooled_w(rankings: np.ndarray) -> float:
    """Kendall's W of ``rankings (prompts, raters, K)`` pooled into (prompts * raters) rows of
    tie-free ranks: ``12 S / (m^2 (K^3 - K))``. Equals :func:`kendall_w` on such rows (the tests
    check it) without re-ranking every row, which keeps 1000 bootstrap resamples fast."""
    rows = rankings.reshape(-1, rankings.shape[-1]).astype(np.float64)
    m, k = rows.shape
    totals = rows.sum(axis=0)
    return float(12 * np.sum((totals - totals.mean()) ** 2) / (m * m * (k**3 - k)))


def _preferences_from(
    comparisons: Sequence[tuple[str, str, float]],
    groups: Sequence[str],
    models: Sequence[str],
    boot: Mapping[str, Any],
    notes: list[str],
) -> tuple[list[dict[str, Any]], np.ndarray | None]:
    """Bradley-Terry rows (strongest first) and the win-rate matrix in ``models`` order."""
    if not comparisons or len({m for c in comparisons for m in c[:2]}) < 2:
        return [], None
    fit = bradley_terry(
        comparisons, n_bootstrap=max(1, boot["n_bootstrap"]), seed=boot["seed"], groups=groups
    )
    order = np.argsort(fit.rank)
    with_ci = boot["n_bootstrap"] >= 1  # 0: a quick look (status pages), no intervals
    rows = [
        {
            "model": fit.models[i],
            "strength": float(fit.strength[i]),
            "ci_low": float(fit.ci_low[i]) if with_ci else None,
            "ci_high": float(fit.ci_high[i]) if with_ci else None,
            "rank": int(fit.rank[i]),
            "rank_interval": f"{int(fit.rank_low[i])}-{int(fit.rank_high[i])}" if with_ci else None,
        }
        for i in order
    ]
    notes.append(
        f"Bradley-Terry: {fit.n_comparisons} comparisons, log-strengths (mean 0) with a prior of "
        f"{fit.prior:g} virtual tie per pair; {fit.n_bootstrap} bootstrap resamples of items "
        f"({len(set(groups))}; all comparisons from one item move together, since they are not independent)."
    )
    names, rates = win_rate_matrix(comparisons)
    index = [names.index(m) if m in names else None for m in models]
    matrix = np.full((len(models), len(models)), np.nan)
    for i, a in enumerate(index):
        for j, b in enumerate(index):
            if a is not None and b is not None:
                matrix[i, j] = rates[a, b]
    return rows, matrix


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n`` (``(nan, nan)`` when n = 0)."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _pair(
    a: str, b: str, levels: Sequence[str], labels: Sequence[str], counts: Sequence[int]
) -> PairPreference:
    n = sum(counts)
    shares = tuple(c / n if n else math.nan for c in counts)
    bounds = [wilson_interval(c, n) for c in counts]
    return PairPreference(
        a,
        b,
        tuple(levels),
        tuple(labels),
        tuple(int(c) for c in counts),
        shares,
        tuple(lo for lo, _ in bounds),
        tuple(hi for _, hi in bounds),
    )


def _level_labels(trial_type: str, a: str, b: str) -> tuple[str, ...]:
    if trial_type == "2afc5":
        return (
            f"{a} much better",
            f"{a} slightly better",
            "about the same",
            f"{b} slightly better",
            f"{b} much better",
        )
    return (f"{a}", f"{b}", "tie (both good)", "both bad")


def _participant_table(
    participants: Sequence[ParticipantSummary], analysed: set[str], include_incomplete: bool
) -> list[dict[str, Any]]:
    table = []
    for p in participants:
        if p.exclusion_reasons:
            status = "excluded: " + "; ".join(p.exclusion_reasons)
        elif p.participant in analysed:
            status = "analysed"
        else:
            status = "not analysed: incomplete"
        table.append(
            {
                "participant_index": p.participant_index,
                "participant": p.participant[:12],
                "answered": f"{p.answered}/{p.total}",
                "completed": p.completed,
                "checks_failed": p.checks_failed,
                "checks_answered": p.checks_answered,
                "median_dwell_s": None if p.median_dwell_s is None else round(p.median_dwell_s, 2),
                "rejections": p.rejections,
                "status": status,
            }
        )
    return table


def _item_table(
    definition: StudyDefinition, rows: Sequence[Mapping[str, Any]], analysed: set[str]
) -> list[dict[str, Any]]:
    every = Counter(r["item_id"] for r in rows if r["kind"] == "item")
    kept = Counter(r["item_id"] for r in rows if r["kind"] == "item" and r["participant"] in analysed)
    return [
        {
            "item": item.id,
            "prompt": item.prompt.text,
            "models": " vs ".join(item.models) if len(item.models) == 2 else f"{len(item.models)} models",
            "answers": every[item.id],
            "analysed": kept[item.id],
            "target": definition.raters_per_item,
        }
        for item in definition.items
    ]


def _attention_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every participant's answers to each check (exclusion decisions rest on all of them)."""
    tally: dict[str, list[bool]] = defaultdict(list)
    prompts: dict[str, str] = {}
    for row in rows:
        if row["kind"] == "attention" and row["attention_passed"] is not None:
            tally[row["item_id"]].append(bool(row["attention_passed"]))
            prompts[row["item_id"]] = row["prompt"]
    table = []
    for check in sorted(tally, key=lambda c: int(c.split(":")[1]) if c.split(":")[-1].isdigit() else 0):
        outcomes = tally[check]
        table.append(
            {
                "check": check,
                "prompt": prompts[check],
                "answered": len(outcomes),
                "failed": outcomes.count(False),
                "pass_rate": sum(outcomes) / len(outcomes),
            }
        )
    return table


def _control_table(
    definition: StudyDefinition, rows: Sequence[Mapping[str, Any]], analysed: set[str]
) -> list[dict[str, Any]]:
    """Prompt-mismatch controls: how often the clip made from the shown text was preferred."""
    per_model: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        if row["kind"] != "control" or row["participant"] not in analysed:
            continue
        clip_prompts = json.loads(row["clip_prompts"])
        matched = clip_prompts.index(row["prompt"])
        model = json.loads(row["clip_models"])[matched]
        if row["ranking"] is not None:
            winner: int | None = json.loads(row["ranking"]).index(1)
        else:
            level = row["choice"]
            winner = {"a": 0, "strong_a": 0, "weak_a": 0, "b": 1, "strong_b": 1, "weak_b": 1}.get(level)
        per_model[model]["matched" if winner == matched else "none" if winner is None else "mismatched"] += 1
    table = []
    for model in [m.name for m in definition.models] + ["all models"]:
        tally = (
            sum(per_model.values(), Counter()) if model == "all models" else per_model.get(model, Counter())
        )
        n = sum(tally.values())
        if n == 0:
            continue
        low, high = wilson_interval(tally["matched"], n)
        table.append(
            {
                "model": model,
                "answers": n,
                "matched_preferred": tally["matched"] / n,
                "ci_low": low,
                "ci_high": high,
                "no_preference": tally["none"],
            }
        )
    return table


def _p(value: float) -> str:
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


# ----------------------------------------------------------------------------------------------
# charts (plotly)
# ----------------------------------------------------------------------------------------------

_LEVEL_COLOURS = {
    "2afc5": ("#08519c", "#6baed6", "#bdbdbd", "#fdae6b", "#d94801"),
    "pairwise": ("#2171b5", "#e6550d", "#bdbdbd", "#636363"),
    "rank": ("#2171b5", "#e6550d"),
}


def rank_heatmap(report: StudyReport):  # -> go.Figure | None
    """EmoAva-style rank distribution: models (best mean rank on top) x rank, share of votes."""
    import plotly.graph_objects as go

    if report.rank_shares is None or report.rank_counts is None or report.rank_counts.sum() == 0:
        return None
    k = len(report.models)
    mean = {row["model"]: row["mean_rank"] for row in report.mean_ranks}
    order = sorted(range(k), key=lambda i: mean.get(report.models[i], math.inf), reverse=True)
    shares = report.rank_shares[order]
    counts = report.rank_counts[order]
    figure = go.Figure(
        go.Heatmap(
            z=shares,
            x=[f"rank {r}" for r in range(1, k + 1)],
            y=[report.models[i] for i in order],
            zmin=0,
            zmax=1,
            colorscale="Blues",
            colorbar={"title": "share", "tickformat": ".0%"},
            text=[
                [f"{s:.0%}<br>({c})" for s, c in zip(rs, cs, strict=True)]
                for rs, cs in zip(shares, counts, strict=True)
            ],
            texttemplate="%{text}",
            hovertemplate="%{y}, %{x}: %{z:.1%}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"Rank distribution ({int(counts[:, 0].sum())} rankings; 1 = best)",
        template="plotly_white",
        height=120 + 60 * k,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


def preference_bars(report: StudyReport):  # -> go.Figure | None
    """EmoteGPT-style stacked preference bars: one bar per model pair, share of answers per level."""
    import plotly.graph_objects as go

    if not report.preferences:
        return None
    colours = _LEVEL_COLOURS[report.trial_type]
    names = {
        "2afc5": (
            "A much better",
            "A slightly better",
            "about the same",
            "B slightly better",
            "B much better",
        ),
        "pairwise": ("A", "B", "tie (both good)", "both bad"),
        "rank": ("A ranked higher", "B ranked higher"),
    }[report.trial_type]
    pairs = list(reversed(report.preferences))  # first pair on top
    labels = [f"A = {p.a}  vs  B = {p.b}  (n={p.n})" for p in pairs]
    figure = go.Figure()
    for level, (name, colour) in enumerate(zip(names, colours, strict=True)):
        figure.add_trace(
            go.Bar(
                y=labels,
                x=[p.shares[level] for p in pairs],
                name=name,
                orientation="h",
                marker_color=colour,
                text=[f"{p.shares[level]:.0%}" if p.shares[level] >= 0.06 else "" for p in pairs],
                textposition="inside",
                customdata=[[p.labels[level], p.counts[level], p.low[level], p.high[level]] for p in pairs],
                hovertemplate="%{customdata[0]}: %{x:.1%} (%{customdata[1]} answers; 95% CI "
                "%{customdata[2]:.0%}-%{customdata[3]:.0%})<extra></extra>",
            )
        )
    figure.update_layout(
        barmode="stack",
        template="plotly_white",
        title="Preferences per model pair (share of answers)",
        xaxis={"tickformat": ".0%", "range": [0, 1]},
        height=200 + 45 * len(pairs),
        legend={"orientation": "h", "y": -0.25, "traceorder": "normal"},
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


# ----------------------------------------------------------------------------------------------
# text: markdown and HTML
# ----------------------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|")


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "_none_"
    columns = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def statistics_rows(report: StudyReport) -> list[dict[str, str]]:
    """The statistics table as display strings (estimate, 95% CI, basis, note)."""
    return [
        {
            "statistic": s.name,
            "estimate": _fmt(s.estimate),
            "95% CI": "—" if s.low is None else f"[{s.low:.3f}, {s.high:.3f}]",
            "basis": s.basis,
            "note": s.note,
        }
        for s in report.statistics
    ]


def report_markdown(report: StudyReport) -> str:
    """The whole report as Markdown (tables; the charts are in the HTML version)."""
    parts = [
        f"# Study report: {report.name}",
        f"Study `{report.sha256[:12]}` · trial type **{report.trial_type}** · question: {report.question}",
        f"Participants: {report.n_participants} started, {report.n_completed} completed, "
        f"{report.n_excluded} excluded by the pre-registered rules, **{report.n_analysed} analysed**.",
    ]
    if report.reduction:
        parts.append(
            f"Fleiss' kappa reduction declared for this report: **{report.reduction.replace('_', ' ')}** "
            f"({REDUCTIONS[report.reduction]})."
        )
    parts += ["## Statistics", _table(statistics_rows(report))]
    if report.mean_ranks:
        parts += ["## Mean rank per model (1 = best; 95% CI over prompts)", _table(report.mean_ranks)]
    if report.bradley_terry:
        parts += ["## Bradley-Terry", _table(report.bradley_terry)]
    if report.win_rates is not None:
        rows = [
            {"model": a, **{b: report.win_rates[i, j] for j, b in enumerate(report.models)}}
            for i, a in enumerate(report.models)
        ]
        parts += ["## Win rates (row beats column; ties count half)", _table(rows)]
    if report.rank_counts is not None and report.rank_counts.sum():
        k = len(report.models)
        rows = [
            {
                "model": m,
                **{
                    f"rank {r + 1}": f"{report.rank_shares[i, r]:.0%} ({report.rank_counts[i, r]})"
                    for r in range(k)
                },
            }
            for i, m in enumerate(report.models)
        ]
        parts += ["## Rank distribution (share of votes)", _table(rows)]
    if report.preferences:
        rows = [
            {
                "pair": f"{p.a} vs {p.b}",
                "level": label,
                "answers": count,
                "share": share,
                "95% CI": f"[{lo:.2f}, {hi:.2f}]",
            }
            for p in report.preferences
            for label, count, share, lo, hi in zip(p.labels, p.counts, p.shares, p.low, p.high, strict=True)
        ]
        parts += ["## Preferences per pair (Wilson 95% CI)", _table(rows)]
    parts += ["## Per prompt", _table(report.per_prompt)]
    parts += ["## Answers per item", _table(report.items)]
    parts += ["## Attention checks", _table(report.attention)]
    if report.controls:
        parts += [
            "## Prompt-mismatch controls (clip made from the shown text preferred)",
            _table(report.controls),
        ]
    parts += ["## Participants", _table(report.participants)]
    rejected = [{"reason": k, "count": v} for k, v in report.rejections.items()]
    parts += ["## Rejected submissions", _table(rejected)]
    parts += ["## Notes", "\n".join(f"- {n}" for n in report.notes)]
    return "\n\n".join(parts) + "\n"


def _html_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    columns = list(rows[0].keys())
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(_fmt(r.get(c)).replace(chr(92) + '|', '|'))}</td>" for c in columns)
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def report_html(report: StudyReport, plotly_src: str = "plotly.min.js") -> str:
    """A self-contained page (apart from ``plotly_src``, the plotly.js it loads): charts, then the
    tables of :func:`report_markdown`."""
    charts = [f for f in (rank_heatmap(report), preference_bars(report)) if f is not None]
    figures = "".join(f.to_html(full_html=False, include_plotlyjs=False) for f in charts)
    sections = [
        ("Statistics", statistics_rows(report)),
        ("Mean rank per model", report.mean_ranks),
        ("Bradley-Terry", report.bradley_terry),
        ("Per prompt", report.per_prompt),
        ("Answers per item", report.items),
        ("Attention checks", report.attention),
        ("Prompt-mismatch controls", report.controls),
        ("Participants", report.participants),
        ("Rejected submissions", [{"reason": k, "count": v} for k, v in report.rejections.items()]),
    ]
    body = "".join(
        f"<h2>{html.escape(title)}</h2>{_html_table(rows)}"
        for title, rows in sections
        if rows or title in ("Statistics", "Attention checks")
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    reduction = (
        f"<p>Fleiss' kappa reduction declared: <b>{html.escape(report.reduction.replace('_', ' '))}</b></p>"
        if report.reduction
        else ""
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Study report: {html.escape(report.name)}</title>"
        f"<script src='{html.escape(plotly_src)}'></script>"
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;"
        "text-align:left;font-size:.9em}th{background:#f3f3f3}</style></head><body>"
        f"<h1>Study report: {html.escape(report.name)}</h1>"
        f"<p>Study <code>{report.sha256[:12]}</code> · trial type <b>{html.escape(report.trial_type)}</b> · "
        f"{report.n_participants} started, {report.n_completed} completed, {report.n_excluded} excluded, "
        f"<b>{report.n_analysed} analysed</b></p>{reduction}{figures}{body}<h2>Notes</h2><ul>{notes}</ul>"
        "</body></html>"
    )


def write_report(report: StudyReport, out_dir: str | Path) -> list[Path]:
    """Write ``report.md``, ``report.html`` (+ ``plotly.min.js``, so it opens offline) and
    ``report.json`` (the statistics as numbers) into ``out_dir``; returns the paths."""
    from plotly.offline import get_plotlyjs

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.md", out / "report.html", out / "plotly.min.js", out / "report.json"]
    paths[0].write_text(report_markdown(report), encoding="utf-8")
    paths[1].write_text(report_html(report), encoding="utf-8")
    paths[2].write_text(get_plotlyjs(), encoding="utf-8")
    numbers = {
        "study": report.name,
        "sha256": report.sha256,
        "trial_type": report.trial_type,
        "reduction": report.reduction,
        "participants": report.n_participants,
        "analysed": report.n_analysed,
        "excluded": report.n_excluded,
        "statistics": [
            {
                "name": s.name,
                "estimate": s.estimate,
                "ci_low": s.low,
                "ci_high": s.high,
                "basis": s.basis,
                "note": s.note,
            }
            for s in report.statistics
        ],
        "bradley_terry": report.bradley_terry,
        "mean_ranks": report.mean_ranks,
        "notes": report.notes,
    }
    paths[3].write_text(json.dumps(numbers, indent=1, ensure_ascii=False), encoding="utf-8")
    return paths


# ----------------------------------------------------------------------------------------------
# raw data export: CSV + Parquet + codebook
# ----------------------------------------------------------------------------------------------

# column -> (type, meaning, allowed values)
CODEBOOK: dict[str, tuple[str, str, str]] = {
    "study_sha256": ("string", "SHA-256 of the study's frozen canonical config", "64 hex digits"),
    "participant": (
        "string",
        "pseudonymous participant id: HMAC-SHA256(server secret, PROLIFIC_PID, "
        "STUDY_ID); the raw Prolific id is never stored",
        "64 hex digits",
    ),
    "participant_index": (
        "int64",
        "order in which participants started (0-based); fixes their trials",
        ">= 0",
    ),
    "trial_id": ("int64", "database id of the trial (unique in the study)", ">= 1"),
    "position": ("int64", "place of the trial in the participant's sequence (0-based)", ">= 0"),
    "kind": (
        "string",
        "what the trial is",
        "item (counts toward the study), attention (attention check), control (prompt-mismatch control)",
    ),
    "item_id": (
        "string",
        "item: prompt id (rank) or '<prompt id>:<model a>~<model b>' (2afc5/pairwise); "
        "attention: 'check:<i>'; control: 'control:<model>:<prompt id>'",
        "text",
    ),
    "prompt": ("string", "the text shown to the participant", "text"),
    "question": ("string", "the question shown on the trial screen", "text"),
    "clip_models": (
        "string (JSON list)",
        "model of each clip, left to right (hidden from participants)",
        "JSON list of model names",
    ),
    "clip_prompts": (
        "string (JSON list)",
        "text each clip was generated from, left to right (differs from "
        "'prompt' for contradiction decoys and mismatch controls)",
        "JSON list of texts",
    ),
    "answer": (
        "string (JSON)",
        "the stored answer exactly as validated",
        '{"ranking": [...]} or {"choice": ...}',
    ),
    "choice": (
        "string or empty",
        "2afc5/pairwise answer; a/left = first clip",
        "2afc5: strong_a, weak_a, equal, weak_b, strong_b; pairwise: a, b, tie, both_bad; empty for rank",
    ),
    "ranking": (
        "string (JSON list) or empty",
        "rank trials: rank given to each clip, left to right (1 = best)",
        "permutation of 1..K; empty otherwise",
    ),
    "preferred_model": (
        "string or empty",
        "two-clip trials: model of the preferred clip",
        "a model name; empty for equal/tie/both_bad and rank trials",
    ),
    "strength": (
        "int64 or empty",
        "two-clip trials: strength of the preference",
        "2afc5: 2 strong, 1 weak, 0 equal; pairwise: 1 preference, 0 none; empty for rank",
    ),
    "ranks": ("string (JSON object) or empty", "rank trials: model -> rank", "JSON object; empty otherwise"),
    "attention_passed": (
        "bool or empty",
        "attention checks: whether the answer passed",
        "true/false; empty for other trials",
    ),
    "dwell_ms": (
        "int64 or empty",
        "milliseconds from the trial's first recorded event to the stored answer (server clock)",
        ">= 0",
    ),
    "answered_at": ("string (ISO 8601, UTC)", "when the answer was committed", "timestamp"),
}

PARTICIPANT_CODEBOOK: dict[str, tuple[str, str, str]] = {
    "participant": CODEBOOK["participant"],
    "participant_index": CODEBOOK["participant_index"],
    "total": ("int64", "trials assigned to the participant", ">= 1"),
    "answered": ("int64", "trials answered", "0..total"),
    "completed": ("bool", "every trial answered (the completion code was shown)", "true/false"),
    "checks_answered": ("int64", "attention checks answered", ">= 0"),
    "checks_failed": ("int64", "attention checks failed", ">= 0"),
    "median_dwell_s": ("float64 or empty", "median seconds per answered trial", ">= 0"),
    "rejections": (
        "int64",
        "submissions from this participant the server refused (replays, forged, ...)",
        ">= 0",
    ),
    "excluded": ("bool", "excluded by the study's pre-registered rules", "true/false"),
    "exclusion_reasons": ("string", "why, '; '-separated (empty when kept)", "text"),
}

_ARROW_TYPES = {"string": "string", "int64": "int64", "bool": "bool_", "float64": "float64"}


def _arrow_schema(codebook: Mapping[str, tuple[str, str, str]]):
    import pyarrow as pa

    fields = []
    for column, (kind, _, _) in codebook.items():
        base = kind.split(" ")[0]
        fields.append(pa.field(column, getattr(pa, _ARROW_TYPES.get(base, "string"))(), nullable=True))
    return pa.schema(fields)


def _participant_rows(participants: Sequence[ParticipantSummary]) -> list[dict[str, Any]]:
    return [
        {
            "participant": p.participant,
            "participant_index": p.participant_index,
            "total": p.total,
            "answered": p.answered,
            "completed": p.completed,
            "checks_answered": p.checks_answered,
            "checks_failed": p.checks_failed,
            "median_dwell_s": p.median_dwell_s,
            "rejections": p.rejections,
            "excluded": bool(p.exclusion_reasons),
            "exclusion_reasons": "; ".join(p.exclusion_reasons) or None,
        }
        for p in participants
    ]


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def codebook_markdown() -> str:
    """The codebook of both exported tables as Markdown."""
    parts = [
        "# Codebook",
        "Empty CSV cells (Parquet nulls) mean 'does not apply'. CSV is UTF-8 with a header "
        "row; booleans are `true`/`false`.",
        "## answers.csv / answers.parquet (one row per stored answer)",
    ]
    for title, book in (
        ("", CODEBOOK),
        ("## participants.csv / participants.parquet (one row per participant)", PARTICIPANT_CODEBOOK),
    ):
        if title:
            parts.append(title)
        rows = [{"column": c, "type": t, "meaning": m, "allowed values": v} for c, (t, m, v) in book.items()]
        parts.append(_table(rows))
    return "\n\n".join(parts) + "\n"


def export_answers(store: StudyStore, study: StudyRecord, out_dir: str | Path) -> list[Path]:
    """Write every stored answer and participant of ``study`` (excluded ones too, flagged) as
    CSV and Parquet, with ``codebook.md`` and ``codebook.json``; returns the paths."""
    return write_exports(store.export_answers(study), store.participant_summaries(study), out_dir)


def write_exports(
    rows: Sequence[Mapping[str, Any]], participants: Sequence[ParticipantSummary], out_dir: str | Path
) -> list[Path]:
    """The file edge of :func:`export_answers`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if list(CODEBOOK) != list(EXPORT_COLUMNS):  # storage and codebook must describe the same table
        raise RuntimeError("the codebook does not match storage.EXPORT_COLUMNS")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    tables = (
        ("answers", [dict(r) for r in rows], CODEBOOK),
        ("participants", _participant_rows(participants), PARTICIPANT_CODEBOOK),
    )
    for stem, table_rows, book in tables:
        columns = list(book)
        with (out / f"{stem}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, columns)
            writer.writeheader()
            writer.writerows({c: _csv_value(r[c]) for c in columns} for r in table_rows)
        schema = _arrow_schema(book)
        table = pa.Table.from_pylist([{c: r[c] for c in columns} for r in table_rows], schema=schema)
        pq.write_table(table, out / f"{stem}.parquet")
        paths += [out / f"{stem}.csv", out / f"{stem}.parquet"]
    (out / "codebook.md").write_text(codebook_markdown(), encoding="utf-8")
    book_json = {
        name: {c: {"type": t, "meaning": m, "allowed": v} for c, (t, m, v) in book.items()}
        for name, book in (("answers", CODEBOOK), ("participants", PARTICIPANT_CODEBOOK))
    }
    (out / "codebook.json").write_text(json.dumps(book_json, indent=1, ensure_ascii=False), encoding="utf-8")
    return [*paths, out / "codebook.md", out / "codebook.json"]


def read_csv_export(path: str | Path, codebook: Mapping[str, tuple[str, str, str]] = CODEBOOK) -> list[dict]:
    """Read an exported CSV back with the codebook's types (empty cells -> None)."""

    def convert(kind: str, text: str) -> Any:
        if text == "":
            return None
        base = kind.split(" ")[0]
        if base == "int64":
            return int(text)
        if base == "float64":
            return float(text)
        if base == "bool":
            return text == "true"
        return text

    with Path(path).open(newline="", encoding="utf-8") as handle:
        return [{c: convert(codebook[c][0], v) for c, v in row.items()} for row in csv.DictReader(handle)]
