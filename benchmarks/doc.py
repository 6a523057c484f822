"""Write one ``## Title`` section of docs/benchmarks.md, leaving every other section alone."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def replace_section(title: str, section: str, doc: Path = DOC) -> None:
    """Replace (or append) the ``## {title}`` section of ``doc`` with ``section``."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    found = re.search(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", text, re.S | re.M)
    a, b = (found.start(), found.end()) if found else (len(text), len(text))
    text = text[:a].rstrip("\n") + "\n\n" + section.strip("\n") + "\n\n" + text[b:]
    doc.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
