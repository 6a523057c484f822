"""Create users and tokens (``camnet users ...`` and ``POST /api/v1/users``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from api.auth import COMMUNE, TOKEN, USER, USER_COMMUNE
from api.errors import BadRequest, Conflict
from api.security import hash_password, new_token
from collector.models_ops import ROLES


class UserIn(BaseModel):
    """A new user."""

    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str | None = Field(None, min_length=8, max_length=256)
    role: str = Field(description=f"One of: {', '.join(ROLES)}.")
    full_name: str = Field("", max_length=200)
    communes: list[str] = Field(default_factory=list, description="commune / technician")
    district_code: str | None = Field(None, max_length=3)
    province_code: str | None = Field(None, max_length=2)
    phone: str = Field("", max_length=32)
    email: str = Field("", max_length=200)
    language: str = Field("vi", pattern="^(vi|en)$")


class UserOut(BaseModel):
    """A user as the API shows it (never the password hash)."""

    id: int
    username: str
    full_name: str
    role: str
    communes: list[str]
    district_code: str | None
    province_code: str | None
    phone: str
    email: str
    active: bool


def create_user(conn: Connection, user: UserIn, now: datetime) -> int:
    """Insert ``user`` (validated against roles and the registry); return its id."""
    if user.role not in ROLES:
        raise BadRequest(
            f"Vai trò '{user.role}' không có.",
            f"No role '{user.role}'.",
            f"Dùng một trong / use one of: {', '.join(ROLES)}",
        )
    if user.role in ("commune", "technician") and not user.communes:
        raise BadRequest(
            "Cán bộ xã và kỹ thuật viên cần ít nhất một xã.",
            "A commune officer or technician needs at least one commune.",
            "Thêm --commune MÃ_XÃ / add --commune CODE",
        )
    known = set(conn.scalars(select(COMMUNE.c.code).where(COMMUNE.c.code.in_(user.communes))))
    if missing := sorted(set(user.communes) - known):
        raise BadRequest(
            f"Không có xã {', '.join(missing)} trong danh mục.",
            f"Unknown commune(s) {', '.join(missing)}.",
            "Nhập danh mục trước: camnet registry import / import the registry first",
        )
    exists = conn.scalar(select(USER.c.id).where(USER.c.username == user.username))
    if exists is not None:
        raise Conflict(
            f"Tên đăng nhập '{user.username}' đã có.",
            f"Username '{user.username}' is taken.",
            "Chọn tên khác / choose another name",
        )
    values = user.model_dump(exclude={"password", "communes"})
    values |= {
        "password_hash": hash_password(user.password) if user.password else "",
        "created_at": now,
        "active": True,
    }
    user_id: int = conn.execute(insert(USER).values(**values).returning(USER.c.id)).scalar_one()
    if user.communes:
        rows = [{"user_id": user_id, "commune_code": c} for c in sorted(set(user.communes))]
        conn.execute(insert(USER_COMMUNE), rows)
    return user_id


def set_password(conn: Connection, username: str, password: str) -> bool:
    """Change a password; False if there is no such user."""
    result = conn.execute(
        update(USER)
        .where(USER.c.username == username)
        .values(password_hash=hash_password(password))
    )
    return bool(result.rowcount)


def create_token(
    conn: Connection, user_id: int, name: str, now: datetime, *, read_only: bool = True
) -> str:
    """A new bearer token for ``user_id``; returns the token (shown once, stored hashed)."""
    token, digest = new_token()
    conn.execute(
        insert(TOKEN).values(
            user_id=user_id, name=name, token_sha256=digest, read_only=read_only, created_at=now
        )
    )
    return token


def user_out(conn: Connection, rows: Sequence[dict[str, object]]) -> list[UserOut]:
    """Users with their communes."""
    ids = [r["id"] for r in rows]
    links: dict[object, list[str]] = {i: [] for i in ids}
    uc = USER_COMMUNE.c
    for uid, code in conn.execute(select(uc.user_id, uc.commune_code).where(uc.user_id.in_(ids))):
        links[uid].append(code)
    return [UserOut.model_validate({**r, "communes": sorted(links[r["id"]])}) for r in rows]
