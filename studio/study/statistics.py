"""Study analysis: who is analysed, agreement and preference statistics -> a :class:`StudyReport`.

:func:`analyse` is pure: the definition, the stored answers (rows of
:meth:`StudyStore.export_answers`) and the participant summaries in, a :class:`StudyReport` out.
:func:`build_report` reads those from a store first. The progress tables are
:mod:`studio.study.progress`; the text of a report :mod:`studio.study.report`, its charts
:mod:`studio.study.charts`, the raw-data files :mod:`studio.study.exports`.

Who is analysed, decided before anyone looks at results:

- a participant is **excluded** when the study's pre-registered rules say so
  (:meth:`~studio.study.definition.ExclusionRules.reasons`: failed attention checks, median dwell);
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

import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.study.agreement import (
    DEFAULT_REDUCTION,
    REDUCTIONS,
    bootstrap_items,
    bradley_terry,
    fleiss_kappa,
    kendall_w,
    krippendorff_alpha,
    pooled_w,
    rankings_to_fleiss_table,
    wilson_interval,
    win_rate_matrix,
)
from studio.study.definition import CHOICES_2AFC5, CHOICES_PAIRWISE, StudyDefinition
from studio.study.progress import attention_table, control_table, item_table, participant_table
from studio.study.records import ParticipantSummary, StudyRecord
from studio.study.storage import StudyStore

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
    reduction: str = DEFAULT_REDUCTION,
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
        "participants": participant_table(participants, analysed, include_incomplete),
        "items": item_table(definition, rows, analysed),
        "attention": attention_table(rows),
        "controls": control_table(definition, rows, analysed),
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
                    level_labels("rank", models[i], models[j]),
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
                    a, b, levels, level_labels(trial_type, a, b), tuple(tally[c] for c in range(len(levels)))
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
        f"({len(set(groups))}; all comparisons from one item move together, since they are not independent); "
        f"fitted in {fit.iterations} Newton steps to a tolerance of {fit.tolerance:g}."
    )
    notes.extend(f"Warning: {w}." for w in fit.warnings)
    names, rates = win_rate_matrix(comparisons)
    index = [names.index(m) if m in names else None for m in models]
    matrix = np.full((len(models), len(models)), np.nan)
    for i, a in enumerate(index):
        for j, b in enumerate(index):
            if a is not None and b is not None:
                matrix[i, j] = rates[a, b]
    return rows, matrix


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


def level_labels(trial_type: str, a: str, b: str) -> tuple[str, ...]:
    """What each preference level of a pair ``a`` vs ``b`` means, in level order (the levels of
    :data:`CHOICES_2AFC5`, :data:`CHOICES_PAIRWISE`, or ``a``/``b`` for pairs read off rankings)."""
    if trial_type == "2afc5":
        return (
            f"{a} much better",
            f"{a} slightly better",
            "about the same",
            f"{b} slightly better",
            f"{b} much better",
        )
    if trial_type == "rank":
        return (f"{a} ranked higher", f"{b} ranked higher")
    return (f"{a}", f"{b}", "tie (both good)", "both bad")


def _p(value: float) -> str:
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"
