"""Imports flow one way: agent -> nothing; collector -> agent.messages (the wire
contract); alerts -> collector (its models and event contract), agent.messages;
api -> collector, alerts, agent.messages; nothing imports api; only the roots
camnet_cli and camnet_demo import all.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "collector", "api", "alerts")
ALLOWED: dict[str, set[str]] = {
    "agent": set(),
    "alerts": {"agent.messages", "collector"},
    "collector": {"agent.messages"},
    "api": {"agent.messages", "collector", "alerts"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def _allowed(owner: str, target: str) -> bool:
    top = target.split(".")[0]
    if top not in PACKAGES or top == owner:
        return True
    return any(target == a or target.startswith(a + ".") for a in ALLOWED[owner])


def test_imports_flow_one_way() -> None:
    wrong = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for line, target in _imports(path):
                if not _allowed(pkg, target):
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "imports against the data path:\n" + "\n".join(wrong)


def test_nothing_imports_the_composition_root() -> None:
    offenders = []
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            offenders += [
                f"{path.relative_to(ROOT)}:{line}"
                for line, target in _imports(path)
                if target.split(".")[0] in ("camnet_cli", "camnet_demo")
            ]
    assert not offenders


def test_package_inits_are_empty() -> None:
    """Empty __init__ files keep ``import agent.messages`` free of cv2 and PyAV."""
    for pkg in PACKAGES:
        for init in (ROOT / pkg).rglob("__init__.py"):
            assert init.read_text(encoding="utf-8").strip() == "", f"{init} is not empty"


def test_architecture_checker_catches_a_wrong_arrow() -> None:
    assert not _allowed("agent", "collector.models")
    assert not _allowed("collector", "api.main")
    assert _allowed("api", "collector.models")
    assert _allowed("collector", "agent.messages")
    assert not _allowed("collector", "alerts.engine")
    assert _allowed("alerts", "collector.models")
    assert not _allowed("collector", "agent.quality")
