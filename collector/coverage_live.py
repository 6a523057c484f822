"""Coverage kept up to date inside the collector, one camera state change at a time.

At start (and every ``reload`` seconds, to pick up new cameras and key areas) the whole
province is computed (``load_province``: about 1.5 s for 15,000 cameras); after each
stored batch only the communes whose cameras changed are updated (``set_working``: about
a millisecond each), and their ``camnet_commune_coverage`` gauges set. The collector loads
it once before it consumes, and applies the changes stored during a reload after it
(``Collector.load_coverage``), so a reload never misses one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy.engine import Engine

from collector.coverage import CommuneCoverage, load_province
from collector.ratio import WORKING
from collector.state import Change

log = logging.getLogger(__name__)


class LiveCoverage:
    """The province's coverage, updated incrementally from confirmed state changes."""

    def __init__(self, engine: Engine, working: tuple[str, ...] = WORKING) -> None:
        self.engine = engine
        self.working = working
        self.communes: dict[str, CommuneCoverage] = {}
        self._commune_of: dict[str, str] = {}

    def load(self) -> None:
        """Full recompute from the database, used at once (blocking: run it in a thread)."""
        self.install(self.compute())

    def compute(self) -> dict[str, CommuneCoverage]:
        """Full recompute from the database, not used yet (blocking: run it in a thread)."""
        with self.engine.connect() as conn:
            return load_province(conn, working=self.working)

    def install(self, communes: dict[str, CommuneCoverage]) -> None:
        """Use ``communes`` from :meth:`compute` from now on."""
        self.communes = communes
        self._commune_of = {c.id: code for code, cov in communes.items() for c in cov.cameras}
        log.info("coverage: %d communes, %d cameras", len(communes), len(self._commune_of))

    def apply(self, changes: Iterable[tuple[str, Change]]) -> set[str]:
        """Apply confirmed changes; return the communes whose coverage moved."""
        touched: set[str] = set()
        for camera, change in changes:
            code = self._commune_of.get(camera)
            if code is None:  # no location, not installed, or registered after the load
                continue
            self.communes[code].set_working(camera, change.status in self.working)
            touched.add(code)
        return touched

    def fractions(self, commune: str) -> dict[str, float]:
        """Covered fraction per class of ``commune`` (classes it has only)."""
        out: dict[str, float] = {}
        for kind, figures in self.communes[commune].summary().items():
            if figures.fraction is not None:
                out[kind] = figures.fraction
        return out
