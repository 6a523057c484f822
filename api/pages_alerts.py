"""``/alerts``: the delivery log of ``camnet alerts`` for the signed-in user's scope.

The same rows as ``GET /api/v1/alerts/deliveries`` (scope and masking from
:mod:`api.queries_alerts`), filtered by state and commune, a page at a time, under the
counts of the last 24 hours and 7 days. No script: the filters are a GET form.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api import queries_alerts
from api.deps import ReadConn
from api.pages import communes_in_scope
from api.pages_common import PageRoute, SignedIn
from api.queries_alerts import DeliveryFilter
from collector.models_alerts import NOTIFICATION_STATES

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PAGE_SIZE = 100
#: The badge colour of each state (the camera status colours of ``app.css``).
BADGE = {
    "pending": "status-unknown",
    "sending": "status-degraded",
    "sent": "status-ok",
    "failed": "status-down",
    "uncertain": "status-degraded",
}


@router.get("/alerts")
def alerts_page(
    page: SignedIn,
    conn: ReadConn,
    state: str | None = None,
    commune: str | None = None,
    number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    """Notifications in scope, newest first, with their delivery state and errors."""
    me = page.principal
    state = state if state in NOTIFICATION_STATES else None
    commune = commune or None
    if commune is not None:
        me.check_commune(commune, "commune", commune)
    # one row more than shown tells whether there is an older page
    rows = queries_alerts.deliveries(
        conn,
        me,
        DeliveryFilter(commune=commune, state=state),
        limit=PAGE_SIZE + 1,
        offset=(number - 1) * PAGE_SIZE,
    )
    summary = queries_alerts.summary(conn, me, commune, datetime.now(UTC))
    kept = {k: v for k, v in {"state": state, "commune": commune}.items() if v}

    def page_url(n: int) -> str:
        return "/alerts?" + urlencode(kept | {"page": n})

    return page.render(
        "alerts.html",
        rows=rows[:PAGE_SIZE],
        summary=summary,
        states=NOTIFICATION_STATES,
        badge=BADGE,
        state=state,
        commune=commune,
        options=communes_in_scope(conn, me),
        newer=page_url(number - 1) if number > 1 else None,
        older=page_url(number + 1) if len(rows) > PAGE_SIZE else None,
    )
