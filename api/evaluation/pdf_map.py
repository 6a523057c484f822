"""Coverage maps for the printed evaluation: cameras, their view sectors and key areas.

:func:`load_maps` reads what each reported commune had at the end of the data (merged old
communes drawn under their new code); :func:`draw_map` turns one :class:`MapData` into a
reportlab :class:`~reportlab.graphics.shapes.Drawing`: an equirectangular projection
(longitude scaled by cos(latitude), so that a metre is a metre both ways), key areas,
cameras as dots with their view sector, a Vietnamese legend, a scale bar and north.

Whether a camera worked at the end is what the evaluation's coverage uses: the status of
the interval reaching the end of the data; while the period still runs, a camera without
such an interval falls back to ``camera_state``. ``ok``/``degraded`` is working, ``down``
broken, anything else (``unknown``, ``never_reported``, no record) unknown (grey), never
broken: the report must not blame a camera that merely went unheard.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from reportlab.graphics.shapes import Circle, Drawing, Line, Polygon, PolyLine, Rect, String, Wedge
from reportlab.lib import colors
from sqlalchemy import Table, and_, or_, select
from sqlalchemy.engine import Connection

from api.evaluation import figures
from api.evaluation.period import EvalPeriod
from api.evaluation.schema import Evaluation
from collector.models import Camera, CameraState, KeyArea, StatusInterval
from collector.ratio import VN

CAMERA: Table = Camera.__table__  # type: ignore[attr-defined]
KEY_AREA: Table = KeyArea.__table__  # type: ignore[attr-defined]
STATE: Table = CameraState.__table__  # type: ignore[attr-defined]
INTERVAL: Table = StatusInterval.__table__  # type: ignore[attr-defined]

#: Used when the registry leaves a camera's view empty (a typical commune bullet camera).
DEFAULT_FOV, DEFAULT_RANGE_M = 90.0, 50.0
METRES_PER_DEGREE = 111_320.0
FONT = "DejaVuSans"  # registered by api.evaluation.pdf before anything is drawn

WORKING, BROKEN, UNKNOWN = colors.HexColor("#2e9d3a"), colors.HexColor("#d62728"), colors.grey
#: Stroke and fill per kind of key area, and its Vietnamese name.
KIND_STYLE: dict[str, tuple[colors.Color, colors.Color]] = {
    "hotspot": (colors.HexColor("#e6550d"), colors.HexColor("#fdae6b")),
    "main_road": (colors.HexColor("#1f4e9e"), colors.HexColor("#1f4e9e")),
    "village_border": (colors.HexColor("#8e44ad"), colors.HexColor("#8e44ad")),
    "area": (colors.HexColor("#a0782c"), colors.HexColor("#f6e7b0")),
}
KIND_NAMES = {
    "hotspot": "Điểm nóng",
    "main_road": "Trục đường chính",
    "village_border": "Ranh giới thôn/xóm",
    "area": "Khu vực",
}


class MapCamera(NamedTuple):
    """A camera at the end of the data; ``working_at_end`` None: not known."""

    id: str
    lon: float | None
    lat: float | None
    heading: float | None  # degrees clockwise from north
    fov: float | None  # degrees; 360 for a fisheye
    range_m: float | None
    working_at_end: bool | None


class MapArea(NamedTuple):
    """A key area and its GeoJSON geometry (WGS 84)."""

    id: str
    kind: str
    geometry: dict[str, Any]


@dataclass
class MapData:
    """What one commune's map shows."""

    cameras: list[MapCamera] = field(default_factory=list)
    areas: list[MapArea] = field(default_factory=list)

    @property
    def unplaced(self) -> int:
        """Cameras without coordinates (not drawn)."""
        return sum(c.lon is None or c.lat is None for c in self.cameras)


def load_maps(conn: Connection, evaluation: Evaluation) -> dict[str, MapData]:
    """Map data of every reported commune that has a camera at the end or a key area.

    Args:
        conn: A connection to the camnet database.
        evaluation: The evaluation the maps illustrate (its communes and period).

    Returns:
        Reported commune code -> its cameras installed at the end of the data and its
        key areas (old merged communes included under the reported code).
    """
    p = evaluation.period
    period = EvalPeriod(p.year, p.first_day, p.last_day)
    _, final = figures.communes(conn, period, {c.code for c in evaluation.communes})
    if not final:
        return {}
    until = p.data_until
    last_day = (until - timedelta(microseconds=1)).astimezone(VN).date()
    c = CAMERA.c
    rows = conn.execute(
        select(
            c.id, c.commune_code, c.lon, c.lat, c.heading, c.fov, c.range_m, c.camera_type,
            c.installed_on, c.removed_on,
        ).where(c.commune_code.in_(list(final))).order_by(c.id)
    ).all()  # fmt: skip
    rows = [
        r
        for r in rows
        if (r.installed_on is None or r.installed_on <= last_day)
        and (r.removed_on is None or r.removed_on > last_day)
    ]
    status = _status_at(conn, [r.id for r in rows], until, fallback=not p.finished)
    out: dict[str, MapData] = defaultdict(MapData)
    for r in rows:
        fov = 360.0 if r.camera_type == "fisheye" and r.fov is None else r.fov
        working = {"ok": True, "degraded": True, "down": False}.get(status.get(r.id, ""))
        out[final[r.commune_code]].cameras.append(
            MapCamera(r.id, r.lon, r.lat, r.heading, fov, r.range_m, working)
        )
    k = KEY_AREA.c
    for aid, code, kind, text in conn.execute(
        select(k.id, k.commune_code, k.kind, k.geometry)
        .where(k.commune_code.in_(list(final)))
        .order_by(k.id)
    ):
        geometry = _geojson(text)
        if geometry is not None:
            out[final[code]].areas.append(MapArea(aid, kind, geometry))
    return dict(out)


def _status_at(
    conn: Connection, ids: list[str], until: datetime, *, fallback: bool
) -> dict[str, str]:
    """Status of each camera just before ``until`` (its interval reaching it)."""
    out: dict[str, str] = {}
    i = INTERVAL.c
    for n in range(0, len(ids), 5000):
        chunk = ids[n : n + 5000]
        query = (
            select(i.camera_id, i.status)
            .where(
                and_(i.camera_id.in_(chunk), i.start < until, or_(i.end.is_(None), i.end >= until))
            )
            .order_by(i.start)
        )
        for cid, status in conn.execute(query):
            out[cid] = status  # ordered by start: the latest wins
        if fallback:
            s = STATE.c
            rows = conn.execute(select(s.camera_id, s.status).where(s.camera_id.in_(chunk)))
            for cid, status in rows:
                out.setdefault(cid, status)
    return out


def _geojson(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# ---------------------------------------------------------------------------------- drawing

Piece = tuple[str, list[tuple[float, float]]]  # point | line | polygon (outer ring), lon/lat


def _pieces(geometry: dict[str, Any]) -> list[Piece]:
    """A GeoJSON geometry as simple pieces; malformed parts are left out, not fatal."""
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "GeometryCollection":
        subs = geometry.get("geometries") or []
        return [p for sub in subs if isinstance(sub, dict) for p in _pieces(sub)]
    simple = {"Point": "point", "LineString": "line", "Polygon": "polygon"}
    multi = {"MultiPoint": "point", "MultiLineString": "line", "MultiPolygon": "polygon"}
    parts: list[tuple[str, Any]]
    if kind in simple:
        parts = [(simple[kind], coords)]
    elif kind in multi and isinstance(coords, list):
        parts = [(multi[kind], c) for c in coords]
    else:
        return []
    out: list[Piece] = []
    for name, c in parts:
        try:
            raw = [c] if name == "point" else c if name == "line" else c[0]
            pts = [(float(pt[0]), float(pt[1])) for pt in raw]
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        if pts and all(math.isfinite(v) for pt in pts for v in pt):
            out.append((name, pts))
    return out


class _Frame:
    """Lon/lat -> points inside the map box (equirectangular around the data's middle)."""

    def __init__(self, data: MapData, x0: float, y0: float, w: float, h: float) -> None:
        placed = [c for c in data.cameras if c.lon is not None and c.lat is not None]
        lonlat = [(float(c.lon), float(c.lat)) for c in placed]  # type: ignore[arg-type]
        lonlat += [pt for a in data.areas for _, pts in _pieces(a.geometry) for pt in pts]
        lats = [p[1] for p in lonlat]
        self.lat0 = (min(lats) + max(lats)) / 2
        self.lon0 = (min(p[0] for p in lonlat) + max(p[0] for p in lonlat)) / 2
        self.kx = METRES_PER_DEGREE * math.cos(math.radians(self.lat0))
        xy = [self.metres(lon, lat) for lon, lat in lonlat]
        reach = [_range(c) for c in placed] or [0.0]
        pad = max(reach) + 10.0
        xs, ys = [p[0] for p in xy], [p[1] for p in xy]
        lo_x, hi_x, lo_y, hi_y = min(xs) - pad, max(xs) + pad, min(ys) - pad, max(ys) + pad
        self.scale = min(w / (hi_x - lo_x), h / (hi_y - lo_y))  # points per metre
        self.ox = x0 + w / 2 - (lo_x + hi_x) / 2 * self.scale
        self.oy = y0 + h / 2 - (lo_y + hi_y) / 2 * self.scale

    def metres(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * METRES_PER_DEGREE

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        mx, my = self.metres(lon, lat)
        return self.ox + mx * self.scale, self.oy + my * self.scale


def _range(cam: MapCamera) -> float:
    return cam.range_m if cam.range_m and cam.range_m > 0 else DEFAULT_RANGE_M


def _state_colour(working: bool | None) -> colors.Color:
    return UNKNOWN if working is None else WORKING if working else BROKEN


def _draw_area(d: Drawing, area: MapArea, to_xy: _Frame) -> None:
    stroke, fill = KIND_STYLE.get(area.kind, (colors.black, colors.lightgrey))
    for kind, pts in _pieces(area.geometry):
        flat = [v for lon, lat in pts for v in to_xy(lon, lat)]
        if kind == "point":
            d.add(_star(flat[0], flat[1], 6.0, stroke, fill))
        elif kind == "line":
            dash = [4, 2] if area.kind == "village_border" else None
            width = 2.5 if area.kind == "main_road" else 1.5
            d.add(PolyLine(flat, strokeColor=stroke, strokeWidth=width, strokeDashArray=dash))
        else:
            d.add(
                Polygon(flat, strokeColor=stroke, fillColor=fill, fillOpacity=0.45, strokeWidth=1)
            )


def _star(x: float, y: float, r: float, stroke: colors.Color, fill: colors.Color) -> Polygon:
    pts: list[float] = []
    for k in range(10):
        radius = r if k % 2 == 0 else r * 0.45
        angle = math.radians(90 + 36 * k)
        pts += [x + radius * math.cos(angle), y + radius * math.sin(angle)]
    return Polygon(pts, strokeColor=stroke, fillColor=fill, strokeWidth=0.8)


def _draw_camera(d: Drawing, cam: MapCamera, to_xy: _Frame, label: bool) -> None:
    x, y = to_xy(float(cam.lon), float(cam.lat))  # type: ignore[arg-type]
    colour = _state_colour(cam.working_at_end)
    radius = _range(cam) * to_xy.scale
    fov = cam.fov if cam.fov and cam.fov > 0 else DEFAULT_FOV
    view = {"fillColor": colour, "fillOpacity": 0.18, "strokeColor": colour, "strokeWidth": 0.5}
    if fov >= 360:
        d.add(Circle(x, y, radius, **view))
    elif cam.heading is not None:  # without a heading the sector cannot be placed
        mid = 90.0 - cam.heading  # reportlab: counter-clockwise from east
        d.add(Wedge(x, y, radius, mid - fov / 2, mid + fov / 2, **view))
    d.add(Circle(x, y, 2.6, fillColor=colour, strokeColor=colors.white, strokeWidth=0.6))
    if label:
        d.add(String(x + 4, y + 3, cam.id, fontName=FONT, fontSize=6, fillColor=colors.black))


def _nice_length(metres: float) -> float:
    """The largest 1, 2 or 5 times 10^k not above ``metres``."""
    k = 10.0 ** math.floor(math.log10(metres))
    return max(m * k for m in (1.0, 2.0, 5.0) if m * k <= metres)


def _scale_bar(d: Drawing, x: float, y: float, scale: float, max_w: float) -> None:
    length = _nice_length(max_w / scale)
    w = length * scale
    d.add(Rect(x - 3, y - 4, w + 6, 18, fillColor=colors.white, strokeColor=None, fillOpacity=0.8))
    d.add(Line(x, y, x + w, y, strokeWidth=1.5))
    for tick in (x, x + w):
        d.add(Line(tick, y - 2, tick, y + 3, strokeWidth=1))
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    d.add(String(x + w / 2, y + 4, text, fontName=FONT, fontSize=7, textAnchor="middle"))


def _north(d: Drawing, x: float, y: float) -> None:
    d.add(Polygon([x, y + 14, x - 4, y, x + 4, y], fillColor=colors.black, strokeColor=None))
    d.add(String(x, y - 9, "Bắc", fontName=FONT, fontSize=7, textAnchor="middle"))


def _legend_height(kinds: list[str]) -> float:
    return 10.0 + 14.0 * math.ceil((3 + len(kinds)) / 4)


def _legend(d: Drawing, kinds: list[str], width: float) -> None:
    items: list[tuple[str, str, colors.Color]] = [
        ("dot", "Camera hoạt động", WORKING),
        ("dot", "Camera hỏng", BROKEN),
        ("dot", "Chưa rõ trạng thái", UNKNOWN),
    ]
    items += [("kind:" + k, KIND_NAMES.get(k, k), KIND_STYLE[k][0]) for k in kinds]
    col_w = width / 4
    for n, (mark, text, colour) in enumerate(items):
        x, y = 6 + (n % 4) * col_w, _legend_height(kinds) - 14 - (n // 4) * 14
        if mark == "dot":
            d.add(Circle(x + 5, y + 3, 3, fillColor=colour, strokeColor=None))
        elif mark == "kind:hotspot":
            d.add(_star(x + 5, y + 3, 5, colour, KIND_STYLE["hotspot"][1]))
        elif mark == "kind:area":
            d.add(Rect(x, y - 1, 10, 8, fillColor=KIND_STYLE["area"][1], strokeColor=colour))
        else:
            dash = [4, 2] if mark == "kind:village_border" else None
            d.add(
                Line(
                    x, y + 3, x + 12, y + 3, strokeColor=colour, strokeWidth=2, strokeDashArray=dash
                )
            )
        d.add(String(x + 16, y, text, fontName=FONT, fontSize=7.5))


def draw_map(data: MapData, width: float, height: float) -> Drawing:
    """One commune's map, ``width`` by ``height`` points, legend included at the bottom.

    Args:
        data: The commune's cameras and key areas; cameras without coordinates are left
            out (see :attr:`MapData.unplaced`).
        width: Width of the drawing, points.
        height: Height of the drawing, points (the legend's rows take the lowest part).

    Returns:
        The drawing; a framed note when nothing has coordinates.
    """
    d = Drawing(width, height)
    order = {"area": 0, "village_border": 1, "main_road": 2, "hotspot": 3}
    kinds = sorted({a.kind for a in data.areas if a.kind in KIND_STYLE}, key=order.__getitem__)
    box_y = _legend_height(kinds)
    box_h = height - box_y
    d.add(
        Rect(0, box_y, width, box_h, fillColor=colors.HexColor("#fbfbf8"), strokeColor=colors.grey)
    )
    placed = [c for c in data.cameras if c.lon is not None and c.lat is not None]
    if not placed and not any(_pieces(a.geometry) for a in data.areas):
        d.add(
            String(width / 2, box_y + box_h / 2, "Chưa có toạ độ để vẽ bản đồ",
                   fontName=FONT, fontSize=10, textAnchor="middle", fillColor=colors.grey)
        )  # fmt: skip
        return d
    to_xy = _Frame(data, 8, box_y + 8, width - 16, box_h - 16)
    for area in sorted(data.areas, key=lambda a: (order.get(a.kind, 0), a.id)):
        _draw_area(d, area, to_xy)
    for cam in placed:
        _draw_camera(d, cam, to_xy, label=len(placed) <= 40)
    _scale_bar(d, 14, box_y + 10, to_xy.scale, width / 4)
    _north(d, width - 16, box_y + box_h - 24)
    _legend(d, kinds, width)
    return d
