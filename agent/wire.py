"""Export the wire contract as JSON Schema: ``python -m agent.wire [DIR]`` (default docs/wire).

Other systems consume the camnet feed from these files; a test fails when they drift from
``agent.messages``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from agent.messages import SCHEMA_VERSION, WIRE_MODELS


def schemas() -> dict[str, dict[str, Any]]:
    """Return ``{file name: JSON Schema}`` for every wire message."""
    out: dict[str, dict[str, Any]] = {}
    for name, model in WIRE_MODELS.items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://camnet.example/wire/v{SCHEMA_VERSION}/{name}.schema.json"
        out[f"{name}.v{SCHEMA_VERSION}.schema.json"] = schema
    return out


def render(schema: dict[str, Any]) -> str:
    """Serialise one schema the way it is stored in ``docs/wire``."""
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Write every schema into the directory named by ``argv[0]`` (default docs/wire)."""
    target = Path(argv[0]) if argv else Path("docs/wire")
    target.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas().items():
        (target / name).write_text(render(schema), encoding="utf-8")
        sys.stdout.write(f"{target / name}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
