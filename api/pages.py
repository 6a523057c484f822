"""The dashboard: server-rendered pages in Vietnamese (``?lang=en`` for English).

``/login`` ``/logout``, ``/`` (technicians to their tasks, everyone else to the district
table), ``/district`` (communes table and uptime trend), ``/map`` (Leaflet, served from
``/static/leaflet``; data from ``/api/v1`` with the session cookie), ``/cameras`` and
``/cameras/{id}``; the task pages are in :mod:`api.pages_tasks`. Every page checks the
caller's communes: another commune's camera answers 404, as in the JSON API.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.engine import Connection

from api import pages_tasks, queries, rollup
from api.auth import COMMUNE, SESSION_KEY, Principal, authenticate, current_principal
from api.charts import day_ticks, timeline, trend_chart
from api.deps import ReadConn
from api.errors import NotFound
from api.i18n import LANG_KEY
from api.pages_common import Anyone, PageRoute, SignedIn, check_csrf, csrf_ok, redirect, safe_next
from api.schemas import CommuneRow
from collector.models import CAMERA_STATES
from collector.models_ops import TASK_OPEN_STATES

router = APIRouter(route_class=PageRoute, include_in_schema=False)
router.include_router(pages_tasks.router)
TIMELINE_DAYS = 30
Next = Annotated[str, Query(alias="next")]


@dataclass(frozen=True)
class Column:
    """A sortable column of the communes table."""

    key: str  # ?sort=key
    value: Callable[[CommuneRow], object]
    first_dir: str  # the direction of the first click: worst first
    numeric: bool = True


COLUMNS = (
    Column("code", lambda r: r.code, "asc", numeric=False),
    Column("name", lambda r: r.name.casefold(), "asc", numeric=False),
    Column("installed", lambda r: r.installed, "desc"),
    Column("ratio", lambda r: r.ratio, "asc"),
    Column("uptime", lambda r: r.uptime, "asc"),
    Column("down", lambda r: r.cameras_down, "desc"),
    Column("outage", lambda r: r.longest_down_seconds, "desc"),
    Column("open", lambda r: r.open_tasks, "desc"),
    Column("overdue", lambda r: r.overdue_tasks, "desc"),
    Column("coverage", lambda r: r.coverage, "asc"),
)
BY_KEY = {c.key: c for c in COLUMNS}


def sort_rows(rows: Sequence[CommuneRow], key: str, direction: str) -> list[CommuneRow]:
    """Rows by column ``key``; empty values (no cameras, no coverage) always last."""
    column = BY_KEY.get(key, BY_KEY["ratio"])
    ordered = sorted(rows, key=lambda r: r.code)  # ties stay in code order
    present = [r for r in ordered if column.value(r) is not None]
    missing = [r for r in ordered if column.value(r) is None]
    present.sort(key=column.value, reverse=direction == "desc")  # type: ignore[arg-type]
    return present + missing


@dataclass(frozen=True)
class CommuneOption:
    """A commune the caller may pick on the map."""

    code: str
    name: str


def communes_in_scope(conn: Connection, me: Principal) -> list[CommuneOption]:
    """Communes in scope, current ones first (merged ones keep their history)."""
    c = COMMUNE.c
    query = select(c.code, c.name).order_by(c.merged_into.is_not(None), c.code)
    if me.communes is not None:
        query = query.where(c.code.in_(me.communes))
    return [CommuneOption(code, name) for code, name in conn.execute(query)]


def commune_name(conn: Connection, code: str) -> str:
    """A commune's name (its code when unknown)."""
    name: str | None = conn.scalar(select(COMMUNE.c.name).where(COMMUNE.c.code == code))
    return name or code


# --------------------------------------------------------------------------- sign-in


@router.get("/login")
def login_form(page: Anyone, next_target: Next = "/") -> Response:
    """The sign-in form (straight on to ``next`` when already signed in)."""
    if current_principal(page.request) is not None:
        return redirect(safe_next(next_target))
    return page.render("login.html", next=safe_next(next_target), username="")


@router.post("/login")
def login(
    page: Anyone,
    conn: ReadConn,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    csrf: Annotated[str, Form()] = "",
    next_target: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    """Check the password; on success keep the user id in the session and go on."""
    request, target = page.request, safe_next(next_target)
    if not csrf_ok(request, csrf):
        error, status, principal = page.t("login.expired"), 400, None
    else:
        principal = authenticate(conn, username.strip(), password)
        error, status = page.t("login.failed"), 401
    if principal is None:
        return page.render(
            "login.html", status_code=status, error=error, next=target, username=username.strip()
        )
    _restart_session(request)
    request.session[SESSION_KEY] = principal.user_id
    return redirect(target)


def _restart_session(request: Request) -> None:
    """A fresh session (new CSRF token) that keeps only the chosen language."""
    lang = request.session.get(LANG_KEY)
    request.session.clear()
    if lang:
        request.session[LANG_KEY] = lang


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """Forget the user (the language choice stays)."""
    check_csrf(request, csrf)
    _restart_session(request)
    return redirect("/login")


@router.get("/")
def home(page: SignedIn) -> Response:
    """Technicians start on their tasks, everyone else on the district table."""
    return redirect("/my-tasks" if page.principal.role == "technician" else "/district")


# --------------------------------------------------------------------------- district


@router.get("/district")
def district(
    page: SignedIn,
    conn: ReadConn,
    sort: str = "ratio",
    direction: Annotated[str, Query(alias="dir", pattern="^(asc|desc)$")] = "asc",
) -> Response:
    """Communes in scope: ratio now, uptime, outages, tasks, coverage; the uptime trend."""
    me, now, days = page.principal, datetime.now(UTC), page.settings.uptime_days
    sort = sort if sort in BY_KEY else "ratio"
    rows = queries.commune_table(
        conn,
        me.communes,
        now,
        window_days=days,
        coverage=page.request.app.state.coverage.fractions,
    )
    installed = sum(r.installed for r in rows)
    working = sum(r.working for r in rows)
    totals = {
        "installed": installed,
        "working": working,
        "ratio": working / installed if installed else None,
        "down": sum(r.cameras_down for r in rows),
        "open": sum(r.open_tasks for r in rows),
        "overdue": sum(r.overdue_tasks for r in rows),
    }
    headers = [
        {
            "key": c.key,
            "numeric": c.numeric,
            "dir": ("desc" if direction == "asc" else "asc") if c.key == sort else c.first_dir,
            "active": direction if c.key == sort else None,
        }
        for c in COLUMNS
    ]
    return page.render(
        "district.html",
        rows=sort_rows(rows, sort, direction),
        headers=headers,
        totals=totals,
        days=days,
        chart=trend_chart(rollup.trend(conn, me.communes, days, now)),
    )


# ------------------------------------------------------------------------------ map


@router.get("/map")
def map_page(page: SignedIn, conn: ReadConn, commune: str | None = None) -> Response:
    """A commune's cameras, view sectors, coverage gaps and key areas on a Leaflet map."""
    me = page.principal
    options = communes_in_scope(conn, me)
    code = commune or (options[0].code if options else None)
    if code is None:
        return page.render("map.html", options=options, commune=None, labels={})
    me.check_commune(code, "commune", code)
    labels = {
        f"{group}.{value}": page.t(f"{group}.{value}")
        for group, values in (
            ("status", CAMERA_STATES),
            ("legend", ("sector", "sector_off", "gap_none", "gap_repair", "road", "border")),
            ("legend", ("hotspot", "area", "title", "open_camera", "no_data", "error")),
            ("kind", ("hotspot", "main_road", "village_border", "area")),
        )
        for value in values
    }
    return page.render(
        "map.html",
        options=options,
        commune=CommuneOption(code, commune_name(conn, code)),
        labels=labels,
    )


# --------------------------------------------------------------------------- cameras


@router.get("/cameras")
def camera_list(
    page: SignedIn, conn: ReadConn, commune: str | None = None, status: str | None = None
) -> Response:
    """Cameras in scope (of one commune, of one status) with their state now."""
    me = page.principal
    if commune is not None:
        me.check_commune(commune, "commune", commune)
    status = status if status in CAMERA_STATES else None
    rows = queries.cameras(conn, me.communes, commune=commune, status=status)
    return page.render(
        "cameras.html",
        rows=rows,
        commune=CommuneOption(commune, commune_name(conn, commune)) if commune else None,
        status=status,
        states=CAMERA_STATES,
    )


@router.get("/cameras/{camera_id}")
def camera_page(camera_id: str, page: SignedIn, conn: ReadConn) -> Response:
    """A camera: snapshots, 30-day timeline, faults, its open task."""
    now = datetime.now(UTC)
    detail = queries.camera_detail(conn, camera_id, now, window_days=TIMELINE_DAYS)
    if detail is None:
        raise NotFound("camera", camera_id)
    page.principal.check_commune(detail.commune_code, "camera", camera_id)
    start = now - timedelta(days=TIMELINE_DAYS)
    open_tasks = [t for t in detail.tasks if t.state in TASK_OPEN_STATES]
    return page.render(
        "camera.html",
        cam=detail,
        commune=CommuneOption(detail.commune_code, commune_name(conn, detail.commune_code)),
        bars=timeline(detail.timeline, start, now),
        ticks=day_ticks(start, now, timedelta(days=5), page.t.day),
        start=start,
        now=now,
        open_task=open_tasks[0] if open_tasks else None,
        past_tasks=[t for t in detail.tasks if t.state not in TASK_OPEN_STATES],
    )
