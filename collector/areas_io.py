"""Reading a key-areas GeoJSON file and checking one geometry, with the line of each error.

The file is parsed by ``collector.registry_io``'s position-keeping JSON decoder, so every
object knows where it starts; a bad coordinate is located by counting the numbers after
its geometry's ``"coordinates":`` key, which gives the exact line of the first point
outside Vietnam even in a polygon spread over many lines.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, NamedTuple

import shapely
from shapely.geometry import shape
from shapely.validation import explain_validity

from collector.errors import RegistryEntryError, RegistryError
from collector.registry import VIETNAM_LAT, VIETNAM_LON
from collector.registry_io import PositionDecoder, line_in

#: How deep each geometry type nests its positions.
DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2}
DEPTH |= {"MultiPolygon": 3}
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|NaN|-?Infinity")
_WGS84 = ("CRS84", "4326")
_FIX_SHAPE = (
    "sửa hình (QGIS: Vector > Geometry Tools > Fix Geometries) / "
    "fix the shape (QGIS: Vector > Geometry Tools > Fix Geometries)"
)


class _Array(list[Any]):
    """A JSON array that knows where it starts in the text."""

    start = 0
    end = 0


class _Decoder(PositionDecoder):
    """Objects and arrays both keep their place (a feature written as ``[...]`` has a line)."""

    def __init__(self) -> None:
        super().__init__()
        parse = vars(json.decoder)["JSONArray"]

        def parse_array(s_and_end: tuple[str, int], *args: Any) -> tuple[_Array, int]:
            values, end = parse(s_and_end, *args)
            array = _Array(values)
            array.start, array.end = s_and_end[1] - 1, end
            return array, end

        self.parse_array = parse_array
        self.scan_once = vars(json.scanner)["py_make_scanner"](self)


def line_of(text: str, value: Any) -> int | None:
    """The line where a parsed JSON object or array starts (None for other values)."""
    if isinstance(value, _Array):
        return text.count("\n", 0, value.start) + 1
    return line_in(text, value)


class GeometryProblem(NamedTuple):
    """One thing wrong with a feature's geometry.

    Attributes:
        message: What is wrong.
        hint: What to write instead, Vietnamese first.
        field: Where inside the geometry (``type``, ``coordinates``), or empty.
        line: 1-based line, or None for the feature's line.
        wrong_type: True when the geometry type does not suit the area's kind.
    """

    message: str
    hint: str
    field: str = ""
    line: int | None = None
    wrong_type: bool = False


def _fail(path: str, line: int | None, message: str, hint: str) -> RegistryError:
    return RegistryError([RegistryEntryError(path, line, "", message, hint)])


def read_collection(path: Path) -> tuple[str, list[Any]]:
    """Read ``path`` as a GeoJSON FeatureCollection in WGS 84.

    Returns:
        The text and its features (objects are ``registry_io._Obj``: they know their place).

    Raises:
        RegistryError: The file cannot be read, is not UTF-8 JSON, is not a
            FeatureCollection, or names a coordinate system other than WGS 84.
    """
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        hint = "kiểm tra đường dẫn / check the path"
        raise _fail(name, None, f"cannot read: {exc.strerror}", hint) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _fail(name, line, "not UTF-8", "lưu lại dạng UTF-8 / save as UTF-8") from exc
    try:
        doc = _Decoder().decode(text)
    except json.JSONDecodeError as exc:
        hint = "kiểm tra dấu phẩy, ngoặc, ngoặc kép / check commas, brackets and quotes"
        raise _fail(name, exc.lineno, f"not valid JSON: {exc.msg}", hint) from exc
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list) or doc.get("type") != "FeatureCollection":
        hint = 'viết {"type": "FeatureCollection", "features": [...]} / write a FeatureCollection'
        raise _fail(name, 1, "expected a FeatureCollection with features", hint)
    crs = doc.get("crs")
    crs_name = str((crs.get("properties") or {}).get("name", "")) if isinstance(crs, dict) else ""
    if crs is not None and not any(tag in crs_name for tag in _WGS84):
        hint = "xuất lại theo WGS 84 (EPSG:4326) / export again as WGS 84 (EPSG:4326)"
        raise _fail(
            name, line_in(text, doc, "crs"), f"coordinates in {crs_name or json.dumps(crs)}", hint
        )
    return text, features


def check_geometry(text: str, geometry: Any, allowed: tuple[str, ...]) -> list[GeometryProblem]:
    """Check one feature's geometry: type, nesting, inside Vietnam, closed rings, validity.

    Args:
        text: The whole file (for lines).
        geometry: The feature's ``geometry`` member as parsed.
        allowed: The geometry types its kind may have.

    Returns:
        The problems found (at most one of each sort), empty when the geometry is fine.
    """
    if not isinstance(geometry, dict):
        return [GeometryProblem("missing (null or not an object)", "", wrong_type=True)]
    kind = geometry.get("type")
    if kind not in allowed:
        line = line_in(text, geometry, "type")
        hint = f"dùng một trong / use one of: {', '.join(allowed)}"
        return [GeometryProblem(f"type {kind!r} is not allowed", hint, "type", line, True)]
    coords = geometry.get("coordinates")
    at = line_in(text, geometry, "coordinates") or line_in(text, geometry)
    fix = f"viết coordinates của một {kind} / write the coordinates of a {kind}"
    if coords is None or coords == []:
        what = "missing" if coords is None else "empty geometry"
        return [GeometryProblem(what, fix, "coordinates", at)]
    positions: list[list[float]] = []
    nesting = _walk(coords, DEPTH[str(kind)], str(kind), positions)
    if nesting:
        return [GeometryProblem(nesting[0], nesting[1] or fix, "coordinates", at)]
    outside = [k for k, p in enumerate(positions) if not _inside(p)]
    if outside:
        k = outside[0]
        more = f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""
        message = f"point {k} {positions[k]} is outside Vietnam{more}"
        label = f"coordinates (point {k})" if len(positions) > 1 else "coordinates"
        line = _number_line(text, geometry, sum(len(p) for p in positions[:k])) or at
        return [GeometryProblem(message, _bounds_hint(positions[k]), label, line)]
    try:
        geom = shape({"type": kind, "coordinates": coords})
    except (ValueError, TypeError, shapely.errors.GEOSException) as exc:
        return [GeometryProblem(f"not a valid {kind}: {exc}", fix, "coordinates", at)]
    if geom.is_empty:
        return [GeometryProblem("empty geometry", fix, "coordinates", at)]
    if not shapely.is_valid(geom):
        message = f"invalid {kind}: {explain_validity(geom)}"
        return [GeometryProblem(message, _FIX_SHAPE, "coordinates", at)]
    return []


def _is_position(value: Any) -> bool:
    numbers = isinstance(value, list) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in value
    )
    return numbers and len(value) in (2, 3)


def _walk(coords: Any, depth: int, kind: str, out: list[list[float]]) -> tuple[str, str] | None:
    """Check the nesting of ``coords`` and collect its positions; return a problem or None."""
    if depth == 0:
        if not _is_position(coords):
            hint = "mỗi điểm viết [kinh độ, vĩ độ] / write each point as [lon, lat]"
            return f"{json.dumps(coords)[:40]} is not a position [lon, lat]", hint
        out.append(coords)
        return None
    if not isinstance(coords, list):
        return f"expected a list nested {depth} deep for a {kind}", ""
    for part in coords:
        if (problem := _walk(part, depth - 1, kind, out)) is not None:
            return problem
    if kind.endswith("Polygon") and depth == 1:
        hint = (
            "vòng phải khép kín: lặp lại điểm đầu ở cuối, ít nhất 4 điểm / close the ring: "
            "repeat the first point at the end (at least 4 points)"
        )
        if len(coords) < 4:
            return f"a polygon ring has {len(coords)} points, needs at least 4", hint
        if coords[0][:2] != coords[-1][:2]:
            return "a polygon ring is not closed (first point ≠ last point)", hint
    if kind.endswith("LineString") and depth == 1 and len(coords) < 2:
        hint = "đường cần ít nhất 2 điểm / a line needs at least 2 points"
        return f"a line with {len(coords)} point(s)", hint
    return None


def _inside(position: list[float]) -> bool:
    lon, lat = position[0], position[1]
    return VIETNAM_LON[0] <= lon <= VIETNAM_LON[1] and VIETNAM_LAT[0] <= lat <= VIETNAM_LAT[1]


def _bounds_hint(position: list[float]) -> str:
    lon, lat = position[0], position[1]
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return "viết số / write numbers"
    if abs(lon) > 360 or abs(lat) > 360:
        return (
            "toạ độ mét (VN-2000/UTM)? xuất lại theo WGS 84 (EPSG:4326) / "
            "projected metres (VN-2000/UTM)? export as WGS 84 (EPSG:4326)"
        )
    if VIETNAM_LON[0] <= lat <= VIETNAM_LON[1] and VIETNAM_LAT[0] <= lon <= VIETNAM_LAT[1]:
        return "GeoJSON viết [kinh độ, vĩ độ]: đảo lại / GeoJSON is [lon, lat]: swap them"
    return (
        f"kinh độ {VIETNAM_LON[0]:g} đến {VIETNAM_LON[1]:g}, vĩ độ {VIETNAM_LAT[0]:g} đến "
        f"{VIETNAM_LAT[1]:g} / lon {VIETNAM_LON[0]:g} to {VIETNAM_LON[1]:g}, "
        f"lat {VIETNAM_LAT[0]:g} to {VIETNAM_LAT[1]:g}"
    )


def _number_line(text: str, geometry: Any, n: int) -> int | None:
    """Return the line of the ``n``-th number after the geometry's ``"coordinates":``."""
    start, end = getattr(geometry, "start", 0), getattr(geometry, "end", 0)
    key = re.compile(r'"coordinates"\s*:').search(text, start, end)
    if key is None:
        return None
    for j, number in enumerate(_NUMBER.finditer(text, key.end(), end)):
        if j == n:
            return text.count("\n", 0, number.start()) + 1
    return None


def load_points(path: Path) -> list[tuple[float, float, tuple[float, ...] | None]]:
    """Read candidate sites (poles, walls): a FeatureCollection of Points in Vietnam.

    A feature may give ``headings`` (a list of degrees from north) or ``heading``; without
    them every direction is tried.

    Returns:
        ``(lon, lat, headings or None)`` for each feature, in file order.

    Raises:
        RegistryError: Every error, naming file, line and feature.
    """
    name = str(path)
    text, features = read_collection(path)
    out: list[tuple[float, float, tuple[float, ...] | None]] = []
    errors: list[RegistryEntryError] = []
    for i, feature in enumerate(features):
        line = line_in(text, feature)
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        props = feature.get("properties") if isinstance(feature, dict) else None
        props = props if isinstance(props, dict) else {}
        for problem in check_geometry(text, geometry, ("Point",)):
            hint = problem.hint or 'viết {"type": "Point", "coordinates": [105.87, 21.04]}'
            label = f"features[{i}].geometry{'.' + problem.field if problem.field else ''}"
            errors.append(
                RegistryEntryError(name, problem.line or line, label, problem.message, hint)
            )
        raw = props.get("headings", props.get("heading"))
        heads = _degrees(raw)
        if heads == ():
            key = "headings" if "headings" in props else "heading"
            hint = "viết danh sách độ, ví dụ [0, 90] / write a list of degrees, e.g. [0, 90]"
            at = line_in(text, props, key) or line
            label = f"features[{i}].properties.{key}"
            errors.append(RegistryEntryError(name, at, label, f"not degrees: {raw!r}", hint))
        if not errors and isinstance(geometry, dict):
            lon, lat = geometry["coordinates"][:2]
            out.append((float(lon), float(lat), heads))
    if errors:
        raise RegistryError(errors)
    return out


def _degrees(raw: Any) -> tuple[float, ...] | None:
    """Headings from a number or a list of numbers; None if not given, () if not numbers."""
    if raw is None:
        return None
    values = raw if isinstance(raw, list) else [raw]
    if values and all(isinstance(h, int | float) and not isinstance(h, bool) for h in values):
        return tuple(float(h) % 360.0 for h in values)
    return ()
