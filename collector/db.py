"""The database engine: SQLite (embedded default) or PostgreSQL, and the schema.

``make_engine(url)`` accepts ``sqlite:///path.db`` or ``postgresql+psycopg://...``.
SQLite gets WAL and a busy timeout so the collector, the API and the CLI can share the
file. ``create_schema`` brings a database to the newest schema (Alembic migrations).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import create_engine

from collector import models  # noqa: F401  - every table registered before use

DEFAULT_URL = "sqlite:///var/camnet.db"


def make_engine(url: str = DEFAULT_URL, **kwargs: Any) -> Engine:
    """Return an engine for ``url``; SQLite files get their folder, WAL and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Any:
    """An Alembic ``Config`` for our migrations (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def create_schema(engine: Engine) -> None:
    """Create or upgrade every table to the newest schema (``alembic upgrade head``)."""
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
