"""The printed evaluation: the hand-built year as a PDF, every page rendered and read back."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import cast

import pypdfium2 as pdfium
import pytest
from PIL import Image

from api.evaluation import pdf
from api.evaluation.compute import evaluate
from api.evaluation.pdf import write_pdf
from api.evaluation.pdf_charts import num, pct
from api.evaluation.pdf_map import MapArea, MapCamera, MapData, load_maps
from api.evaluation.period import period_for
from api.evaluation.rubric import Rubric
from api.evaluation.schema import Evaluation
from collector.db import create_schema, make_engine
from tests import db_fixtures as dbf
from tests.evaluation_helpers import LAT, LON, METRE_LAT, NOW, build_year

sqlite_url = dbf.sqlite_url


def _year(url: str) -> tuple[Evaluation, dict[str, MapData]]:
    engine = make_engine(url)
    create_schema(engine)
    build_year(engine)
    try:
        with engine.connect() as conn:
            ev = evaluate(conn, period_for(2026), Rubric.load(), now=NOW)
            maps = load_maps(conn, ev)
    finally:
        engine.dispose()
    return ev, maps


def _read(path: Path) -> tuple[list[str], list[Image.Image]]:
    """Text and a rendered image of every page."""
    texts: list[str] = []
    images: list[Image.Image] = []
    doc = pdfium.PdfDocument(path)
    try:
        for page in doc:
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            images.append(page.render(scale=1).to_pil())
            page.close()
    finally:
        doc.close()
    return texts, images


def _not_blank(image: Image.Image) -> bool:
    """Some non-white pixel above the footer (every page has a footer)."""
    gray = image.convert("L")
    body = gray.crop((0, 0, gray.width, int(gray.height * 0.9)))
    darkest, _ = cast(tuple[int, int], body.getextrema())
    return bool(darkest < 200)


def _section(texts: list[str], heading: str) -> str:
    """Text of the pages from the one headed ``heading`` up to the next commune's.

    Whitespace (line breaks included) is folded to single spaces.
    """
    heads = [
        [line for line in t.splitlines() if re.fullmatch(r"Xã .* \(\d{5}\)", line)] for t in texts
    ]
    start = next(n for n, h in enumerate(heads) if heading in h)
    end = next((n for n in range(start + 1, len(texts)) if heads[n]), len(texts))
    return " ".join(" ".join(texts[start:end]).split())


def test_hand_built_year_as_pdf(sqlite_url: str, tmp_path: Path) -> None:
    ev, maps = _year(sqlite_url)
    # cam-b1 (00002, merged into 00001) was removed: not on the map; cam-a1 down at the end
    assert sorted(maps) == ["00001", "00003"]
    a = {c.id: c for c in maps["00001"].cameras}
    assert sorted(a) == ["cam-a1", "cam-a2"]
    assert a["cam-a1"].working_at_end is False
    assert (a["cam-a1"].lon, a["cam-a1"].lat, a["cam-a1"].fov) == (LON, LAT, 90.0)
    assert a["cam-a2"].working_at_end is True
    assert [(x.id, x.kind) for x in maps["00001"].areas] == [("hs-1", "hotspot")]
    assert maps["00001"].unplaced == 1
    assert maps["00003"].unplaced == 2
    assert {c.id: c.working_at_end for c in maps["00003"].cameras} == {
        "cam-c1": True,
        "cam-c2": None,  # never reported: unknown, not broken
    }

    path = tmp_path / "danh-gia.pdf"
    pages = write_pdf(ev, path, maps)
    texts, images = _read(path)
    assert pages == len(texts) == len(images)
    assert pages >= 3  # the district, then each of the two communes from a new page
    assert all(_not_blank(image) for image in images)

    short = ev.sha256[:12]
    assert all(f"camnet — trang {n}" in t for n, t in enumerate(texts, 1))
    assert all(short in t for t in texts)
    whole = "\n".join(texts)
    assert "BÁO CÁO ĐÁNH GIÁ CAMERA AN NINH" in texts[0]
    assert ev.sha256 in texts[0]
    assert "16/11/2025 – 15/11/2026" in texts[0]  # noqa: RUF001
    assert "16/11/2026 00:00 (giờ Việt Nam)" in texts[0]  # data_until, Vietnam time
    assert "camnet-mac-dinh, phiên bản 2026.1" in texts[0]

    moi, ba = _section(texts, "Xã Mới (00001)"), _section(texts, "Xã Ba (00003)")
    assert "Xã Mới" in whole
    assert "Xã Ba" in whole
    assert "99,1 %" in moi  # 635 / 641 camera-days working
    assert "Tỷ lệ hoạt động theo tháng" in moi
    assert "đang hỏng" in moi  # cam-a1's 3 days, still down
    assert re.search(r"Thời gian sửa trung bình\s+60,0 giờ", moi)
    assert "Điểm nóng" in moi
    assert "1 camera chưa có toạ độ" in moi
    # no repair task in 00003: its mean repair time cannot be said, and is never 0
    assert re.search(r"Thời gian sửa trung bình\s+không rõ", ba)
    assert "2 camera chưa có toạ độ" in ba
    assert "chưa xếp loại" in ba  # not enough data to grade

    again = tmp_path / "lan-2.pdf"
    assert write_pdf(ev, again, maps) == pages
    assert again.read_bytes() == path.read_bytes()  # repeatable output


def test_map_with_every_kind_of_area(sqlite_url: str, tmp_path: Path) -> None:
    ev, _ = _year(sqlite_url)
    metre_lon = METRE_LAT / 0.9336  # cos(21°)

    def xy(x: float, y: float) -> tuple[float, float]:
        return LON + x * metre_lon, LAT + y * METRE_LAT

    def at(x: float, y: float) -> list[float]:
        return list(xy(x, y))

    square = [at(50, -150), at(180, -150), at(180, -40), at(50, -40), at(50, -150)]
    road = {"type": "LineString", "coordinates": [at(-150, -100), at(250, 60)]}
    border = {"type": "MultiLineString", "coordinates": [[at(-150, 150), at(250, 150)]]}
    data = MapData(
        cameras=[
            MapCamera("c1", *xy(0, 0), 45.0, 90.0, 60.0, True),
            MapCamera("c2", *xy(200, 50), 270.0, 60.0, 100.0, False),
            MapCamera("fish", *xy(100, -80), None, 360.0, 15.0, None),
            MapCamera("no-heading", *xy(-100, 120), None, None, None, True),
            MapCamera("no-place", None, None, None, None, None, True),
        ],
        areas=[
            MapArea("r", "main_road", road),
            MapArea("b", "village_border", border),
            MapArea("a", "area", {"type": "Polygon", "coordinates": [square]}),
            MapArea("h", "hotspot", {"type": "Point", "coordinates": at(30, 30)}),
            MapArea("bad", "area", {"type": "Polygon", "coordinates": "not coordinates"}),
        ],
    )
    path = tmp_path / "ban-do.pdf"
    pages = write_pdf(ev, path, {"00001": data})
    texts, images = _read(path)
    assert pages == len(texts)
    assert all(_not_blank(image) for image in images)
    moi = _section(texts, "Xã Mới (00001)")
    for legend in ("Trục đường chính", "Ranh giới thôn/xóm", "Khu vực", "Điểm nóng", "Bắc"):
        assert legend in moi
    assert "1 camera chưa có toạ độ" in moi
    assert "Bản đồ" not in _section(texts, "Xã Ba (00003)")  # no map data given for it


def test_missing_font_says_what_to_install(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ev, _ = _year(sqlite_url)
    monkeypatch.setattr(pdf, "FONT_DIRS", (tmp_path / "no-fonts",))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # its bundled copy is not there either
    with pytest.raises(FileNotFoundError, match="cài gói fonts-dejavu-core") as err:
        pdf.register_fonts()
    assert "install fonts-dejavu-core" in str(err.value)
    target = tmp_path / "x.pdf"
    with pytest.raises(FileNotFoundError, match="fonts-dejavu-core"):
        write_pdf(ev, target)
    assert not target.exists()


def test_vietnamese_number_formats() -> None:
    assert pct(635 / 641) == "99,1 %"
    assert pct(1.0) == "100,0 %"
    assert pct(None) == "không rõ"
    assert num(None) == "không rõ"
    assert num(1371.0) == "1.371"
    assert num(0.5) == "0,5"
    assert num(12345.25, 2) == "12.345,25"
