"""Seeded random streams that are the same on every platform, for study designs."""

from __future__ import annotations

import hashlib
import json


class SeedStream:
    """Uniform integers from SHA-256 in counter mode, keyed by (seed, labels): the same on every
    platform and Python version (``random.shuffle``'s algorithm is not guaranteed to be)."""

    def __init__(self, seed: int, *labels: object) -> None:
        self._key = hashlib.sha256(json.dumps([seed, *labels]).encode()).digest()
        self._counter = 0

    def below(self, n: int) -> int:
        """Uniform in [0, n); rejection sampling removes modulo bias."""
        limit = (2**64 // n) * n
        while True:
            block = hashlib.sha256(self._key + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
            value = int.from_bytes(block[:8], "big")
            if value < limit:
                return value % n

    def permutation(self, n: int) -> list[int]:
        """A uniform permutation of range(n) (Fisher-Yates)."""
        order = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.below(i + 1)
            order[i], order[j] = order[j], order[i]
        return order
