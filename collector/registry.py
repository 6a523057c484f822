"""The official inventory (registry): the file's models, their checks, and the database.

A registry lists provinces, districts (optional: abolished in 2025, still used in reports),
communes (5-digit codes valid over dates, ``merged_into`` for the 2025 mergers), NVR sites,
edge agents and cameras; ``extra="forbid"`` and a description on every field.
``collector.registry_io`` reads YAML, CSV and GeoJSON into these models, remembering where
each entry came from, so every error names file, line, field and what to write instead.

1. ``validate_registry`` (one file): types, ranges, Vietnam bounds, dates, duplicate ids.
2. ``check_registry`` (all files of one import + the database): references, camera →
   commune/site/agent, agent → site/commune, commune → province/district/merged_into.
3. ``import_registry``: step 2, then merge by primary key in one transaction.

``collector.registry_io`` also reads it back: ``export_registry``, ``installed_cameras``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import product
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError
from pydantic_core import PydanticCustomError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, select

from collector.errors import HINTS, DatabaseError, RegistryEntryError, RegistryError, from_pydantic
from collector.models import AgentRecord, Camera, Commune, District, Province, Site

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
VIETNAM_LAT = (8.0, 24.0)
VIETNAM_LON = (102.0, 118.0)  # mainland 102-110; Hoàng Sa and Trường Sa to ~117
KINDS = ("provinces", "districts", "communes", "sites", "agents", "cameras")
KEY = dict(zip(KINDS, ("code", "code", "code", "id", "id", "id"), strict=True))
KIND_VI = dict(zip(KINDS, ("tỉnh", "huyện", "xã", "điểm NVR", "trạm biên", "camera"), strict=True))
TABLES: dict[str, type[SQLModel]] = dict(
    zip(KINDS, (Province, District, Commune, Site, AgentRecord, Camera), strict=True)
)
#: File field -> table column, where the names differ.
COLUMN = {"province": "province_code", "district": "district_code", "commune": "commune_code"}
COLUMN |= {"site": "site_id", "agent": "agent_id"}

#: Maps a location inside the registry (``("cameras", 3, "lat")``) to (field label, line).
Locator = Callable[[tuple[int | str, ...]], tuple[str, int | None]]


def _nowhere(loc: tuple[int | str, ...]) -> tuple[str, int | None]:
    return ".".join(str(p) for p in loc), None


def _bounds(axis: str, lo: float, hi: float) -> Callable[[float], float]:
    def check(value: float) -> float:
        if not lo <= value <= hi:
            raise PydanticCustomError(
                "outside_vietnam",
                f"{{value}} is outside Vietnam ({axis} {lo:g} to {hi:g})",
                {"value": value},
            )
        return value

    return check


Latitude = Annotated[float, AfterValidator(_bounds("latitude", *VIETNAM_LAT))]
Longitude = Annotated[float, AfterValidator(_bounds("longitude", *VIETNAM_LON))]
Id = Annotated[str, Field(pattern=ID_PATTERN)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProvinceEntry(_Entry):
    """A province or centrally-run city."""

    code: str = Field(pattern=r"^\d{2}$", description='2-digit province code, e.g. "01".')
    name: str = Field(description="Official name, e.g. 'Hà Nội'.")


class DistrictEntry(_Entry):
    """A district (abolished 2025; kept because many reports still group by it)."""

    code: str = Field(pattern=r"^\d{3}$", description='3-digit district code, e.g. "004".')
    name: str = Field(description="Official name, e.g. 'Quận Long Biên'.")
    province: str = Field(pattern=r"^\d{2}$", description="Code of its province.")


class CommuneEntry(_Entry):
    """A commune, ward or town, valid over a date range."""

    code: str = Field(pattern=r"^\d{5}$", description='5-digit commune code, e.g. "00127".')
    name: str = Field(description="Official name, e.g. 'Phường Bồ Đề'.")
    province: str = Field(pattern=r"^\d{2}$", description="Code of its province.")
    district: str | None = Field(None, pattern=r"^\d{3}$", description="Its former district.")
    valid_from: date | None = Field(None, description="First day the code is valid.")
    valid_to: date | None = Field(None, description="Last day the code was valid.")
    merged_into: str | None = Field(None, pattern=r"^\d{5}$", description="Merged into (code).")


class SiteEntry(_Entry):
    """An NVR site: where a commune's cameras are recorded and an agent sits."""

    id: Id = Field(description="Site id (letters, digits, - _ .).")
    commune: str = Field(pattern=r"^\d{5}$", description="Code of the commune it is in.")
    name: str = Field("", description="Human name, e.g. 'Nhà văn hoá thôn Đông'.")
    address: str = Field("", description="Street address.")
    lat: Latitude | None = Field(None, description="Latitude, WGS 84 degrees (8-24).")
    lon: Longitude | None = Field(None, description="Longitude, WGS 84 degrees (102-118).")


class AgentEntry(_Entry):
    """An edge agent registered to a site."""

    id: Id = Field(description="Agent id, the agent_id of its agent.yaml.")
    site: Id = Field(description="Id of the site it sits at.")
    commune: str | None = Field(None, pattern=r"^\d{5}$", description="Default: its site's.")
    name: str = Field("", description="Human name.")


class ExpectedStream(_Entry):
    """What a camera's stream should be; the agent reports a fault when it is not."""

    codec: Literal["h264", "h265"] | None = Field(None, description="Video codec.")
    width: int | None = Field(None, gt=0, description="Width in pixels.")
    height: int | None = Field(None, gt=0, description="Height in pixels.")
    fps: float | None = Field(None, gt=0, description="Frames per second.")
    audio: bool | None = Field(None, description="True if it should send audio.")


class CameraEntry(_Entry):
    """A camera of the official inventory."""

    id: Id = Field(description="Camera id, unique across the country.")
    commune: str = Field(pattern=r"^\d{5}$", description="Code of the commune it watches.")
    site: Id | None = Field(None, description="Id of the NVR site recording it.")
    agent: Id | None = Field(None, description="Id of the agent probing it.")
    name: str = Field("", description="Human name, e.g. 'Ngã ba chợ Đông'.")
    lat: Latitude | None = Field(None, description="Latitude, WGS 84 degrees (8-24).")
    lon: Longitude | None = Field(None, description="Longitude, WGS 84 degrees (102-118).")
    heading: float | None = Field(None, ge=0, le=360, description="Degrees from north, clockwise.")
    fov: float | None = Field(None, ge=1, le=360, description="Horizontal field of view, °.")
    range_m: float | None = Field(None, gt=0, description="Useful viewing distance, metres.")
    camera_type: Literal["bullet", "dome", "ptz", "fisheye"] = Field("bullet", description="Type.")
    expected: ExpectedStream = Field(default_factory=ExpectedStream, description="Stream spec.")
    installed_on: date | None = Field(None, description="Day it went into service.")
    removed_on: date | None = Field(None, description="Day it left service (after installed).")
    funding: Literal["budget", "socialised"] = Field(
        "budget", description="Paid by the state budget or socialised (xã hội hoá)."
    )
    priority: Literal["hotspot", "main_road", "border", "normal"] = Field(
        "normal", description="Why it matters: crime hotspot, main road, border, normal."
    )


_ALL = (ProvinceEntry, DistrictEntry, CommuneEntry, SiteEntry, AgentEntry, CameraEntry)
MODELS: dict[str, type[_Entry]] = dict(zip(KINDS, _ALL, strict=True))


class RegistryFile(_Entry):
    """A whole registry file; every list may be left out."""

    provinces: list[ProvinceEntry] = Field(default_factory=list, description="Provinces.")
    districts: list[DistrictEntry] = Field(default_factory=list, description="Districts.")
    communes: list[CommuneEntry] = Field(default_factory=list, description="Communes, wards.")
    sites: list[SiteEntry] = Field(default_factory=list, description="NVR sites.")
    agents: list[AgentEntry] = Field(default_factory=list, description="Edge agents.")
    cameras: list[CameraEntry] = Field(default_factory=list, description="Cameras.")
    #: (kind, index) -> (path, locator of that file, index in that file).
    _where: dict[tuple[str, int], tuple[str, Locator, int]] = PrivateAttr(default_factory=dict)

    def entries(self, kind: str) -> list[Any]:
        """Return the list of ``kind`` (one of ``KINDS``)."""
        items: list[Any] = getattr(self, kind)
        return items

    def error(self, loc: tuple[int | str, ...], message: str, hint: str) -> RegistryEntryError:
        """Return an error at ``loc`` (``(kind, index, field...)``) with its file and line."""
        kind, index = str(loc[0]), int(loc[1])
        path, locate, j = self._where.get((kind, index), ("<registry>", _nowhere, index))
        label, line = locate((kind, j, *loc[2:]))
        return RegistryEntryError(path, line, label, message, hint)


def _pydantic(path: str, locate: Locator, err: Any, prefix: tuple[Any, ...]) -> RegistryEntryError:
    label, line = locate((*prefix, *err["loc"]))
    return from_pydantic(path, line, label, err)


def validate_registry(data: Any, path: str, locate: Locator = _nowhere) -> RegistryFile:
    """Validate one file's data, entry by entry, so every error is reported at once.

    Args:
        data: The parsed file: a mapping of ``KINDS`` to lists of mappings.
        path: The file's name, used in errors.
        locate: Finds the field label and line of a location in ``data``.

    Returns:
        The registry, remembering where each entry came from.

    Raises:
        RegistryError: Every error in the file.
    """
    errors: list[RegistryEntryError] = []
    if not isinstance(data, dict):
        hint = "bắt đầu bằng cameras: hoặc communes: / start with cameras: or communes:"
        raise RegistryError([RegistryEntryError(path, 1, "", "expected a mapping", hint)])
    for key in data:
        if key not in KINDS:
            message = f"unknown list (allowed: {', '.join(KINDS)})"
            label, line = locate((key,))
            errors.append(RegistryEntryError(path, line, label, message, HINTS["extra_forbidden"]))
    valid: dict[str, list[Any]] = {}
    where: dict[tuple[str, int], tuple[str, Locator, int]] = {}
    for kind in KINDS:
        items = data.get(kind) or []
        if not isinstance(items, list):
            label, line = locate((kind,))
            errors.append(RegistryEntryError(path, line, label, "a list", HINTS["list_type"]))
            continue
        valid[kind] = []
        for i, item in enumerate(items):
            try:
                entry = MODELS[kind].model_validate(item)
            except ValidationError as exc:
                errors += [_pydantic(path, locate, e, (kind, i)) for e in exc.errors()]
                continue
            where[(kind, len(valid[kind]))] = (path, locate, i)
            valid[kind].append(entry)
    registry = RegistryFile.model_validate(valid)
    registry._where = where
    errors += _entry_checks(registry) + _duplicates(registry)
    if errors:
        raise RegistryError(errors)
    return registry


def combine(registries: Sequence[RegistryFile]) -> RegistryFile:
    """Join the registries of several files into one, keeping where each entry came from."""
    joined = RegistryFile()
    for registry in registries:
        for kind in KINDS:
            mine = joined.entries(kind)
            for i, entry in enumerate(registry.entries(kind)):
                where = registry._where.get((kind, i), ("<registry>", _nowhere, i))
                joined._where[(kind, len(mine))] = where
                mine.append(entry)
    return joined


def _entry_checks(reg: RegistryFile) -> list[RegistryEntryError]:
    errors = []
    for i, c in enumerate(reg.communes):
        if c.valid_from and c.valid_to and c.valid_to < c.valid_from:
            hint = "valid_to phải sau valid_from / valid_to must not be before valid_from"
            errors.append(reg.error(("communes", i, "valid_to"), "before valid_from", hint))
        if c.merged_into == c.code:
            hint = "ghi mã xã mới / write the new commune's code"
            errors.append(reg.error(("communes", i, "merged_into"), "is its own code", hint))
        elif c.merged_into and c.valid_to is None:
            hint = "thêm valid_to: ngày cuối còn tồn tại / add valid_to: its last day, 2025-06-30"
            errors.append(reg.error(("communes", i, "merged_into"), "needs valid_to", hint))
    for kind in ("sites", "cameras"):
        for i, e in enumerate(reg.entries(kind)):
            if (e.lat is None) != (e.lon is None):
                missing = "lon" if e.lon is None else "lat"
                hint = "ghi cả lat và lon / write both lat and lon"
                errors.append(reg.error((kind, i, missing), "missing (the other is set)", hint))
    for i, cam in enumerate(reg.cameras):
        if cam.installed_on and cam.removed_on and cam.removed_on < cam.installed_on:
            message = f"{cam.removed_on} is before installed_on {cam.installed_on}"
            hint = "ngày tháo phải sau ngày lắp / write a day on or after installed_on"
            errors.append(reg.error(("cameras", i, "removed_on"), message, hint))
    return errors


def _duplicates(reg: RegistryFile) -> list[RegistryEntryError]:
    errors = []
    for kind in KINDS:
        first: dict[str, int] = {}
        for i, entry in enumerate(reg.entries(kind)):
            key = getattr(entry, KEY[kind])
            if key in first:
                there = reg.error((kind, first[key], KEY[kind]), "", "")
                place = f"{there.path}:{there.line}" if there.line else there.path
                message = f"{key!r} appears twice (first at {place})"
                hint = f"mỗi {KIND_VI[kind]} một mã riêng / give each its own {KEY[kind]}"
                errors.append(reg.error((kind, i, KEY[kind]), message, hint))
            first.setdefault(key, i)
    return errors


#: kind -> {field: kind it refers to}: checked against this import plus the database.
REFERENCES = {
    "districts": {"province": "provinces"},
    "communes": {"province": "provinces", "district": "districts", "merged_into": "communes"},
    "sites": {"commune": "communes"},
    "agents": {"site": "sites", "commune": "communes"},
    "cameras": {"commune": "communes", "site": "sites", "agent": "agents"},
}


def check_registry(registry: RegistryFile, known: dict[str, set[str]] | None = None) -> None:
    """Check every reference against the registry itself plus ``known`` (from the database).

    Raises:
        RegistryError: Every reference to something that exists in neither.
    """
    errors = _duplicates(registry)
    have = {k: {getattr(e, KEY[k]) for e in registry.entries(k)} for k in KINDS}
    for kind in KINDS:
        have[kind] |= (known or {}).get(kind, set())
    for kind, refs in REFERENCES.items():
        for (i, entry), (name, target) in product(enumerate(registry.entries(kind)), refs.items()):
            value = getattr(entry, name)
            if value is not None and value not in have[target]:
                message = f"{value!r} is not in {target}"
                hint = f"thêm {KIND_VI[target]} này vào {target} / add it to {target} first"
                errors.append(registry.error((kind, i, name), message, hint))
    if errors:
        raise RegistryError(errors)


def flatten(entry: _Entry) -> dict[str, Any]:
    """Return ``entry`` as one flat mapping (``expected`` as ``expected_*``: CSV columns)."""
    values: dict[str, Any] = {}
    for key, value in entry.model_dump().items():
        subs = value.items() if key == "expected" else [(None, value)]
        values |= {f"expected_{sub}" if sub else key: v for sub, v in subs}
    return values


def unflatten(values: dict[str, Any]) -> dict[str, Any]:
    """Undo ``flatten``: gather the ``expected_*`` values into ``expected``."""
    expected = {k[9:]: values[k] for k in values if k.startswith("expected_")}
    out = {k: v for k, v in values.items() if not k.startswith("expected_")}
    return out | {"expected": expected} if expected else out


def known_in_db(session: Session) -> dict[str, set[str]]:
    """Return the keys of every registry kind already in the database."""
    return {k: {str(v) for v in session.exec(select(getattr(TABLES[k], KEY[k])))} for k in KINDS}


@dataclass
class ImportSummary:
    """How many entries of each kind were added, updated or left unchanged."""

    counts: dict[str, list[int]] = field(default_factory=lambda: {k: [0, 0, 0] for k in KINDS})

    def text(self) -> str:
        """The summary for people, Vietnamese first."""
        return "Đã nhập sổ camera / registry imported:\n" + "\n".join(
            f"  {KIND_VI[kind]} / {kind}: {added} mới / added, {updated} cập nhật / updated, "
            f"{same} giữ nguyên / unchanged"
            for kind, (added, updated, same) in self.counts.items()
        )


def import_registry(engine: Engine, registry: RegistryFile) -> ImportSummary:
    """Check ``registry`` against the database, then merge it in by primary key.

    Everything is written in one transaction; entries not in ``registry`` are kept.

    Raises:
        RegistryError: A reference to something in neither the registry nor the database.
        DatabaseError: The database refused the write; nothing was written.
    """
    summary = ImportSummary()
    try:
        with Session(engine) as session:
            check_registry(registry, known_in_db(session))
            for kind in KINDS:
                table = TABLES[kind]
                for entry in registry.entries(kind):
                    values = {COLUMN.get(k, k): v for k, v in flatten(entry).items()}
                    if kind == "agents" and values["commune_code"] is None:
                        site = session.get(Site, values["site_id"])
                        values["commune_code"] = site.commune_code if site else None
                    row = session.get(table, values[KEY[kind]])
                    if row is None:
                        session.add(table(**values))
                        summary.counts[kind][0] += 1
                    elif any(getattr(row, k) != v for k, v in values.items()):
                        for k, v in values.items():
                            setattr(row, k, v)
                        summary.counts[kind][1] += 1
                    else:
                        summary.counts[kind][2] += 1
                session.flush()  # parents before children: foreign keys are checked
            session.commit()
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cơ sở dữ liệu từ chối / database refused the import: {exc}") from exc
    return summary
