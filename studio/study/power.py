"""Study power planner: how many participants separate every adjacent pair of models.

A study *separates* two models when the 95 % interval of their Bradley-Terry strength
difference excludes zero on the side the true order says. Its *power* at ``n`` participants
(each doing ``trials`` trials) is the share of simulated studies that separate every adjacent
pair (models sorted by strength) at once. :func:`plan` finds the smallest ``n`` with power at
least the target.

Simulated studies come from either

- **assumptions** (:class:`Assumptions`): Bradley-Terry log-strengths per model and ``spread``,
  the standard deviation of each participant's own deviation from them (how much people
  disagree; 0 = they differ only by chance). Each trial ranks all models (``rank``: a
  Plackett-Luce draw, K(K-1)/2 comparisons) or compares one pair (``pairwise``; pairs in turn,
  so every pair is asked equally often), decided by the participant's strengths plus Gumbel
  noise, which is the Bradley-Terry / Plackett-Luce model; or
- **a pilot** (:func:`pilot_simulator`): n participants drawn with replacement from the pilot's,
  and for each, ``trials`` of that participant's own trials (without replacement, or with it when
  more are asked for than the pilot had). The pilot's answers carry its real agreement, ties and
  order effects; the effect is the pilot's own estimate, so a small pilot plans noisily.

The interval is the Wald interval of the Bradley-Terry MLE (a prior of ``prior`` virtual tied
games per pair, as the study report fits) with a cluster-robust (sandwich) variance, clustering
comparisons by participant: one person's answers are not independent, and ignoring that makes
intervals too narrow when people disagree. Its coverage is checked by simulation in the tests.
The study report's own intervals are a bootstrap over items; the planner's clustering by
participant is the more cautious of the two when people disagree.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from studio.study.agreement import Z95

PLANNABLE_TRIALS = ("rank", "pairwise")
DEFAULT_SIMULATIONS = 1000
MAX_PARTICIPANTS = 5000


class PlanError(ValueError):
    """Assumptions the planner cannot simulate, or a target it cannot reach."""


# one simulated study: rows (a, b, score of a) as int/float columns and each row's participant
Study = tuple[np.ndarray, np.ndarray]
Simulator = Callable[[int, int, np.random.Generator], Study]


@dataclass(frozen=True)
class Assumptions:
    """What a study is expected to find: ``strengths`` (log scale, one per model, any offset)
    and ``spread`` (sd of a participant's deviation from them, log scale)."""

    models: tuple[str, ...]
    strengths: tuple[float, ...]
    spread: float = 0.0
    trial_type: str = "rank"

    def __post_init__(self) -> None:
        if len(self.models) < 2 or len(self.models) != len(self.strengths):
            raise PlanError("give at least two models, each with a strength")
        if len(set(self.models)) != len(self.models):
            raise PlanError("a model is named twice")
        if not all(math.isfinite(s) for s in self.strengths):
            raise PlanError("strengths must be finite numbers")
        if len(set(self.strengths)) != len(self.strengths):
            raise PlanError("two models have the same strength: no study can separate them")
        if not (math.isfinite(self.spread) and self.spread >= 0):
            raise PlanError(f"spread must be a number >= 0, got {self.spread}")
        if self.trial_type not in PLANNABLE_TRIALS:
            raise PlanError(f"trial type must be one of {', '.join(PLANNABLE_TRIALS)}")

    @property
    def order(self) -> tuple[int, ...]:
        """Model indices, strongest first."""
        return tuple(int(i) for i in np.argsort(self.strengths)[::-1])


def parse_strengths(text: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """``"a=0.6,b=0.3,c=0"`` -> names and strengths; one clear error for anything else."""
    names, values = [], []
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not name.strip() or not math.isfinite(number):
            raise PlanError(f"strengths are name=number pairs separated by commas, got {part.strip()!r}")
        names.append(name.strip())
        values.append(number)
    return tuple(names), tuple(values)


def assumed_simulator(assumptions: Assumptions) -> Simulator:
    """Studies drawn from :class:`Assumptions` (module docstring)."""
    strengths = np.asarray(assumptions.strengths, float)
    k = len(strengths)
    pairs = np.array([(i, j) for i in range(k) for j in range(i + 1, k)])

    def simulate(n: int, trials: int, rng: np.random.Generator) -> Study:
        own = strengths + assumptions.spread * rng.standard_normal((n, k))  # (n, k)
        who = np.repeat(np.arange(n), trials)  # (n * trials,)
        noisy = own[who] + rng.gumbel(size=(n * trials, k))
        if assumptions.trial_type == "rank":
            a, b = pairs[:, 0], pairs[:, 1]
            wins = noisy[:, a] > noisy[:, b]  # (trials, pairs): the ranking's comparisons
            rows = np.column_stack(
                [np.tile(a, len(noisy)), np.tile(b, len(noisy)), wins.ravel().astype(float)]
            )
            return rows, np.repeat(who, len(pairs))
        asked = pairs[(np.arange(trials)[None, :] + rng.integers(0, len(pairs), (n, 1))) % len(pairs)]
        a, b = asked.reshape(-1, 2).T
        wins = noisy[np.arange(len(a)), a] > noisy[np.arange(len(a)), b]
        return np.column_stack([a, b, wins.astype(float)]), who

    return simulate


def pilot_simulator(
    comparisons: Sequence[tuple[str, str, float]], participants: Sequence[str], trials: Sequence[str]
) -> tuple[tuple[str, ...], Simulator]:
    """Studies drawn from a pilot's answers: ``comparisons`` (a, b, score of a), each with the
    participant and the trial it came from. Returns the models (sorted) and the simulator."""
    if not (len(comparisons) == len(participants) == len(trials)) or not comparisons:
        raise PlanError("the pilot has no comparisons (or their participants and trials are missing)")
    models = tuple(sorted({c[0] for c in comparisons} | {c[1] for c in comparisons}))
    index = {m: i for i, m in enumerate(models)}
    rows = np.array([(index[a], index[b], float(s)) for a, b, s in comparisons])
    by_person: dict[str, dict[str, list[int]]] = {}
    for i, (person, trial) in enumerate(zip(participants, trials, strict=True)):
        by_person.setdefault(person, {}).setdefault(trial, []).append(i)
    people = [[np.array(rows_of) for rows_of in person.values()] for person in by_person.values()]
    if len(people) < 2:
        raise PlanError("a pilot needs at least two participants to resample")

    def simulate(n: int, n_trials: int, rng: np.random.Generator) -> Study:
        chosen, who = [], []
        for p, person in enumerate(rng.integers(0, len(people), n)):
            own = people[person]
            # a participant's own trials as they are, resampled only when more are asked for than
            # the pilot had: resampling at both levels would count the within-person noise twice
            picked = (
                rng.permutation(len(own))[:n_trials]
                if n_trials <= len(own)
                else rng.integers(0, len(own), n_trials)
            )
            for t in picked:
                chosen.append(own[t])
                who.append(np.full(len(own[t]), p))
        return rows[np.concatenate(chosen)], np.concatenate(who)

    return models, simulate


@dataclass(frozen=True)
class Fit:
    """Bradley-Terry log-strengths (mean 0) and their cluster-robust covariance ``(K, K)``."""

    strengths: np.ndarray
    covariance: np.ndarray

    def difference(self, i: int, j: int) -> tuple[float, float]:
        """``s_i - s_j`` and its standard error."""
        w = np.zeros(len(self.strengths))
        w[i], w[j] = 1.0, -1.0
        return float(self.strengths[i] - self.strengths[j]), float(math.sqrt(max(w @ self.covariance @ w, 0)))


def fit_clustered(rows: np.ndarray, clusters: np.ndarray, k: int, prior: float = 1.0) -> Fit:
    """Bradley-Terry MLE by Newton's method on ``rows (N, 3)`` = (a, b, score of a) with
    ``prior`` virtual tied games per pair, and its sandwich covariance clustered by ``clusters``
    (with the usual G/(G-1) small-sample factor). Model 0 is the reference while fitting; the
    result is re-centred to mean 0."""
    a, b, y = rows[:, 0].astype(int), rows[:, 1].astype(int), rows[:, 2]
    prior_a, prior_b = np.triu_indices(k, 1)
    pa = np.concatenate([a, prior_a])
    pb = np.concatenate([b, prior_b])
    weight = np.concatenate([np.ones(len(a)), np.full(len(prior_a), prior)])
    target = np.concatenate([y, np.full(len(prior_a), 0.5)])
    design = np.zeros((len(pa), k))
    design[np.arange(len(pa)), pa] += 1.0
    design[np.arange(len(pa)), pb] -= 1.0
    x = design[:, 1:]  # model 0 fixed at 0
    theta = np.zeros(k - 1)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(x @ theta)))
        gradient = x.T @ (weight * (target - p))
        hessian = (x * (weight * p * (1 - p))[:, None]).T @ x
        step = np.linalg.solve(hessian, gradient)
        theta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    p = 1.0 / (1.0 + np.exp(-(x @ theta)))
    hessian = (x * (weight * p * (1 - p))[:, None]).T @ x
    scores = x[: len(a)] * (y - p[: len(a)])[:, None]  # the data's score contributions
    groups, inverse = np.unique(clusters, return_inverse=True)
    by_group = np.zeros((len(groups), k - 1))
    np.add.at(by_group, inverse, scores)
    g = len(groups)
    meat = by_group.T @ by_group * (g / (g - 1) if g > 1 else 1.0)
    bread = np.linalg.inv(hessian)
    free = bread @ meat @ bread
    full = np.zeros((k, k))
    full[1:, 1:] = free
    centre = np.eye(k) - 1.0 / k  # re-centre to mean 0 (a linear map of the strengths)
    strengths = centre @ np.concatenate([[0.0], theta])
    return Fit(strengths, centre @ full @ centre.T)


def separates(fit: Fit, order: Sequence[int], z: float = Z95) -> bool:
    """Whether every adjacent pair of ``order`` (strongest first) is separated: the estimated
    difference has the right sign and its interval excludes zero."""
    for stronger, weaker in itertools.pairwise(order):
        difference, se = fit.difference(stronger, weaker)
        if not difference - z * se > 0:
            return False
    return True


def simulated_power(
    simulate: Simulator,
    order: Sequence[int],
    n: int,
    trials: int,
    *,
    simulations: int = DEFAULT_SIMULATIONS,
    seed: int = 0,
    z: float = Z95,
) -> float:
    """The share of ``simulations`` studies of ``n`` participants × ``trials`` trials that
    separate every adjacent pair of ``order``."""
    rng = np.random.default_rng(seed)
    k = len(order)
    hits = 0
    for _ in range(simulations):
        rows, who = simulate(n, trials, rng)
        hits += separates(fit_clustered(rows, who, k), order, z)
    return hits / simulations


@dataclass(frozen=True)
class Plan:
    """The smallest number of participants reaching ``target`` power, and the curve seen."""

    participants: int
    power: float
    target: float
    trials: int
    simulations: int
    models: tuple[str, ...]
    order: tuple[int, ...]
    curve: tuple[tuple[int, float], ...] = field(default_factory=tuple)  # (n, power) tried

    def summary(self) -> str:
        ranked = " > ".join(self.models[i] for i in self.order)
        return (
            f"{self.participants} participants × {self.trials} trials separate every adjacent pair of "
            f"{ranked} with power {self.power:.3f} (target {self.target:g}; {self.simulations} "
            "simulated studies per size; 95 % cluster-robust Bradley-Terry intervals)"
        )


def plan(
    simulate: Simulator,
    models: Sequence[str],
    order: Sequence[int],
    trials: int,
    *,
    target: float = 0.8,
    simulations: int = DEFAULT_SIMULATIONS,
    seed: int = 0,
    max_participants: int = MAX_PARTICIPANTS,
) -> Plan:
    """The smallest ``n`` whose simulated power is at least ``target``: doubling from 2 until
    it is reached, then bisection. Every size is simulated with the same seed (common random
    numbers), which keeps the curve from zig-zagging. Raises :class:`PlanError` when even
    ``max_participants`` fall short."""
    if not 0 < target < 1:
        raise PlanError(f"target power must be between 0 and 1, got {target}")
    if trials < 1:
        raise PlanError(f"trials per participant must be at least 1, got {trials}")
    curve: dict[int, float] = {}

    def power(n: int) -> float:
        if n not in curve:
            curve[n] = simulated_power(simulate, order, n, trials, simulations=simulations, seed=seed)
        return curve[n]

    high = 2
    while power(high) < target:
        if high >= max_participants:
            raise PlanError(
                f"{max_participants} participants reach power {curve[high]:.3f} only: the models are too "
                "close for this design (more trials per participant, or fewer models)"
            )
        high = min(2 * high, max_participants)
    low = high // 2 if high > 2 else 1
    while high - low > 1:
        middle = (low + high) // 2
        if power(middle) >= target:
            high = middle
        else:
            low = middle
    return Plan(
        high,
        curve[high],
        target,
        trials,
        simulations,
        tuple(models),
        tuple(order),
        tuple(sorted(curve.items())),
    )


def plan_from_assumptions(assumptions: Assumptions, trials: int, **options: float | int) -> Plan:
    """:func:`plan` for studies drawn from ``assumptions``."""
    return plan(assumed_simulator(assumptions), assumptions.models, assumptions.order, trials, **options)


def describe_curve(curve: Sequence[tuple[int, float]]) -> str:
    """``n: power`` pairs on one line."""
    return ", ".join(f"{n}: {p:.3f}" for n, p in curve)
