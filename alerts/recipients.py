"""Who receives a notice: roles of a commune resolved to people and their contacts.

Roles (the rules file's ``routes``): ``assignee`` (the task's technician), ``technician``
and ``commune`` (users of that role linked to the commune in ``user_commune``),
``district`` (role ``district`` of the commune's district, or of its province when the
commune has no district), ``admin``. Inactive users and contacts are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Table, and_, select
from sqlalchemy.engine import Connection

from collector.models import Commune
from collector.models_alerts import AlertContact
from collector.models_ops import User, UserCommune

USER: Table = User.__table__  # type: ignore[attr-defined]
USER_COMMUNE: Table = UserCommune.__table__  # type: ignore[attr-defined]
CONTACT: Table = AlertContact.__table__  # type: ignore[attr-defined]
COMMUNE: Table = Commune.__table__  # type: ignore[attr-defined]


@dataclass
class Recipient:
    """One person and where they receive notifications."""

    user_id: int
    username: str
    language: str
    contacts: list[tuple[str, str]] = field(default_factory=list)  # (channel, address)


class Directory:
    """Looks people up for one pass of the engine (cached per commune and role)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._ids: dict[tuple[str, str], list[int]] = {}
        self._people: dict[int, Recipient | None] = {}
        self._names: dict[str, str] = {}

    def commune_name(self, code: str) -> str:
        """The commune's name, or its code when it is not in the registry."""
        if code not in self._names:
            name = self.conn.scalar(select(COMMUNE.c.name).where(COMMUNE.c.code == code))
            self._names[code] = str(name) if name else code
        return self._names[code]

    def recipients(
        self, roles: list[str], commune: str, assignees: Sequence[int | None] = ()
    ) -> list[Recipient]:
        """The people of ``roles`` for ``commune`` (each once), with their contacts."""
        ids: list[int] = []
        for role in roles:
            if role == "assignee":
                found = [a for a in assignees if a is not None]
            else:
                found = self._role_ids(role, commune)
            ids.extend(i for i in found if i not in ids)
        people = [self._person(i) for i in ids]
        return [p for p in people if p is not None]

    def _role_ids(self, role: str, commune: str) -> list[int]:
        key = (role, commune)
        if key not in self._ids:
            self._ids[key] = self._query_role(role, commune)
        return self._ids[key]

    def _query_role(self, role: str, commune: str) -> list[int]:
        u, uc, k = USER.c, USER_COMMUNE.c, COMMUNE.c
        if role in ("technician", "commune"):
            query = (
                select(u.id)
                .select_from(USER.join(USER_COMMUNE, uc.user_id == u.id))
                .where(uc.commune_code == commune, u.role == role, u.active)
            )
        elif role == "district":
            place = self.conn.execute(
                select(k.district_code, k.province_code).where(k.code == commune)
            ).first()
            if place is None:
                return []
            scope = (
                u.district_code == place.district_code
                if place.district_code
                else and_(u.district_code.is_(None), u.province_code == place.province_code)
            )
            query = select(u.id).where(u.role == "district", u.active, scope)
        elif role == "admin":
            query = select(u.id).where(u.role == "admin", u.active)
        else:
            return []
        return [int(i) for i in self.conn.scalars(query.order_by(u.id))]

    def _person(self, user_id: int) -> Recipient | None:
        if user_id not in self._people:
            u, c = USER.c, CONTACT.c
            row = self.conn.execute(
                select(u.id, u.username, u.language).where(u.id == user_id, u.active)
            ).first()
            if row is None:
                self._people[user_id] = None
            else:
                contacts = self.conn.execute(
                    select(c.channel, c.address)
                    .where(c.user_id == user_id, c.active)
                    .order_by(c.id)
                ).all()
                self._people[user_id] = Recipient(
                    row.id, row.username, row.language or "vi", [(a, b) for a, b in contacts]
                )
        return self._people[user_id]
