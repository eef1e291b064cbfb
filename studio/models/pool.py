"""Models loaded once per process, on first use, shared by every request of the app."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from studio.models import LoadReport, ModelSpec, load_models


class ModelPool:
    """Lazily loads configured models; a model that fails to load stays failed with its reason."""

    def __init__(self, specs: Sequence[ModelSpec]) -> None:
        self.specs = {spec.name: spec for spec in specs}
        self._reports: dict[str, LoadReport] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self.specs)

    def get(self, name: str) -> LoadReport:
        """The load report for ``name`` (loading it now if needed). Raises KeyError if unknown."""
        spec = self.specs[name]
        with self._lock:  # two first requests must not load the same weights twice
            if name not in self._reports:
                self._reports[name] = load_models([spec])[0]
            return self._reports[name]
