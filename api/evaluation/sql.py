"""SQL pieces the evaluation needs on both databases: epoch seconds, GREATEST and LEAST.

The evaluation adds up camera-seconds inside the database (millions of intervals for a
province-year), so it needs arithmetic on timestamps that SQLite and PostgreSQL spell
differently. Each construct compiles to the dialect's own form:

* :class:`epoch` — a UTC timestamp column as seconds since 1970 (``EXTRACT(EPOCH ...)``;
  SQLite: ``julianday``).
* :class:`date_epoch` — a local date's midnight in Vietnam as seconds since 1970 (UTC+7
  with no daylight saving since 1975).
* :class:`greatest` / :class:`least` — the largest / smallest of several values
  (SQLite's scalar ``max()`` / ``min()`` with several arguments).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

VN_OFFSET = 7 * 3600.0  # Asia/Ho_Chi_Minh: UTC+07:00 all year since 1975


class epoch(FunctionElement[float]):  # noqa: N801 - reads as a SQL function
    """Seconds since 1970 of a UTC timestamp."""

    type = Float()
    inherit_cache = True
    name = "epoch"


class date_epoch(FunctionElement[float]):  # noqa: N801
    """Seconds since 1970 of a local (Vietnam) date's midnight."""

    type = Float()
    inherit_cache = True
    name = "date_epoch"


class greatest(FunctionElement[float]):  # noqa: N801
    """The largest of its arguments."""

    type = Float()
    inherit_cache = True
    name = "greatest"


class least(FunctionElement[float]):  # noqa: N801
    """The smallest of its arguments."""

    type = Float()
    inherit_cache = True
    name = "least"


def _arg(compiler: SQLCompiler, element: FunctionElement[Any], **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(epoch, "postgresql")
def _epoch_pg(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {_arg(compiler, element, **kw)}) AS DOUBLE PRECISION)"


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"((julianday({_arg(compiler, element, **kw)}) - 2440587.5) * 86400.0)"


@compiles(date_epoch, "postgresql")
def _date_epoch_pg(element: date_epoch, compiler: SQLCompiler, **kw: Any) -> str:
    value = _arg(compiler, element, **kw)
    return (
        f"(CAST(EXTRACT(EPOCH FROM CAST({value} AS TIMESTAMP)) AS DOUBLE PRECISION) - {VN_OFFSET})"
    )


@compiles(date_epoch, "sqlite")
def _date_epoch_sqlite(element: date_epoch, compiler: SQLCompiler, **kw: Any) -> str:
    value = _arg(compiler, element, **kw)
    return f"((julianday({value}) - 2440587.5) * 86400.0 - {VN_OFFSET})"


@compiles(greatest)
def _greatest(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"GREATEST({_arg(compiler, element, **kw)})"


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"max({_arg(compiler, element, **kw)})"


@compiles(least)
def _least(element: least, compiler: SQLCompiler, **kw: Any) -> str:
    return f"LEAST({_arg(compiler, element, **kw)})"


@compiles(least, "sqlite")
def _least_sqlite(element: least, compiler: SQLCompiler, **kw: Any) -> str:
    return f"min({_arg(compiler, element, **kw)})"


def month_index(value: ColumnElement[float], edges: list[float]) -> ColumnElement[int]:
    """Which bucket ``value`` falls in: the number of ``edges`` (inner bounds) at or below it."""
    from sqlalchemy import case, literal

    if not edges:
        return literal(0)
    return case(*((value < e, k) for k, e in enumerate(edges)), else_=len(edges))
