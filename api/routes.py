"""``/api/v1``: communes, cameras, coverage, snapshots, users (read side + users)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.engine import Connection

from api import queries, rollup
from api.auth import USER, camera_commune, users_in_scope
from api.coverage_cache import commune_geojson
from api.deps import Caller, ReadConn, RowId, Settings, WriteConn
from api.errors import NotFound
from api.schemas import CameraDetail, CameraRow, CommuneRow, TrendPoint
from api.users import UserIn, UserOut, create_user, user_out
from collector.areas import export_areas

router = APIRouter(prefix="/api/v1", tags=["camnet"])
CameraStatus = Literal["ok", "degraded", "down", "unknown", "never_reported"]
Days = Annotated[int, Query(ge=1, le=400, description="Window in days.")]


class MeOut(UserOut):
    """The caller."""

    read_only: bool


@router.get("/me", response_model=MeOut)
def me(caller: Caller, conn: ReadConn) -> MeOut:
    """Who is signed in, with the communes in scope."""
    out = user_out(conn, [_user(conn, caller.user_id)])[0]
    return MeOut(**out.model_dump(), read_only=caller.read_only)


@router.get("/communes", response_model=list[CommuneRow])
def communes(
    request: Request, caller: Caller, conn: ReadConn, settings: Settings, days: Days | None = None
) -> list[CommuneRow]:
    """Communes in scope: working ratio now, uptime over the window, tasks, coverage."""
    return queries.commune_table(
        conn,
        caller.communes,
        datetime.now(UTC),
        window_days=days or settings.uptime_days,
        coverage=request.app.state.coverage.fractions,
    )


@router.get("/communes/{code}", response_model=CommuneRow)
def commune(
    code: str,
    request: Request,
    caller: Caller,
    conn: ReadConn,
    settings: Settings,
    days: Days | None = None,
) -> CommuneRow:
    """One commune's line of the table."""
    caller.check_commune(code, "commune", code)
    rows = queries.commune_table(
        conn,
        [code],
        datetime.now(UTC),
        window_days=days or settings.uptime_days,
        coverage=request.app.state.coverage.fractions,
    )
    if not rows:
        raise NotFound("commune", code)
    return rows[0]


@router.get("/trend", response_model=list[TrendPoint])
def trend(caller: Caller, conn: ReadConn, days: Days = 30) -> list[TrendPoint]:
    """Daily uptime of all communes in scope (the district trend chart)."""
    return rollup.trend(conn, caller.communes, days, datetime.now(UTC))


@router.get("/communes/{code}/trend", response_model=list[TrendPoint])
def commune_trend(code: str, caller: Caller, conn: ReadConn, days: Days = 30) -> list[TrendPoint]:
    """Daily uptime of one commune."""
    caller.check_commune(code, "commune", code)
    return rollup.trend(conn, [code], days, datetime.now(UTC))


@router.get("/communes/{code}/coverage")
def coverage(code: str, request: Request, caller: Caller, sectors: bool = True) -> dict[str, Any]:
    """Coverage gaps (and camera view sectors) of a commune now, as GeoJSON."""
    caller.check_commune(code, "commune", code)
    return commune_geojson(request.app.state.engine, code, sectors=sectors)


@router.get("/communes/{code}/areas")
def areas(code: str, request: Request, caller: Caller) -> dict[str, Any]:
    """Key areas of a commune (hotspots, main roads, village borders, areas) as GeoJSON."""
    caller.check_commune(code, "commune", code)
    data: dict[str, Any] = json.loads(export_areas(request.app.state.engine, code))
    return data


@router.get("/cameras", response_model=list[CameraRow])
def cameras(
    caller: Caller,
    conn: ReadConn,
    commune: str | None = None,
    status: CameraStatus | None = None,
) -> list[CameraRow]:
    """Installed cameras in scope with their state now."""
    if commune is not None:
        caller.check_commune(commune, "commune", commune)
    return queries.cameras(conn, caller.communes, commune=commune, status=status)


@router.get("/cameras/{camera_id}", response_model=CameraDetail)
def camera(camera_id: str, caller: Caller, conn: ReadConn, days: Days = 30) -> CameraDetail:
    """A camera: state, timeline of intervals, snapshots, tasks."""
    detail = queries.camera_detail(conn, camera_id, datetime.now(UTC), window_days=days)
    caller.check_commune(detail.commune_code if detail else None, "camera", camera_id)
    assert detail is not None  # check_commune raised otherwise
    return detail


@router.get(
    "/snapshots/{snapshot_id}.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def snapshot(snapshot_id: RowId, caller: Caller, conn: ReadConn) -> Response:
    """A stored snapshot (JPEG)."""
    found = queries.snapshot_jpeg(conn, snapshot_id)
    commune = camera_commune(conn, found[0]) if found is not None else None
    caller.check_commune(commune, "snapshot", snapshot_id)
    assert found is not None
    return Response(found[1], media_type="image/jpeg", headers={"Cache-Control": "private"})


@router.get("/users", response_model=list[UserOut])
def users(caller: Caller, conn: ReadConn) -> list[UserOut]:
    """Users who work on communes in scope (admins see everyone)."""
    caller.require("admin", "district", "commune")
    return user_out(conn, users_in_scope(conn, caller))


@router.post("/users", response_model=UserOut, status_code=201)
def add_user(body: UserIn, caller: Caller, conn: WriteConn) -> UserOut:
    """Create a user (admins only)."""
    caller.require("admin")
    caller.require_write()
    user_id = create_user(conn, body, datetime.now(UTC))
    return user_out(conn, [_user(conn, user_id)])[0]


def _user(conn: Connection, user_id: int) -> dict[str, object]:
    return dict(conn.execute(select(USER).where(USER.c.id == user_id)).mappings().one())
