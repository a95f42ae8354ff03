"""Where generated PNGs go, how they are named, and how old ones are pruned so the disk cannot fill."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .metadata import save_png

if TYPE_CHECKING:
    from .generate import GeneratedImage

log = logging.getLogger(__name__)


def unique_path(folder: Path, stem: str) -> Path:
    path = folder / f"{stem}.png"
    counter = 1
    while path.exists():
        path = folder / f"{stem}-{counter}.png"
        counter += 1
    return path


def save_all(results: list[GeneratedImage], folder: Path, prefix: str = "zimage") -> list[Path]:
    """Save each image with its metadata as PREFIX-SEED.png, never overwriting an earlier file."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        save_png(item.image, item.request, item.model, unique_path(folder, f"{prefix}-{item.request.seed}"))
        for item in results
    ]


def prune(folder: Path, max_age_seconds: float, max_total_bytes: int, now: float | None = None) -> int:
    """Delete PNGs older than the age limit, then the oldest ones until the folder fits the size limit."""
    if not folder.is_dir():
        return 0
    now = time.time() if now is None else now
    files = sorted((p for p in folder.glob("*.png") if p.is_file()), key=lambda p: p.stat().st_mtime)
    removed, kept, total = 0, [], 0
    for path in files:
        stat = path.stat()
        if now - stat.st_mtime > max_age_seconds:
            removed += _unlink(path)
        else:
            kept.append((path, stat.st_size))
            total += stat.st_size
    for path, size in kept:
        if total <= max_total_bytes:
            break
        removed += _unlink(path)
        total -= size
    return removed


def _unlink(path: Path) -> int:
    try:
        path.unlink()
        return 1
    except OSError:
        log.warning("Could not prune %s", path)
        return 0
