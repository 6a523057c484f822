"""Many numbers out of PostgreSQL at once: ``COPY (query) TO STDOUT (FORMAT BINARY)``.

A province-year holds millions of intervals; reading them as Python rows costs more than
the database takes to find them. Binary COPY of fixed-width columns (bigint, double) is
one buffer that numpy reads as a structured array, without a Python object per value.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.engine import Connection

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
TYPES = {"bigint": ">i8", "double": ">f8"}  # every column 8 bytes wide, never NULL


def copy_numbers(
    conn: Connection, query: str, params: dict[str, Any], columns: list[str]
) -> list[npt.NDArray[Any]]:
    """Run ``query`` (its columns of the kinds in ``columns``) and return one array per column.

    ``conn`` must be a PostgreSQL connection through psycopg 3. A NULL or a column of
    another width is an error (:class:`ValueError`), never a misread number.
    """
    raw = conn.connection.driver_connection
    data = bytearray()
    with raw.cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)", params) as copy:  # type: ignore[union-attr]
        for chunk in copy:
            data += chunk
    if not data.startswith(SIGNATURE) or len(data) < 21:
        raise ValueError("COPY returned no binary header")
    (extension,) = struct.unpack(">i", data[15:19])
    body = memoryview(data)[19 + extension : -2]
    if bytes(data[-2:]) != b"\xff\xff":
        raise ValueError("COPY data ends without its trailer")
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for k, kind in enumerate(columns):
        fields += [(f"width{k}", ">i4"), (f"value{k}", TYPES[kind])]
    dtype = np.dtype(fields)
    if len(body) % dtype.itemsize:
        raise ValueError(f"COPY rows are not {dtype.itemsize} bytes each: a NULL or a wider column")
    rows = np.frombuffer(body, dtype)
    if len(rows) and (
        (rows["count"] != len(columns)).any()
        or any((rows[f"width{k}"] != 8).any() for k in range(len(columns)))
    ):
        raise ValueError("COPY rows hold a NULL or a column that is not 8 bytes wide")
    return [
        rows[f"value{k}"].astype(TYPES[kind].replace(">", "=")) for k, kind in enumerate(columns)
    ]
