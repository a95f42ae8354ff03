"""Read the data files under assets/ (presets, sizes, examples, translations)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


@lru_cache(maxsize=None)
def load_json(name: str) -> Any:
    """Parse assets/<name> once per process; callers must not mutate the result."""
    with open(ASSETS_DIR / name, encoding="utf-8") as handle:
        return json.load(handle)


@lru_cache(maxsize=None)
def load_text(name: str) -> str:
    """Read assets/<name> (a prompt template, say) once per process, without its trailing newline."""
    return (ASSETS_DIR / name).read_text(encoding="utf-8").rstrip("\n")
