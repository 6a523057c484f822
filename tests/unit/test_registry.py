"""The registry: every error names file, line and fix; files round-trip through the DB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from collector.db import create_schema, make_engine
from collector.errors import DatabaseError, RegistryError
from collector.models import Camera
from collector.registry import TABLES, check_registry, combine, import_registry
from collector.registry_io import CSV_COLUMNS, export_registry, installed_cameras, load_registry

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
provinces:
  - {code: "01", name: Hà Nội}
districts:
  - {code: "004", name: Quận Long Biên, province: "01"}
communes:
  - code: "00139"
    name: Phường Bồ Đề
    province: "01"
    district: "004"
  - code: "00133"
    name: Phường Ngọc Lâm
    province: "01"
    valid_to: 2025-06-30
    merged_into: "00139"
sites:
  - id: nvr-1
    commune: "00139"
    name: Công an phường
agents:
  - id: agent-1
    site: nvr-1
cameras:
  - id: cam-1
    commune: "00139"
    site: nvr-1
    agent: agent-1
    name: Ngã tư Nguyễn Văn Cừ
    lat: 21.0437
    lon: 105.8745
    heading: 90
    fov: 95
    range_m: 60
    expected: {codec: h264, width: 1920, height: 1080, fps: 25, audio: false}
    installed_on: 2023-05-10
    priority: main_road
  - id: cam-2
    commune: "00133"
    name: Chợ Ngọc Lâm (cũ)
    camera_type: dome
    installed_on: 2019-03-01
    removed_on: 2024-11-15
    funding: socialised
"""

CSV_HEADER = ",".join(CSV_COLUMNS["cameras"]) + "\n"  # id,commune,site,...,priority
CSV = (
    CSV_HEADER
    + "cam-3,00139,nvr-1,agent-1,Cổng trường,21.04,105.87,45,90,40,bullet,h264,1920,1080,20,"
    "false,2024-01-12,,budget,normal\n"
    + 'cam-4,00139,nvr-1,,"Bãi xe, chung cư",21.05,105.88,,100,25,dome,,,,,,,,socialised,'
    "hotspot\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_with(text: str, snippet: str) -> int:
    """1-based line of the one occurrence of ``snippet`` in ``text``."""
    assert text.count(snippet) == 1, snippet
    return text[: text.index(snippet)].count("\n") + 1


def errors_of(path: Path) -> list[str]:
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    return [str(e) for e in info.value.errors]


def new_engine(path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{path}")
    create_schema(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield from new_engine(tmp_path / "a.db")


@pytest.fixture
def other_engine(tmp_path: Path) -> Iterator[Engine]:
    yield from new_engine(tmp_path / "b.db")


def tables(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with Session(engine) as session:
        return {
            kind: sorted((row.model_dump() for row in session.exec(select(table))), key=str)
            for kind, table in TABLES.items()
        }


def test_good_yaml_loads_with_vietnamese_names(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, "r.yaml", GOOD))
    first, second = registry.cameras
    assert (first.id, first.name, first.expected.width) == ("cam-1", "Ngã tư Nguyễn Văn Cừ", 1920)
    assert (second.removed_on, registry.communes[1].merged_into) == (date(2024, 11, 15), "00139")


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("range_m: 60", "range_m: far", ["cameras.0.range_m", "(got 'far')", "write a number"]),
        ("fov: 95", "fovv: 95", ["cameras.0.fovv", "remove it or check its spelling"]),
        ("camera_type: dome", "camera_type: cone", ["cameras.1.camera_type", "'ptz'"]),
        ("lat: 21.0437", "lat: 48.85", ["cameras.0.lat", "outside Vietnam (latitude 8 to 24)"]),
        ("lon: 105.8745", "lon: 21.04", ["cameras.0.lon", "lat/lon (swapped?)"]),
        ("removed_on: 2024-11-15", "removed_on: 2018-01-01", ["before installed_on"]),
        ("heading: 90", "heading: 400", ["cameras.0.heading", "allowed range"]),
        ('  - id: cam-2\n    commune: "00133"', "  - id: cam-2\n    commune: 133", ["quotes"]),
        (
            'commune: "00133"',
            'commune: "133"',
            ["cameras.1.commune", '5 digits in quotes: "00127"'],
        ),
        ("    valid_to: 2025-06-30\n", "", ["communes.1.merged_into", "needs valid_to"]),
        ("  - id: cam-2", "  - id: cam 2", ["cameras.1.id", "letters, digits"]),
        ("installed_on: 2023-05-10", "installed_on: 10/05/2023", ["YYYY-MM-DD"]),
    ],
)
def test_each_yaml_error_names_file_line_and_fix(
    tmp_path: Path, old: str, new: str, words: list[str]
) -> None:
    text = GOOD.replace(old, new)
    path = write(tmp_path, "r.yaml", text)
    (error,) = errors_of(path)
    target = new.strip().splitlines()[-1] if new.strip() else "merged_into"
    assert error.startswith(f"{path}:{line_with(text, target)}: "), error
    assert " — " in error
    for word in words:
        assert word in error


def test_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    text = GOOD.replace("  - id: cam-2", "  - id: cam-1")
    path = write(tmp_path, "r.yaml", text)
    (error,) = errors_of(path)
    first, second = (i + 1 for i, line in enumerate(text.splitlines()) if "id: cam-1" in line)
    assert error.startswith(f"{path}:{second}: cameras.1.id: 'cam-1' appears twice")
    assert f"(first at {path}:{first})" in error


def test_yaml_syntax_and_top_level_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", GOOD.replace("fov: 95", "fov: [95"))
    (error,) = errors_of(path)
    assert "not valid YAML" in error
    path = write(tmp_path, "r2.yaml", GOOD + "camera:\n  - id: x\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:{len(GOOD.splitlines()) + 1}: camera: unknown list")


def test_reference_errors_name_the_line(tmp_path: Path) -> None:
    text = GOOD.replace('    commune: "00133"', '    commune: "00999"').replace(
        "    site: nvr-1\ncameras", "    site: nvr-9\ncameras"
    )
    path = write(tmp_path, "r.yaml", text)
    registry = load_registry(path)  # references are checked with the database, later
    with pytest.raises(RegistryError) as info:
        check_registry(registry)
    assert [str(e) for e in info.value.errors] == [
        f"{path}:{line_with(text, 'site: nvr-9')}: agents.0.site: 'nvr-9' is not in sites — "
        "thêm điểm NVR này vào sites / add it to sites first",
        f"{path}:{line_with(text, '00999')}: cameras.1.commune: '00999' is not in communes — "
        "thêm xã này vào communes / add it to communes first",
    ]


def test_csv_with_bom_quoted_newline_semicolons(tmp_path: Path) -> None:
    text = CSV.replace('"Bãi xe, chung cư"', '"Bãi xe,\nchung cư"')
    path = tmp_path / "c.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    first, second = load_registry(path).cameras
    assert (first.id, first.expected.audio, second.id) == ("cam-3", False, "cam-4")
    assert (second.name, second.site, second.agent) == ("Bãi xe,\nchung cư", "nvr-1", None)
    path = write(tmp_path, "c.csv", "id;commune;lat;lon;fov\ncam-1;00139;21,0437;105,87;92,5\n")
    (camera,) = load_registry(path).cameras  # Excel with Vietnamese regional settings
    assert (camera.lat, camera.lon, camera.fov) == (21.0437, 105.87, 92.5)


def test_csv_errors_name_the_csv_line(tmp_path: Path) -> None:
    text = CSV.replace('"Bãi xe, chung cư"', '"Bãi xe,\nchung cư"').replace(",hotspot\n", ",hot\n")
    text = text.replace("21.04,105.87", "21.04,205.87") + "\ncam-5,00139,,,,,,,,-3\n"
    path = write(tmp_path, "c.csv", text)
    assert errors_of(path) == [
        f"{path}:2: lon: 205.87 is outside Vietnam (longitude 102 to 118) — kiểm tra toạ độ, "
        "có đảo lat/lon không? / check lat/lon (swapped?)",
        f"{path}:3: priority: Input should be 'hotspot', 'main_road', 'border' or 'normal' "
        "(got 'hot') — dùng một trong các giá trị cho phép / use one of the allowed values",
        f"{path}:6: range_m: Input should be greater than 0 (got '-3') — viết số trong khoảng "
        "cho phép / write a number in the allowed range",
    ]


def test_csv_header_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", "id,name,colour\ncam-1,x,red\n")
    assert errors_of(path) == [
        f"{path}:1: colour: unknown column (cameras CSV) — xoá cột hoặc sửa tên / remove the "
        "column or fix its name",
        f"{path}:1: commune: missing column — thêm cột / add the column",
    ]


def test_csv_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(CSV_HEADER.encode() + "cam-9,00139,,,Hà\n".encode("cp1258"))
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:2: not UTF-8 — ")
    assert "CSV UTF-8" in error


GEOJSON = """\
{
  "type": "FeatureCollection",
  "features": [
    {
      "type": "Feature",
      "geometry": {"type": "Point", "coordinates": [105.87, 21.04]},
      "properties": {"id": "cam-5", "commune": "00139", "expected_fps": 15}
    },
    {
      "type": "Feature",
      "geometry": {"type": "Point",
                   "coordinates": [105.88, 21.05]},
      "properties": {"id": "cam-6", "commune": "00139", "name": "Cầu vượt",
                     "fov": "wide"}
    }
  ]
}
"""


def test_geojson_loads_points_as_cameras(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, "g.geojson", GEOJSON.replace('"wide"', "70")))
    first, second = registry.cameras
    assert (first.lat, first.lon, first.expected.fps) == (21.04, 105.87, 15)
    assert second.name == "Cầu vượt"


def test_geojson_errors_name_feature_and_line(tmp_path: Path) -> None:
    text = GEOJSON.replace("[105.88, 21.05]", "[21.05, 105.88]")
    path = write(tmp_path, "g.geojson", text)
    errors = errors_of(path)
    coords = line_with(text, '"coordinates": [21.05')
    assert errors[0].startswith(f"{path}:{coords}: features[1].geometry.coordinates: 105.88 is ")
    assert errors[1].startswith(f"{path}:{coords}: features[1].geometry.coordinates: 21.05 is ")
    fov = line_with(text, '"fov"')
    assert errors[2].startswith(f"{path}:{fov}: features[1].properties.fov: Input should be")
    assert len(errors) == 3


def test_geojson_shape_errors(tmp_path: Path) -> None:
    text = GEOJSON.replace('"type": "Point", "coordinates"', '"type": "Line", "coordinates"')
    path = write(tmp_path, "g.geojson", text)
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:4: features[0]: geometry must be a Point or null — ")
    path = write(tmp_path, "bad.geojson", GEOJSON.replace('"wide"}', '"wide",}'))
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:{line_with(GEOJSON, 'wide')}: not valid JSON: ")
    path = write(tmp_path, "list.geojson", "[]")
    (error,) = errors_of(path)
    assert "FeatureCollection" in error


def test_import_then_reimport_counts_added_updated_unchanged(
    tmp_path: Path, engine: Engine
) -> None:
    path = write(tmp_path, "r.yaml", GOOD)
    summary = import_registry(engine, load_registry(path))
    assert summary.counts["cameras"] == [2, 0, 0]
    assert summary.counts["agents"] == [1, 0, 0]
    write(tmp_path, "r.yaml", GOOD.replace("fov: 95", "fov: 80"))
    summary = import_registry(engine, load_registry(path))
    assert summary.counts["cameras"] == [0, 1, 1]
    assert summary.counts["communes"] == [0, 0, 2]
    assert "camera / cameras: 0 mới / added, 1 cập nhật / updated" in summary.text()
    camera = next(c for c in tables(engine)["cameras"] if c["id"] == "cam-1")
    assert (camera["fov"], camera["name"]) == (80, "Ngã tư Nguyễn Văn Cừ")
    assert tables(engine)["agents"][0]["commune_code"] == "00139", "the site's commune"


def test_csv_refers_to_what_the_database_holds(tmp_path: Path, engine: Engine) -> None:
    csv_path = write(tmp_path, "c.csv", CSV)
    with pytest.raises(RegistryError) as info:
        import_registry(engine, load_registry(csv_path))
    assert str(info.value.errors[0]).startswith(f"{csv_path}:2: commune: '00139' is not in")
    assert not tables(engine)["cameras"], "nothing written"
    import_registry(engine, load_registry(write(tmp_path, "r.yaml", GOOD)))
    assert import_registry(engine, load_registry(csv_path)).counts["cameras"] == [2, 0, 0]


def test_several_files_in_one_import(tmp_path: Path, engine: Engine) -> None:
    yaml_path = write(tmp_path, "r.yaml", GOOD)
    csv_path = write(tmp_path, "c.csv", CSV.replace("cam-4,", "cam-1,"))
    registry = combine([load_registry(yaml_path), load_registry(csv_path)])
    with pytest.raises(RegistryError) as info:
        import_registry(engine, registry)
    (error,) = info.value.errors
    line = line_with(GOOD, "id: cam-1")
    assert str(error).startswith(f"{csv_path}:3: id: 'cam-1' appears twice (first at ")
    assert f"(first at {yaml_path}:{line})" in str(error)
    assert not tables(engine)["provinces"]


def test_database_refusal_writes_nothing(tmp_path: Path, engine: Engine) -> None:
    registry = load_registry(write(tmp_path, "r.yaml", GOOD))
    with engine.begin() as conn:  # the database refuses cameras, after the communes went in
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON camera BEGIN SELECT RAISE(ABORT, 'no'); END"
        )
    with pytest.raises(DatabaseError, match="database refused the import"):
        import_registry(engine, registry)
    assert tables(engine) == {kind: [] for kind in TABLES}


def test_round_trip_yaml_csv_geojson_is_lossless(
    tmp_path: Path, engine: Engine, other_engine: Engine
) -> None:
    full = GOOD + MORE_CAMERAS
    import_registry(engine, load_registry(write(tmp_path, "r.yaml", full)))
    before = tables(engine)
    assert len(before["cameras"]) == 4
    yaml_text = export_registry(engine, "yaml")
    import_registry(other_engine, load_registry(write(tmp_path, "back.yaml", yaml_text)))
    assert tables(other_engine) == before
    assert export_registry(other_engine, "yaml") == yaml_text
    assert '"00139"' in yaml_text
    for fmt, name in (("csv", "back.csv"), ("geojson", "back.geojson")):
        with Session(other_engine) as session:
            for camera in session.exec(select(Camera)):
                session.delete(camera)
            session.commit()
        text = export_registry(engine, fmt)
        import_registry(other_engine, load_registry(write(tmp_path, name, text)))
        assert tables(other_engine) == before, fmt
    doc = json.loads(export_registry(engine, "geojson"))
    assert doc["features"][0]["geometry"] == {"type": "Point", "coordinates": [105.8745, 21.0437]}
    assert doc["features"][0]["properties"]["installed_on"] == "2023-05-10"
    assert doc["features"][1]["geometry"] is None
    communes = export_registry(engine, "csv", "communes")
    registry = load_registry(write(tmp_path, "communes.csv", communes))
    assert not registry.cameras, "told apart from a cameras CSV by its header"
    assert import_registry(other_engine, registry).counts["communes"] == [0, 0, 2]


MORE_CAMERAS = """\
  - id: cam-3
    commune: "00139"
    name: 'Dấu "ngoặc", phẩy'
    lat: 8.5
    lon: 109.999999
    heading: 359.5
    expected: {width: 640, fps: 12.5}
  - id: cam-4
    commune: "00139"
    expected: {audio: true}
"""


def test_installed_cameras_by_date_and_commune(tmp_path: Path, engine: Engine) -> None:
    text = GOOD + '  - id: cam-0\n    commune: "00139"\n'  # no dates: always installed
    import_registry(engine, load_registry(write(tmp_path, "r.yaml", text)))
    with Session(engine) as session:

        def ids(at: date, commune: str | None = None) -> list[str]:
            return [c.id for c in installed_cameras(session, at, commune)]

        assert ids(date(2018, 1, 1)) == ["cam-0"]
        assert ids(date(2019, 3, 1)) == ["cam-0", "cam-2"]
        assert ids(date(2023, 5, 10)) == ["cam-0", "cam-1", "cam-2"]
        assert ids(date(2024, 11, 15)) == ["cam-0", "cam-1"]
        assert ids(date(2023, 6, 1), "00133") == ["cam-2"]
