"""Key-areas files: every error names file, line, feature index and id, and the fix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from collector.areas import export_areas, import_areas, load_areas
from collector.areas_io import load_points
from collector.db import create_schema, make_engine
from collector.errors import RegistryError
from collector.models import Commune, KeyArea, Province

ROOT = Path(__file__).resolve().parents[2]

# One feature per block, so each error's line is easy to read off.
GOOD = """\
{"type": "FeatureCollection", "features": [
  {"type": "Feature",
   "properties": {"id": "bd-road-1", "commune": "00139", "kind": "main_road", "weight": 2},
   "geometry": {"type": "LineString", "coordinates": [
     [105.8680, 21.0412],
     [105.8745, 21.0437],
     [105.8812, 21.0463]
   ]}},
  {"type": "Feature",
   "properties": {"id": "bd-cho", "commune": "00139", "kind": "hotspot", "name": "Chợ Bồ Đề"},
   "geometry": {"type": "Polygon", "coordinates": [[
     [105.8772, 21.0394], [105.8784, 21.0394], [105.8784, 21.0403], [105.8772, 21.0394]
   ]]}},
  {"type": "Feature",
   "properties": {"id": "bd-area", "commune": "00139", "kind": "area", "weight": null},
   "geometry": {"type": "Polygon", "coordinates": [[
     [105.8725, 21.0440], [105.8740, 21.0446], [105.8736, 21.0455], [105.8725, 21.0440]
   ]]}}
]}
"""


def write(tmp_path: Path, text: str, name: str = "areas.geojson") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_with(text: str, snippet: str) -> int:
    """1-based line of the one occurrence of ``snippet`` in ``text``."""
    assert text.count(snippet) == 1, snippet
    return text[: text.index(snippet)].count("\n") + 1


def errors_of(path: Path) -> list[str]:
    with pytest.raises(RegistryError) as info:
        load_areas(path)
    return [str(e) for e in info.value.errors]


def test_good_file_loads_in_order_with_defaults(tmp_path: Path) -> None:
    entries = load_areas(write(tmp_path, GOOD))
    assert [(e.id, e.kind, e.weight, e.line) for e in entries] == [
        ("bd-road-1", "main_road", 2.0, 2),
        ("bd-cho", "hotspot", 1.0, 9),
        ("bd-area", "area", 1.0, 14),  # null weight: the default
    ]
    assert entries[1].name == "Chợ Bồ Đề"
    assert entries[0].geometry["coordinates"][1] == [105.8745, 21.0437]


def test_the_deployed_example_is_valid() -> None:
    entries = load_areas(ROOT / "deploy" / "areas.example.geojson")
    assert {e.commune for e in entries} == {"00127", "00139"}
    assert {e.kind for e in entries} == {"hotspot", "main_road", "village_border", "area"}


@pytest.mark.parametrize(
    ("old", "new", "at", "expected"),
    [
        (
            '"id": "bd-road-1"', '"id": "bd road 1"', '"id": "bd road 1"',
            "features[0] (bd road 1).properties.id: String should match pattern "
            "'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' (got 'bd road 1') — chỉ dùng chữ không dấu, "
            "số, - _ . / use only letters, digits, - _ .",
        ),
        (
            '"commune": "00139", "kind": "hotspot"', '"commune": 139, "kind": "hotspot"',
            '"commune": 139',
            "features[1] (bd-cho).properties.commune: Input should be a valid string (got 139) "
            '— viết trong ngoặc kép, ví dụ "00127" / put it in quotes, e.g. "00127"',
        ),
        (
            '"kind": "area"', '"kind": "zone"', '"kind": "zone"',
            "features[2] (bd-area).properties.kind: Input should be 'hotspot', 'main_road', "
            "'village_border' or 'area' (got 'zone') — dùng một trong các giá trị cho phép / "
            "use one of the allowed values",
        ),
        (
            '"weight": 2', '"weight": -1', '"weight": -1',
            "features[0] (bd-road-1).properties.weight: Input should be greater than 0 (got -1) "
            "— viết số trong khoảng cho phép / write a number in the allowed range",
        ),
        (
            '"name": "Chợ Bồ Đề"', '"ten": "Chợ Bồ Đề"', '"ten"',
            "features[1] (bd-cho).properties.ten: Extra inputs are not permitted — xoá đi hoặc "
            "sửa chính tả / remove it or check its spelling",
        ),
        (
            '"type": "LineString"', '"type": "Polygon"', '"type": "Polygon", "coordinates": [\n',
            "features[0] (bd-road-1).geometry.type: type 'Polygon' is not allowed — main_road "
            "cần LineString hoặc MultiLineString, ví dụ / main_road needs LineString or "
            'MultiLineString, e.g. {"type": "LineString", "coordinates": [[105.8745, 21.0437], '
            "[105.8790, 21.0391]]}",
        ),
        (
            "[105.8745, 21.0437],", "[21.0437, 105.8745],", "[21.0437, 105.8745]",
            "features[0] (bd-road-1).geometry.coordinates (point 1): point 1 [21.0437, 105.8745] "
            "is outside Vietnam — GeoJSON viết [kinh độ, vĩ độ]: đảo lại / GeoJSON is "
            "[lon, lat]: swap them",
        ),
        (
            "[105.8812, 21.0463]", "[588123.5, 2326120.0]", "[588123.5",
            "features[0] (bd-road-1).geometry.coordinates (point 2): point 2 [588123.5, "
            "2326120.0] is outside Vietnam — toạ độ mét (VN-2000/UTM)? xuất lại theo WGS 84 "
            "(EPSG:4326) / projected metres (VN-2000/UTM)? export as WGS 84 (EPSG:4326)",
        ),
        (
            "[105.8784, 21.0403], [105.8772, 21.0394]", "[105.8784, 21.0403], [105.8772, 21.0399]",
            '"type": "Polygon", "coordinates": [[\n     [105.8772, 21.0394]',
            "features[1] (bd-cho).geometry.coordinates: a polygon ring is not closed (first "
            "point ≠ last point) — vòng phải khép kín: lặp lại điểm đầu ở cuối, ít nhất 4 điểm "
            "/ close the ring: repeat the first point at the end (at least 4 points)",
        ),
        (
            "[105.8740, 21.0446], [105.8736, 21.0455]",
            "[105.8740, 21.0455], [105.8740, 21.0440], [105.8725, 21.0455]",
            '"type": "Polygon", "coordinates": [[\n     [105.8725',
            "features[2] (bd-area).geometry.coordinates: invalid Polygon: Self-intersection"
            "[105.87325 21.04475] — sửa hình (QGIS: Vector > Geometry Tools > Fix Geometries) / "
            "fix the shape (QGIS: Vector > Geometry Tools > Fix Geometries)",
        ),
    ],
)  # fmt: skip
def test_each_error_names_line_feature_id_and_fix(
    tmp_path: Path, old: str, new: str, at: str, expected: str
) -> None:
    assert GOOD.count(old) == 1, old
    text = GOOD.replace(old, new)
    path = write(tmp_path, text)
    assert errors_of(path) == [f"{path}:{line_with(text, at)}: {expected}"]


def test_missing_empty_geometry_and_missing_properties(tmp_path: Path) -> None:
    text = """\
{"type": "FeatureCollection", "features": [
  {"type": "Feature", "properties": {"id": "a", "commune": "00139", "kind": "main_road"},
   "geometry": null},
  {"type": "Feature", "properties": {"id": "b", "commune": "00139", "kind": "area"},
   "geometry": {"type": "Polygon", "coordinates": []}},
  {"type": "Feature", "properties": {"commune": "00139", "kind": "hotspot"},
   "geometry": {"type": "Point", "coordinates": [105.87, 21.04]}},
  {"type": "Feature", "properties": {"id": "d", "commune": "00139", "kind": "main_road"},
   "geometry": {"type": "LineString", "coordinates": [[105.87, 21.04]]}},
  {"type": "Feature", "geometry": {"type": "Point", "coordinates": [105.87, 21.04]}},
  ["not", "a", "feature"]
]}
"""
    path = write(tmp_path, text)
    assert errors_of(path) == [
        f"{path}:3: features[0] (a).geometry: missing (null or not an object) — main_road cần "
        "LineString hoặc MultiLineString, ví dụ / main_road needs LineString or MultiLineString, "
        'e.g. {"type": "LineString", "coordinates": [[105.8745, 21.0437], [105.8790, 21.0391]]}',
        f"{path}:5: features[1] (b).geometry.coordinates: empty geometry — viết coordinates của "
        "một Polygon / write the coordinates of a Polygon",
        f"{path}:6: features[2].properties.id: Field required — thêm trường này / add this field",
        f"{path}:9: features[3] (d).geometry.coordinates: a line with 1 point(s) — đường cần "
        "ít nhất 2 điểm / a line needs at least 2 points",
        f"{path}:10: features[4].properties: properties must be an object — viết "
        '"properties": {"id": ..., "commune": ..., "kind": ...} / write an object',
        f"{path}:11: features[5]: not a Feature — viết "
        '{"type": "Feature", "properties": {...}, "geometry": {...}} / write a Feature',
    ]


def test_duplicate_id_names_the_first_line(tmp_path: Path) -> None:
    text = GOOD.replace('"id": "bd-area"', '"id": "bd-cho"')
    path = write(tmp_path, text)
    assert errors_of(path) == [
        f"{path}:15: features[2] (bd-cho).properties.id: 'bd-cho' appears twice (first at "
        f"{path}:9) — mỗi khu vực một id riêng / give each area its own id"
    ]


def test_file_level_errors(tmp_path: Path) -> None:
    broken = write(tmp_path, GOOD.replace('"weight": 2},', '"weight": 2,},'), "a.geojson")
    assert errors_of(broken) == [
        f"{broken}:3: not valid JSON: Expecting property name enclosed in double quotes — "
        "kiểm tra dấu phẩy, ngoặc, ngoặc kép / check commas, brackets and quotes"
    ]
    feature = write(tmp_path, '{"type": "Feature", "features": []}', "b.geojson")
    assert "expected a FeatureCollection with features" in errors_of(feature)[0]
    vn2000 = GOOD.replace(
        '"FeatureCollection",',
        '"FeatureCollection",\n "crs": {"type": "name", "properties": '
        '{"name": "urn:ogc:def:crs:EPSG::3405"}},',
    )
    path = write(tmp_path, vn2000, "c.geojson")
    assert errors_of(path) == [
        f"{path}:2: coordinates in urn:ogc:def:crs:EPSG::3405 — xuất lại theo WGS 84 "
        "(EPSG:4326) / export again as WGS 84 (EPSG:4326)"
    ]
    wgs84 = vn2000.replace("EPSG::3405", "OGC:1.3:CRS84")
    assert len(load_areas(write(tmp_path, wgs84, "d.geojson"))) == 3


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'camnet.db'}")
    create_schema(eng)
    with Session(eng) as session:
        session.add(Province(code="01", name="Hà Nội"))
        session.flush()
        session.add(Commune(code="00139", name="Phường Bồ Đề", province_code="01"))
        session.commit()
    yield eng
    eng.dispose()


def test_unknown_commune_is_refused_with_its_line(tmp_path: Path, engine: Engine) -> None:
    text = GOOD.replace('"commune": "00139", "kind": "area"', '"commune": "00127", "kind": "area"')
    path = write(tmp_path, text)
    with pytest.raises(RegistryError) as info:
        import_areas(engine, load_areas(path))
    assert [str(e) for e in info.value.errors] == [
        f"{path}:15: features[2] (bd-area).properties.commune: '00127' is not in communes — "
        "nhập xã này trước (camnet registry import) hoặc sửa mã / import the commune first "
        "(camnet registry import) or fix the code"
    ]
    with Session(engine) as session:
        assert session.exec(select(KeyArea)).all() == [], "nothing written"


def test_import_upserts_and_export_reads_back_the_same(tmp_path: Path, engine: Engine) -> None:
    entries = load_areas(write(tmp_path, GOOD))
    first = import_areas(engine, entries)
    assert (first.added, first.updated, first.unchanged) == (3, 0, 0)
    assert first.by_kind == {"hotspot": 1, "main_road": 1, "village_border": 0, "area": 1}
    again = import_areas(
        engine, load_areas(write(tmp_path, GOOD.replace('"weight": 2', '"weight": 3')))
    )
    assert (again.added, again.updated, again.unchanged) == (0, 1, 2)
    text = export_areas(engine)
    back = load_areas(write(tmp_path, text, "export.geojson"))
    assert [e.row() for e in back] == [
        e.row() | {"weight": 3.0} if e.id == "bd-road-1" else e.row()
        for e in sorted(entries, key=lambda e: e.id)
    ]
    assert [e.line for e in back] == [2, 3, 4], "one feature a line"
    assert json.loads(export_areas(engine, "00127")) == {
        "type": "FeatureCollection",
        "features": [],
    }


def test_poles_file(tmp_path: Path) -> None:
    text = """\
{"type": "FeatureCollection", "features": [
  {"type": "Feature", "properties": {"headings": [0, 450]},
   "geometry": {"type": "Point", "coordinates": [105.87, 21.04]}},
  {"type": "Feature", "properties": {"heading": 90},
   "geometry": {"type": "Point", "coordinates": [105.88, 21.05]}},
  {"type": "Feature", "properties": null,
   "geometry": {"type": "Point", "coordinates": [105.89, 21.06]}}
]}
"""
    assert load_points(write(tmp_path, text)) == [
        (105.87, 21.04, (0.0, 90.0)),
        (105.88, 21.05, (90.0,)),
        (105.89, 21.06, None),
    ]
    bad = text.replace('"heading": 90', '"heading": "east"').replace("[105.89, 21.06]", "[1, 2]")
    path = write(tmp_path, bad, "bad.geojson")
    with pytest.raises(RegistryError) as info:
        load_points(path)
    assert [str(e) for e in info.value.errors] == [
        f"{path}:4: features[1].properties.heading: not degrees: 'east' — viết danh sách độ, "
        "ví dụ [0, 90] / write a list of degrees, e.g. [0, 90]",
        f"{path}:7: features[2].geometry.coordinates: point 0 [1, 2] is outside Vietnam — "
        "kinh độ 102 đến 118, vĩ độ 8 đến 24 / lon 102 to 118, lat 8 to 24",
    ]
