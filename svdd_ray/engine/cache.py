"""A reward cache keyed by (reward label, canonical object key), optionally persisted in SQLite.

The engine labels each component by its name and a digest of its target and options
(``RewardComponent.cache_label``), so changing an option never reuses the old scores.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

from svdd_ray.errors import ConfigError


class RewardCache:
    """Scores already computed in this run (and, with ``path``, in earlier runs)."""

    def __init__(self, path: str | Path | None = None, enabled: bool = True) -> None:
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        self._memory: dict[tuple[str, str], float] = {}
        self._pending: list[tuple[str, str, float]] = []
        self._db = None
        if path is not None and enabled:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = sqlite3.connect(str(path))
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS scores (reward TEXT, key TEXT, score REAL, PRIMARY KEY (reward, key))"
                )
                rows = self._db.execute("SELECT reward, key, score FROM scores").fetchall()
            except sqlite3.DatabaseError as err:
                raise ConfigError(f"reward.cache_file: {path} is not a usable reward cache ({err})") from None
            self._memory.update({(r, k): (math.nan if s is None else s) for r, k, s in rows})

    def lookup(self, reward: str, keys: list[str]) -> tuple[dict[str, float], list[str]]:
        """Split ``keys`` into cached scores and unique keys still to score.

        Every candidate counts: a hit if its key is cached or repeats an earlier key of the
        same lookup (it is scored once), a miss otherwise.
        """
        found: dict[str, float] = {}
        missing: dict[str, None] = {}
        for key in keys:
            if key in found or key in missing:
                self.hits += 1
                continue
            score = self._memory.get((reward, key)) if self.enabled else None
            if score is None:
                missing[key] = None
                self.misses += 1
            else:
                found[key] = score
                self.hits += 1
        return found, list(missing)

    def put(self, reward: str, key: str, score: float) -> None:
        if self.enabled:
            self._memory[(reward, key)] = score
            self._pending.append((reward, key, None if math.isnan(score) else score))

    def flush(self) -> None:
        """Write new scores to the cache file, if any."""
        if self._db is not None and self._pending:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?)", self._pending)
        self._pending.clear()

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def close(self) -> None:
        self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None
