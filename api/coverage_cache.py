"""Key-area coverage of every commune, computed off the request path and kept in memory.

A full recompute for a province takes about 1.5 s (docs/benchmarks.md), far too long for
a page, so the API computes it in a worker thread at start and every
``coverage_refresh`` seconds; requests read the last result. A commune's single
"coverage %" is the mean of its classes' fractions (hotspots, main roads, village
borders, areas — each class counts the same, whatever its unit).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from collector.coverage_db import load_commune, load_province
from collector.coverage_engine import CommuneCoverage

log = logging.getLogger(__name__)


def overall(cov: CommuneCoverage) -> float | None:
    """Mean of the class fractions that exist in the commune, or None."""
    parts = [c.fraction for c in cov.summary().values() if c.fraction is not None]
    return sum(parts) / len(parts) if parts else None


class CoverageCache:
    """The latest coverage fraction per commune; refreshed by a daemon thread."""

    def __init__(self, engine: Engine, refresh: float) -> None:
        """Nothing is computed until :meth:`start` (or :meth:`refresh_now`)."""
        self.engine, self.interval = engine, refresh
        self.fractions: dict[str, float] = {}
        self.computed_at: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh_now(self) -> None:
        """Recompute every commune (logs and keeps the old figures on failure)."""
        started = time.perf_counter()
        try:
            with self.engine.connect() as conn:
                communes = load_province(conn)
        except Exception:
            log.exception("coverage recompute failed; keeping the previous figures")
            return
        fractions = {code: f for code, cov in communes.items() if (f := overall(cov)) is not None}
        self.fractions, self.computed_at = fractions, datetime.now(UTC)
        log.info("coverage of %d communes in %.2f s", len(fractions), time.perf_counter() - started)

    def start(self) -> None:
        """Compute now and then every ``interval`` seconds in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="coverage", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread (it ends after the current recompute)."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh_now()
            self._stop.wait(self.interval)


def commune_geojson(engine: Engine, commune: str, sectors: bool = True) -> dict[str, Any]:
    """Gaps (and view sectors) of one commune now, as GeoJSON (computed on request)."""
    with engine.connect() as conn:
        cov = load_commune(conn, commune)
    data = cov.to_geojson(sectors=sectors)
    data["summary"] = {
        kind: {"total": c.total, "covered": c.covered, "fraction": c.fraction}
        for kind, c in cov.summary().items()
    }
    return data
