"""Read a YAML rules file into a pydantic model, with errors that name file, line and fix.

Shared by the rules files of ``camnet jobs`` (``api.task_rules``) and ``camnet alerts``
(``alerts.config``). :func:`load_yaml_model` either returns a whole model or raises
:class:`RulesError` listing every problem — nothing half-loaded. Each
:class:`RuleProblem` says where (file:line), which key, what is wrong and what to write
instead, Vietnamese first.

A validator of such a model that checks a value pydantic cannot (a threshold against
another, a secret's length) raises :func:`rule_error`: its hint is shown as is and it may
point at a key below the validated one, so the problem still gets the right line.

Numbers are read as YAML 1.2 does: ``22:00`` stays the text ``"22:00"`` (YAML 1.1 would
make it the base-60 number 1320, a silent wrong time).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from collector.errors import HINTS, RANGE_HINT

M = TypeVar("M", bound=BaseModel)

#: The error type of :func:`rule_error` (its context carries ``hint`` and ``at``).
RULE_ERROR = "camnet_rule"
#: Values of keys named like these are never echoed back in a message.
_SECRET_KEYS = ("secret", "token", "password")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader without YAML 1.1 base-60 numbers (``22:00`` is text)."""


_INT = re.compile(
    r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$""",
    re.X,
)
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, _INT if tag.endswith(":int") else _FLOAT if tag.endswith(":float") else regexp)
        for tag, regexp in resolvers
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class RuleProblem:
    """One thing wrong in a rules file: where, which key, what, and what to write."""

    def __init__(self, path: str, line: int | None, key: str, message: str, hint: str) -> None:
        self.path, self.line, self.key, self.message, self.hint = path, line, key, message, hint

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        what = f"{self.key}: {self.message}" if self.key else self.message
        return f"{where}: {what} — {self.hint}"


class RulesError(ValueError):
    """A rules file is wrong; ``problems`` lists every error found (nothing was loaded)."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def rule_error(message: str, hint: str, *at: str | int) -> PydanticCustomError:
    """An error for a validator to raise: what is wrong, what to write, and where.

    Args:
        message: What is wrong (shown as is).
        hint: What to write instead, Vietnamese first, then English.
        at: The key below the validated field the problem is about (e.g. ``"webhooks", 0,
            "secret"`` from a validator of ``channels``), so the problem gets its line.
    """
    return PydanticCustomError(
        RULE_ERROR, "{message}", {"message": message, "hint": hint, "at": at}
    )


def load_yaml_model(model: type[M], path: str | Path, docs: str) -> M:
    """Read ``model`` from the YAML file ``path``; keys left out keep their defaults.

    Args:
        model: The pydantic model of the whole file.
        path: The file, as the user named it (it is named so in every problem).
        docs: The documentation page a problem without a better hint points to.

    Raises:
        RulesError: The file cannot be read, is not YAML, or a key or value is wrong;
            every problem names the file, the line and what to write instead.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        hint = "kiểm tra đường dẫn, lưu dạng UTF-8 / check the path, save as UTF-8"
        raise RulesError([RuleProblem(name, None, "", f"cannot read: {exc}", hint)]) from exc
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        hint = "kiểm tra thụt lề và dấu hai chấm / check indentation and colons"
        raise RulesError([RuleProblem(name, line, "", f"not valid YAML: {exc}", hint)]) from exc
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        hint = "viết các khoá dạng khoá: giá trị / write key: value lines"
        raise RulesError([RuleProblem(name, 1, "", "not a mapping of keys", hint)])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RulesError([_problem(model, name, root, err, docs) for err in exc.errors()]) from exc


def _problem(
    model: type[BaseModel], path: str, root: yaml.Node | None, err: Any, docs: str
) -> RuleProblem:
    kind = str(err["type"])
    ctx = err.get("ctx") or {}
    loc = tuple(err["loc"]) + (tuple(ctx.get("at", ())) if kind == RULE_ERROR else ())
    key = ".".join(str(p) for p in loc)
    if kind == RULE_ERROR:
        hint = str(ctx["hint"])
    elif kind == "extra_forbidden":
        known = _known_keys(model, loc[:-1])
        hint = f"{HINTS[kind]}; khoá hợp lệ / valid keys: {', '.join(known)}"
    else:
        hint = HINTS.get(kind, RANGE_HINT if "than" in kind else f"xem {docs}")
    value = err.get("input")
    secret = any(word in str(part) for part in loc for word in _SECRET_KEYS)
    shown = (
        kind not in ("missing", "extra_forbidden", RULE_ERROR)
        and not secret
        and isinstance(value, str | int | float)
    )
    message = f"{err['msg']} (got {value!r})" if shown else err["msg"]
    return RuleProblem(path, _line_of(root, loc), key, message, hint)


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at ``loc`` of ``model`` (list indexes are stepped over)."""
    current = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        nested = _model_in(field.annotation) if field is not None else None
        if nested is None:
            return []
        current = nested
    return list(current.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model in an annotation: ``X``, ``X | None`` or ``list[X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Follow ``loc`` through the YAML node tree; the 1-based line of its last key found."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if not 0 <= key < len(node.value):
                break
            node = node.value[key]
            line = node.start_mark.line + 1
            continue
        if not isinstance(node, yaml.MappingNode):
            break
        found = next(((k, v) for k, v in node.value if getattr(k, "value", None) == key), None)
        if found is None:
            break
        line, node = found[0].start_mark.line + 1, found[1]
    return line
