"""Key areas: the places a commune wants seen, read from GeoJSON into ``key_area``.

A key-areas file is a GeoJSON ``FeatureCollection`` in WGS 84. Each feature is one area;
its properties are :class:`AreaProperties` and its geometry depends on the kind:

* ``hotspot`` (điểm nóng): Point, MultiPoint, Polygon or MultiPolygon;
* ``main_road`` (tuyến đường chính), ``village_border`` (ranh giới thôn): LineString or
  MultiLineString;
* ``area`` (khu vực): Polygon or MultiPolygon.

``load_areas`` checks a whole file (shape of each feature, properties, geometry type for
the kind, coordinates inside Vietnam, closed rings, validity by GEOS, ids given twice)
and raises one ``RegistryError`` listing every error with file, line, feature index and
id, and what to write instead. ``import_areas`` checks the communes against the database
and merges by id in one transaction; ``export_areas`` writes what ``load_areas`` reads
back unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from collector.areas_io import GeometryProblem, check_geometry, line_of, read_collection
from collector.errors import DatabaseError, RegistryEntryError, RegistryError, from_pydantic
from collector.models import Commune, KeyArea
from collector.registry import ID_PATTERN
from collector.registry_io import line_in

AREA_KINDS = ("hotspot", "main_road", "village_border", "area")
KIND_VI = dict(
    zip(AREA_KINDS, ("điểm nóng", "đường chính", "ranh giới thôn", "khu vực"), strict=True)
)
_LINES = ("LineString", "MultiLineString")
_POLYGONS = ("Polygon", "MultiPolygon")
#: The GeoJSON geometry types each kind may have.
GEOMETRY_TYPES: dict[str, tuple[str, ...]] = {
    "hotspot": ("Point", "MultiPoint", *_POLYGONS),
    "main_road": _LINES,
    "village_border": _LINES,
    "area": _POLYGONS,
}
_EXAMPLE = {
    "Point": "[105.8745, 21.0437]",
    "LineString": "[[105.8745, 21.0437], [105.8790, 21.0391]]",
    "Polygon": "[[[105.874, 21.043], [105.876, 21.043], [105.876, 21.045], [105.874, 21.043]]]",
}


class AreaProperties(BaseModel):
    """The properties of one key-area feature (``null`` counts as not given)."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(pattern=ID_PATTERN)] = Field(
        description="Area id, unique in the country (letters, digits, - _ .), e.g. 'lb-bd-cho'."
    )
    commune: str = Field(pattern=r"^\d{5}$", description="Code of its commune, e.g. '00139'.")
    kind: Literal["hotspot", "main_road", "village_border", "area"] = Field(
        description="hotspot (point/polygon), main_road or village_border (line), area (polygon)."
    )
    weight: float = Field(
        1.0, gt=0, allow_inf_nan=False, description="How much it matters relative to others."
    )
    name: str = Field("", description="Human name, e.g. 'Chợ Bồ Đề'.")


@dataclass(frozen=True)
class AreaEntry:
    """One checked key area, with where it came from (for errors against the database).

    Attributes:
        id: Area id.
        commune: 5-digit commune code.
        kind: One of ``AREA_KINDS``.
        weight: Relative importance (> 0).
        name: Human name.
        geometry: The GeoJSON geometry object (``type`` and ``coordinates``), WGS 84.
        path: The file it was read from.
        line: 1-based line of its feature in that file.
        index: Its index in the file's ``features``.
        commune_line: Line of its ``commune`` property (errors against the database).
    """

    id: str
    commune: str
    kind: str
    weight: float
    name: str
    geometry: dict[str, Any]
    path: str = "<areas>"
    line: int | None = None
    index: int = 0
    commune_line: int | None = None

    def label(self, rest: str = "") -> str:
        """Return ``features[i] (id)`` followed by ``rest`` (an error's field label)."""
        return f"features[{self.index}] ({self.id}){'.' + rest if rest else ''}"

    def row(self) -> dict[str, Any]:
        """Return the ``key_area`` row for this entry."""
        text = json.dumps(self.geometry, ensure_ascii=False, separators=(",", ":"))
        return {"id": self.id, "commune_code": self.commune, "kind": self.kind,
                "name": self.name, "weight": self.weight, "geometry": text}  # fmt: skip


def load_areas(path: Path) -> list[AreaEntry]:
    """Read and check a key-areas GeoJSON file.

    Args:
        path: A GeoJSON FeatureCollection of key areas.

    Returns:
        Every area, in file order.

    Raises:
        RegistryError: Every error found, each naming file, line, feature and fix.
    """
    name = str(path)
    text, features = read_collection(path)
    errors: list[RegistryEntryError] = []
    entries: list[AreaEntry] = []
    first: dict[str, int | None] = {}  # id -> line of its first feature
    for i, feature in enumerate(features):
        entry, problems = _check_feature(name, text, i, feature)
        errors += problems
        raw = _raw_id(feature)
        if raw is not None and raw in first:
            message = f"{raw!r} appears twice (first at {name}:{first[raw]})"
            hint = "mỗi khu vực một id riêng / give each area its own id"
            line = line_in(text, feature.get("properties"), "id") or line_in(text, feature)
            label = f"features[{i}] ({raw}).properties.id"
            errors.append(RegistryEntryError(name, line, label, message, hint))
            continue
        if raw is not None:
            first[raw] = line_in(text, feature)
        if entry is not None:
            entries.append(entry)
    if errors:
        raise RegistryError(errors)
    return entries


def _raw_id(feature: Any) -> str | None:
    """Return the id a feature gives (properties first, then the feature's own), if any."""
    if not isinstance(feature, dict):
        return None
    props = feature.get("properties")
    value = props.get("id") if isinstance(props, dict) else None
    value = feature.get("id") if value is None else value
    return value if isinstance(value, str) else None


def _check_feature(
    path: str, text: str, i: int, feature: Any
) -> tuple[AreaEntry | None, list[RegistryEntryError]]:
    """Check one feature; return its entry (None when invalid) and its errors."""
    line = line_of(text, feature)
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        hint = 'viết {"type": "Feature", "properties": {...}, "geometry": {...}} / write a Feature'
        return None, [RegistryEntryError(path, line, f"features[{i}]", "not a Feature", hint)]
    props = feature.get("properties")
    if not isinstance(props, dict):
        hint = 'viết "properties": {"id": ..., "commune": ..., "kind": ...} / write an object'
        label = f"features[{i}].properties"
        return None, [RegistryEntryError(path, line, label, "properties must be an object", hint)]
    values = {k: v for k, v in props.items() if v is not None}
    shown = _raw_id(feature)
    if "id" not in values and shown is not None:
        values["id"] = shown
    where = f"features[{i}] ({shown})" if shown else f"features[{i}]"
    errors: list[RegistryEntryError] = []
    props_model: AreaProperties | None = None
    try:
        props_model = AreaProperties.model_validate(values)
    except ValidationError as exc:
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else ""
            at = line_in(text, props, key) or line_in(text, props) or line
            errors.append(from_pydantic(path, at, f"{where}.properties.{key}".rstrip("."), err))
    kind = props_model.kind if props_model else values.get("kind")
    allowed = GEOMETRY_TYPES.get(kind, ()) if isinstance(kind, str) else ()
    geometry = feature.get("geometry")
    at = line_in(text, feature, "geometry") or line
    errors += [
        _geometry_error(path, at, where, kind, allowed, problem)
        for problem in check_geometry(text, geometry, allowed or _ALL_TYPES)
    ]
    if errors or props_model is None or not isinstance(geometry, dict):
        return None, errors
    entry = AreaEntry(
        **props_model.model_dump(),
        geometry={"type": geometry["type"], "coordinates": geometry["coordinates"]},
        path=path,
        line=line,
        index=i,
        commune_line=line_in(text, props, "commune") or line,
    )
    return entry, []


_ALL_TYPES = ("Point", "MultiPoint", *_LINES, *_POLYGONS)


def _either(names: tuple[str, ...], word: str) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {word} {names[-1]}"


def _geometry_error(
    path: str,
    line: int | None,
    where: str,
    kind: Any,
    allowed: tuple[str, ...],
    problem: GeometryProblem,
) -> RegistryEntryError:
    """Turn a geometry problem into an error; a wrong type gets the types of the kind."""
    hint = problem.hint
    if problem.wrong_type and allowed:
        example = _EXAMPLE["Point" if "Point" in allowed else allowed[0]]
        hint = (
            f"{kind} cần {_either(allowed, 'hoặc')}, ví dụ / {kind} needs "
            f"{_either(allowed, 'or')}, e.g. "
            f'{{"type": "{allowed[0]}", "coordinates": {example}}}'
        )
    label = f"{where}.geometry{'.' + problem.field if problem.field else ''}"
    return RegistryEntryError(path, problem.line or line, label, problem.message, hint)


# -------------------------------------------------------------------------------- database


@dataclass
class AreasSummary:
    """What an import did: counts of added, updated, unchanged areas, and areas by kind."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AREA_KINDS, 0))

    def text(self) -> str:
        """The summary for people, Vietnamese first."""
        kinds = ", ".join(f"{n} {KIND_VI[k]} / {k}" for k, n in self.by_kind.items() if n)
        return (
            f"Đã nhập khu vực trọng điểm / key areas imported: {self.added} mới / added, "
            f"{self.updated} cập nhật / updated, {self.unchanged} giữ nguyên / unchanged"
            + (f"\n  {kinds}" if kinds else "")
        )


def check_communes(entries: list[AreaEntry], known: set[str]) -> None:
    """Check that every entry's commune is in ``known`` (the database's communes).

    Raises:
        RegistryError: One error per area whose commune is unknown.
    """
    hint = (
        "nhập xã này trước (camnet registry import) hoặc sửa mã / "
        "import the commune first (camnet registry import) or fix the code"
    )
    errors = [
        RegistryEntryError(
            e.path,
            e.commune_line or e.line,
            e.label("properties.commune"),
            f"{e.commune!r} is not in communes",
            hint,
        )
        for e in entries
        if e.commune not in known
    ]
    if errors:
        raise RegistryError(errors)


def known_communes(session: Session) -> set[str]:
    """Return the codes of every commune in the database."""
    return set(session.exec(select(Commune.code)))


def import_areas(engine: Engine, entries: list[AreaEntry]) -> AreasSummary:
    """Check the communes of ``entries`` against the database, then merge them in by id.

    Everything is written in one transaction; areas not in ``entries`` are kept.

    Raises:
        RegistryError: An area of a commune the database does not hold; nothing written.
        DatabaseError: The database refused the write; nothing was written.
    """
    summary = AreasSummary()
    try:
        with Session(engine) as session:
            check_communes(entries, known_communes(session))
            for entry in entries:
                values = entry.row()
                row = session.get(KeyArea, entry.id)
                if row is None:
                    session.add(KeyArea(**values))
                    summary.added += 1
                elif any(getattr(row, k) != v for k, v in values.items()):
                    for k, v in values.items():
                        setattr(row, k, v)
                    summary.updated += 1
                else:
                    summary.unchanged += 1
                summary.by_kind[entry.kind] += 1
            session.commit()
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cơ sở dữ liệu từ chối / database refused the import: {exc}") from exc
    return summary


def export_areas(engine: Engine, commune: str | None = None) -> str:
    """Return the key areas in the database (of one commune) as GeoJSON, one feature a line.

    ``load_areas`` reads the result back to the same rows.
    """
    stmt = select(KeyArea).order_by(col(KeyArea.commune_code), col(KeyArea.id))
    if commune is not None:
        stmt = stmt.where(KeyArea.commune_code == commune)
    with Session(engine) as session:
        rows = list(session.exec(stmt))
    features = []
    for r in rows:
        props = {"id": r.id, "commune": r.commune_code, "kind": r.kind, "weight": r.weight}
        feature = {"type": "Feature", "properties": props | {"name": r.name}}
        feature["geometry"] = json.loads(r.geometry)
        features.append(json.dumps(feature, ensure_ascii=False))
    body = ",\n".join(features)
    return '{"type": "FeatureCollection", "features": [\n' + body + ("\n" if body else "") + "]}\n"
