"""Errors of the collector.

Class tree::

    CollectorError
    ├── RegistryEntryError   one thing wrong in a registry file (file, line, field, fix)
    ├── RegistryError        every error found in one import (``errors``), reported together
    └── DatabaseError        the database refused a write or could not be reached

Third-party exceptions are mapped to ours in one place each: pydantic's validation errors
by ``from_pydantic`` below (with the fix to write, Vietnamese first), SQLAlchemy's by
``collector.registry.import_registry`` (``raise DatabaseError(...) from exc``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

_DATE_HINT = "viết ngày dạng YYYY-MM-DD / write the date as YYYY-MM-DD"
_INT_HINT = "viết số nguyên / write a whole number"
#: What to write instead, by pydantic error type (Vietnamese / English).
HINTS = {
    "missing": "thêm trường này / add this field",
    "extra_forbidden": "xoá đi hoặc sửa chính tả / remove it or check its spelling",
    "string_type": 'viết trong ngoặc kép, ví dụ "00127" / put it in quotes, e.g. "00127"',
    "int_parsing": _INT_HINT,
    "int_from_float": _INT_HINT,
    "float_parsing": "viết một số, dấu chấm thập phân / write a number, e.g. 21.0285",
    "bool_parsing": "viết true hoặc false / write true or false",
    "date_from_datetime_parsing": _DATE_HINT,
    "date_parsing": _DATE_HINT,
    "date_type": _DATE_HINT,
    "literal_error": "dùng một trong các giá trị cho phép / use one of the allowed values",
    "outside_vietnam": "kiểm tra toạ độ, có đảo lat/lon không? / check lat/lon (swapped?)",
    "list_type": "viết một danh sách (- ...) / write a list (- ...)",
    "model_type": "viết một mục dạng khoá: giá trị / write a mapping of key: value",
}
RANGE_HINT = "viết số trong khoảng cho phép / write a number in the allowed range"
ID_HINT = "chỉ dùng chữ không dấu, số, - _ . / use only letters, digits, - _ ."
_CODE_EXAMPLE = {2: "01", 3: "004", 5: "00127"}


class CollectorError(Exception):
    """Base class of every error raised by the collector."""


class RegistryEntryError(CollectorError):
    """One thing wrong in a registry file: where, which field, what, and what to write.

    Attributes:
        path: The file, as the user named it.
        line: 1-based line in that file, or None when no line applies.
        field: The field, e.g. ``cameras.3.lat`` (YAML), ``lat`` (CSV column) or
            ``features[3].properties.lat`` (GeoJSON).
        message: What is wrong.
        hint: What to write instead, Vietnamese first, then English.
    """

    def __init__(self, path: str, line: int | None, field: str, message: str, hint: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        self.hint = hint
        where = f"{path}:{line}" if line is not None else path
        what = f"{field}: {message}" if field else message
        super().__init__(f"{where}: {what} — {hint}" if hint else f"{where}: {what}")


class RegistryError(CollectorError):
    """Every error found in the registry files of one import; nothing was written."""

    def __init__(self, errors: list[RegistryEntryError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class DatabaseError(CollectorError):
    """The database refused the registry (or could not be reached); nothing was written."""


def from_pydantic(path: str, line: int | None, label: str, err: ErrorDetails) -> RegistryEntryError:
    """Map one pydantic error at ``label`` (line ``line`` of ``path``) to ours, with a fix."""
    kind = err["type"]
    digits = re.fullmatch(r"\^\\d\{(\d)\}\$", str((err.get("ctx") or {}).get("pattern")))
    if kind == "string_pattern_mismatch" and digits:
        n = int(digits[1])
        ex = _CODE_EXAMPLE.get(n, "0" * n)
        hint = f'viết {n} chữ số trong ngoặc kép, ví dụ "{ex}" / write {n} digits in quotes: "{ex}"'
    elif kind == "string_pattern_mismatch":
        hint = ID_HINT
    else:
        hint = HINTS.get(kind, RANGE_HINT if "than" in kind else "xem docs/registry.md")
    value = err.get("input")
    shown = kind not in ("missing", "extra_forbidden", "outside_vietnam")
    got = shown and isinstance(value, str | int | float)
    return RegistryEntryError(
        path, line, label, f"{err['msg']} (got {value!r})" if got else err["msg"], hint
    )
