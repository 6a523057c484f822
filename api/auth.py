"""Who is calling and which communes they may see: users, roles, sessions, tokens.

A caller is a :class:`Principal`: a dashboard session (cookie signed with the API's
secret) or a bearer token (``Authorization: Bearer cn_...``, stored as SHA-256). Its
``communes`` is the set of commune codes in scope (``None``: all of them); every route
checks it with :meth:`Principal.check_commune` or filters its query with it. Objects
outside the scope answer 404, as if absent, so ids of other communes do not leak.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy import Table, or_, select, update
from sqlalchemy.engine import Connection, Engine

from api.errors import Forbidden, NotAuthenticated, NotFound
from api.security import token_digest, verify_password
from collector.models import Camera, Commune
from collector.models_ops import ApiToken, User, UserCommune

USER: Table = User.__table__  # type: ignore[attr-defined]
USER_COMMUNE: Table = UserCommune.__table__  # type: ignore[attr-defined]
TOKEN: Table = ApiToken.__table__  # type: ignore[attr-defined]
COMMUNE: Table = Commune.__table__  # type: ignore[attr-defined]
CAMERA: Table = Camera.__table__  # type: ignore[attr-defined]
SESSION_KEY = "uid"


@dataclass(frozen=True)
class Principal:
    """A signed-in user (or token) and the communes in scope."""

    user_id: int
    username: str
    full_name: str
    role: str
    communes: frozenset[str] | None  # None: every commune
    read_only: bool = False
    language: str = "vi"

    def sees(self, commune: str) -> bool:
        """Whether ``commune`` is in scope."""
        return self.communes is None or commune in self.communes

    def check_commune(self, commune: str | None, what: str, key: object) -> None:
        """Raise 404 for ``what``/``key`` unless its commune is in scope."""
        if commune is None or not self.sees(commune):
            raise NotFound(what, key)

    def require(self, *roles: str) -> None:
        """Raise 403 unless the role is one of ``roles``."""
        if self.role not in roles:
            raise Forbidden(
                "Vai trò của bạn không được làm việc này.",
                f"The role '{self.role}' may not do this.",
                f"Cần vai trò / needs one of: {', '.join(roles)}",
            )

    def require_write(self) -> None:
        """Raise 403 for read-only tokens."""
        if self.read_only:
            raise Forbidden(
                "Mã truy cập này chỉ được đọc.",
                "This token is read-only.",
                "Dùng tài khoản có quyền ghi / use a user or token that may write",
            )


def scope_of(conn: Connection, user: dict[str, object]) -> frozenset[str] | None:
    """The communes a user may see (None: all)."""
    role = user["role"]
    if role == "admin":
        return None
    if role in ("district", "reader"):
        c = COMMUNE.c
        if user["district_code"]:
            query = select(c.code).where(c.district_code == user["district_code"])
        elif user["province_code"]:
            query = select(c.code).where(c.province_code == user["province_code"])
        elif role == "reader":
            return None  # a national reader (the scoring system) sees everything
        else:
            return frozenset()
        return frozenset(conn.scalars(query))
    uc = USER_COMMUNE.c
    own = frozenset(conn.scalars(select(uc.commune_code).where(uc.user_id == user["id"])))
    # communes merged into one of ours stay visible (their history is ours now)
    merged = conn.scalars(select(COMMUNE.c.code).where(COMMUNE.c.merged_into.in_(own)))
    return own | frozenset(merged)


def principal_for(conn: Connection, user_id: int, *, read_only: bool = False) -> Principal | None:
    """Load an active user's principal."""
    row = conn.execute(select(USER).where(USER.c.id == user_id)).mappings().first()
    if row is None or not row["active"]:
        return None
    return Principal(
        user_id=row["id"],
        username=row["username"],
        full_name=row["full_name"],
        role=row["role"],
        communes=scope_of(conn, dict(row)),
        read_only=read_only or row["role"] == "reader",
        language=row["language"],
    )


def authenticate(conn: Connection, username: str, password: str) -> Principal | None:
    """Check a username and password (None if wrong, unknown or inactive)."""
    row = conn.execute(select(USER).where(USER.c.username == username)).mappings().first()
    if row is None or not verify_password(row["password_hash"], password):
        return None
    return principal_for(conn, row["id"])


def principal_from_token(conn: Connection, token: str, now: datetime) -> Principal | None:
    """The principal of a bearer token that is not revoked."""
    t = TOKEN.c
    row = (
        conn.execute(select(TOKEN).where(t.token_sha256 == token_digest(token), ~t.revoked))
        .mappings()
        .first()
    )
    if row is None:
        return None
    conn.execute(update(TOKEN).where(t.id == row["id"]).values(last_used_at=now))
    return principal_for(conn, row["user_id"], read_only=row["read_only"])


def current_principal(request: Request) -> Principal | None:
    """The caller from a bearer token or the session cookie, or None."""
    engine: Engine = request.app.state.engine
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    with engine.begin() as conn:
        if scheme.lower() == "bearer" and token:
            return principal_from_token(conn, token.strip(), datetime.now(UTC))
        uid = request.session.get(SESSION_KEY) if "session" in request.scope else None
        if isinstance(uid, int):
            return principal_for(conn, uid)
    return None


def require_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller, or 401."""
    principal = current_principal(request)
    if principal is None:
        raise NotAuthenticated
    return principal


def users_in_scope(conn: Connection, principal: Principal) -> list[dict[str, object]]:
    """Users whose communes overlap the caller's scope (admins see everyone)."""
    query = select(USER).order_by(USER.c.id)
    if principal.communes is not None:
        uc = USER_COMMUNE.c
        linked = select(uc.user_id).where(uc.commune_code.in_(principal.communes))
        query = query.where(or_(USER.c.id.in_(linked), USER.c.id == principal.user_id))
    return [dict(r) for r in conn.execute(query).mappings()]


def camera_commune(conn: Connection, camera_id: str) -> str | None:
    """The commune of a registered camera (for scope checks), or None."""
    code: str | None = conn.scalar(select(CAMERA.c.commune_code).where(CAMERA.c.id == camera_id))
    return code
