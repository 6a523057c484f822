"""Coverage of the key areas by working cameras: per commune and class, gaps, over time.

The library behind ``camnet coverage``, ``camnet placement`` and the API (issue 4):

* :mod:`collector.geometry`: UTM projection per commune, camera sectors.
* :class:`CommuneCoverage` (:mod:`collector.coverage_engine`): ``summary()`` per kind,
  ``gaps()`` tagged ``repairable`` / ``no_camera``, ``to_geojson()``, and
  ``set_working()`` recomputing only the areas one camera sees; the rules for what
  counts as seen and as a gap are in that module's docstring.
* :func:`load_commune`, :func:`load_province`, :func:`load_intervals`
  (:mod:`collector.coverage_db`): from the registry, states and key areas.
* :func:`time_weighted` (:mod:`collector.coverage_time`): over a window, from intervals.
* Placement of new cameras: :mod:`collector.placement`.
"""

from __future__ import annotations

from collector.coverage_db import load_commune, load_intervals, load_province
from collector.coverage_engine import CommuneCoverage
from collector.coverage_time import time_weighted
from collector.coverage_types import (
    HOTSPOT_SHARE,
    KINDS,
    LINE_KINDS,
    MIN_PIECE_M,
    Area,
    CameraView,
    ClassCoverage,
    Gap,
    resolve_view,
)

__all__ = [
    "HOTSPOT_SHARE",
    "KINDS",
    "LINE_KINDS",
    "MIN_PIECE_M",
    "Area",
    "CameraView",
    "ClassCoverage",
    "CommuneCoverage",
    "Gap",
    "load_commune",
    "load_intervals",
    "load_province",
    "resolve_view",
    "time_weighted",
]
