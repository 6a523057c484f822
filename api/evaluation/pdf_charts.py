"""Building blocks of the printed evaluation: Vietnamese number formats, tables, the chart.

Numbers are written the Vietnamese way (``1.371``, ``99,1 %``); a figure that cannot be said
(``None`` in :mod:`api.evaluation.schema`) is written :data:`UNKNOWN`, never ``0``. The
monthly chart stacks, per month, the working share (green), the down share (red) and the
unknown share (grey: agent offline or never reported), so that unknown time is visibly
neither working nor broken.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.platypus import Flowable, Paragraph, Table, TableStyle

from api.evaluation.schema import CommuneEvaluation, Criterion, DistrictEvaluation, Month, Score
from collector.ratio import VN

FONT, BOLD = "DejaVuSans", "DejaVuSans-Bold"
UNKNOWN = "không rõ"
GREEN, RED, GREY = (
    colors.HexColor("#2e9d3a"),
    colors.HexColor("#d62728"),
    colors.HexColor("#b0b0b0"),
)
HEADER_BG = colors.HexColor("#e4ebf3")
WIDTH = A4[0] - 4 * cm  # the frame: A4 with 2 cm margins, 17 cm

CELL = ParagraphStyle("cell", fontName=FONT, fontSize=8.5, leading=10.5)
CELL_BOLD = ParagraphStyle("cell-bold", parent=CELL, fontName=BOLD)
CELL_NUM = ParagraphStyle("cell-num", parent=CELL, alignment=TA_RIGHT)
CELL_NUM_BOLD = ParagraphStyle("cell-num-bold", parent=CELL_NUM, fontName=BOLD)


def num(value: float | None, digits: int = 1) -> str:
    """``1371.0`` -> ``"1.371"``, ``1.75`` -> ``"1,8"``; a trailing ``,0`` is dropped.

    ``None`` (cannot be said) is written :data:`UNKNOWN`, never 0.
    """
    if value is None:
        return UNKNOWN
    text = f"{value:,.{digits}f}"
    if digits and text.endswith("." + "0" * digits):
        text = text[: -digits - 1]
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def fixed(value: float | None, digits: int = 1) -> str:
    """Like :func:`num` but always with ``digits`` decimals (``60`` -> ``"60,0"``)."""
    if value is None:
        return UNKNOWN
    return f"{value:,.{digits}f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def pct(ratio: float | None, digits: int = 1) -> str:
    """A fraction as a percentage with a decimal comma: ``0.99064`` -> ``"99,1 %"``."""
    return UNKNOWN if ratio is None else f"{fixed(ratio * 100, digits)} %"


def day(value: date) -> str:
    """``dd/mm/yyyy``."""
    return value.strftime("%d/%m/%Y")


def moment(value: datetime) -> str:
    """An instant in Vietnam time, ``dd/mm/yyyy HH:MM``."""
    return value.astimezone(VN).strftime("%d/%m/%Y %H:%M")


def cell(text: str | Flowable, style: ParagraphStyle = CELL) -> Flowable:
    """A table cell that wraps (the text is escaped); a flowable is kept as it is."""
    return Paragraph(escape(text), style) if isinstance(text, str) else text


def table(
    rows: Sequence[Sequence[str | Flowable]],
    widths: list[float],
    *,
    header: bool = True,
    numeric: frozenset[int] = frozenset(),
    bold_last: bool = False,
    compact: bool = False,
    extra: Sequence[tuple[Any, ...]] = (),
) -> Table:
    """A ruled table; ``numeric`` columns are right-aligned, the header row repeats.

    Args:
        rows: Cells: text (escaped, wrapped) or ready flowables.
        widths: Column widths, points.
        header: The first row is a header (bold, shaded, repeated after a page break).
        numeric: Columns aligned right.
        bold_last: The last row is a total (bold, shaded).
        compact: Less padding, for long tables.
        extra: More reportlab table style commands (spans...).

    Returns:
        The table.
    """
    body: list[list[Flowable]] = []
    for r, row in enumerate(rows):
        strong = (header and r == 0) or (bold_last and r == len(rows) - 1)
        plain, number = (CELL_BOLD, CELL_NUM_BOLD) if strong else (CELL, CELL_NUM)
        body.append([cell(t, number if c in numeric else plain) for c, t in enumerate(row)])
    out = Table(body, colWidths=widths, repeatRows=1 if header else 0, hAlign="LEFT")
    pad = (1.2, 1.8) if compact else (2.5, 3.0)
    style: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa5b1")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), pad[0]),
        ("BOTTOMPADDING", (0, 0), (-1, -1), pad[1]),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), HEADER_BG))
    if bold_last:
        style.append(("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f3f5f7")))
    out.setStyle(TableStyle([*style, *extra]))
    return out


def month_chart(months: list[Month], width: float, height: float) -> Drawing:
    """Working / down / unknown share per month, stacked to 100 % of installed time.

    Args:
        months: The period's months (a month without installed time shows no bar).
        width: Width of the drawing, points.
        height: Height of the drawing, points (the legend takes the top 16).

    Returns:
        The chart.
    """
    d = Drawing(width, height)
    working: list[float | None] = []
    down: list[float | None] = []
    unknown: list[float | None] = []
    for m in months:
        if m.working_ratio is None:
            working.append(None)
            down.append(None)
            unknown.append(None)
            continue
        w, u = m.working_ratio * 100, (m.unknown_ratio or 0.0) * 100
        working.append(w)
        unknown.append(u)
        down.append(max(0.0, 100.0 - w - u))
    chart = VerticalBarChart()
    chart.x, chart.y = 40, 34
    chart.width, chart.height = width - 50, height - 34 - 24
    chart.data = [working, down, unknown]
    chart.categoryAxis.style = "stacked"
    chart.categoryAxis.categoryNames = [m.label for m in months]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.angle = 35
    chart.categoryAxis.labels.boxAnchor = "ne"
    chart.categoryAxis.labels.dy = -2
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, 100, 20
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = "%d %%"
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.gridStrokeColor = colors.HexColor("#dddddd")
    chart.barSpacing = 0
    chart.groupSpacing = 6
    for n, colour in enumerate((GREEN, RED, GREY)):
        chart.bars[n].fillColor = colour
        chart.bars[n].strokeColor = colors.white
        chart.bars[n].strokeWidth = 0.3
    d.add(chart)
    items = (("Hoạt động", GREEN), ("Hỏng", RED), ("Không rõ (mất kết nối, chưa báo cáo)", GREY))
    x = 40.0
    for text, colour in items:
        d.add(Rect(x, height - 12, 8, 8, fillColor=colour, strokeColor=None))
        d.add(String(x + 11, height - 11, text, fontName=FONT, fontSize=7.5))
        x += 24 + len(text) * 4.2
    return d


# ----------------------------------------------------------------------- tables of figures


def district_table(d: DistrictEvaluation) -> Table:
    """A district's figures added up."""
    rows = [
        ["Số xã", num(d.communes), "Camera bình quân", fixed(d.cameras_average, 2)],
        ["Tỷ lệ hoạt động", pct(d.working_ratio), "Tỷ lệ hình ảnh tốt", pct(d.good_picture_ratio)],
        ["Độ đầy đủ dữ liệu", pct(d.completeness), "Camera-ngày hỏng", num(d.camera_days.down)],
        ["Sự cố phát sinh", num(d.tasks_raised), "Đã sửa xong", num(d.tasks_fixed)],
        ["Tỷ lệ sửa đúng hạn", pct(d.within_sla_ratio), "Điểm bình quân", num(d.points_mean)],
    ]
    return table(rows, _halves(0.6), header=False, numeric=frozenset({1, 3}))


def camera_table(c: CommuneEvaluation) -> Table:
    """Cameras at the period's edges and camera-days per status."""
    k, cd = c.cameras, c.camera_days
    rows = [
        ["Số camera", "", "Camera-ngày theo trạng thái", ""],
        ["Đầu kỳ", num(k.at_start), "Lắp đặt (tổng)", num(cd.installed)],
        ["Cuối kỳ", num(k.at_end), "Bình thường", num(cd.ok)],
        ["Bình quân (theo thời gian)", fixed(k.average, 2), "Suy giảm chất lượng",
         num(cd.degraded)],
        ["Lắp mới trong kỳ", num(k.installed_during), "Hỏng", num(cd.down)],
        ["Tháo dỡ trong kỳ", num(k.removed_during), "Mất kết nối (không có báo cáo)",
         num(cd.unknown)],
        ["", "", "Chưa từng báo cáo", num(cd.never_reported)],
    ]  # fmt: skip
    spans = [("SPAN", (0, 0), (1, 0)), ("SPAN", (2, 0), (3, 0))]
    return table(rows, _halves(0.62), numeric=frozenset({1, 3}), extra=spans)


def ratio_table(c: CommuneEvaluation) -> Table:
    """The commune's ratios and how each is counted."""
    working = "(bình thường + suy giảm)"
    rows = [
        ["Chỉ số", "Giá trị", "Cách tính"],
        ["Tỷ lệ hoạt động", pct(c.working_ratio), f"{working} / lắp đặt"],
        ["Tỷ lệ hình ảnh tốt", pct(c.good_picture_ratio), "bình thường / lắp đặt"],
        ["Tỷ lệ không rõ trạng thái", pct(c.unknown_ratio),
         "(mất kết nối + chưa báo cáo) / lắp đặt"],
        ["Độ đầy đủ dữ liệu", pct(c.completeness), "thời gian có báo cáo / lắp đặt"],
        ["Tỷ lệ hoạt động trên thời gian có số liệu", pct(c.working_ratio_known),
         f"{working} / thời gian có báo cáo"],
    ]  # fmt: skip
    return table(rows, [6.2 * cm, 2.6 * cm, WIDTH - 8.8 * cm], numeric=frozenset({1}))


def month_table(c: CommuneEvaluation) -> Table:
    """The monthly figures behind :func:`month_chart`."""
    rows = [["Tháng", "Camera-ngày", "Hoạt động", "Hình ảnh tốt", "Không rõ", "Ngày hỏng"]]
    for m in c.months:
        ratios = (m.working_ratio, m.good_picture_ratio, m.unknown_ratio)
        rows.append([m.label, num(m.installed_days), *map(pct, ratios), num(m.down_days)])
    widths = [2.2 * cm] + [(WIDTH - 2.2 * cm) / 5] * 5
    return table(rows, widths, numeric=frozenset(range(1, 6)), compact=True)


def task_table(c: CommuneEvaluation) -> Table:
    """Repair tasks of the period and how fast they were done."""
    t = c.tasks
    mean, p90 = (
        UNKNOWN if v is None else f"{fixed(v)} giờ"
        for v in (t.mean_repair_hours, t.p90_repair_hours)
    )
    rows = [
        ["Nhiệm vụ sửa chữa phát sinh", num(t.raised), "Đã sửa xong", num(t.fixed)],
        ["Đã đóng", num(t.closed), "Còn mở cuối kỳ", num(t.open_at_end)],
        ["Thời gian sửa trung bình", mean, "Thời gian sửa (phân vị 90)", p90],
        ["Đến hạn trong kỳ", num(t.due), "Sửa xong đúng hạn", num(t.fixed_within_sla)],
        ["Tỷ lệ sửa đúng hạn", pct(t.within_sla_ratio), "", ""],
    ]
    return table(rows, _halves(0.62), header=False, numeric=frozenset({1, 3}))


def criterion_value(cr: Criterion) -> str:
    """A criterion's value in its unit (ratio, hours, days, count)."""
    if cr.value is None:
        return UNKNOWN
    if cr.metric.endswith("_hours"):
        return f"{fixed(cr.value)} giờ"
    if cr.metric.endswith(("_days", "_per_camera")):
        return f"{fixed(cr.value)} ngày"
    if cr.metric.endswith("gaps_at_end"):
        return num(cr.value, 0)
    return pct(cr.value)


def score_table(s: Score) -> Table:
    """Every criterion: value, points of the maximum, grade, why it was not scored."""
    rows = [["Tiêu chí", "Giá trị", "Điểm", "Xếp loại", "Ghi chú"]]
    for cr in s.criteria:
        points = "—" if cr.points is None else num(cr.points)
        grade = cr.grade or ("không chấm" if cr.points is None else "")
        rows.append([cr.label, criterion_value(cr), f"{points} / {num(cr.max_points)}", grade,
                     cr.reason or ""])  # fmt: skip
    total = f"{num(s.points)} / {num(s.max_points)}"
    rows.append(["Tổng điểm", "", total, s.grade or "chưa xếp loại", ""])
    widths = [5.6 * cm, 2.3 * cm, 2.4 * cm, 3.0 * cm, WIDTH - 13.3 * cm]
    return table(rows, widths, numeric=frozenset({1, 2}), bold_last=True)


def _halves(label: float) -> list[float]:
    """Widths of a label | value | label | value table over the frame."""
    w = WIDTH / 2
    return [w * label, w * (1 - label), w * label, w * (1 - label)]
