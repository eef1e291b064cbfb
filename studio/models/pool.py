"""Models loaded once per process, on first use, shared by every request of the app, and the
answers they gave, kept so an identical request is served without running a model again."""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

from studio.models import ExpressionModel, Generation, LoadReport, ModelSpec, load_models, run_model
from studio.models.prompts import PromptError, clean_prompt

GENERATION_CACHE_SIZE = 256  # answers kept; 4 s at 30 fps of 61 float32 channels is 29 kB each


def model_identity(model: ExpressionModel) -> str:
    """What makes two loads of a model give the same answers: its name and checkpoint hash."""
    return f"{model.name}@{model.checkpoint_sha256 or type(model).__qualname__}"


class GenerationCache:
    """The last ``size`` generations, by (model identity, cleaned prompt, seed, duration).

    Models run one at a time, whatever the number of requests: the player's previews and the
    Compare tab's renders ask for the same clips at the same moment, and a burst of requests
    queues here instead of running every model at once on the CPUs. The second asker gets the
    first one's answer, latency included (the time the model took, not the lookup).
    """

    def __init__(self, size: int = GENERATION_CACHE_SIZE) -> None:
        self._items: OrderedDict[tuple, Generation] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()  # the table
        self._running = threading.Lock()  # the models

    @staticmethod
    def key(model: ExpressionModel, prompt: str, seed: int, duration_s: float) -> tuple:
        """The request's key: the prompt as a model reads it (so a stray space is the same request)."""
        with contextlib.suppress(PromptError):  # run_model answers with this error; keyed as given
            prompt = clean_prompt(prompt).text
        return (model_identity(model), prompt, int(seed), float(duration_s))

    def cached(self, key: tuple) -> Generation | None:
        """The answer for ``key`` made in this process, or shipped with the studio's examples."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        from studio.examples import shipped_examples  # the examples import this package

        return shipped_examples().get(key)

    def run(self, model: ExpressionModel, prompt: str, *, seed: int, duration_s: float) -> Generation:
        """:func:`~studio.models.run_model`'s answer, from the cache when this request was made."""
        key = self.key(model, prompt, seed, duration_s)
        found = self.cached(key)
        if found is not None:
            return found
        with self._running:
            found = self.cached(key)  # another request may have made it meanwhile
            if found is not None:
                return found
            generation = run_model(model, prompt, seed=seed, duration_s=duration_s)
        with self._lock:
            self._items[key] = generation
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return generation


class ModelPool:
    """Lazily loads configured models; a model that fails to load stays failed with its reason.

    ``generations`` is the process's :class:`GenerationCache`, shared by every front end.
    """

    def __init__(self, specs: Sequence[ModelSpec]) -> None:
        self.specs = {spec.name: spec for spec in specs}
        self._reports: dict[str, LoadReport] = {}
        self._lock = threading.Lock()
        self.generations = GenerationCache()

    @property
    def names(self) -> list[str]:
        return list(self.specs)

    def loaded(self, name: str) -> LoadReport | None:
        """``name``'s load report if it was loaded already (loads nothing)."""
        return self._reports.get(name)

    def get(self, name: str) -> LoadReport:
        """The load report for ``name`` (loading it now if needed). Raises KeyError if unknown."""
        spec = self.specs[name]
        with self._lock:  # two first requests must not load the same weights twice
            if name not in self._reports:
                self._reports[name] = load_models([spec])[0]
            return self._reports[name]

    def generate(self, name: str, prompt: str, *, seed: int, duration_s: float) -> Generation:
        """``name``'s answer (cached); a model that did not load answers with that error."""
        report = self.get(name)
        if report.model is None:
            return Generation(name, None, 0.0, (), f"failed to load: {report.error}")
        return self.generations.run(report.model, prompt, seed=seed, duration_s=duration_s)

    def holds(self, name: str, prompt: str, *, seed: int, duration_s: float) -> bool:
        """Whether ``name``'s answer is cached (serving it runs no model; loads nothing)."""
        report = self.loaded(name)
        if report is None:
            return False
        if report.model is None:  # a load that failed stays failed: its answer is its error
            return True
        key = GenerationCache.key(report.model, prompt, seed, duration_s)
        return self.generations.cached(key) is not None
