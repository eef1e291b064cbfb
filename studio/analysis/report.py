"""Analyse a dataset folder (and optionally models) into one typed result, and build its charts.

``analyse_dataset(root)`` reads the folder through :mod:`studio.formats`, categorises every
prompt (:mod:`studio.analysis.categorise`), maps the prompts with t-SNE
(:mod:`studio.analysis.projection`), scores each clip's motion with the EMFACS categoriser,
reads keyframe annotations and durations, and — when the folder carries labels — fits the
categoriser's temperature on the train split and reports its accuracy on the test split.
``analyse_models(analysis, models)`` runs models on a selection of the prompts and measures
their emotion consistency. ``build_figures`` turns either into plotly figures. Files are
written elsewhere (:mod:`studio.analysis.export`).

Labels the analysis understands, all optional columns of ``prompts.csv``:

* ``emotion`` — the category the text intends (one of the six, or ``neutral``/blank);
* ``happiness`` .. ``disgust`` — a six-score vector per item;
* ``keyframes`` — JSON, a list of keyframes or ``{"keyframes": [...]}``, each with a ``text``;
* ``composition`` — ``single``/``repeat`` or a compositional kind (``seq``, ``while``, ...);
* ``duration_s`` — used when clips are not read.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.analysis.categorise import (
    EMOTIONS,
    N_EMOTIONS,
    Categorised,
    Consistency,
    ZeroShotCategoriser,
    bootstrap_ci,
    consistency,
    fit_temperature,
    label_indices,
    motion_scores,
)
from studio.analysis.embeddings import EmbeddingCache, default_cache_dir
from studio.analysis.projection import project_2d
from studio.formats import FormatError, read_clip, read_dataset

NOT_COMPOSITIONAL = frozenset({"single", "repeat"})
MIN_FIT_PROMPTS = 30  # fewer labelled prompts than this: keep the default temperature
DEFAULT_DURATION_S = 4.0
Progress = Callable[[str], None]


@dataclass(frozen=True)
class LabelAccuracy:
    """How the prompt categoriser's top category matches a label column on ``n`` prompts."""

    against: str  # "emotion" (intended, text) or "score columns" (argmax of the six)
    split: str  # the split evaluated ("test", or "all" when the folder has no test split)
    n: int
    accuracy: float
    per_category: Mapping[str, float]
    confusion: np.ndarray  # (6, 6) rows = label, columns = prediction

    def as_dict(self) -> dict[str, object]:
        return {
            "against": self.against,
            "split": self.split,
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "per_category": {k: round(v, 4) for k, v in self.per_category.items()},
            "confusion": self.confusion.tolist(),
        }


@dataclass(frozen=True)
class ModelAnalysis:
    """One model run on ``rows`` (indices into the dataset's items).

    ``shown (M, 6)`` motion categories of what it produced (NaN rows where it failed);
    ``vs_prompt`` consistency with the prompt categoriser; ``vs_intended`` with the ``emotion``
    column where the dataset has one (non-neutral rows only), else None.
    """

    name: str
    rows: np.ndarray
    shown: np.ndarray
    vs_prompt: Consistency
    vs_intended: Consistency | None
    failures: int = 0
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "n": len(self.rows),
            "failures": self.failures,
            "note": self.note,
            "vs_prompt": self.vs_prompt.as_dict(),
            "vs_intended": self.vs_intended.as_dict() if self.vs_intended else None,
        }


@dataclass(frozen=True)
class DatasetAnalysis:
    """Everything the charts need about one dataset folder; arrays have one row per item.

    ``prompt_scores (N, 6)`` from the categoriser; ``coords (N, 2)`` t-SNE map;
    ``clip_scores (N, 6)`` motion categories of the dataset's own clips (NaN rows when a clip is
    FLAME or unreadable; None when clips were not read); ``durations_s (N,)`` (NaN unknown);
    ``n_keyframes (N,) int`` (-1 unannotated); ``keyframe_counts (P, 6)`` dominant category of
    the p-th keyframes' texts.
    """

    name: str
    root: str
    ids: tuple[str, ...]
    prompts: tuple[str, ...]
    splits: tuple[str | None, ...]
    compositions: tuple[str, ...]
    intended: np.ndarray  # (N,) int category index from the 'emotion' column, -1 none
    prompt_scores: np.ndarray
    notes: tuple[str, ...]
    coords: np.ndarray
    projection: str
    clip_scores: np.ndarray | None
    durations_s: np.ndarray
    n_keyframes: np.ndarray
    keyframe_counts: np.ndarray
    categoriser: Mapping[str, object]
    accuracy: tuple[LabelAccuracy, ...] = ()
    warnings: tuple[str, ...] = ()
    models: tuple[ModelAnalysis, ...] = field(default_factory=tuple)

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def dominant(self) -> np.ndarray:
        return self.prompt_scores.argmax(axis=1) if self.n else np.zeros(0, int)

    def gt_consistency(self, rows: np.ndarray | None = None) -> Consistency | None:
        """Consistency of the dataset's own clips with their prompts (on ``rows``, default all)."""
        if self.clip_scores is None:
            return None
        rows = np.arange(self.n) if rows is None else np.asarray(rows, int)
        ok = rows[np.isfinite(self.clip_scores[rows]).all(axis=1)]
        return consistency(self.prompt_scores[ok], self.clip_scores[ok])

    def summary(self) -> dict[str, object]:
        """A JSON-ready summary (what ``summary.json`` holds)."""
        counts = np.bincount(self.dominant, minlength=N_EMOTIONS) if self.n else np.zeros(N_EMOTIONS, int)
        durations = self.durations_s[np.isfinite(self.durations_s)]
        annotated = self.n_keyframes[self.n_keyframes >= 0]
        gt = self.gt_consistency()
        return {
            "dataset": self.name,
            "root": self.root,
            "items": self.n,
            "distinct_prompts": len(set(self.prompts)),
            "splits": {
                s: int(sum(1 for x in self.splits if x == s)) for s in sorted({str(x) for x in self.splits})
            },
            "categoriser": dict(self.categoriser),
            "projection": self.projection,
            "dominant_category_counts": dict(zip(EMOTIONS, counts.tolist(), strict=True)),
            "prompts_with_notes": int(sum(1 for x in self.notes if x)),
            "label_accuracy": [a.as_dict() for a in self.accuracy],
            "clips_scored": None
            if self.clip_scores is None
            else int(np.isfinite(self.clip_scores).all(axis=1).sum()),
            "dataset_consistency": gt.as_dict() if gt else None,
            "durations_s": _describe(durations),
            "keyframes_per_clip": _describe(annotated.astype(float))
            | (
                {"histogram": {int(k): int((annotated == k).sum()) for k in np.unique(annotated)}}
                if len(annotated)
                else {}
            ),
            "models": [m.as_dict() for m in self.models],
            "warnings": list(self.warnings),
        }


def _describe(x: np.ndarray) -> dict[str, object]:
    if len(x) == 0:
        return {"n": 0}
    return {
        "n": len(x),
        "mean": round(float(x.mean()), 3),
        "median": round(float(np.median(x)), 3),
        "min": round(float(x.min()), 3),
        "max": round(float(x.max()), 3),
    }


# --------------------------------------------------------------------------------------------
# Labels and annotations
# --------------------------------------------------------------------------------------------


def _score_columns(labels: Sequence[Mapping[str, str]]) -> np.ndarray | None:
    """The six score columns as ``(N, 6)``, or None when any row lacks them or they are not numbers."""
    if not labels or any(e not in labels[0] for e in EMOTIONS):
        return None
    try:
        scores = np.array([[float(row[e]) for e in EMOTIONS] for row in labels], np.float64)
    except (KeyError, ValueError):
        return None
    if not np.isfinite(scores).all() or (scores < 0).any() or (scores.sum(axis=1) <= 0).any():
        return None
    return scores / scores.sum(axis=1, keepdims=True)


def keyframe_texts(raw: str | None) -> list[str] | None:
    """A ``keyframes`` cell -> its keyframe texts in order; None when absent or not keyframe JSON."""
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        return None
    frames = data.get("keyframes") if isinstance(data, dict) else data
    if not isinstance(frames, list):
        return None
    texts = []
    for frame in frames:
        text = frame.get("text") or frame.get("description") if isinstance(frame, dict) else frame
        texts.append(str(text).strip() if text else "")
    return texts


def _accuracy(
    predicted: np.ndarray, truth: np.ndarray, rows: np.ndarray, against: str, split: str
) -> LabelAccuracy:
    p, t = predicted[rows], truth[rows]
    confusion = np.zeros((N_EMOTIONS, N_EMOTIONS), int)
    np.add.at(confusion, (t, p), 1)
    per = {
        e: float(confusion[k, k] / confusion[k].sum()) for k, e in enumerate(EMOTIONS) if confusion[k].sum()
    }
    return LabelAccuracy(
        against, split, len(rows), float(np.mean(p == t)) if len(rows) else math.nan, per, confusion
    )


# --------------------------------------------------------------------------------------------
# The dataset analysis
# --------------------------------------------------------------------------------------------


def analyse_dataset(
    root: str | Path,
    *,
    cache_dir: str | Path | None = None,
    categoriser: object | None = None,
    seed: int = 0,
    read_clips: bool = True,
    fit_labels: bool = True,
    tsne_max_iter: int = 500,
    progress: Progress | None = None,
    embed: Callable[[Sequence[str]], np.ndarray] | None = None,
    max_items: int | None = None,
) -> DatasetAnalysis:
    """Analyse the dataset folder at ``root`` (see the module docstring). Raises FormatError.

    ``cache_dir``: where embeddings are cached (default :func:`default_cache_dir`);
    ``categoriser``: an object with ``categorise(texts, embeddings) -> Categorised`` (default:
    the zero-shot MiniLM categoriser; its temperature is refitted here when labels exist and
    ``fit_labels``); ``embed``: texts -> unit vectors, overriding the cache (tests);
    ``read_clips=False`` skips the clips (no motion categories; durations from ``duration_s``);
    ``max_items``: analyse a random sample of at most this many items (drawn with ``seed``, kept
    in folder order) so an interactive look at a large dataset stays quick; a warning says so.
    """
    say = progress or (lambda _message: None)
    dataset = read_dataset(root)
    items = dataset.items
    warnings: list[str] = []
    if max_items is not None and len(items) > max_items:
        keep = np.sort(np.random.default_rng(seed).choice(len(items), size=max_items, replace=False))
        warnings.append(f"analysed a random sample of {max_items} of {len(items)} items (seed {seed})")
        items = tuple(items[i] for i in keep)
    n = len(items)
    prompts = tuple(it.prompt for it in items)
    labels = [dict(it.labels) for it in items]
    embed = embed or EmbeddingCache(cache_dir if cache_dir is not None else default_cache_dir()).embed

    say(f"embedding {n} prompts ({len(set(prompts))} distinct)")
    embeddings = np.asarray(embed(list(prompts)), np.float32)
    intended = label_indices([row.get("emotion", "") for row in labels])
    has_intended = "emotion" in labels[0] and (intended >= 0).any()
    score_cols = _score_columns(labels)
    splits = np.array([it.split or "" for it in items])

    zero_shot = categoriser is None or isinstance(categoriser, ZeroShotCategoriser)
    if categoriser is None:
        cat = ZeroShotCategoriser(embed)
    elif isinstance(categoriser, ZeroShotCategoriser):  # a copy: refitting must not change the caller's
        cat = ZeroShotCategoriser(categoriser.embed, categoriser.temperature, categoriser.descriptions)
    else:
        cat = categoriser
    info: dict[str, object] = {"name": getattr(cat, "name", type(cat).__name__)}
    accuracy: list[LabelAccuracy] = []
    if zero_shot:
        similarities = cat.similarities(embeddings)
        fit_rows = np.flatnonzero(splits == "train") if (splits == "train").any() else np.arange(n)
        info.update(temperature=cat.temperature, temperature_fitted_on=None)
        if fit_labels and (has_intended or score_cols is not None) and len(fit_rows) >= MIN_FIT_PROMPTS:
            if has_intended:  # the text's own label; a neutral prompt should score flat
                target = np.where(
                    intended[:, None] >= 0, np.eye(N_EMOTIONS)[np.maximum(intended, 0)], 1 / N_EMOTIONS
                )
                source = "emotion column (neutral = uniform)"
            else:
                target, source = score_cols, "score columns"
            cat.temperature = fit_temperature(similarities[fit_rows], target[fit_rows], soft=True)
            info.update(
                temperature=round(cat.temperature, 5),
                temperature_fitted_on=f"{source}, {'train split' if len(fit_rows) < n else 'all items'}"
                f" ({len(fit_rows)} prompts)",
            )
        categorised = cat.categorise(prompts, embeddings)
    else:
        say(f"categorising {n} prompts with {info['name']}")
        categorised = cat.categorise(prompts, embeddings)
    if not isinstance(categorised, Categorised) or categorised.scores.shape != (n, N_EMOTIONS):
        raise ValueError("categoriser returned the wrong shape")
    predicted = categorised.scores.argmax(axis=1)

    eval_split = "test" if (splits == "test").any() else "all"
    eval_mask = splits == "test" if eval_split == "test" else np.ones(n, bool)
    if has_intended and (eval_mask & (intended >= 0)).any():
        rows = np.flatnonzero(eval_mask & (intended >= 0))
        accuracy.append(_accuracy(predicted, intended, rows, "emotion", eval_split))
    if score_cols is not None and eval_mask.any():
        accuracy.append(
            _accuracy(
                predicted, score_cols.argmax(axis=1), np.flatnonzero(eval_mask), "score columns", eval_split
            )
        )
    foreign = sum(1 for x in categorised.notes if x)
    if foreign:
        warnings.append(
            f"{foreign} prompt(s) look non-English; their categories are unreliable (see categories.csv)"
        )
    if len(set(prompts)) < n:
        warnings.append(f"{n - len(set(prompts))} duplicate prompt(s): they share one point on the map")

    say(f"t-SNE of {len(set(prompts))} distinct prompts")
    projection = project_2d(embeddings, seed=seed, max_iter=tsne_max_iter)
    if projection.method != "t-SNE":
        warnings.append(
            f"only {projection.n_distinct} distinct prompt(s): the map uses {projection.method}, not t-SNE"
        )

    durations = np.full(n, np.nan)
    clip_scores = None
    if read_clips:
        say(f"reading {n} clips")
        clip_scores = np.full((n, N_EMOTIONS), np.nan)
        unreadable, flame = 0, 0
        for i, item in enumerate(items):
            try:
                clip = read_clip(item.clip_path).clip
            except FormatError:
                unreadable += 1
                continue
            durations[i] = clip.duration_s
            if clip.space == "arkit":
                clip_scores[i] = motion_scores(clip)
            else:
                flame += 1
        if unreadable:
            warnings.append(f"{unreadable} clip(s) could not be read and were left out")
        if flame:
            warnings.append(f"{flame} FLAME clip(s): no ARKit action units, so no motion categories")
    missing = ~np.isfinite(durations)
    for i in np.flatnonzero(missing):
        with contextlib.suppress(ValueError):
            durations[i] = float(labels[i].get("duration_s", "nan"))

    n_keyframes = np.full(n, -1, int)
    per_item_texts: list[list[str] | None] = []
    for i, row in enumerate(labels):
        texts = keyframe_texts(row.get("keyframes"))
        per_item_texts.append(texts)
        if texts is not None:
            n_keyframes[i] = len(texts)
    keyframe_counts = np.zeros((0, N_EMOTIONS), int)
    flat = [(p, t) for texts in per_item_texts if texts for p, t in enumerate(texts) if t]
    if flat:
        say(f"categorising {len(flat)} keyframe descriptions")
        kf_texts = [t for _, t in flat]
        kf_scores = cat.categorise(
            kf_texts, np.asarray(embed(kf_texts), np.float32) if zero_shot else None
        ).scores
        positions = np.array([p for p, _ in flat])
        keyframe_counts = np.zeros((positions.max() + 1, N_EMOTIONS), int)
        np.add.at(keyframe_counts, (positions, kf_scores.argmax(axis=1)), 1)

    return DatasetAnalysis(
        name=dataset.name,
        root=str(dataset.root),
        ids=tuple(it.id for it in items),
        prompts=prompts,
        splits=tuple(it.split for it in items),
        compositions=tuple(row.get("composition", "") for row in labels),
        intended=intended if has_intended else np.full(n, -1, int),
        prompt_scores=categorised.scores,
        notes=categorised.notes,
        coords=projection.coords,
        projection=projection.method,
        clip_scores=clip_scores,
        durations_s=durations,
        n_keyframes=n_keyframes,
        keyframe_counts=keyframe_counts,
        categoriser=info,
        accuracy=tuple(accuracy),
        warnings=tuple(warnings),
    )


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


def select_rows(
    analysis: DatasetAnalysis,
    n: int,
    *,
    compositional: bool = True,
    split: str | None = "test",
    seed: int = 0,
) -> np.ndarray:
    """Up to ``n`` item indices for the model run, drawn with a fixed seed.

    ``compositional`` keeps items whose ``composition`` is set and not single/repeat (all items
    when the dataset has no composition column); ``split`` keeps that split when the folder
    has it. One item per distinct prompt.
    """
    rows = np.arange(analysis.n)
    comps = np.array(analysis.compositions)
    if compositional and any(analysis.compositions):
        rows = rows[(comps[rows] != "") & ~np.isin(comps[rows], list(NOT_COMPOSITIONAL))]
    if split and any(s == split for s in analysis.splits):
        rows = rows[np.array([analysis.splits[i] == split for i in rows], bool)]
    seen: dict[str, int] = {}
    for i in rows:
        seen.setdefault(analysis.prompts[i], int(i))
    rows = np.array(sorted(seen.values()), int)
    if len(rows) > n:
        rows = np.sort(np.random.default_rng(seed).choice(rows, n, replace=False))
    return rows


def analyse_models(
    analysis: DatasetAnalysis,
    models: Sequence[object],
    rows: np.ndarray,
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> DatasetAnalysis:
    """Run each model (``generate(prompt, seed=, duration_s=)``) on ``rows``; returns the analysis with
    ``models`` set.

    Each clip lasts as long as the dataset's clip for that prompt (:data:`DEFAULT_DURATION_S` when
    unknown), clamped to what one request may ask a model for (``MIN_DURATION_S``..``MAX_DURATION_S``
    of :mod:`studio.models.base`). A model that fails on a prompt leaves a NaN row and counts a
    failure; a FLAME model is reported and skipped (no ARKit action units).
    """
    from studio.models import run_model
    from studio.models.base import MAX_DURATION_S, MIN_DURATION_S

    say = progress or (lambda _message: None)
    rows = np.asarray(rows, int)
    results = []
    for model in models:
        name = str(getattr(model, "name", type(model).__name__))
        shown = np.full((len(rows), N_EMOTIONS), np.nan)
        if getattr(model, "space", "arkit") != "arkit":
            results.append(
                ModelAnalysis(
                    name,
                    rows,
                    shown,
                    consistency(np.zeros((0, 6)), np.zeros((0, 6))),
                    None,
                    len(rows),
                    "FLAME model: no ARKit action units to categorise",
                )
            )
            continue
        say(f"running {name} on {len(rows)} prompts")
        failures, first_error = 0, ""
        for j, i in enumerate(rows):
            duration = analysis.durations_s[i]
            duration = (
                float(np.clip(duration, MIN_DURATION_S, MAX_DURATION_S))
                if np.isfinite(duration)
                else DEFAULT_DURATION_S
            )
            generation = run_model(model, analysis.prompts[i], seed=seed, duration_s=duration)
            if generation.clip is None or generation.clip.space != "arkit":
                failures += 1
                first_error = first_error or (generation.error or "no clip")
                continue
            shown[j] = motion_scores(generation.clip)
        ok = np.isfinite(shown).all(axis=1)
        vs_prompt = consistency(analysis.prompt_scores[rows[ok]], shown[ok])
        vs_intended = None
        if (analysis.intended >= 0).any():
            keep = ok & (analysis.intended[rows] >= 0)
            vs_intended = consistency(np.eye(N_EMOTIONS)[analysis.intended[rows[keep]]], shown[keep])
        note = f"{failures} failed (first: {first_error})" if failures else ""
        results.append(ModelAnalysis(name, rows, shown, vs_prompt, vs_intended, failures, note))
    from dataclasses import replace

    return replace(analysis, models=tuple(results))


def consistency_table(analysis: DatasetAnalysis, baseline: str = "emotion-label") -> list[dict[str, object]]:
    """One row per source on the model rows: the dataset's own clips ("ground truth") then each model.

    When a model named ``baseline`` was run, every other row also carries
    ``top1_minus_baseline``: the paired difference in top-1 agreement with the prompt categoriser
    on the prompts both answered, with a 95% paired-bootstrap interval (``..._ci95``).
    """
    if not analysis.models:
        return []
    rows = analysis.models[0].rows
    table: list[dict[str, object]] = []
    gt = analysis.gt_consistency(rows)
    if gt is not None:
        intended = None
        if (analysis.intended >= 0).any() and analysis.clip_scores is not None:
            keep = rows[(analysis.intended[rows] >= 0) & np.isfinite(analysis.clip_scores[rows]).all(axis=1)]
            intended = consistency(np.eye(N_EMOTIONS)[analysis.intended[keep]], analysis.clip_scores[keep])
        table.append(_table_row("ground truth (dataset clips)", gt, intended, 0))
    for m in analysis.models:
        table.append(_table_row(m.name, m.vs_prompt, m.vs_intended, m.failures))
    base = next((m for m in analysis.models if m.name == baseline), None)
    if base is not None:
        sources = [analysis.clip_scores[rows] if analysis.clip_scores is not None else None]
        sources = ([sources[0]] if gt is not None else []) + [m.shown for m in analysis.models]
        asked = analysis.prompt_scores[rows].argmax(axis=1)
        for row, shown in zip(table, sources, strict=True):
            if row["name"] == baseline:
                continue
            both = np.isfinite(shown).all(axis=1) & np.isfinite(base.shown).all(axis=1)
            diff = (np.nan_to_num(shown).argmax(axis=1) == asked).astype(float) - (
                np.nan_to_num(base.shown).argmax(axis=1) == asked
            ).astype(float)
            low, high = bootstrap_ci(diff[both])
            row["top1_minus_baseline"] = round(float(diff[both].mean()), 4) if both.any() else None
            row["top1_minus_baseline_ci95"] = [round(low, 4), round(high, 4)] if both.any() else None
            row["baseline"] = baseline
    return table


def _table_row(
    name: str, vs_prompt: Consistency, vs_intended: Consistency | None, failures: int
) -> dict[str, object]:
    def num(x: float | None) -> float | None:
        return None if x is None or not np.isfinite(x) else round(float(x), 4)

    return {
        "name": name,
        "n": vs_prompt.n,
        "top1": num(vs_prompt.top1),
        "top1_ci95": [num(x) for x in vs_prompt.top1_ci],
        "mean_cosine": num(vs_prompt.mean_cosine),
        "top1_vs_intended": num(vs_intended.top1) if vs_intended else None,
        "top1_vs_intended_ci95": [num(x) for x in vs_intended.top1_ci] if vs_intended else None,
        "n_intended": vs_intended.n if vs_intended else 0,
        "failures": failures,
    }


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def build_figures(analysis: DatasetAnalysis) -> dict[str, object]:
    """Every chart of an analysis by file stem, ``{"prompt_tsne": go.Figure, ...}``, in reading order."""
    import studio.analysis.charts as charts

    a = analysis
    cat_name = str(a.categoriser.get("name", "categoriser"))
    figures: dict[str, object] = {
        "prompt_tsne": charts.chart_prompt_tsne(
            a.coords,
            a.prompt_scores,
            a.prompts,
            title=f"{a.name}: prompts ({a.projection} of MiniLM embeddings)",
            subtitle=f"colour = blend of six category scores from the {cat_name} prompt categoriser",
            notes=a.notes,
            axis_label=a.projection if a.projection != "none" else "map",
            ids=a.ids,
        ),
        "prompt_categories": charts.chart_category_proportions(
            {"prompts": charts.dominant_counts(a.prompt_scores)},
            title=f"{a.name}: dominant category of the prompts",
        ),
    }
    if a.clip_scores is not None:
        ok = np.isfinite(a.clip_scores).all(axis=1)
        figures["clip_tsne"] = charts.chart_prompt_tsne(
            a.coords[ok],
            a.clip_scores[ok],
            [a.prompts[i] for i in np.flatnonzero(ok)],
            title=f"{a.name}: what the clips show, on the prompt map",
            subtitle="colour = blend of six EMFACS category scores of each clip's motion (ARKit → AUs)",
            axis_label=a.projection if a.projection != "none" else "map",
            ids=[a.ids[i] for i in np.flatnonzero(ok)],
        )
        figures["category_comparison"] = charts.chart_category_proportions(
            {
                "prompts ask": charts.dominant_counts(a.prompt_scores),
                "clips show": charts.dominant_counts(a.clip_scores[ok]),
            },
            title=f"{a.name}: dominant category, prompts vs clips",
        )
        gt = a.gt_consistency()
        if gt is not None and gt.n:
            figures["dataset_consistency"] = charts.chart_consistency_matrix(
                gt.confusion,
                title=f"{a.name}: do the clips show what the prompts ask?",
                shown_label="shown by the dataset's clip",
            )
    figures["keyframe_emotions"] = charts.chart_keyframe_emotions(
        a.keyframe_counts, title=f"{a.name}: emotion of each keyframe description, by position"
    )
    figures["keyframes_per_clip"] = charts.chart_keyframes_per_clip(
        a.n_keyframes[a.n_keyframes >= 0], title=f"{a.name}: keyframes per clip"
    )
    figures["clip_durations"] = charts.chart_clip_durations(a.durations_s, title=f"{a.name}: clip durations")
    if a.models:
        rows = a.models[0].rows
        counts: dict[str, np.ndarray] = {"prompts ask": charts.dominant_counts(a.prompt_scores[rows])}
        if a.clip_scores is not None:
            gt_rows = rows[np.isfinite(a.clip_scores[rows]).all(axis=1)]
            counts["dataset clips"] = charts.dominant_counts(a.clip_scores[gt_rows])
        for m in a.models:
            ok = np.isfinite(m.shown).all(axis=1)
            counts[m.name] = charts.dominant_counts(m.shown[ok])
        figures["model_categories"] = charts.chart_category_proportions(
            counts, title=f"{a.name}: dominant category, asked vs produced ({len(rows)} prompts)"
        )
        figures["model_consistency"] = charts.chart_consistency_summary(
            consistency_table(a), title=f"Emotion consistency with the prompt ({len(rows)} prompts)"
        )
        for m in a.models:
            ok = np.isfinite(m.shown).all(axis=1)
            slug = _slug(m.name)
            figures[f"model_{slug}_tsne"] = charts.chart_prompt_tsne(
                a.coords[m.rows[ok]],
                m.shown[ok],
                [a.prompts[i] for i in m.rows[ok]],
                title=f"{m.name}: what the model produced, on the prompt map",
                subtitle="colour = blend of six EMFACS category scores of the generated motion",
                axis_label=a.projection if a.projection != "none" else "map",
                ids=[a.ids[i] for i in m.rows[ok]],
            )
            figures[f"model_{slug}_confusion"] = charts.chart_consistency_matrix(
                m.vs_prompt.confusion,
                title=f"{m.name}: emotion consistency",
                shown_label=f"shown by {m.name}",
            )
    return figures


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "model"
