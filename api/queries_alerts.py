"""The delivery log (``alert_notification``) as the API and ``/alerts`` show it.

Scope: an admin sees every row; everyone else the rows of the communes in their scope
(``Principal.communes``) plus the rows addressed to themselves. Rows about no commune
(webhook test messages) are for admins only. Addresses are masked (``n***@example.com``,
``****1234``) for everyone but admins and the recipient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, func, or_, select
from sqlalchemy.engine import Connection

from api.auth import COMMUNE, USER, Principal
from api.schemas import AlertSummary, DeliveryDetail, DeliveryOut
from collector.models import as_utc
from collector.models_alerts import NOTIFICATION_STATES, AlertNotification

NOTE: Table = AlertNotification.__table__  # type: ignore[attr-defined]
#: Columns of the list (the body and the JSON payload only in the detail).
LIST_COLUMNS = tuple(name for name in DeliveryOut.model_fields if name in NOTE.c)


@dataclass(frozen=True)
class DeliveryFilter:
    """What ``GET /api/v1/alerts/deliveries`` and ``/alerts`` narrow the log to."""

    commune: str | None = None
    state: str | None = None
    kind: str | None = None
    channel: str | None = None
    task_id: int | None = None
    since: datetime | None = None


def mask_address(channel: str, address: str) -> str:
    """``nguyen@example.com`` -> ``n***@example.com``; ids keep their last 4 characters."""
    if channel == "email" and "@" in address:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}"
    return "****" + (address[-4:] if len(address) > 4 else "")


def clamp_utc(moment: datetime) -> datetime:
    """``moment`` in UTC (naive: taken as UTC); a date too far out to convert is clamped."""
    try:
        return as_utc(moment)
    except OverflowError:  # 0001-01-01T00:00+01:00 has no UTC time
        if moment.year < 2:
            return datetime.min.replace(tzinfo=UTC)
        return datetime.max.replace(tzinfo=UTC)


def scope_filter(me: Principal) -> ColumnElement[bool] | None:
    """The rows ``me`` may see (None: all of them)."""
    n = NOTE.c
    if me.role == "admin":
        return None
    if me.communes is None:  # a national reader: every commune, but no commune-less row
        communes: ColumnElement[bool] = n.commune_code.is_not(None)
    else:
        communes = n.commune_code.in_(sorted(me.communes))
    return or_(communes, n.user_id == me.user_id)


def _visible(me: Principal, query: Select[Any]) -> Select[Any]:
    clause = scope_filter(me)
    return query if clause is None else query.where(clause)


def _filtered(query: Select[Any], f: DeliveryFilter) -> Select[Any]:
    n = NOTE.c
    for column, value in (
        (n.commune_code, f.commune),
        (n.state, f.state),
        (n.kind, f.kind),
        (n.channel, f.channel),
        (n.task_id, f.task_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if f.since is not None:
        query = query.where(n.created_at >= clamp_utc(f.since))
    return query


def _log_query(*extra: Any) -> Select[Any]:
    n = NOTE.c
    return select(
        *(n[name] for name in LIST_COLUMNS),
        *extra,
        USER.c.username,
        COMMUNE.c.name.label("commune_name"),
    ).select_from(
        NOTE.outerjoin(USER, USER.c.id == n.user_id).outerjoin(
            COMMUNE, COMMUNE.c.code == n.commune_code
        )
    )


def _shown(me: Principal, row: dict[str, Any]) -> dict[str, Any]:
    """The row with its address masked unless ``me`` is an admin or the recipient."""
    if me.role != "admin" and row["user_id"] != me.user_id:
        row["address"] = mask_address(row["channel"], row["address"])
    return row


def deliveries(
    conn: Connection, me: Principal, f: DeliveryFilter, *, limit: int = 100, offset: int = 0
) -> list[DeliveryOut]:
    """The log in ``me``'s scope, newest first."""
    n = NOTE.c
    query = _filtered(_visible(me, _log_query()), f)
    query = query.order_by(n.created_at.desc(), n.id.desc()).limit(limit).offset(offset)
    return [DeliveryOut.model_validate(_shown(me, dict(r))) for r in conn.execute(query).mappings()]


def delivery(conn: Connection, me: Principal, delivery_id: int) -> DeliveryDetail | None:
    """One notification with its text; None when absent or outside ``me``'s scope."""
    query = _visible(me, _log_query(NOTE.c.body)).where(NOTE.c.id == delivery_id)
    row = conn.execute(query).mappings().first()
    return None if row is None else DeliveryDetail.model_validate(_shown(me, dict(row)))


def summary(conn: Connection, me: Principal, commune: str | None, now: datetime) -> AlertSummary:
    """Counts by state over 24 h and 7 days, and the age of the oldest pending row."""
    n = NOTE.c
    scope = DeliveryFilter(commune=commune)

    def counts(since: datetime) -> dict[str, int]:
        query = _visible(me, select(n.state, func.count()).select_from(NOTE))
        query = _filtered(query, scope).where(n.created_at >= since).group_by(n.state)
        found = dict.fromkeys(NOTIFICATION_STATES, 0)
        found.update({state: int(count) for state, count in conn.execute(query)})
        return found

    oldest_query = _visible(me, select(func.min(n.created_at)).select_from(NOTE))
    oldest = conn.scalar(_filtered(oldest_query, scope).where(n.state == "pending"))
    return AlertSummary(
        commune=commune,
        last_24h=counts(now - timedelta(hours=24)),
        last_7d=counts(now - timedelta(days=7)),
        oldest_pending_seconds=(
            None if oldest is None else max((now - as_utc(oldest)).total_seconds(), 0.0)
        ),
    )
