"""``/api/v1/evaluations`` and ``camnet evaluate`` on the hand-built year (SQLite).

The API computes the caller's scope (a read-only token for the scoring system sees every
commune, a commune officer only theirs) and records each new digest; the CLI writes every
format, reports progress, and refuses a broken rubric naming its file and line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import camnet_cli
from api.app import create_app
from api.evaluation.compute import evaluate
from api.evaluation.period import period_for
from api.evaluation.rubric import Rubric
from api.evaluation.schema import json_schema
from api.pages_evaluation import current_year
from api.users import UserIn, create_token, create_user
from collector.db import create_schema, make_engine
from tests import db_fixtures as dbf
from tests.api_helpers import api_settings
from tests.evaluation_helpers import NOW, build_year
from tests.pages_helpers import PASSWORD, login

sqlite_url = dbf.sqlite_url
URL = "/api/v1/evaluations/2026"


@pytest.fixture
def world(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    engine = make_engine(sqlite_url)
    create_schema(engine)
    build_year(engine)
    tokens: dict[str, str] = {}
    now = datetime.now(UTC)
    people = [
        UserIn(username="admin", role="admin"),
        UserIn(username="scoring", role="reader"),
        UserIn(username="officer-c", role="commune", communes=["00003"]),
        UserIn(username="district", role="district", district_code="001"),
    ]
    with engine.begin() as conn:
        for person in people:
            uid = create_user(conn, person, now)
            ro = person.role == "reader"
            tokens[person.username] = create_token(conn, uid, "t", now, read_only=ro)
    with engine.connect() as conn:
        expected = evaluate(conn, period_for(2026), Rubric.load(), now=NOW).sha256
    engine.dispose()
    with TestClient(create_app(api_settings(sqlite_url, tmp_path), background=False)) as client:
        yield client, {u: f"Bearer {t}" for u, t in tokens.items()}, expected


def get(client: TestClient, auth: str, url: str, **params: object) -> object:
    return client.get(url, headers={"Authorization": auth}, params=params)  # type: ignore[arg-type]


def test_read_only_token_gets_every_commune_and_the_digest_is_recorded(
    world: tuple[TestClient, dict[str, str], str],
) -> None:
    client, auth, expected = world
    first = client.get(URL, headers={"Authorization": auth["scoring"]})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["schema"] == "camnet/evaluation/v1"
    assert [c["code"] for c in body["communes"]] == ["00001", "00003"]
    assert body["sha256"] == expected  # the same figures as computed directly
    assert (body["scope"], body["changed"], body["previous_sha256"]) == ("all", None, None)
    again = client.get(URL, headers={"Authorization": auth["scoring"]}).json()
    assert (again["record"], again["changed"]) == (body["record"], False)  # no new row
    records = client.get(f"{URL}/records", headers={"Authorization": auth["scoring"]}).json()
    assert [r["sha256"] for r in records] == [expected]
    doc = client.get(
        f"/api/v1/evaluations/records/{body['record']}", headers={"Authorization": auth["admin"]}
    ).json()
    assert doc["sha256"] == expected


def test_scope_of_a_commune_officer(world: tuple[TestClient, dict[str, str], str]) -> None:
    client, auth, _ = world
    officer = {"Authorization": auth["officer-c"]}
    body = client.get(URL, headers=officer).json()
    assert [c["code"] for c in body["communes"]] == ["00003"]
    assert body["scope"] == "communes:00003"
    assert client.get(URL, headers=officer, params={"commune": "00001"}).status_code == 404
    everything = client.get(URL, headers={"Authorization": auth["admin"]}).json()
    hidden = client.get(f"/api/v1/evaluations/records/{everything['record']}", headers=officer)
    assert hidden.status_code == 404  # a record holding other communes' figures
    mine = client.get(f"{URL}/records", headers=officer).json()
    assert [r["scope"] for r in mine] == ["communes:00003"]


def test_district_filter_exports_and_schema(world: tuple[TestClient, dict[str, str], str]) -> None:
    client, auth, _ = world
    headers = {"Authorization": auth["district"]}
    body = client.get(URL, headers=headers, params={"district": "001"}).json()
    assert body["scope"] == "district:001"
    got = client.get(f"{URL}/export.csv", headers=headers, params={"district": "001"})
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert [r["code"] for r in rows] == ["00001", "00003"]
    assert got.headers["x-sha256"] == body["sha256"]
    xlsx = client.get(f"{URL}/export.xlsx", headers=headers)
    assert xlsx.content[:2] == b"PK"  # a zip: the workbook
    pdf = client.get(f"{URL}/export.pdf", headers=headers, params={"commune": "00001"})
    assert pdf.content[:5] == b"%PDF-"
    schema = client.get("/api/v1/evaluations/schema.json", headers=headers).json()
    assert schema == json.loads(json.dumps(json_schema()))
    assert client.get("/api/v1/evaluations/1999", headers=headers).status_code == 422
    assert client.get(URL).status_code == 401


def cli(*args: str) -> int:
    return camnet_cli.main(["evaluate", *args])


@pytest.fixture
def year_db(sqlite_url: str) -> str:
    engine = make_engine(sqlite_url)
    create_schema(engine)
    build_year(engine)
    engine.dispose()
    return sqlite_url


def test_cli_formats_progress_and_record(
    year_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "e.json"
    assert cli("--year", "2026", "--db", year_db, "--out", str(out)) == 0
    err = capsys.readouterr().err
    assert "[######] 6/6 score" in err
    assert "lần đầu / first record" in err
    doc = json.loads(out.read_text("utf-8"))
    assert [c["code"] for c in doc["communes"]] == ["00001", "00003"]
    assert cli("--year", "2026", "--db", year_db, "--out", str(out), "--quiet") == 0
    assert capsys.readouterr().err == ""
    assert cli("--year", "2026", "--db", year_db, "--format", "csv", "--district", "001") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["code"] for r in rows] == ["00001", "00003"]
    evidence = tmp_path / "evidence"
    args = ["--year", "2026", "--db", year_db, "--commune", "00001", "--no-record"]
    assert (
        cli(
            *args,
            "--format",
            "xlsx",
            "--out",
            str(tmp_path / "e.xlsx"),
            "--evidence",
            str(evidence),
        )
        == 0
    )
    manifest = json.loads((evidence / "manifest.json").read_text("utf-8"))
    assert manifest["scope"] == "communes:00001"
    assert cli(*args, "--format", "pdf", "--out", str(tmp_path / "e.pdf")) == 0
    assert (tmp_path / "e.pdf").read_bytes()[:5] == b"%PDF-"


def test_cli_refuses_bad_input(
    year_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rubric = tmp_path / "thang-diem.yaml"
    rubric.write_text("name: x\nversion: '1'\ncriteria:\n  - id: a\n    metric: nope\n", "utf-8")
    assert cli("--year", "2026", "--db", year_db, "--rubric", str(rubric)) == 2
    err = capsys.readouterr().err
    assert f"{rubric}:4" in err
    assert cli("--check-config") == 0
    assert "camnet-mac-dinh 2026.1" in capsys.readouterr().out
    assert cli("--db", year_db) == 2
    assert "--year" in capsys.readouterr().err
    assert cli("--year", "2026", "--db", year_db, "--format", "pdf") == 2
    assert cli("--year", "2026", "--db", year_db, "--period-start", "31/11") == 2
    assert "16/11" in capsys.readouterr().err
    assert cli("--year", "2026", "--db", year_db, "--district", "999") == 2


def test_dashboard_page(world: tuple[TestClient, dict[str, str], str]) -> None:
    client, _, expected = world
    engine = make_engine(str(client.app.state.settings.db_url))  # type: ignore[attr-defined]
    with engine.begin() as conn:
        create_user(conn, UserIn(username="chu-tich", role="admin", password=PASSWORD), NOW)
    engine.dispose()
    assert login(client, "chu-tich").status_code == 303
    page = client.get("/evaluations", params={"year": 2026})
    assert page.status_code == 200
    html = page.text
    assert "Đánh giá camera năm 2026" in html
    assert 'data-commune="00001"' in html
    assert "gồm xã cũ 00002" in html
    assert expected in html  # the digest of the figures shown
    assert 'href="/api/v1/evaluations/2026/export.pdf"' in html
    assert "chưa xếp loại" in html  # 00003: not enough data, no grade
    assert client.get("/evaluations").status_code == 200  # the last finished period


def test_current_year_is_the_period_running() -> None:
    assert current_year("16/11", datetime(2026, 11, 15, 12, tzinfo=UTC)) == 2026
    assert current_year("16/11", datetime(2026, 11, 16, 12, tzinfo=UTC)) == 2027
    assert current_year("1/1", datetime(2026, 11, 16, 12, tzinfo=UTC)) == 2026
