"""``camnet registry import/export`` through the real entry point and a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

import camnet_cli
from collector.db import make_engine
from collector.models import Camera, Commune

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
EXAMPLES = [str(DEPLOY / f"registry.example.{ext}") for ext in ("yaml", "csv", "geojson")]


def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'camnet.db'}"


def count(url: str, table: type[Camera] | type[Commune]) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return session.exec(select(func.count()).select_from(table)).one()
    finally:
        engine.dispose()


def test_check_then_import_then_reimport(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = db_url(tmp_path)
    assert camnet_cli.main(["registry", "import", *EXAMPLES, "--check", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "Sổ camera hợp lệ / registry OK (không có CSDL / no DB)" in out
    assert "10 camera" in out
    assert not (tmp_path / "camnet.db").exists(), "--check writes nothing"

    assert camnet_cli.main(["registry", "import", *EXAMPLES, "--db", url]) == 0
    out = capsys.readouterr().out
    assert "camera / cameras: 10 mới / added, 0 cập nhật / updated" in out
    assert count(url, Camera) == 10

    assert camnet_cli.main(["registry", "import", EXAMPLES[1], "--db", url]) == 0
    assert "camera / cameras: 0 mới / added, 0 cập nhật / updated, 2 giữ nguyên" in (
        capsys.readouterr().out
    )
    assert camnet_cli.main(["registry", "import", EXAMPLES[1], "--check", "--db", url]) == 0
    assert "cùng cơ sở dữ liệu / with the database" in capsys.readouterr().out


def test_invalid_files_print_every_error_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (DEPLOY / "registry.example.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("range_m: 60 ", "range_m: xa "), encoding="utf-8")
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "range_m: 60 " in s)
    csv = tmp_path / "more.csv"
    csv.write_text("id,commune,lat,lon\ncam-x,00127,21.05,195.9\n", encoding="utf-8")
    url = db_url(tmp_path)
    assert camnet_cli.main(["registry", "import", str(bad), str(csv), "--db", url]) == 2
    err = capsys.readouterr().err
    assert "chưa ghi gì / invalid registry, nothing written (2 lỗi / errors)" in err
    assert f"  {bad}:{line}: cameras.0.range_m: Input should be a valid number" in err
    assert f"  {csv}:2: lon: 195.9 is outside Vietnam (longitude 102 to 118) — " in err
    assert not (tmp_path / "camnet.db").exists()


def test_unknown_reference_is_refused_against_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = db_url(tmp_path)
    assert camnet_cli.main(["registry", "import", EXAMPLES[0], "--db", url]) == 0
    csv = tmp_path / "cams.csv"
    csv.write_text("id,commune,site\ncam-x,00127,lb-viethung-nvr1\ncam-y,99999,\n", "utf-8")
    assert camnet_cli.main(["registry", "import", str(csv), "--db", url]) == 2
    err = capsys.readouterr().err
    assert f"{csv}:3: commune: '99999' is not in communes — thêm xã này vào communes" in err
    assert count(url, Camera) == 6


def test_export_formats_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = db_url(tmp_path)
    monkeypatch.setenv("CAMNET_DB_URL", url)  # no --db: the environment names the database
    assert camnet_cli.main(["registry", "import", *EXAMPLES]) == 0
    capsys.readouterr()

    assert camnet_cli.main(["registry", "export"]) == 0
    exported = capsys.readouterr().out
    assert "name: Phường Bồ Đề" in exported
    assert 'merged_into: "00139"' in exported

    out_csv = tmp_path / "cams.csv"
    assert camnet_cli.main(["registry", "export", "--format", "csv", "--out", str(out_csv)]) == 0
    assert out_csv.read_bytes().startswith(b"\xef\xbb\xbfid,commune,site,agent,name,")
    out_geo = tmp_path / "cams.geojson"
    assert (
        camnet_cli.main(["registry", "export", "--format", "geojson", "--out", str(out_geo)]) == 0
    )
    assert len(json.loads(out_geo.read_text(encoding="utf-8"))["features"]) == 10
    communes = tmp_path / "communes.csv"
    args = ["registry", "export", "--format", "csv", "--table", "communes", "--out", str(communes)]
    assert camnet_cli.main(args) == 0
    capsys.readouterr()

    yaml_file = tmp_path / "all.yaml"
    yaml_file.write_text(exported, encoding="utf-8")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    files = [str(yaml_file), str(communes), str(out_csv)]
    assert camnet_cli.main(["registry", "import", *files, "--db", other]) == 2
    assert "appears twice" in capsys.readouterr().err, "same ids in two files of one import"
    assert camnet_cli.main(["registry", "import", str(yaml_file), "--db", other]) == 0
    for path in (communes, out_csv, out_geo):
        assert camnet_cli.main(["registry", "import", str(path), "--db", other]) == 0
        assert ": 0 mới / added, 0 cập nhật / updated" in capsys.readouterr().out
    assert camnet_cli.main(["registry", "export", "--db", other]) == 0
    assert capsys.readouterr().out == exported
    assert count(other, Commune) == 3


def test_export_without_a_database_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert camnet_cli.main(["registry", "export", "--db", db_url(tmp_path)]) == 1
    assert "no database" in capsys.readouterr().err
    assert not (tmp_path / "camnet.db").exists()


def test_unknown_suffix_and_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = tmp_path / "cams.txt"
    odd.write_text("id,commune\n", encoding="utf-8")
    missing = tmp_path / "nope.yaml"
    url = db_url(tmp_path)
    assert camnet_cli.main(["registry", "import", str(odd), str(missing), "--db", url]) == 2
    err = capsys.readouterr().err
    assert f"{odd}: unknown file type — " in err
    assert f"{missing}: cannot read: No such file or directory" in err
    assert camnet_cli.main(["registry", "import", str(odd), "--format", "csv", "--db", url]) == 0
