"""The evaluation as tables: a CSV (one row per commune) and an XLSX workbook.

:func:`write_csv` writes stable machine column names (:data:`COLUMNS`, the same in every
year) so spreadsheets and scripts can rely on them; :func:`write_xlsx` writes the same
figures with Vietnamese headers, plus the summary, the months, the score per criterion
and the repair tasks. ``None`` ("cannot be said": nothing installed, no task, no key
area) is an empty cell in both, never ``0``. Ratios are fractions (0..1); the workbook
shows them as percentages.

The workbook is deterministic: its only dates come from the evaluation (the document
properties and the zip entries carry ``data_until``), so the same evaluation gives the
same bytes.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from api.evaluation.schema import COVERAGE_KINDS, CommuneEvaluation, Evaluation
from collector.ratio import VN

Cell = str | int | float | bool | date | None
PERCENT, DAYS, HOURS, POINTS, DATE = "0.0%", "#,##0.0", "#,##0.0", "0.##", "DD/MM/YYYY"
FORMATS = {
    "ratio": PERCENT, "days": DAYS, "hours": HOURS, "points": POINTS, "avg": "0.00",
    "number": "#,##0.0##",
}  # fmt: skip
BOLD = Font(bold=True)


@dataclass(frozen=True)
class Column:
    """One column of the commune table: CSV name, Vietnamese header, kind, getter."""

    key: str
    header: str
    kind: str  # text | int | days | ratio | hours | points | avg | bool
    get: Callable[[CommuneEvaluation], Cell]


def _coverage(kind: str) -> Callable[[CommuneEvaluation], Cell]:
    def get(c: CommuneEvaluation) -> Cell:
        figure = c.coverage.get(kind)
        return None if figure is None else figure.time_weighted

    return get


_KIND_VI = {
    "hotspot": "điểm nóng",
    "main_road": "trục đường chính",
    "village_border": "ranh giới thôn",
    "area": "khu vực",
}

# fmt: off
COLUMNS: tuple[Column, ...] = (
    Column("code", "Mã xã", "text", lambda c: c.code),
    Column("name", "Tên xã", "text", lambda c: c.name),
    Column("district_code", "Mã huyện", "text", lambda c: c.district_code),
    Column("merged_from", "Gồm xã cũ", "text", lambda c: ";".join(c.merged_from)),
    Column("cameras_at_start", "Camera đầu kỳ", "int", lambda c: c.cameras.at_start),
    Column("cameras_at_end", "Camera cuối kỳ", "int", lambda c: c.cameras.at_end),
    Column("cameras_average", "Camera bình quân", "avg", lambda c: c.cameras.average),
    Column("installed_days", "Ngày-camera lắp đặt", "days", lambda c: c.camera_days.installed),
    Column("ok_days", "Ngày-camera tốt", "days", lambda c: c.camera_days.ok),
    Column("degraded_days", "Ngày-camera suy giảm", "days", lambda c: c.camera_days.degraded),
    Column("down_days", "Ngày-camera hỏng", "days", lambda c: c.camera_days.down),
    Column("unknown_days", "Ngày-camera không rõ", "days", lambda c: c.camera_days.unknown),
    Column(
        "never_reported_days", "Ngày-camera chưa báo cáo", "days",
        lambda c: c.camera_days.never_reported,
    ),
    Column("working_ratio", "Tỷ lệ hoạt động", "ratio", lambda c: c.working_ratio),
    Column("good_picture_ratio", "Tỷ lệ hình ảnh tốt", "ratio", lambda c: c.good_picture_ratio),
    Column("unknown_ratio", "Tỷ lệ không rõ", "ratio", lambda c: c.unknown_ratio),
    Column("completeness", "Độ đầy đủ dữ liệu", "ratio", lambda c: c.completeness),
    Column(
        "working_ratio_known", "Tỷ lệ hoạt động (thời gian đã biết)", "ratio",
        lambda c: c.working_ratio_known,
    ),
    Column(
        "longest_outage_days", "Hỏng dài nhất (ngày)", "days",
        lambda c: c.longest_outage.days if c.longest_outage else None,
    ),
    Column(
        "longest_outage_camera", "Camera hỏng dài nhất", "text",
        lambda c: c.longest_outage.camera_id if c.longest_outage else None,
    ),
    Column("tasks_raised", "Nhiệm vụ phát sinh", "int", lambda c: c.tasks.raised),
    Column("tasks_closed", "Nhiệm vụ đã đóng", "int", lambda c: c.tasks.closed),
    Column("tasks_fixed", "Nhiệm vụ đã sửa xong", "int", lambda c: c.tasks.fixed),
    Column("tasks_open_at_end", "Nhiệm vụ còn mở cuối kỳ", "int", lambda c: c.tasks.open_at_end),
    Column(
        "mean_repair_hours", "Thời gian sửa trung bình (giờ)", "hours",
        lambda c: c.tasks.mean_repair_hours,
    ),
    Column(
        "p90_repair_hours", "Thời gian sửa phân vị 90 (giờ)", "hours",
        lambda c: c.tasks.p90_repair_hours,
    ),
    Column("tasks_due", "Nhiệm vụ đến hạn trong kỳ", "int", lambda c: c.tasks.due),
    Column("fixed_within_sla", "Sửa đúng hạn", "int", lambda c: c.tasks.fixed_within_sla),
    Column("within_sla_ratio", "Tỷ lệ sửa đúng hạn", "ratio", lambda c: c.tasks.within_sla_ratio),
    *(
        Column(f"coverage_{k}", f"Bao phủ {_KIND_VI[k]}", "ratio", _coverage(k))
        for k in COVERAGE_KINDS
    ),
    Column("gaps_at_end", "Điểm mù cuối kỳ", "int", lambda c: c.gaps_at_end.total),
    Column("gaps_repairable", "Điểm mù sửa được", "int", lambda c: c.gaps_at_end.repairable),
    Column("points", "Điểm", "points", lambda c: c.score.points),
    Column("max_points", "Điểm tối đa", "points", lambda c: c.score.max_points),
    Column("grade", "Xếp loại", "text", lambda c: c.score.grade),
    Column("score_complete", "Chấm đủ tiêu chí", "bool", lambda c: c.score.complete),
)
# fmt: on


def _csv_cell(value: Cell) -> str:
    """Text of a CSV cell: empty for None, shortest exact decimal for floats."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def write_csv(evaluation: Evaluation, out: TextIO) -> None:
    """Write one row per commune, machine column names (:data:`COLUMNS`) in the header.

    Args:
        evaluation: The computed evaluation.
        out: A text stream; a file should be opened with ``newline=""`` and UTF-8.
    """
    writer = csv.writer(out)
    writer.writerow([col.key for col in COLUMNS])
    for commune in evaluation.communes:
        writer.writerow([_csv_cell(col.get(commune)) for col in COLUMNS])


# --------------------------------------------------------------------------------- xlsx


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _put(ws: Any, row: int, values: Sequence[Cell], kinds: Sequence[str] | None = None) -> None:
    """Write ``values`` into ``row`` of ``ws``, with the number format of each kind."""
    for k, value in enumerate(values, start=1):
        if value is None:
            continue  # an empty cell: the value cannot be said
        kind = kinds[k - 1] if kinds else "text"
        if kind == "bool":
            value = "Có" if value else "Không"
        cell = ws.cell(row=row, column=k, value=value)
        if isinstance(value, date):
            cell.number_format = DATE
        elif kind in FORMATS:
            cell.number_format = FORMATS[kind]


def _table(
    ws: Any, top: int, headers: Sequence[str], rows: Iterable[Sequence[Cell]], kinds: Sequence[str]
) -> int:
    """A header row at ``top`` (bold) and the rows under it; returns the next free row."""
    for k, header in enumerate(headers, start=1):
        ws.cell(row=top, column=k, value=header).font = BOLD
    row = top + 1
    for values in rows:
        _put(ws, row, values, kinds)
        row += 1
    return row


def _widths(ws: Any, least: int = 8, most: int = 48) -> None:
    """Column widths from the longest text in each column (numbers and dates count 10)."""
    longest: dict[int, int] = {}
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is None:
                continue
            size = len(cell.value) if isinstance(cell.value, str) else 10
            longest[cell.column] = max(longest.get(cell.column, 0), size)
    for column, size in sorted(longest.items()):
        ws.column_dimensions[get_column_letter(column)].width = min(most, max(least, size + 2))


def _summary(wb: Any, ev: Evaluation) -> None:
    ws = wb.active
    ws.title = "Tổng hợp"
    p = ev.period
    facts: list[tuple[str, Cell]] = [
        ("Năm đánh giá", p.year),
        ("Từ ngày", p.first_day),
        ("Đến ngày", p.last_day),
        ("Múi giờ", p.timezone),
        ("Số liệu tính đến (UTC)", _iso(p.data_until)),
        ("Kỳ đã kết thúc", "Có" if p.finished else "Không"),
        ("Phạm vi", ev.scope),
        ("Số xã", len(ev.communes)),
        ("Thang điểm", ev.rubric.name),
        ("Phiên bản thang điểm", ev.rubric.version),
        ("SHA-256 thang điểm", ev.rubric.sha256),
        ("SHA-256 kết quả", ev.sha256),
    ]
    for k, (label, value) in enumerate(facts, start=2):
        ws.cell(row=k, column=1, value=label).font = BOLD
        _put(ws, k, [None, value])
    headers = [
        "Mã huyện", "Tên huyện", "Số xã", "Camera bình quân", "Ngày-camera lắp đặt",
        "Tỷ lệ hoạt động", "Tỷ lệ hình ảnh tốt", "Độ đầy đủ dữ liệu", "Nhiệm vụ phát sinh",
        "Nhiệm vụ đã sửa xong", "Tỷ lệ sửa đúng hạn", "Điểm trung bình (xã chấm đủ)",
    ]  # fmt: skip
    kinds = ["text", "text", "int", "avg", "days", "ratio", "ratio", "ratio", "int", "int",
             "ratio", "points"]  # fmt: skip
    rows = [
        [d.code, d.name, d.communes, d.cameras_average, d.camera_days.installed, d.working_ratio,
         d.good_picture_ratio, d.completeness, d.tasks_raised, d.tasks_fixed,
         d.within_sla_ratio, d.points_mean]
        for d in ev.districts
    ]  # fmt: skip
    _table(ws, len(facts) + 3, headers, rows, kinds)
    _widths(ws, most=70)  # before the title, which may run over the columns
    ws.cell(row=1, column=1, value=f"Đánh giá camera An toàn về ANTT năm {p.year}").font = BOLD
    ws.freeze_panes = "A2"


def _communes(wb: Any, ev: Evaluation) -> None:
    ws = wb.create_sheet("Xã")
    rows = ([col.get(c) for col in COLUMNS] for c in ev.communes)
    _table(ws, 1, [col.header for col in COLUMNS], rows, [col.kind for col in COLUMNS])
    ws.freeze_panes = "C2"  # the header row and the code and name stay in view
    _widths(ws)


def _months(wb: Any, ev: Evaluation) -> None:
    ws = wb.create_sheet("Theo tháng")
    headers = [
        "Mã xã", "Tên xã", "Tháng", "Từ ngày", "Đến ngày", "Ngày-camera lắp đặt",
        "Tỷ lệ hoạt động", "Tỷ lệ hình ảnh tốt", "Tỷ lệ không rõ", "Ngày-camera hỏng",
    ]  # fmt: skip
    kinds = ["text", "text", "text", "date", "date", "days", "ratio", "ratio", "ratio", "days"]
    rows = (
        [c.code, c.name, m.label, m.first_day, m.last_day, m.installed_days, m.working_ratio,
         m.good_picture_ratio, m.unknown_ratio, m.down_days]
        for c in ev.communes
        for m in c.months
    )  # fmt: skip
    _table(ws, 1, headers, rows, kinds)
    ws.freeze_panes = "D2"
    _widths(ws)


def _metric_kind(metric: str) -> str:
    """Percent for shares (ratios, completeness, coverage), a plain number otherwise."""
    share = metric.endswith("_ratio") or metric.startswith("coverage_")
    return "ratio" if share or metric in {"completeness", "working_ratio_known"} else "number"


def _scores(wb: Any, ev: Evaluation) -> None:
    ws = wb.create_sheet("Chấm điểm")
    headers = ["Mã xã", "Tên xã", "Tiêu chí", "Nội dung", "Chỉ số", "Giá trị", "Điểm",
               "Điểm tối đa", "Xếp loại", "Lý do không chấm"]  # fmt: skip
    row = _table(ws, 1, headers, [], [])
    for c in ev.communes:
        for cr in c.score.criteria:
            values = [c.code, c.name, cr.id, cr.label, cr.metric, cr.value, cr.points,
                      cr.max_points, cr.grade, cr.reason]  # fmt: skip
            kinds = ["text"] * 5 + [_metric_kind(cr.metric), "points", "points", "text", "text"]
            _put(ws, row, values, kinds)
            row += 1
        total = [c.code, c.name, "Tổng", "Tổng điểm", None, None, c.score.points,
                 c.score.max_points, c.score.grade,
                 None if c.score.complete else "chưa chấm đủ tiêu chí"]  # fmt: skip
        _put(ws, row, total, ["text"] * 6 + ["points", "points", "text", "text"])
        for k in range(1, len(headers) + 1):
            ws.cell(row=row, column=k).font = BOLD
        row += 1
    ws.freeze_panes = "C2"
    _widths(ws, most=60)


def _tasks(wb: Any, ev: Evaluation) -> None:
    ws = wb.create_sheet("Nhiệm vụ")
    keys = ("tasks_raised", "tasks_closed", "tasks_fixed", "tasks_open_at_end",
            "mean_repair_hours", "p90_repair_hours", "tasks_due", "fixed_within_sla",
            "within_sla_ratio", "longest_outage_days", "longest_outage_camera")  # fmt: skip
    cols = [col for col in COLUMNS if col.key in {"code", "name", *keys}]
    rows = ([col.get(c) for col in cols] for c in ev.communes)
    _table(ws, 1, [col.header for col in cols], rows, [col.kind for col in cols])
    ws.freeze_panes = "C2"
    _widths(ws)


def write_xlsx(evaluation: Evaluation, path: Path) -> None:
    """Write the workbook: summary, communes, months, score per criterion, repair tasks.

    Sheets: "Tổng hợp" (period, rubric, scope, digests, districts), "Xã" (the columns of
    :data:`COLUMNS` with Vietnamese headers), "Theo tháng", "Chấm điểm", "Nhiệm vụ".

    Args:
        evaluation: The computed evaluation.
        path: The ``.xlsx`` file to write (replaced when it exists).
    """
    wb = Workbook()
    for build in (_summary, _communes, _months, _scores, _tasks):
        build(wb, evaluation)
    stamp = evaluation.period.data_until.astimezone(UTC).replace(tzinfo=None)
    wb.properties.created = wb.properties.modified = stamp
    wb.properties.creator = "camnet"
    raw = io.BytesIO()
    ExcelWriter(wb, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED)).save()  # closes the zip
    path.write_bytes(_fixed_zip(raw.getvalue(), evaluation.period.data_until))


def _fixed_zip(data: bytes, when: datetime) -> bytes:
    """The same zip with every entry dated ``when`` (local), not the time of writing."""
    stamp = when.astimezone(VN).timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for entry in src.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            dst.writestr(info, src.read(entry.filename))
    return out.getvalue()
