"""``camnet areas``, ``camnet coverage``, ``camnet placement`` through the real entry point.

The small commune of the coverage tests is drawn with exact ground distances (pyproj's
geodesic), so every figure below is worked out by hand in the comments:

    road A ───────────────────────────────────────────── B   (400 m, west to east)
              cam-1 ▶ at 100 m, looks east (fov 90°, range 60 m)
              hs-1 10 m south of 130 m; square 20 by 20 m at 120-140 m, ±10 m
                                          cam-2 ▼ 20 m north of 300 m, looks south
                                          hs-2 15 m south of 300 m

cam-1 sees the road from 100 to 160 m (60 m), hs-1 (31.6 m away, 18.4° off its axis) and
the whole square (farthest corner 41.2 m, widest 26.6° off axis). cam-2 reaches the road
where |x - 300| <= 20 tan 45° = 20 m (the circle would allow 56.6 m): 280-320 m, 40 m;
and hs-2, 35 m straight ahead.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyproj import Geod
from sqlalchemy import insert, update
from sqlmodel import Session, func, select

import camnet_cli
from collector.db import make_engine
from collector.models import KeyArea
from collector.store import STATE

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
GEOD = Geod(ellps="WGS84")
A = (105.80, 21.00)


def at(east: float, north: float = 0.0) -> list[float]:
    """[lon, lat] ``east`` m along the road from A, then ``north`` m off it."""
    lon, lat, _ = GEOD.fwd(*A, 90.0, east)
    if north:
        lon, lat, _ = GEOD.fwd(lon, lat, 0.0 if north > 0 else 180.0, abs(north))
    return [round(lon, 10), round(lat, 10)]


def url_of(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'camnet.db'}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = camnet_cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def count_areas(url: str) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return session.exec(select(func.count()).select_from(KeyArea)).one()
    finally:
        engine.dispose()


# ----------------------------------------------------------------------------- areas


def test_areas_import_export_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, example = url_of(tmp_path), str(DEPLOY / "areas.example.geojson")
    code, out, _ = run(capsys, "areas", "import", example, "--check", "--db", url)
    assert (code, out) == (0, "Khu vực hợp lệ / key areas OK (không có CSDL / no DB): 10 areas\n")
    assert (
        run(capsys, "registry", "import", str(DEPLOY / "registry.example.yaml"), "--db", url)[0]
        == 0
    )
    code, out, _ = run(capsys, "areas", "import", example, "--db", url)
    assert code == 0
    assert out == (
        "Đã nhập khu vực trọng điểm / key areas imported: 10 mới / added, 0 cập nhật / "
        "updated, 0 giữ nguyên / unchanged\n  3 điểm nóng / hotspot, 3 đường chính / main_road, "
        "2 ranh giới thôn / village_border, 2 khu vực / area\n"
    )
    exported = tmp_path / "out.geojson"
    code, _, err = run(capsys, "areas", "export", "--out", str(exported), "--db", url)
    assert (code, err) == (0, f"Đã xuất / exported 10 areas to {exported}\n")
    code, out, _ = run(capsys, "areas", "import", str(exported), "--db", url)
    assert "0 mới / added, 0 cập nhật / updated, 10 giữ nguyên / unchanged" in out
    code, out, _ = run(capsys, "areas", "export", "--commune", "00127", "--db", url)
    features = json.loads(out)["features"]
    assert {f["properties"]["commune"] for f in features} == {"00127"}
    assert [f["properties"]["id"] for f in features] == [
        "lb-vh-area-taidinhcu", "lb-vh-border-giangbien", "lb-vh-hs-ubnd", "lb-vh-road-ngogiatu",
    ]  # fmt: skip
    everything = json.loads(exported.read_text(encoding="utf-8"))["features"]
    assert features == [f for f in everything if f["properties"]["commune"] == "00127"]


def test_invalid_areas_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = url_of(tmp_path)
    assert (
        run(capsys, "registry", "import", str(DEPLOY / "registry.example.yaml"), "--db", url)[0]
        == 0
    )
    text = (DEPLOY / "areas.example.geojson").read_text(encoding="utf-8")
    bad = tmp_path / "bad.geojson"
    bad.write_text(text.replace('"commune": "00127", "kind": "hotspot"',
                                '"commune": "00128", "kind": "hotspot"'), "utf-8")  # fmt: skip
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "lb-vh-hs-ubnd" in s)
    code, _, err = run(capsys, "areas", "import", str(bad), "--db", url)
    assert code == 2
    assert err == (
        "Khu vực trọng điểm sai / invalid key areas, chưa ghi gì / nothing written (1 lỗi / "
        f"errors):\n  {bad}:{line}: features[7] (lb-vh-hs-ubnd).properties.commune: '00128' is "
        "not in communes — nhập xã này trước (camnet registry import) hoặc sửa mã / import the "
        "commune first (camnet registry import) or fix the code\n"
    )
    assert count_areas(url) == 0
    bad.write_text(text.replace('"type": "LineString"', '"type": "Point"', 1), "utf-8")
    code, _, err = run(capsys, "areas", "import", str(bad), "--check", "--db", url)
    assert code == 2
    assert "features[0] (lb-bd-road-nvc).geometry.type: type 'Point' is not allowed" in err


# -------------------------------------------------------------------------- coverage

REGISTRY = f"""\
provinces: [{{code: "01", name: Hà Nội}}]
communes: [{{code: "99001", name: Xã Thử, province: "01"}}]
cameras:
  - {{id: cam-1, commune: "99001", lon: {at(100)[0]}, lat: {at(100)[1]}, heading: 90,
     fov: 90, range_m: 60}}
  - {{id: cam-2, commune: "99001", lon: {at(300, 20)[0]}, lat: {at(300, 20)[1]}, heading: 180,
     fov: 90, range_m: 60}}
"""


def _feature(area_id: str, kind: str, geometry: dict[str, object], weight: float = 1) -> str:
    props = {"id": area_id, "commune": "99001", "kind": kind, "weight": weight}
    return json.dumps({"type": "Feature", "properties": props, "geometry": geometry})


AREAS = (
    '{"type": "FeatureCollection", "features": [\n'
    + ",\n".join([
        _feature("road", "main_road", {"type": "LineString", "coordinates": [at(0), at(400)]}),
        _feature("hs-1", "hotspot", {"type": "Point", "coordinates": at(130, -10)}, 2),
        _feature("hs-2", "hotspot", {"type": "Point", "coordinates": at(300, -15)}),
        _feature("square", "area", {"type": "Polygon", "coordinates": [
            [at(120, -10), at(140, -10), at(140, 10), at(120, 10), at(120, -10)]]}),
    ])
    + "\n]}\n"
)  # fmt: skip


@pytest.fixture
def commune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The hand-drawn commune in a fresh database: cam-1 ok, cam-2 down."""
    url = url_of(tmp_path)
    (tmp_path / "r.yaml").write_text(REGISTRY, encoding="utf-8")
    (tmp_path / "a.geojson").write_text(AREAS, encoding="utf-8")
    assert run(capsys, "registry", "import", str(tmp_path / "r.yaml"), "--db", url)[0] == 0
    assert run(capsys, "areas", "import", str(tmp_path / "a.geojson"), "--db", url)[0] == 0
    since = datetime(2026, 1, 1, tzinfo=UTC)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(STATE), [
            {"camera_id": cam, "status": status, "faults": "", "since": since,
             "pending_count": 0, "pending_faults": ""}
            for cam, status in (("cam-1", "ok"), ("cam-2", "down"))
        ])  # fmt: skip
    engine.dispose()
    return url


def test_coverage_of_a_hand_drawn_commune(
    commune: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gaps_file = tmp_path / "gaps.geojson"
    code, out, _ = run(capsys, "coverage", "--commune", "99001", "--json", "--geojson",
                       str(gaps_file), "--db", commune)  # fmt: skip
    assert code == 0
    report = json.loads(out)
    figures = {k: (c["total"], c["covered"]) for k, c in report["classes"].items()}
    assert figures["main_road"] == pytest.approx((400.0, 60.0), abs=0.05)
    assert figures["hotspot"] == (3.0, 2.0)  # hs-1 (weight 2) seen, hs-2 (1) not
    assert figures["area"] == pytest.approx((400.0, 400.0), rel=1e-3)
    assert figures["village_border"] == (0.0, 0.0)
    assert report["cameras"] == {"total": 2, "working": 1, "not_placed": 0}
    # Road: 0-100 and 160-400 unseen; cam-2 (down) would see 280-320 of the second.
    # hs-2: cam-2 would see it. Square: seen whole.
    assert report["gaps"] == {"repairable": 2, "no_camera": 3}
    gaps = sorted(
        (f["properties"]["area_id"], f["properties"]["tag"], round(f["properties"]["size"], 1),
         f["properties"]["cameras"])
        for f in json.loads(gaps_file.read_text(encoding="utf-8"))["features"]
    )  # fmt: skip
    assert gaps == [
        ("hs-2", "repairable", 1.0, ["cam-2"]),
        ("road", "no_camera", 80.0, []),
        ("road", "no_camera", 100.0, []),
        ("road", "no_camera", 120.0, []),
        ("road", "repairable", 40.0, ["cam-2"]),
    ]
    code, out, _ = run(capsys, "coverage", "--commune", "99001", "--db", commune)
    assert [" ".join(line.split()) for line in out.splitlines()] == [
        "Độ phủ / coverage — xã / commune 99001 Xã Thử",
        "camera: 1 hoạt động / working of 2; 0 thiếu vị trí hoặc hướng / without position or "
        "heading",
        "lớp / class đơn vị / unit tổng / total phủ / covered %",
        "điểm nóng / hotspot trọng số / weight 3.0 2.0 66.7",
        "đường chính / main_road m 400.0 60.0 15.0",
        "ranh giới thôn / village_border m 0.0 0.0 -",
        "khu vực / area m² 400.0 400.0 100.0",
        "khoảng trống / gaps: 2 sửa được / repairable, 3 không có camera / no_camera",
    ]


def test_coverage_after_the_broken_camera_is_repaired(
    commune: str, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(commune)
    with engine.begin() as conn:
        conn.execute(update(STATE).where(STATE.c.camera_id == "cam-2").values(status="ok"))
    engine.dispose()
    code, out, err = run(capsys, "coverage", "--all", "--json", "--db", commune)
    assert code == 0
    assert "1/1 communes" in err
    (report,) = json.loads(out)["communes"]
    assert report["classes"]["main_road"]["covered"] == pytest.approx(100.0, abs=0.05)
    assert report["classes"]["hotspot"]["covered"] == 3.0
    assert report["gaps"] == {"repairable": 0, "no_camera": 3}  # 0-100, 160-280, 320-400


def test_unknown_commune_and_missing_database(
    commune: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "coverage", "--commune", "99002", "--db", commune)
    assert code == 2
    assert "no commune '99002' in the database" in err
    code, _, err = run(capsys, "placement", "--commune", "99001", "--db",
                       f"sqlite:///{tmp_path / 'none.db'}")  # fmt: skip
    assert code == 1
    assert "no database at" in err
    assert not (tmp_path / "none.db").exists()


# ------------------------------------------------------------------------- placement


def test_placement_on_poles_picks_the_biggest_gain_first(
    commune: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A pole at 200 m looking east sees 200-260 m of unseen road: 60 / 400 = 0.15 of the
    # road's weight 1. A pole at 50 m looking west sees 50-0 m: 50 / 400 = 0.125.
    poles = tmp_path / "poles.geojson"
    poles.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"headings": [270]},
         "geometry": {"type": "Point", "coordinates": at(50)}},
        {"type": "Feature", "properties": {"heading": 90},
         "geometry": {"type": "Point", "coordinates": at(200)}},
    ]}), encoding="utf-8")  # fmt: skip
    code, out, _ = run(capsys, "placement", "--commune", "99001", "-k", "3", "--poles",
                       str(poles), "--json", "--db", commune)  # fmt: skip
    assert code == 0
    picks = json.loads(out)
    assert len(picks) == 2, "nothing left to gain after both poles"
    assert [p["lon"] for p in picks] == [at(200)[0], at(50)[0]]
    assert [p["heading"] for p in picks] == [90.0, 270.0]
    assert [p["gain"] for p in picks] == pytest.approx([0.15, 0.125], abs=1e-4)
    assert picks[0]["gain_by_kind"]["main_road"] == pytest.approx(0.15, abs=1e-4)
    assert picks[0]["adds"]["main_road"] == pytest.approx(60.0, abs=0.05)
    assert picks[1]["adds"]["main_road"] == pytest.approx(50.0, abs=0.05)


def test_placement_along_roads(
    commune: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Sites every 50 m, each looking both ways along the road and both ways across. Best:
    # 250 m looking east sees 250-310 m of unseen road (0.15) and hs-2 (52.2 m away, 16.7°
    # off axis: its whole weight, 1): 1.15. (350 m looking west ties; the earlier site wins.)
    out_file = tmp_path / "placement.geojson"
    code, out, _ = run(capsys, "placement", "--commune", "99001", "-k", "2", "--geojson",
                       str(out_file), "--db", commune)  # fmt: skip
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        "Gợi ý 2 camera mới / 2 new cameras for commune 99001 (fov 90°, range 60 m; ứng viên / "
        "candidates: 9 điểm dọc đường chính / sites along main roads every 50 m)"
    )
    first = lines[2].split()
    assert [float(first[1]), float(first[2])] == pytest.approx(at(250), abs=1e-6)
    assert first[3] == "90.0°"
    assert float(first[4]) == pytest.approx(1.15, abs=1e-3)
    assert lines[3] == "   thêm / adds: hotspot +1.0 weight, main_road +60.0 m"
    features = json.loads(out_file.read_text(encoding="utf-8"))["features"]
    assert [f["properties"]["feature"] for f in features] == ["camera", "sector"] * 2
    assert features[1]["geometry"]["type"] == "Polygon"
