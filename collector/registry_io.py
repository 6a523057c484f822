"""Reading and writing the registry: YAML, CSV and GeoJSON files.

* YAML: one document with the lists of ``collector.registry.RegistryFile``; lines come from
  the YAML node tree.
* CSV: cameras (header ``id,commune,...``) or communes (header ``code,name,province,...``),
  told apart by the header; UTF-8 with or without BOM; ``;`` with decimal commas (Excel in
  Vietnamese) is accepted too. The line of an error is the line of its row.
* GeoJSON: a FeatureCollection of cameras: Point ``[lon, lat]`` (or no geometry), the
  other camera fields as flat properties (``expected_fps``). Errors name the feature and
  the line of the property, found from the position of every JSON object.

``export_registry`` writes what the database holds in a format the readers take back
unchanged (``collector.registry.import_registry`` writes it); ``installed_cameras`` is the
query the collector and the API use.
"""

from __future__ import annotations

import csv
import io
import json
import json.decoder
import json.scanner
import re
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from collector.errors import RegistryEntryError, RegistryError
from collector.models import Camera
from collector.registry import (
    COLUMN,
    KEY,
    KINDS,
    MODELS,
    TABLES,
    ExpectedStream,
    Locator,
    RegistryFile,
    flatten,
    unflatten,
    validate_registry,
)

FORMATS = ("yaml", "csv", "geojson")
SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".csv": "csv", ".geojson": "geojson"}
SUFFIXES |= {".json": "geojson"}
CSV_COLUMNS = {
    "cameras": (
        *("id", "commune", "site", "agent", "name", "lat", "lon", "heading", "fov", "range_m"),
        *("camera_type", "expected_codec", "expected_width", "expected_height"),
        *("expected_fps", "expected_audio", "installed_on", "removed_on", "funding", "priority"),
    ),
    "communes": ("code", "name", "province", "district", "valid_from", "valid_to", "merged_into"),
}
CSV_REQUIRED = {"cameras": ("id", "commune"), "communes": ("code", "name", "province")}
#: Columns whose decimal comma is turned into a point when the delimiter is ``;``.
DECIMAL = ("lat", "lon", "heading", "fov", "range_m", "expected_fps")


def _fail(path: str, line: int | None, label: str, message: str, hint: str) -> RegistryError:
    return RegistryError([RegistryEntryError(path, line, label, message, hint)])


def format_of(path: Path) -> str:
    """Return the format of ``path`` from its suffix (``yaml``, ``csv`` or ``geojson``)."""
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        hint = "đặt tên .yaml, .csv hoặc .geojson / name it .yaml, .csv or .geojson (or --format)"
        raise _fail(str(path), None, "", "unknown file type", hint)
    return fmt


def load_registry(path: Path, fmt: str | None = None) -> RegistryFile:
    """Read and validate one registry file.

    Args:
        path: A YAML, CSV or GeoJSON file.
        fmt: ``yaml``, ``csv`` or ``geojson``; default: from the file's suffix.

    Returns:
        The registry, remembering the line of every entry.

    Raises:
        RegistryError: Every error found, each naming file, line, field and fix.
    """
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        hint = "kiểm tra đường dẫn / check the path"
        raise _fail(name, None, "", f"cannot read: {exc.strerror}", hint) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        hint = "lưu lại dạng UTF-8 (Excel: CSV UTF-8) / save as UTF-8 (Excel: 'CSV UTF-8')"
        raise _fail(name, raw[: exc.start].count(b"\n") + 1, "", "not UTF-8", hint) from exc
    reader = {"yaml": _parse_yaml, "csv": _parse_csv, "geojson": _parse_geojson}
    data, locate = reader[fmt or format_of(path)](name, text)
    return validate_registry(data, name, locate)


# ------------------------------------------------------------------------------------ YAML


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Follow ``loc`` through the YAML node tree; return the 1-based line of its key or item."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        found: tuple[yaml.Node, yaml.Node] | None = None
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            found = (node.value[key], node.value[key])
        if found is None:
            break
        line, node = found[0].start_mark.line + 1, found[1]
    return line


def _parse_yaml(path: str, text: str) -> tuple[Any, Locator]:
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        hint = "kiểm tra thụt lề và dấu hai chấm / check indentation and colons"
        raise _fail(path, line, "", f"not valid YAML: {exc}", hint) from exc

    def locate(loc: tuple[int | str, ...]) -> tuple[str, int | None]:
        return ".".join(str(p) for p in loc), _line_of(root, loc)

    return data, locate


def write_yaml(registry: RegistryFile) -> str:
    """Return ``registry`` as a YAML document ``load_registry`` reads back unchanged."""
    data = {
        kind: [
            {k: v for k, v in entry.model_dump(exclude_none=True).items() if v != {}}
            for entry in registry.entries(kind)
        ]
        for kind in KINDS
        if registry.entries(kind)
    }
    text = yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)
    return "# camnet registry — sổ camera (camnet registry export)\n" + text


class _Dumper(yaml.SafeDumper):
    """Quotes every all-digit string: a code like 00139 must never be read as a number."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if value.isdigit() else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


# ------------------------------------------------------------------------------------- CSV


def _parse_csv(path: str, text: str) -> tuple[Any, Locator]:
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] = []
    header_line, end = 1, 0
    rows: list[tuple[int, list[str]]] = []
    for record in reader:
        start, end = end + 1, reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if header:
            rows.append((start, record))
        else:
            header, header_line = [cell.strip() for cell in record], start
    kind = "communes" if "code" in header and "id" not in header else "cameras"
    fix = "xoá cột hoặc sửa tên / remove the column or fix its name"
    errors = [
        RegistryEntryError(path, header_line, name, f"unknown column ({kind} CSV)", fix)
        for name in header
        if name not in CSV_COLUMNS[kind]
    ]
    errors += [
        RegistryEntryError(path, header_line, name, "missing column", "thêm cột / add the column")
        for name in CSV_REQUIRED[kind]
        if name not in header
    ]
    fix = "bớt ô thừa hoặc đặt trong ngoặc kép / remove extra cells or quote them"
    errors += [
        RegistryEntryError(path, line, "", f"{len(record)} cells, header has {len(header)}", fix)
        for line, record in rows
        if len(record) > len(header)
    ]
    if errors:
        raise RegistryError(errors)
    items = []
    for _, record in rows:
        values = {}
        for name, cell in zip(header, record, strict=False):
            value = cell.strip()
            if value and delimiter == ";" and name in DECIMAL:
                value = value.replace(",", ".")
            if value:
                values[name] = value
        items.append(unflatten(values))

    def locate(loc: tuple[int | str, ...]) -> tuple[str, int | None]:
        if len(loc) < 2:
            return str(loc[0]), header_line
        return "_".join(str(p) for p in loc[2:]) or "row", rows[int(loc[1])][0]

    return {kind: items}, locate


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def write_csv(registry: RegistryFile, kind: str = "cameras") -> str:
    """Return the ``cameras`` or ``communes`` of ``registry`` as CSV (header first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS[kind])
    for entry in registry.entries(kind):
        values = flatten(entry)
        writer.writerow([_cell(values.get(name)) for name in CSV_COLUMNS[kind]])
    return out.getvalue()


# --------------------------------------------------------------------------------- GeoJSON


class _Obj(dict[str, Any]):
    """A JSON object that knows where it starts and ends in the text."""

    start = 0
    end = 0


class PositionDecoder(json.JSONDecoder):
    """The pure-Python JSON scanner, returning every object as an ``_Obj``."""

    def __init__(self) -> None:
        super().__init__()
        parse = vars(json.decoder)["JSONObject"]

        def parse_object(s_and_end: tuple[str, int], *args: Any) -> tuple[_Obj, int]:
            pairs, end = parse(s_and_end, *args)
            obj = _Obj(pairs)
            obj.start, obj.end = s_and_end[1] - 1, end
            return obj, end

        self.parse_object = parse_object
        self.scan_once = vars(json.scanner)["py_make_scanner"](self)


def _parse_geojson(path: str, text: str) -> tuple[Any, Locator]:
    try:
        doc = PositionDecoder().decode(text)
    except json.JSONDecodeError as exc:
        hint = "kiểm tra dấu phẩy, ngoặc, ngoặc kép / check commas, brackets and quotes"
        raise _fail(path, exc.lineno, "", f"not valid JSON: {exc.msg}", hint) from exc
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list) or doc.get("type") != "FeatureCollection":
        hint = 'viết {"type": "FeatureCollection", "features": [...]} / write a FeatureCollection'
        raise _fail(path, 1, "", "expected a FeatureCollection with features", hint)
    problems = [(i, p) for i, f in enumerate(features) if (p := _feature_problem(f))]
    if problems:
        raise RegistryError(
            [
                RegistryEntryError(path, line_in(text, features[i]), f"features[{i}]", *p)
                for i, p in problems
            ]
        )

    def locate(loc: tuple[int | str, ...]) -> tuple[str, int | None]:
        i, rest = int(loc[1]), "_".join(str(p) for p in loc[2:])
        feature = features[i]
        if rest in ("lat", "lon"):
            label, key = f"features[{i}].geometry.coordinates", "coordinates"
            return label, line_in(text, feature.get("geometry"), key) or line_in(text, feature)
        label = f"features[{i}].properties.{rest}".rstrip(".")
        return label, line_in(text, feature.get("properties"), rest) or line_in(text, feature)

    return {"cameras": [_feature_values(f) for f in features]}, locate


def _feature_problem(feature: Any) -> tuple[str, str] | None:
    """Return what is wrong with the shape of one feature (message, hint), or None."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return "not a Feature", 'viết "type": "Feature" / write "type": "Feature"'
    props, geometry = feature.get("properties"), feature.get("geometry")
    if not isinstance(props, dict | None):
        return "properties must be an object", "viết {...} / write {...}"
    if "lat" in (props or {}) or "lon" in (props or {}):
        return "lat/lon belong in geometry", "chuyển vào coordinates / use coordinates [lon, lat]"
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    point = isinstance(geometry, dict) and geometry.get("type") == "Point"
    if geometry is None or (point and isinstance(coords, list) and len(coords) in (2, 3)):
        return None
    hint = 'viết {"type": "Point", "coordinates": [105.85, 21.03]} / write a Point [lon, lat]'
    return "geometry must be a Point or null", hint


def _feature_values(feature: dict[str, Any]) -> dict[str, Any]:
    """Return the camera fields of a feature (``null`` properties count as not given)."""
    values = {k: v for k, v in (feature.get("properties") or {}).items() if v is not None}
    if "id" not in values and isinstance(feature.get("id"), str):
        values["id"] = feature["id"]
    if feature.get("geometry") is not None:
        values["lon"], values["lat"] = feature["geometry"]["coordinates"][:2]
    return unflatten(values)


def line_in(text: str, obj: Any, key: str = "") -> int | None:
    """Return the line of ``"key":`` inside the JSON object ``obj`` (no key: its start)."""
    if not isinstance(obj, _Obj):
        return None
    found = re.compile(rf'"{re.escape(key)}"\s*:').search(text, obj.start, obj.end)
    if key and not found:
        return None
    return text.count("\n", 0, found.start() if key and found else obj.start) + 1


def write_geojson(registry: RegistryFile) -> str:
    """Return the cameras of ``registry`` as a GeoJSON FeatureCollection."""
    features = []
    for camera in registry.cameras:
        values = {k: v for k, v in flatten(camera).items() if v is not None}
        lat, lon = values.pop("lat", None), values.pop("lon", None)
        point = {"type": "Point", "coordinates": [lon, lat]} if lat is not None else None
        features.append({"type": "Feature", "geometry": point, "properties": values})
    doc = {"type": "FeatureCollection", "features": features}
    return json.dumps(doc, ensure_ascii=False, indent=2, default=date.isoformat) + "\n"


def write_registry(registry: RegistryFile, fmt: str = "yaml", kind: str = "cameras") -> str:
    """Return ``registry`` as ``fmt`` (CSV: only ``kind``; GeoJSON: only cameras)."""
    if fmt == "csv":
        return write_csv(registry, kind)
    return write_geojson(registry) if fmt == "geojson" else write_yaml(registry)


# -------------------------------------------------------------------------------- database


def registry_from_db(session: Session) -> RegistryFile:
    """Return everything in the registry tables, ordered by key (not validated again)."""
    back = {v: k for k, v in COLUMN.items()}
    registry = RegistryFile()
    for kind in KINDS:
        table = TABLES[kind]
        for row in session.exec(select(table).order_by(getattr(table, KEY[kind]))):
            values = unflatten({back.get(k, k): v for k, v in row.model_dump().items()})
            if "expected" in values:
                values["expected"] = ExpectedStream.model_construct(**values["expected"])
            registry.entries(kind).append(MODELS[kind].model_construct(**values))
    return registry


def export_registry(engine: Engine, fmt: str = "yaml", kind: str = "cameras") -> str:
    """Return the registry in the database as ``fmt`` (``yaml``, ``csv`` or ``geojson``)."""
    with Session(engine) as session:
        return write_registry(registry_from_db(session), fmt, kind)


def installed_cameras(session: Session, at: date, commune: str | None = None) -> list[Camera]:
    """Return the cameras in service on ``at`` (optionally of one commune), by id.

    In service: installed on or before ``at`` (no date counts as installed) and not yet
    removed (``removed_on`` after ``at``, or not set).
    """
    stmt = select(Camera).where(
        or_(col(Camera.installed_on).is_(None), col(Camera.installed_on) <= at),
        or_(col(Camera.removed_on).is_(None), col(Camera.removed_on) > at),
    )
    if commune is not None:
        stmt = stmt.where(Camera.commune_code == commune)
    return list(session.exec(stmt.order_by(col(Camera.id))))
