"""The evaluation's CSV, XLSX and evidence export, read back, on the hand-built year."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine

from api.evaluation.compute import evaluate
from api.evaluation.evidence import write_evidence
from api.evaluation.period import period_for
from api.evaluation.result import to_json
from api.evaluation.rubric import Rubric
from api.evaluation.schema import Evaluation
from api.evaluation.tables import COLUMNS, write_csv, write_xlsx
from collector import store
from collector.db import create_schema, make_engine
from collector.models import Camera, Commune
from tests import db_fixtures as dbf
from tests.evaluation_helpers import NOW, build_year, vn

postgres_server, pg_url, sqlite_url, db_url = (
    dbf.postgres_server,
    dbf.pg_url,
    dbf.sqlite_url,
    dbf.db_url,
)
SHEETS = ["Tổng hợp", "Xã", "Theo tháng", "Chấm điểm", "Nhiệm vụ"]


def _build(url: str) -> Engine:
    """The hand-built year, plus commune 00004 whose camera cam-d1 reports all year."""
    engine = make_engine(url)
    create_schema(engine)
    build_year(engine)
    with engine.begin() as conn:
        conn.execute(
            Commune.__table__.insert(),  # type: ignore[attr-defined]
            {"code": "00004", "name": "Xã Bốn", "province_code": "26", "district_code": "001"},
        )
        conn.execute(Camera.__table__.insert(), {"id": "cam-d1", "commune_code": "00004"})  # type: ignore[attr-defined]
        store.set_status_from(conn, "cam-d1", vn(2025, 12, 1), "ok", "", None)
    return engine


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    """The year on SQLite (the tables do not read the database)."""
    engine = _build(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def any_engine(db_url: str) -> Iterator[Engine]:
    """The year on SQLite and on PostgreSQL (the evidence streams rows from either)."""
    engine = _build(db_url)
    yield engine
    engine.dispose()


def _evaluate(engine: Engine, scope: list[str] | None = None) -> Evaluation:
    name = "all" if scope is None else "communes:" + ",".join(scope)
    with engine.connect() as conn:
        return evaluate(
            conn, period_for(2026), Rubric.load(), scope=scope, scope_name=name, now=NOW
        )


@pytest.fixture
def evaluation(engine: Engine) -> Evaluation:
    return _evaluate(engine, ["00001", "00003"])


def _rows(ws: Any) -> list[dict[str, Any]]:
    """The sheet's rows as dicts keyed by the header row."""
    values = list(ws.iter_rows(values_only=True))
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def test_xlsx_read_back(evaluation: Evaluation, tmp_path: Path) -> None:
    path = tmp_path / "danh-gia.xlsx"
    write_xlsx(evaluation, path)
    wb = load_workbook(path)
    assert wb.sheetnames == SHEETS

    summary = {r[0]: r[1] for r in wb["Tổng hợp"].iter_rows(values_only=True) if r[0]}
    assert summary["Năm đánh giá"] == 2026
    assert summary["SHA-256 kết quả"] == evaluation.sha256
    assert summary["SHA-256 thang điểm"] == evaluation.rubric.sha256
    assert summary["Phạm vi"] == "communes:00001,00003"
    assert summary["Số liệu tính đến (UTC)"] == "2026-11-15T17:00:00Z"
    assert summary["001"] == "Huyện Một"  # the district table under the facts

    ws = wb["Xã"]
    assert ws.freeze_panes == "C2"
    communes = {r["Mã xã"]: r for r in _rows(ws)}
    assert sorted(communes) == ["00001", "00003"]
    a, c = communes["00001"], communes["00003"]
    assert a["Tỷ lệ hoạt động"] == pytest.approx(635 / 641, abs=1e-9)
    assert a["Ngày-camera lắp đặt"] == 641
    assert a["Ngày-camera hỏng"] == 5
    assert a["Gồm xã cũ"] == "00002"
    assert a["Hỏng dài nhất (ngày)"] == 3
    assert a["Camera hỏng dài nhất"] == "cam-a1"
    assert a["Bao phủ điểm nóng"] == pytest.approx(360 / 365)
    assert a["Bao phủ khu vực"] is None  # no key area of that kind: not 0
    assert c["Thời gian sửa trung bình (giờ)"] is None
    assert c["Hỏng dài nhất (ngày)"] is None
    assert c["Gồm xã cũ"] is None
    assert c["Chấm đủ tiêu chí"] == "Không"
    header = [cell.value for cell in ws[1]]
    ratio_col = header.index("Tỷ lệ hoạt động") + 1
    assert ws.cell(row=2, column=ratio_col).number_format == "0.0%"

    months = [r for r in _rows(wb["Theo tháng"]) if r["Mã xã"] == "00001"]
    assert [m["Tháng"] for m in months][:2] == ["11/2025", "12/2025"]
    assert len(months) == 13  # 16/11/2025 .. 15/11/2026: both Novembers partial
    assert months[0]["Ngày-camera hỏng"] == 2
    assert months[0]["Ngày-camera lắp đặt"] == 30  # cam-a1 + cam-b1, 15 days each

    scores = {(r["Mã xã"], r["Tiêu chí"]): r for r in _rows(wb["Chấm điểm"])}
    assert scores["00001", "working"]["Điểm"] == 40
    assert scores["00001", "Tổng"]["Điểm"] == evaluation.communes[0].score.points
    assert scores["00003", "working"]["Điểm"] is None
    assert scores["00003", "working"]["Lý do không chấm"]

    tasks = {r["Mã xã"]: r for r in _rows(wb["Nhiệm vụ"])}
    assert tasks["00001"]["Nhiệm vụ phát sinh"] == 2
    assert tasks["00001"]["Thời gian sửa trung bình (giờ)"] == pytest.approx(60)
    assert tasks["00003"]["Tỷ lệ sửa đúng hạn"] is None


def test_xlsx_is_deterministic(evaluation: Evaluation, tmp_path: Path) -> None:
    write_xlsx(evaluation, tmp_path / "a.xlsx")
    write_xlsx(evaluation, tmp_path / "b.xlsx")
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()


def test_csv_read_back(evaluation: Evaluation) -> None:
    out = io.StringIO(newline="")
    write_csv(evaluation, out)
    reader = csv.DictReader(io.StringIO(out.getvalue(), newline=""))
    assert reader.fieldnames == [col.key for col in COLUMNS]
    rows = {r["code"]: r for r in reader}
    a, c = rows["00001"], rows["00003"]
    assert a["name"] == "Xã Mới"
    assert a["merged_from"] == "00002"
    assert a["down_days"] == "5"
    assert a["installed_days"] == "641"
    assert float(a["working_ratio"]) == pytest.approx(635 / 641, abs=1e-15)
    assert a["longest_outage_days"] == "3"
    assert a["tasks_due"] == "3"
    assert float(a["within_sla_ratio"]) == pytest.approx(1 / 3)
    assert a["coverage_main_road"] == ""
    assert a["score_complete"] == "true"
    assert c["coverage_hotspot"] == ""
    assert c["mean_repair_hours"] == ""
    assert c["longest_outage_days"] == ""
    assert c["grade"] == ""
    assert c["down_days"] == "0"  # known: nothing was down
    assert c["score_complete"] == "false"


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_evidence(any_engine: Engine, tmp_path: Path) -> None:
    evaluation = _evaluate(any_engine, ["00001"])
    with any_engine.connect() as conn:
        manifest_path = write_evidence(conn, evaluation, tmp_path / "chung-cu")
    folder = manifest_path.parent
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert manifest["year"] == 2026
    assert manifest["scope"] == "communes:00001"
    assert manifest["result_sha256"] == evaluation.sha256
    assert manifest["how"]
    names = {"communes.csv", "cameras.csv", "intervals.csv", "tasks.csv", "key_areas.csv"}
    assert set(manifest["files"]) == {*names, "evaluation.json"}
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert entry["bytes"] == len(data), name
        if name in names:
            assert entry["rows"] == len(_csv(folder / name)), name
    assert (folder / "evaluation.json").read_bytes() == to_json(evaluation)

    communes = {r["code"]: r["reported_code"] for r in _csv(folder / "communes.csv")}
    assert communes == {"00001": "00001", "00002": "00001"}

    cameras = {r["id"]: r for r in _csv(folder / "cameras.csv")}
    assert sorted(cameras) == ["cam-a1", "cam-a2", "cam-b1"]
    assert cameras["cam-b1"]["commune_code"] == "00002"
    assert cameras["cam-b1"]["reported_commune"] == "00001"
    assert cameras["cam-b1"]["removed_on"] == "2026-02-16"
    assert cameras["cam-a1"]["priority"] == "hotspot"

    intervals = _csv(folder / "intervals.csv")
    keys = [(r["camera_id"], r["start"]) for r in intervals]
    assert keys == sorted(keys)
    assert {r["camera_id"] for r in intervals} == {"cam-a1", "cam-a2", "cam-b1"}
    b1 = [(r["status"], r["start"], r["end"]) for r in intervals if r["camera_id"] == "cam-b1"]
    assert b1 == [
        ("ok", "2025-09-30T17:00:00Z", "2025-12-31T17:00:00Z"),
        ("degraded", "2025-12-31T17:00:00Z", "2026-02-15T17:00:00Z"),
        ("down", "2026-02-15T17:00:00Z", ""),  # after its removal: exported, not counted
    ]
    a1 = [r["status"] for r in intervals if r["camera_id"] == "cam-a1"]
    assert a1 == ["down", "ok", "down"]  # the ok before 14/11/2025 ended before the period

    tasks = _csv(folder / "tasks.csv")
    assert [r["id"] for r in tasks] == ["1", "2", "3"]  # task 4 ended before the period
    assert tasks[1]["fixed_at"] == ""
    assert tasks[2]["commune_code"] == "00002"

    areas = _csv(folder / "key_areas.csv")
    assert [a["id"] for a in areas] == ["hs-1"]
    assert json.loads(areas[0]["geometry"])["type"] == "Point"


def test_evidence_of_every_commune(any_engine: Engine, tmp_path: Path) -> None:
    evaluation = _evaluate(any_engine)
    with any_engine.connect() as conn:
        manifest_path = write_evidence(conn, evaluation, tmp_path)
    cameras = [r["id"] for r in _csv(tmp_path / "cameras.csv")]
    assert cameras == ["cam-a1", "cam-a2", "cam-b1", "cam-c1", "cam-c2", "cam-d1"]
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert manifest["files"]["intervals.csv"]["rows"] == 3 + 1 + 3 + 3 + 1
