"""``/evaluations``: the yearly ANTT evaluation of the signed-in user's communes.

The figures of ``GET /api/v1/evaluations/{year}`` (computed for the user's scope and
recorded with their SHA-256), as a table per commune, with links to the printable PDF
report and the XLSX, CSV and JSON exports of the same scope.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import WriteConn
from api.evaluation.period import period_for
from api.pages_common import PageRoute, SignedIn
from api.routes_evaluation import compute
from collector.ratio import VN

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def current_year(start: str, now: datetime | None = None) -> int:
    """The year of the last period that has begun (16/11/2026 -> 2027)."""
    today = (now or datetime.now(UTC)).astimezone(VN).date()
    year = today.year + 1
    while period_for(year, start).first_day > today:
        year -= 1
    return year


@router.get("/evaluations")
def evaluations_page(
    page: SignedIn,
    conn: WriteConn,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> Response:
    """Per-commune figures and score of the period ending in ``year``.

    Default: the last finished period (the one the dossier due on 30/11 is about).
    """
    latest = current_year(page.settings.evaluation_period_start)
    year = year or latest - 1
    result = compute(conn, page.settings, page.principal, year)
    return page.render(
        "evaluations.html",
        result=result,
        year=year,
        years=list(range(latest, latest - 5, -1)),
        exports=("pdf", "xlsx", "csv", "json"),
    )
