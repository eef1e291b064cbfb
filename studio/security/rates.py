"""Sliding-window rate hits kept in memory (the study database keeps the shared ones).

A *policy* looks at the hits of one scope (``count`` and ``age_s`` of the last ones, per client
or from everyone) and returns how many seconds the next attempt must wait (0: admitted). The same
policies run against :class:`~studio.study.storage.StudyStore`, whose hits every process shares.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any


class MemoryRateLog:
    """Rate hits in this process's memory, with the study store's ``rate_attempt`` interface: the
    admin login's fallback when the server has no study database (then there is only the one
    process to protect anyway), and the upload limit (an upload lands on one process's disk)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, list[tuple[float, str]]] = {}
        self._clock = clock

    class _Log:
        def __init__(self, hits: list[tuple[float, str]], client: str, now: float) -> None:
            self._hits, self._client, self._now = hits, client, now

        def _ages(self, window_s: float, per_client: bool) -> list[float]:
            return sorted(
                self._now - at
                for at, who in self._hits
                if self._now - at < window_s and (not per_client or who == self._client)
            )

        def count(self, window_s: float, *, per_client: bool = True) -> int:
            return len(self._ages(window_s, per_client))

        def age_s(self, n: int, window_s: float, *, per_client: bool = True) -> float | None:
            ages = self._ages(window_s, per_client)
            return ages[n - 1] if len(ages) >= n else None

    def rate_attempt(self, scope: str, client: str, policy: Any, retention_s: float) -> float:
        with self._lock:
            now = self._clock()
            hits = [h for h in self._hits.get(scope, []) if now - h[0] < retention_s]
            self._hits[scope] = hits
            wait = float(policy(self._Log(hits, client, now)))
            if wait > 0:
                return wait
            hits.append((now, client))
            return 0.0

    def rate_clear(self, scope: str, client: str) -> int:
        with self._lock:
            hits = self._hits.get(scope, [])
            kept = [h for h in hits if h[1] != client]
            self._hits[scope] = kept
            return len(hits) - len(kept)


class ClientLimit:
    """At most ``per_client`` admitted actions per client address in a sliding ``window_s``, kept
    in this process's memory (uploads, which land on this process's disk; model runs, which use
    this process's CPU)."""

    def __init__(self, scope: str, per_client: int, window_s: float) -> None:
        self.scope, self.per_client, self.window_s = scope, per_client, window_s
        self._hits = MemoryRateLog()

    def _wait_s(self, log: Any) -> float:
        """The policy: the oldest action in the window must leave it before the next one."""
        oldest = log.age_s(self.per_client, self.window_s)
        return 0.0 if oldest is None else self.window_s - oldest

    def admit(self, client: str) -> int | None:
        """``None`` when ``client`` may act now (and the action is counted), else the seconds to
        wait (for a ``Retry-After`` header)."""
        wait = self._hits.rate_attempt(self.scope, client, self._wait_s, self.window_s)
        return max(1, math.ceil(wait)) if wait > 0 else None
