"""Alembic environment: the metadata of ``collector.models``, the URL from the caller."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlmodel import SQLModel

from collector import models  # noqa: F401  - registers every table

config = context.config
target_metadata = SQLModel.metadata


def run_migrations() -> None:
    """Run with the connection handed over by ``collector.db.create_schema``."""
    connection = config.attributes.get("connection")
    if connection is None:
        from sqlalchemy import create_engine

        engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
        with engine.begin() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connection)


def _render_item(kind: str, obj: Any, _ctx: Any) -> str | Literal[False]:
    """Render our column types as plain SQLAlchemy ones so revisions import only ``sa``."""
    if kind == "type" and type(obj).__name__ == "AutoString":
        length = getattr(obj, "length", None)
        return f"sa.String(length={length})" if length else "sa.String()"
    if kind == "type" and type(obj).__name__ == "UTCDateTime":
        return "sa.DateTime(timezone=True)"  # the decorator only converts in Python
    return False


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
