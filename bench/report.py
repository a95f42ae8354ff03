"""What every benchmark shares: the installed versions it ran with, and the report it writes (STEM.json with all
the figures, STEM.md with the table, also printed)."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any


def versions(*packages: str) -> dict[str, str | None]:
    """Installed version of each package, None where it is not installed."""
    found: dict[str, str | None] = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def write_report(report: dict[str, Any], markdown: str, out: Path, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / f"{stem}.md").write_text(markdown, encoding="utf-8")
    print(markdown)
