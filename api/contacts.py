"""Where users receive alerts (``alert_contact``): checked the same way by the API and CLI.

``validate_contact`` is the one check of an address (``POST /api/v1/users/{id}/contacts``
and ``camnet users contact add`` both call it); the functions below read and change the
table. Removing a contact deletes its row: the delivery log (``alert_notification``)
keeps the address each message went to, so nothing of the history is lost.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from api.auth import USER
from api.errors import BadRequest, Conflict, NotFound
from api.schemas import ContactOut
from collector.models_alerts import CONTACT_CHANNELS, AlertContact

CONTACT: Table = AlertContact.__table__  # type: ignore[attr-defined]
# ASCII only: ``\d`` would also take other scripts' digits, which no channel accepts.
EMAIL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
TELEGRAM = re.compile(r"-?[0-9]{1,20}")
ZALO = re.compile(r"[1-9][0-9]{0,31}")


class ContactNotFound(NotFound):
    """404: the user has no such contact."""

    def __init__(self, key: object) -> None:
        """``key``: the contact id, or ``channel address``."""
        super().__init__("contact", key)
        self.message = f"Không tìm thấy địa chỉ nhận cảnh báo {key}."


def validate_contact(channel: str, address: str) -> str:
    """The address normalised for ``channel``, or ``BadRequest`` saying what to write.

    Surrounding spaces are dropped and an e-mail's domain is put in lower case.
    """
    address = address.strip()
    if channel == "email":
        if len(address) <= 254 and EMAIL.fullmatch(address):
            local, _, domain = address.rpartition("@")
            return f"{local}@{domain.lower()}"
        raise BadRequest(
            f"'{address}' không phải địa chỉ e-mail.",
            f"'{address}' is not an e-mail address.",
            "Viết dạng ten@vi-du.vn / write it like name@example.vn",
        )
    if channel == "telegram":
        if TELEGRAM.fullmatch(address):
            return address
        raise BadRequest(
            f"'{address}' không phải chat id của Telegram.",
            f"'{address}' is not a Telegram chat id.",
            "Chat id là một dãy số (nhóm: có dấu '-' phía trước), không phải @tên: nhắn /start "
            "cho bot rồi lấy chat id qua getUpdates / a chat id is digits (a group's starts "
            "with '-'), not an @name: send /start to the bot and read it from getUpdates",
        )
    if channel == "zalo":
        if ZALO.fullmatch(address):
            return address
        vi, en = ("", "")
        if address.startswith(("0", "+")):
            vi, en = (" (giống số điện thoại)", " (like a phone number)")
        raise BadRequest(
            f"'{address}' không phải user id của Zalo{vi}.",
            f"'{address}' is not a Zalo user id{en}.",
            "User id là dãy số Zalo OA nhận được khi người dùng quan tâm OA, không phải số điện "
            "thoại / the user id is the number the Zalo OA receives when the person follows "
            "it, not their phone number",
        )
    raise BadRequest(
        f"Không có kênh '{channel}'.",
        f"No channel '{channel}'.",
        f"Dùng một trong / use one of: {', '.join(CONTACT_CHANNELS)}",
    )


def _contact_query() -> Any:
    c = CONTACT.c
    return (
        select(CONTACT, USER.c.username)
        .select_from(CONTACT.join(USER, USER.c.id == c.user_id))
        .order_by(USER.c.username, c.channel, c.address)
    )


def contacts_of(conn: Connection, user_ids: Collection[int] | None = None) -> list[ContactOut]:
    """The contacts of ``user_ids`` (None: everyone's), by username, channel and address."""
    query = _contact_query()
    if user_ids is not None:
        query = query.where(CONTACT.c.user_id.in_(list(user_ids)))
    return [ContactOut.model_validate(dict(r)) for r in conn.execute(query).mappings()]


def contact_by_id(conn: Connection, contact_id: int) -> ContactOut | None:
    """One contact, or None."""
    row = conn.execute(_contact_query().where(CONTACT.c.id == contact_id)).mappings().first()
    return None if row is None else ContactOut.model_validate(dict(row))


def find_contact(conn: Connection, user_id: int, channel: str, address: str) -> int | None:
    """The id of ``user_id``'s contact ``channel``/``address`` (address as validated)."""
    c = CONTACT.c
    found: int | None = conn.scalar(
        select(c.id).where(c.user_id == user_id, c.channel == channel, c.address == address)
    )
    return found


def add_contact(
    conn: Connection, user_id: int, channel: str, address: str, now: datetime
) -> ContactOut:
    """Add (or switch back on) a contact checked by :func:`validate_contact`.

    ``Conflict`` when the user already has it.
    """
    address = validate_contact(channel, address)
    c = CONTACT.c
    existing = conn.execute(
        select(c.id, c.active).where(
            c.user_id == user_id, c.channel == channel, c.address == address
        )
    ).first()
    if existing is not None and existing.active:
        raise _duplicate(channel, address)
    if existing is not None:  # switched off (e.g. the chat blocked the bot): on again
        conn.execute(update(CONTACT).where(c.id == existing.id).values(active=True))
        contact_id = existing.id
    else:
        values = {"user_id": user_id, "channel": channel, "address": address, "active": True}
        try:
            contact_id = conn.execute(
                insert(CONTACT).values(**values, created_at=now).returning(c.id)
            ).scalar_one()
        except IntegrityError as exc:  # the same contact added at the same moment
            raise _duplicate(channel, address) from exc
    found = contact_by_id(conn, contact_id)
    assert found is not None  # just written in this transaction
    return found


def remove_contact(conn: Connection, contact_id: int) -> bool:
    """Delete a contact; False if there was none."""
    return bool(conn.execute(delete(CONTACT).where(CONTACT.c.id == contact_id)).rowcount)


def _duplicate(channel: str, address: str) -> Conflict:
    return Conflict(
        f"Người dùng này đã có địa chỉ {channel} {address}.",
        f"This user already has the {channel} contact {address}.",
        "Không cần thêm lại; xoá địa chỉ cũ nếu muốn đổi / nothing to add; remove the old "
        "contact to change it",
    )
