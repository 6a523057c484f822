"""The values coverage works with: cameras, key areas, per-kind figures, gaps.

Kept apart from the engine (:mod:`collector.coverage_engine`) so the importer, the CLIs
and the API can build and read them without the numerics. Re-exported by
:mod:`collector.coverage`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from collector.geometry import DEFAULT_HEADING, DEFAULT_VIEW, Geoms

KINDS = ("hotspot", "main_road", "village_border", "area")
LINE_KINDS = ("main_road", "village_border")
HOTSPOT_SHARE = 0.5
MIN_PIECE_M = 1.0
Tag = Literal["repairable", "no_camera"]
Ints = npt.NDArray[np.intp]


@dataclass(slots=True)
class CameraView:
    """A registered camera as coverage sees it (``None``: unknown, defaults by type)."""

    id: str
    lon: float | None
    lat: float | None
    heading: float | None
    fov: float | None
    range_m: float | None
    camera_type: str = "bullet"
    working: bool = True


@dataclass(slots=True)
class Area:
    """A key area: ``geometry`` in WGS 84, ``kind`` one of :data:`KINDS`."""

    id: str
    kind: str
    geometry: BaseGeometry
    weight: float = 1.0
    name: str = ""


@dataclass(slots=True)
class ClassCoverage:
    """Total and covered measure of one kind: metres, m², or hotspot weight."""

    kind: str
    total: float
    covered: float

    @property
    def fraction(self) -> float | None:
        """Covered / total, or None when the commune has nothing of this kind."""
        return self.covered / self.total if self.total > 0 else None


@dataclass(slots=True)
class Gap:
    """An unseen piece of a key area (WGS 84), and the broken cameras that would see it."""

    area_id: str
    kind: str
    geometry: BaseGeometry
    size: float  # metres (lines), m² (areas), 1 (a hotspot)
    tag: Tag
    cameras: list[str]
    name: str = ""
    weight: float = 1.0

    def feature(self, commune: str = "") -> dict[str, Any]:
        """This gap as a GeoJSON Feature (``size_m`` for lines, ``size_m2`` for areas)."""
        props: dict[str, Any] = {
            "feature": "gap",
            "commune": commune,
            "area_id": self.area_id,
            "name": self.name,
            "kind": self.kind,
            "weight": self.weight,
            "tag": self.tag,
            "cameras": self.cameras,
            "size": self.size,
        }
        if self.kind in LINE_KINDS:
            props["size_m"] = round(self.size, 2)
        elif self.kind == "area":
            props["size_m2"] = round(self.size, 1)
        return {"type": "Feature", "geometry": mapping(self.geometry), "properties": props}


def resolve_view(cam: CameraView) -> tuple[float, float, float] | str:
    """``(heading, fov, range_m)`` with the type's defaults, or why it cannot be placed."""
    if cam.lon is None or cam.lat is None or not np.isfinite([cam.lon, cam.lat]).all():
        return "no_location"
    fov0, range0 = DEFAULT_VIEW.get(cam.camera_type, DEFAULT_VIEW["bullet"])
    fov = min(cam.fov if cam.fov is not None else fov0, 360.0)
    range_m = cam.range_m if cam.range_m is not None else range0
    if fov <= 0 or range_m <= 0:
        return "no_view"
    if cam.heading is None and fov < 360:
        return "no_heading"
    return (cam.heading if cam.heading is not None else DEFAULT_HEADING) % 360, fov, range_m


def area_shape(area: Area) -> str:
    """How ``area`` is measured: ``line``, ``point``, ``polygon``, or ``""`` (unusable)."""
    kind, geom = area.kind, area.geometry
    if geom is None or geom.is_empty or kind not in KINDS:
        return ""
    gt = geom.geom_type
    if kind in LINE_KINDS:
        return "line" if gt in ("LineString", "MultiLineString", "LinearRing") else ""
    if kind == "hotspot" and gt == "Point":
        return "point"
    # a flat polygon (collinear corners, ~1 cm² or less) measures nothing
    return "polygon" if gt in ("Polygon", "MultiPolygon") and geom.area > 1e-14 else ""


def geom_array(geoms: Sequence[BaseGeometry | None]) -> Geoms:
    """A 1-D object array of geometries (numpy must not look inside them)."""
    out = np.empty(len(geoms), dtype=object)
    for i, geom in enumerate(geoms):
        out[i] = geom
    return out


def group_by(keys: Ints, values: Ints, n: int) -> list[Ints]:
    """``values`` grouped by ``keys`` (0..n-1), each group an array."""
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n + 1))
    sorted_values = values[order].astype(np.intp)
    return [sorted_values[bounds[j] : bounds[j + 1]] for j in range(n)]


def group_geoms_by(keys: Ints, values: Geoms, n: int) -> list[Geoms]:
    """Geometries ``values`` grouped by ``keys`` (0..n-1)."""
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n + 1))
    sorted_values = values[order]
    return [sorted_values[bounds[j] : bounds[j + 1]] for j in range(n)]
