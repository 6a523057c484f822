"""The yearly evaluation as a printable Vietnamese PDF (A4 portrait).

Per district: a title page (period, rubric, scope, data cut-off, the full SHA-256 of the
result so that a printed copy can be checked against the recorded one) and a table of its
communes; then one section per commune, each from a new page: key figures, the monthly
chart, outages, repair tasks, coverage of key areas, the score and the map. Every page's
footer carries the page number and the first 12 hex digits of the SHA-256.

Fonts: DejaVu Sans (all Vietnamese letters), from Debian's ``fonts-dejavu-core`` or from
matplotlib's bundled copy. The output is byte-for-byte repeatable (reportlab invariant).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
)

from api.evaluation.pdf_charts import (
    BOLD,
    FONT,
    WIDTH,
    camera_table,
    day,
    district_table,
    fixed,
    moment,
    month_chart,
    month_table,
    num,
    pct,
    ratio_table,
    score_table,
    table,
    task_table,
)
from api.evaluation.pdf_map import KIND_NAMES, MapData, draw_map
from api.evaluation.schema import CommuneEvaluation, DistrictEvaluation, Evaluation, Period

FONT_FILES = {FONT: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf"}
#: Where the fonts are looked for first; matplotlib's ``mpl-data/fonts/ttf`` comes next.
FONT_DIRS: tuple[Path, ...] = (Path("/usr/share/fonts/truetype/dejavu"),)
FONT_HINT = (
    "Không tìm thấy phông chữ DejaVu Sans (cần để in tiếng Việt): hãy cài gói "
    "fonts-dejavu-core (apt-get install fonts-dejavu-core). / DejaVu Sans not found "
    "(needed for Vietnamese text): install fonts-dejavu-core."
)

TITLE = ParagraphStyle("title", fontName=BOLD, fontSize=17, leading=22, alignment=TA_CENTER)
SUBTITLE = ParagraphStyle("subtitle", fontName=FONT, fontSize=11.5, leading=15, alignment=TA_CENTER)
H1 = ParagraphStyle("h1", fontName=BOLD, fontSize=14, leading=18, spaceAfter=2)
H2 = ParagraphStyle(
    "h2", fontName=BOLD, fontSize=11, leading=14, spaceBefore=10, spaceAfter=4, keepWithNext=1
)
BODY = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=12.5, spaceAfter=3)
KEEP = ParagraphStyle("keep", parent=BODY, keepWithNext=1)
SMALL = ParagraphStyle("small", fontName=FONT, fontSize=7.5, leading=9.5, textColor=colors.grey)
HASH = ParagraphStyle("hash", fontName="Courier", fontSize=8.5, leading=10.5)
EN_DASH = " \u2013 "  # between two dates
KINDS_UNIT = {"hotspot": "trọng số", "main_road": "m", "village_border": "m", "area": "m²"}


def font_dirs() -> list[Path]:
    """Directories searched for the DejaVu fonts, in order."""
    dirs = list(FONT_DIRS)
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        return dirs
    dirs.append(Path(matplotlib.get_data_path()) / "fonts" / "ttf")
    return dirs


def register_fonts() -> None:
    """Register DejaVu Sans (regular, bold) with reportlab.

    Raises:
        FileNotFoundError: A font file is in none of :func:`font_dirs` (the message says,
            in Vietnamese and English, to install ``fonts-dejavu-core``).
    """
    dirs = font_dirs()
    found: dict[str, Path] = {}
    for name, file in FONT_FILES.items():
        path = next((d / file for d in dirs if (d / file).is_file()), None)
        if path is None:
            searched = ", ".join(str(d) for d in dirs)
            raise FileNotFoundError(f"{FONT_HINT} ({file}; đã tìm / searched: {searched})")
        found[name] = path
    registered = set(pdfmetrics.getRegisteredFontNames())
    for name, path in found.items():
        if name not in registered:
            pdfmetrics.registerFont(TTFont(name, str(path)))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)


def _p(text: str, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(escape(text), style)


def _scope(scope: str) -> str:
    kind, _, rest = scope.partition(":")
    names = {"district": "huyện", "province": "tỉnh", "communes": "các xã"}
    return "toàn bộ" if scope == "all" else f"{names.get(kind, kind)} {rest}".strip()


def _days(p: Period) -> int:
    return (p.last_day - p.first_day).days + 1


def _district_part(
    ev: Evaluation, dist: DistrictEvaluation | None, communes: list[CommuneEvaluation]
) -> list[Flowable]:
    p = ev.period
    name = (dist.name if dist else None) or "Không thuộc huyện nào"
    code = f" ({dist.code})" if dist and dist.code else ""
    place = f"{name}{code}" + (f", tỉnh {communes[0].province_code}" if communes else "")
    out: list[Flowable] = [
        Spacer(1, 1.2 * cm),
        _p("BÁO CÁO ĐÁNH GIÁ CAMERA AN NINH", TITLE),
        Spacer(1, 4),
        _p(f"Tiêu chí “An toàn về an ninh, trật tự” — năm {p.year}", SUBTITLE),
        _p(place, SUBTITLE),
        Spacer(1, 0.8 * cm),
    ]
    until = f"{moment(p.data_until)} (giờ Việt Nam)"
    if not p.finished:
        until += " — kỳ đánh giá chưa kết thúc, số liệu tạm tính"
    info = [
        ["Kỳ đánh giá", f"{day(p.first_day)}{EN_DASH}{day(p.last_day)} ({_days(p)} ngày)"],
        ["Thang điểm", f"{ev.rubric.name}, phiên bản {ev.rubric.version}"],
        ["Phạm vi", f"{_scope(ev.scope)} ({ev.scope})"],
        ["Số liệu đến", until],
        ["Thời điểm tính", f"{moment(ev.computed_at)} (giờ Việt Nam)"],
        ["Số xã trong báo cáo", str(len(communes))],
    ]  # fmt: skip
    if ev.record is not None:
        info.append(["Bản ghi kết quả số", str(ev.record)])
    out.append(table(info, [4.2 * cm, WIDTH - 4.2 * cm], header=False))
    out += [
        Spacer(1, 6),
        _p("Mã kiểm tra SHA-256 của kết quả:", BODY),
        Paragraph(ev.sha256, HASH),
        _p(
            "Mã này là SHA-256 của kết quả đánh giá (JSON chuẩn hoá, không gồm thời điểm tính): "
            "so với kết quả đã lưu trong camnet để biết bản in có đúng số liệu hay không. "
            f"Thang điểm: SHA-256 {ev.rubric.sha256}. / SHA-256 of the canonical result; "
            "compare it with the recorded result to check a printed copy.",
            SMALL,
        ),
    ]
    if dist is not None:
        out += [_p("Tổng hợp toàn huyện", H2), district_table(dist)]
    if not communes:
        return [*out, _p("Không có xã nào trong phạm vi đánh giá.", H2)]
    out += [_p("Kết quả các xã", H2), _commune_table(communes, dist)]
    out.append(
        _p(
            "Tỷ lệ hoạt động = (bình thường + suy giảm chất lượng) / thời gian lắp đặt; thời "
            "gian không rõ trạng thái (mất kết nối, chưa báo cáo) không bao giờ được tính là "
            "hoạt động. Độ đầy đủ dữ liệu = phần thời gian có báo cáo. “không rõ”: không tính "
            "được (không có camera, sự cố hay khu vực), không phải 0.",
            SMALL,
        )
    )
    return out


def _commune_table(communes: list[CommuneEvaluation], d: DistrictEvaluation | None) -> Flowable:
    rows = [["Xã", "Camera bình quân", "Tỷ lệ hoạt động", "Tỷ lệ hình ảnh tốt",
             "Độ đầy đủ dữ liệu", "Điểm", "Xếp loại"]]  # fmt: skip
    for c in communes:
        s = c.score
        rows.append([
            f"{c.name} ({c.code})", fixed(c.cameras.average, 2), pct(c.working_ratio),
            pct(c.good_picture_ratio), pct(c.completeness),
            f"{num(s.points)} / {num(s.max_points)}" + ("" if s.complete else " *"),
            s.grade or "chưa xếp loại",
        ])  # fmt: skip
    if d is not None:
        rows.append([
            "Toàn huyện", fixed(d.cameras_average, 2), pct(d.working_ratio),
            pct(d.good_picture_ratio), pct(d.completeness), f"{num(d.points_mean)} (bình quân)", "",
        ])  # fmt: skip
    widths = [3.9 * cm, 2.2 * cm, 2.2 * cm, 2.2 * cm, 2.2 * cm, 2.2 * cm, 2.1 * cm]
    flow = table(rows, widths, numeric=frozenset({1, 2, 3, 4, 5}), bold_last=d is not None)
    if all(c.score.complete for c in communes):
        return flow
    note = _p(
        "* Có tiêu chí chưa chấm được vì thiếu số liệu: tổng điểm chỉ gồm các tiêu chí đã chấm.",
        SMALL,
    )
    return KeepTogether([flow, Spacer(1, 2), note])


def _figures(c: CommuneEvaluation) -> list[Flowable]:
    chart = month_chart(c.months, WIDTH, 5.6 * cm)
    head = _p("2. Tỷ lệ hoạt động theo tháng", H2)
    return [
        _p("1. Số liệu chính", H2),
        camera_table(c),
        Spacer(1, 6),
        ratio_table(c),
        KeepTogether([head, chart, Spacer(1, 4), month_table(c)]),
    ]


def _outages(c: CommuneEvaluation) -> list[Flowable]:
    out: list[Flowable] = [_p("3. Sự cố hỏng camera", H2)]
    o = c.longest_outage
    if o is None:
        out.append(_p("Không có camera hỏng trong kỳ."))
    else:
        out.append(_p("Lần hỏng dài nhất (liên tục):", KEEP))
        rows = [
            ["Camera", "Từ", "Đến", "Số ngày", "Tình trạng"],
            [o.camera_id, moment(o.start), moment(o.end), num(o.days),
             "đang hỏng" if o.ongoing else "đã hoạt động lại"],
        ]  # fmt: skip
        out.append(
            table(rows, [4.6 * cm, 3.3 * cm, 3.3 * cm, 2.2 * cm, 3.6 * cm], numeric=frozenset({3}))
        )
    out += [Spacer(1, 4), _p(f"Tổng số camera-ngày hỏng trong kỳ: {num(c.camera_days_down)}.")]
    return [KeepTogether(out)]


def _tasks(c: CommuneEvaluation) -> list[Flowable]:
    return [KeepTogether([_p("4. Sửa chữa", H2), task_table(c)])]


def _coverage(c: CommuneEvaluation) -> list[Flowable]:
    out: list[Flowable] = [_p("5. Độ phủ khu vực trọng điểm", H2)]
    if not c.coverage:
        return [*out, _p("Chưa khai báo khu vực trọng điểm (hoặc chưa có camera nhìn tới).")]
    rows = [["Loại khu vực", "Độ phủ theo thời gian", "Độ phủ cuối kỳ", "Quy mô"]]
    for kind, k in c.coverage.items():
        rows.append([KIND_NAMES.get(kind, kind), pct(k.time_weighted), pct(k.at_end),
                     f"{num(k.total)} {KINDS_UNIT.get(kind, '')}".strip()])  # fmt: skip
    out.append(table(rows, [5.0 * cm, 4.0 * cm, 4.0 * cm, 4.0 * cm], numeric=frozenset({1, 2, 3})))
    g = c.gaps_at_end
    gaps = [
        ["Điểm mù cuối kỳ", "Số"],
        ["Tổng số", num(g.total)],
        ["Sửa camera hỏng sẽ nhìn thấy", num(g.repairable)],
        ["Chưa có camera nào nhìn tới (cần lắp thêm)", num(g.no_camera)],
    ]
    gaps += [[f"Trong đó: {KIND_NAMES.get(k, k)}", num(n)] for k, n in sorted(g.by_kind.items())]
    return [*out, Spacer(1, 6), table(gaps, [9.0 * cm, 2.5 * cm], numeric=frozenset({1}))]


def _score(c: CommuneEvaluation) -> list[Flowable]:
    flow: list[Flowable] = [_p("6. Chấm điểm", H2), score_table(c.score)]
    if not c.score.complete:
        text = "Có tiêu chí chưa chấm được vì thiếu số liệu: chưa xếp loại; tổng điểm chỉ gồm "
        flow.append(_p(text + "các tiêu chí đã chấm.", SMALL))
    return [KeepTogether(flow)]


def _map(data: MapData) -> list[Flowable]:
    head = _p("7. Bản đồ camera và khu vực trọng điểm cuối kỳ", H2)
    unplaced = f"{data.unplaced} camera chưa có toạ độ (không vẽ)." if data.unplaced else ""
    if data.unplaced == len(data.cameras) and not data.areas:
        return [
            KeepTogether(
                [head, _p(f"Chưa vẽ được bản đồ: {unplaced} Chưa khai báo khu vực trọng điểm.")]
            )
        ]
    note = (
        "Hình quạt: vùng nhìn của camera (mặc định 90°, 50 m khi chưa khai báo); "
        f"màu theo trạng thái cuối kỳ. {unplaced}"
    )
    return [
        CondPageBreak(13 * cm),
        KeepTogether([head, draw_map(data, WIDTH, 11.5 * cm), Spacer(1, 3), _p(note, SMALL)]),
    ]


def _commune_part(c: CommuneEvaluation, data: MapData | None) -> list[Flowable]:
    where = ", ".join(x for x in (c.district_name, f"tỉnh {c.province_code}") if x)
    out: list[Flowable] = [_p(f"{c.name} ({c.code})", H1), _p(where)]
    if c.merged_from:
        out.append(
            _p("Gồm cả số liệu của các xã cũ đã sáp nhập vào xã: " + ", ".join(c.merged_from) + ".")
        )
    out += _figures(c) + _outages(c) + _tasks(c) + _coverage(c) + _score(c)
    if data is not None:
        out += _map(data)
    return out


def _groups(ev: Evaluation) -> list[tuple[DistrictEvaluation | None, list[CommuneEvaluation]]]:
    """Each district with its communes; communes matching no district come last."""
    groups: list[tuple[DistrictEvaluation | None, list[CommuneEvaluation]]]
    groups = [(d, [c for c in ev.communes if c.district_code == d.code]) for d in ev.districts]
    placed = {c.code for _, cs in groups for c in cs}
    rest = [c for c in ev.communes if c.code not in placed]
    if rest or not groups:
        groups.append((None, rest))
    return groups


def write_pdf(evaluation: Evaluation, path: Path, maps: dict[str, MapData] | None = None) -> int:
    """Write the evaluation as a printable A4 report in Vietnamese.

    Args:
        evaluation: The computed (or recorded) evaluation.
        path: Where to write the PDF (overwritten).
        maps: Map data per reported commune code (:func:`api.evaluation.pdf_map.load_maps`);
            communes without an entry get no map.

    Returns:
        The number of pages written.

    Raises:
        FileNotFoundError: The DejaVu fonts are missing (install ``fonts-dejavu-core``).
    """
    register_fonts()
    maps = maps or {}
    story: list[Flowable] = []
    for dist, communes in _groups(evaluation):
        if story:
            story.append(PageBreak())
        story += _district_part(evaluation, dist, communes)
        for c in communes:
            story += [PageBreak(), *_commune_part(c, maps.get(c.code))]
    year, short = evaluation.period.year, evaluation.sha256[:12]

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setStrokeColor(colors.HexColor("#9aa5b1"))
        canvas.setLineWidth(0.4)
        canvas.line(2 * cm, 1.55 * cm, A4[0] - 2 * cm, 1.55 * cm)
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(colors.HexColor("#444444"))
        canvas.drawString(2 * cm, 1.15 * cm, f"camnet — trang {doc.page}")
        canvas.drawCentredString(A4[0] / 2, 1.15 * cm, f"Đánh giá camera an ninh — năm {year}")
        canvas.drawRightString(A4[0] - 2 * cm, 1.15 * cm, f"SHA-256 {short}")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=1.8 * cm,
        bottomMargin=2.2 * cm,
        title=f"Báo cáo đánh giá camera an ninh — năm {year}",
        author="camnet",
        subject=f"An toàn về ANTT {year}, {evaluation.scope}, SHA-256 {evaluation.sha256}",
        creator="camnet",
        lang="vi",
        invariant=1,
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return int(doc.page)
