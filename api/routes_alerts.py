"""``/api/v1/alerts``: the delivery log of ``camnet alerts``; users' alert contacts.

The log is read only here (``camnet alerts`` writes it). Contacts are managed by the user
themself, an admin, or a district user for the users of the communes they see; anyone
else gets 404 for users outside their scope and 403 for the others. Removing a contact
deletes it (the log keeps the addresses messages went to).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.engine import Connection

from api import contacts, queries_alerts
from api.auth import Principal, users_in_scope
from api.deps import MAX_ID, Caller, ReadConn, RowId, WriteConn
from api.errors import Forbidden, NotFound
from api.queries_alerts import DeliveryFilter
from api.schemas import (
    AlertSummary,
    ContactIn,
    ContactOut,
    DeliveryChannel,
    DeliveryDetail,
    DeliveryOut,
    DeliveryState,
)

router = APIRouter(prefix="/api/v1", tags=["alerts"])
CommuneCode = Annotated[str | None, Query(pattern=r"^[0-9]{5}$", description="5-digit code.")]
#: Who may manage another user's contacts (within their scope).
CONTACT_MANAGERS = ("admin", "district")


class DeliveryNotFound(NotFound):
    """404: no such notification in the caller's scope."""

    def __init__(self, key: object) -> None:
        """``key``: the notification id."""
        super().__init__("notification", key)
        self.message = f"Không tìm thấy thông báo {key}."


def _commune_in_scope(caller: Principal, commune: str | None) -> None:
    if commune is not None:
        caller.check_commune(commune, "commune", commune)


@router.get("/alerts/deliveries", response_model=list[DeliveryOut])
def list_deliveries(
    caller: Caller,
    conn: ReadConn,
    commune: CommuneCode = None,
    state: DeliveryState | None = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    channel: DeliveryChannel | None = None,
    task_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    since: Annotated[datetime | None, Query(description="Made at or after (ISO 8601).")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[DeliveryOut]:
    """Notifications in scope, newest first (addresses masked unless yours or an admin)."""
    _commune_in_scope(caller, commune)
    f = DeliveryFilter(commune, state, kind, channel, task_id, since)
    return queries_alerts.deliveries(conn, caller, f, limit=limit, offset=offset)


@router.get("/alerts/deliveries/{delivery_id}", response_model=DeliveryDetail)
def get_delivery(delivery_id: RowId, caller: Caller, conn: ReadConn) -> DeliveryDetail:
    """One notification with its text."""
    found = queries_alerts.delivery(conn, caller, delivery_id)
    if found is None:
        raise DeliveryNotFound(delivery_id)
    return found


@router.get("/alerts/summary", response_model=AlertSummary)
def alert_summary(caller: Caller, conn: ReadConn, commune: CommuneCode = None) -> AlertSummary:
    """Counts by state over the last 24 h and 7 days, and the oldest pending age."""
    _commune_in_scope(caller, commune)
    return queries_alerts.summary(conn, caller, commune, datetime.now(UTC))


def _contacts_of(conn: Connection, caller: Principal, user_id: int) -> None:
    """404 for a user outside the caller's scope, 403 for one they may not manage."""
    if user_id == caller.user_id:
        return
    if not any(u["id"] == user_id for u in users_in_scope(conn, caller)):
        raise NotFound("user", user_id)
    if caller.role not in CONTACT_MANAGERS:
        raise Forbidden(
            "Chỉ chính người dùng, quản trị viên hoặc cán bộ huyện được xem và sửa địa chỉ "
            "nhận cảnh báo của người này.",
            "Only the user themself, an admin or a district officer may see and change this "
            "user's alert contacts.",
            "Người đó tự đăng nhập để sửa, hoặc nhờ quản trị viên / the user can sign in and "
            "change them, or ask an admin",
        )


@router.get("/users/{user_id}/contacts", response_model=list[ContactOut])
def list_contacts(user_id: RowId, caller: Caller, conn: ReadConn) -> list[ContactOut]:
    """Where a user receives alerts."""
    _contacts_of(conn, caller, user_id)
    return contacts.contacts_of(conn, [user_id])


@router.post("/users/{user_id}/contacts", response_model=ContactOut, status_code=201)
def add_contact(user_id: RowId, body: ContactIn, caller: Caller, conn: WriteConn) -> ContactOut:
    """Add an e-mail, Telegram chat id or Zalo user id (409 if the user has it already)."""
    _contacts_of(conn, caller, user_id)
    caller.require_write()
    return contacts.add_contact(conn, user_id, body.channel, body.address, datetime.now(UTC))


@router.delete("/users/{user_id}/contacts/{contact_id}", status_code=204, response_class=Response)
def remove_contact(user_id: RowId, contact_id: RowId, caller: Caller, conn: WriteConn) -> Response:
    """Remove a contact (the row is deleted; the delivery log keeps what was sent)."""
    _contacts_of(conn, caller, user_id)
    found = contacts.contact_by_id(conn, contact_id)
    if found is None or found.user_id != user_id:
        raise contacts.ContactNotFound(contact_id)
    caller.require_write()
    contacts.remove_contact(conn, contact_id)
    return Response(status_code=204)
