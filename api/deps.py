"""FastAPI dependencies shared by the JSON routes and the pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.engine import Connection, Engine

from api.auth import Principal, require_principal
from api.settings import ApiSettings


def get_engine(request: Request) -> Engine:
    """The process's engine (created in the lifespan)."""
    engine: Engine = request.app.state.engine
    return engine


def get_settings(request: Request) -> ApiSettings:
    """The process's settings."""
    settings: ApiSettings = request.app.state.settings
    return settings


def read_conn(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Connection]:
    """A connection for reading, closed after the request."""
    with engine.connect() as conn:
        yield conn


def write_conn(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Connection]:
    """A connection in a transaction, committed when the route returns without error."""
    with engine.begin() as conn:
        yield conn


Caller = Annotated[Principal, Depends(require_principal)]
ReadConn = Annotated[Connection, Depends(read_conn)]
WriteConn = Annotated[Connection, Depends(write_conn)]
Settings = Annotated[ApiSettings, Depends(get_settings)]
#: A row id in a path: a positive 32-bit integer (larger ones cannot exist).
RowId = Annotated[int, Path(ge=1, le=2_147_483_647)]
MAX_ID = 2_147_483_647
