"""``camnet api`` (the web service) and ``camnet users`` (accounts and tokens)."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.engine import Connection, make_url

from api.auth import USER
from api.contacts import add_contact, contacts_of, find_contact, remove_contact, validate_contact
from api.errors import ApiError
from api.settings import ApiSettings
from api.users import UserIn, create_token, create_user, set_password, user_out
from collector.db import create_schema, make_engine
from collector.models_alerts import CONTACT_CHANNELS
from collector.models_ops import ROLES

log = logging.getLogger(__name__)


def add_parsers(sub: Any) -> None:
    """Register ``api`` and ``users``."""
    api = sub.add_parser(
        "api",
        help="web API + dashboard / API và bảng điều khiển",
        description="Serve /api/v1 (OpenAPI at /docs) and the dashboard. Settings come from "
        "CAMNET_API_* (docs/api.md); flags override them.",
    )
    api.add_argument("--db", help="database URL (CAMNET_API_DB_URL)")
    api.add_argument("--host", help="listen address (CAMNET_API_HOST)")
    api.add_argument("--port", type=int, help="listen port (CAMNET_API_PORT)")
    api.add_argument("--check-config", action="store_true", help="print the settings and exit")
    api.set_defaults(handler=run_api)

    users = sub.add_parser("users", help="accounts and tokens / tài khoản và mã truy cập")
    users.add_argument("--db", help="database URL (CAMNET_API_DB_URL)")
    verbs = users.add_subparsers(dest="verb", required=True, metavar="VERB")
    add = verbs.add_parser("add", help="create a user (asks for the password)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--full-name", default="")
    add.add_argument("--commune", action="append", default=[], help="repeat for several")
    add.add_argument("--district", help="district code (role district/reader)")
    add.add_argument("--province", help="province code (role district/reader)")
    add.add_argument("--password-stdin", action="store_true", help="read the password on stdin")
    add.add_argument("--no-password", action="store_true", help="token-only (machine client)")
    verbs.add_parser("list", help="list users")
    token = verbs.add_parser("token", help="create a bearer token (printed once)")
    token.add_argument("username")
    token.add_argument("--name", default="token", help="what it is for")
    token.add_argument("--write", action="store_true", help="may write (default read-only)")
    pw = verbs.add_parser("passwd", help="set a user's password")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true")
    _add_contact_parsers(verbs)
    users.set_defaults(handler=run_users)


def _add_contact_parsers(verbs: Any) -> None:
    """``camnet users contact add|list|remove``: where a user receives alerts."""
    contact = verbs.add_parser(
        "contact",
        help="where a user receives alerts / địa chỉ nhận cảnh báo",
        description="E-mail addresses, Telegram chat ids and Zalo user ids that camnet alerts "
        "sends to (docs/api.md).",
    )
    actions = contact.add_subparsers(dest="contact_verb", required=True, metavar="ACTION")
    channels = "{" + ",".join(CONTACT_CHANNELS) + "}"
    for name, text in (("add", "add a contact"), ("remove", "remove a contact")):
        action = actions.add_parser(name, help=text)
        action.add_argument("username")
        action.add_argument("channel", metavar=channels)
        action.add_argument("address", help="e-mail, Telegram chat id (digits), Zalo user id")
    listed = actions.add_parser("list", help="list contacts (of one user, or everyone's)")
    listed.add_argument("username", nargs="?")


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _settings(args: argparse.Namespace) -> ApiSettings:
    overrides = {
        k: v
        for k, v in {"db_url": args.db, "host": getattr(args, "host", None)}.items()
        if v is not None
    }
    if getattr(args, "port", None) is not None:
        overrides["port"] = args.port
    return ApiSettings(**overrides)


def run_api(args: argparse.Namespace) -> int:
    """Serve the app with uvicorn until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = _settings(args)
    except ValidationError as exc:
        _err(f"cấu hình sai / bad settings (CAMNET_API_*): {exc}")
        return 2
    if args.check_config:
        shown = settings.model_dump(exclude={"secret_key"})
        shown["db_url"] = make_url(settings.db_url).render_as_string(hide_password=True)
        for key, value in shown.items():
            _out(f"{key} = {value}")
        return 0
    import uvicorn

    from api.app import create_app

    create_schema(make_engine(settings.db_url))
    _out(f"Bảng điều khiển / dashboard: http://{settings.host}:{settings.port}/")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Mật khẩu / password: ")
    if first != getpass.getpass("Nhập lại / again: "):
        raise SystemExit("hai lần nhập khác nhau / the two entries differ")
    return first


def run_users(args: argparse.Namespace) -> int:
    """Manage users and tokens."""
    engine = make_engine(args.db or os.environ.get("CAMNET_API_DB_URL") or ApiSettings().db_url)
    create_schema(engine)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            if args.verb == "add":
                password = None if args.no_password else _password(args.password_stdin)
                user = UserIn(
                    username=args.username,
                    password=password,
                    role=args.role,
                    full_name=args.full_name,
                    communes=args.commune,
                    district_code=args.district,
                    province_code=args.province,
                )
                _out(f"đã tạo / created user {args.username} (id {create_user(conn, user, now)})")
            elif args.verb == "list":
                rows = [dict(r) for r in conn.execute(select(USER).order_by(USER.c.id)).mappings()]
                for u in user_out(conn, rows):
                    _out(f"{u.id:>4} {u.username:<20} {u.role:<11} {','.join(u.communes)}")
            elif args.verb == "contact":
                return _contact(conn, args, now)
            elif args.verb == "token":
                uid = conn.scalar(select(USER.c.id).where(USER.c.username == args.username))
                if uid is None:
                    _err(f"không có người dùng / no user {args.username}")
                    return 1
                _out(create_token(conn, uid, args.name, now, read_only=not args.write))
            elif not set_password(conn, args.username, _password(args.password_stdin)):
                _err(f"không có người dùng / no user {args.username}")
                return 1
    except ValidationError as exc:
        _err(f"dữ liệu sai / invalid: {exc}")
        return 2
    except ApiError as exc:
        _err(f"{exc.message} / {exc.message_en} — {exc.hint}")
        return 2
    return 0


def _contact(conn: Connection, args: argparse.Namespace, now: datetime) -> int:
    """``camnet users contact ...``: 0 done, 1 no such user or contact (errors raise)."""
    uid = None
    if args.username:
        uid = conn.scalar(select(USER.c.id).where(USER.c.username == args.username))
        if uid is None:
            _err(f"không có người dùng / no user {args.username} — xem / see: camnet users list")
            return 1
    if args.contact_verb == "list":
        rows = contacts_of(conn, None if uid is None else [uid])
        for c in rows:
            off = "" if c.active else "  (tắt / off)"
            _out(f"{c.id:>4} {c.username:<20} {c.channel:<9} {c.address}{off}")
        if not rows:
            _out("chưa có địa chỉ nhận cảnh báo / no alert contacts")
        return 0
    assert uid is not None  # add and remove take a username
    if args.contact_verb == "add":
        c = add_contact(conn, uid, args.channel, args.address, now)
        _out(f"đã thêm / added {c.channel} {c.address} → {c.username} (id {c.id})")
        return 0
    address = validate_contact(args.channel, args.address)
    contact_id = find_contact(conn, uid, args.channel, address)
    if contact_id is None:
        _err(
            f"{args.username} không có địa chỉ / has no contact {args.channel} {address} — "
            f"xem / see: camnet users contact list {args.username}"
        )
        return 1
    remove_contact(conn, contact_id)
    _out(f"đã xoá / removed {args.channel} {address} ← {args.username}")
    return 0
