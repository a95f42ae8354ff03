"""Saving outputs, in one place: PNGs with metadata, their names, and pruning so the disk cannot fill."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .metadata import format_parameters, save_png
from .model_info import ModelInfo
from .request import GenerationRequest
from .runner import GeneratedImage

log = logging.getLogger(__name__)


def unique_path(folder: Path, stem: str) -> Path:
    path = folder / f"{stem}.png"
    counter = 1
    while path.exists():
        path = folder / f"{stem}-{counter}.png"
        counter += 1
    return path


@dataclass(frozen=True)
class SavedImage:
    """One image on disk with its single-image request; this is what history and share links use."""

    path: str
    request: GenerationRequest
    model: ModelInfo

    @property
    def caption(self) -> str:
        return f"seed {self.request.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "request": self.request.to_dict(), "model": self.model.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SavedImage":
        return cls(str(data["path"]), GenerationRequest(**data["request"]), ModelInfo.from_dict(data.get("model", {})))

    def parameters_text(self) -> str:
        return format_parameters(self.request, self.model)


def save(results: list[GeneratedImage], folder: Path, prefix: str = "zimage") -> list[SavedImage]:
    """Save each image with its metadata as PREFIX-SEED.png, never overwriting an earlier file."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for item in results:
        path = save_png(item.image, item.request, item.model, unique_path(folder, f"{prefix}-{item.request.seed}"),
                        item.enhanced)
        saved.append(SavedImage(str(path), item.request, item.model))
    return saved


def prune(folder: Path, max_age_seconds: float, max_total_bytes: int, now: float | None = None,
          keep: Collection[str | Path] = ()) -> int:
    """Delete PNGs older than the age limit, then the oldest ones until the folder fits the size limit.

    Files in `keep` (the request just answered) are never deleted: the app serves its images straight from this
    folder, so deleting them would hand the caller dead links. They still count towards the size limit.
    """
    if not folder.is_dir():
        return 0
    now = time.time() if now is None else now
    protected = {Path(path).resolve() for path in keep}
    removed, kept, total = 0, [], 0
    for path, stat in _pngs_oldest_first(folder):
        if path.resolve() in protected:
            total += stat.st_size
        elif now - stat.st_mtime > max_age_seconds:
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


def _pngs_oldest_first(folder: Path) -> list[tuple[Path, os.stat_result]]:
    # A file may vanish between listing and stat (a concurrent prune): skip it instead of failing the request.
    found = []
    for path in folder.glob("*.png"):
        try:
            stat = path.stat()
        except OSError:
            continue
        if path.is_file():
            found.append((path, stat))
    return sorted(found, key=lambda item: item[1].st_mtime)


def _unlink(path: Path) -> int:
    try:
        path.unlink()
        return 1
    except OSError:
        log.warning("Could not prune %s", path)
        return 0
