"""Saving outputs, in one place: PNGs with metadata, light previews, their names, and pruning so the disk
cannot fill.

Encoding is the CPU work after the GPU, so it is kept off the user's wait: PIL's default PNG level (6) takes
100-200 ms for one 1024x1024 image on a small CPU, level 1 is several times faster and still lossless (files grow
by roughly a tenth), and PIL's zlib and JPEG encoders release the GIL, so a thread pool runs them on every core.
The page shows JPEG previews (tens of ms) while the PNGs are written behind them. Callers save after the
engine's run lock is released, so the next request's denoising overlaps this one's encoding.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from PIL import Image

from .metadata import PNG_COMPRESS_LEVEL, build_pnginfo, format_parameters
from .model_info import ModelInfo
from .request import GenerationRequest
from .runner import GeneratedImage
from .textcheck import TextVerdict, mark

log = logging.getLogger(__name__)

PREVIEW_FORMAT, PREVIEW_SUFFIX, PREVIEW_QUALITY = "JPEG", ".jpg", 88
MAX_WORKERS = 8
OUTPUT_SUFFIXES = (".png", PREVIEW_SUFFIX)


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

    path: str  # the lossless PNG with its settings: downloads, the API, share links
    request: GenerationRequest
    model: ModelInfo
    preview: str = ""  # a light JPEG for the gallery; "" where none was made
    text_check: TextVerdict | None = None  # the proof-reading verdict, once the image has been checked

    @property
    def caption(self) -> str:
        """"seed 42", then the text check in symbols: ✓ all quoted text found, ✗ 1/2 found so many of them."""
        return " ".join(part for part in (f"seed {self.request.seed}", mark(self.text_check)) if part)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "request": self.request.to_dict(), "model": self.model.to_dict(),
                "preview": self.preview, "text_check": self.text_check.to_dict() if self.text_check else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SavedImage":
        verdict = data.get("text_check")
        return cls(str(data["path"]), GenerationRequest(**data["request"]), ModelInfo.from_dict(data.get("model", {})),
                   str(data.get("preview", "")), TextVerdict.from_dict(verdict) if verdict else None)

    @property
    def shown(self) -> str:
        """The file the gallery shows: the preview when there is one."""
        return self.preview or self.path

    def parameters_text(self) -> str:
        return format_parameters(self.request, self.model)


def png_bytes(item: GeneratedImage, level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """The lossless PNG with the settings that make it again (zimage.metadata's chunks)."""
    buffer = BytesIO()
    item.image.save(buffer, format="PNG", pnginfo=build_pnginfo(item.request, item.model, item.enhanced),
                    compress_level=level)
    return buffer.getvalue()


def preview_bytes(image: Image.Image) -> bytes:
    """A light lossy copy for the gallery: a tenth of the PNG's bytes, so the browser shows it sooner."""
    buffer = BytesIO()
    image.convert("RGB").save(buffer, format=PREVIEW_FORMAT, quality=PREVIEW_QUALITY)
    return buffer.getvalue()


def _write_png(item: GeneratedImage, path: Path) -> Path:
    path.write_bytes(png_bytes(item))
    return path


def _write_preview(item: GeneratedImage, path: Path) -> Path:
    shown = path.with_suffix(PREVIEW_SUFFIX)
    shown.write_bytes(preview_bytes(item.image))
    return shown


def _paths(results: Sequence[GeneratedImage], folder: Path, prefix: str) -> list[Path]:
    """One new PNG path per image, never overwriting an earlier file, chosen before any is written."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for item in results:
        path = unique_path(folder, f"{prefix}-{item.request.seed}")
        while path in paths:  # two images of one call with the same seed: the first file does not exist yet
            path = path.with_name(f"{path.stem}-{len(paths)}.png")
        paths.append(path)
    return paths


def _pool(jobs: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max(1, min(MAX_WORKERS, jobs, os.cpu_count() or 1)))


def save(results: Sequence[GeneratedImage], folder: Path, prefix: str = "zimage") -> list[SavedImage]:
    """Save each image as PREFIX-SEED.png with its metadata, encoded in parallel; returns them in order."""
    paths = _paths(results, folder, prefix)
    with _pool(len(paths)) as pool:
        list(pool.map(_write_png, results, paths))
    return [SavedImage(str(path), item.request, item.model) for item, path in zip(results, paths)]


# PNGs being written behind a shown preview: path -> its job, until it is on disk.
_PENDING: dict[str, Future] = {}
_PENDING_LOCK = threading.Lock()
_BACKGROUND = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="zimage-png")


def save_previews_first(results: Sequence[GeneratedImage], folder: Path, prefix: str = "zimage") -> list[SavedImage]:
    """Write the light previews now and the lossless PNGs in the background, so a page shows images at once.

    Call `wait_written(path)` before serving a PNG of the result (a download).
    """
    paths = _paths(results, folder, prefix)
    with _pool(len(paths)) as pool:
        previews = list(pool.map(_write_preview, results, paths))
    for item, path in zip(results, paths):
        job = _BACKGROUND.submit(_write_png, item, path)
        with _PENDING_LOCK:
            _PENDING[str(path)] = job
        job.add_done_callback(lambda done, key=str(path): _finished(key, done))
    return [SavedImage(str(path), item.request, item.model, str(preview))
            for item, path, preview in zip(results, paths, previews)]


def _finished(key: str, job: Future) -> None:
    with _PENDING_LOCK:
        _PENDING.pop(key, None)
    if job.exception() is not None:
        log.error("Could not write %s: %s", key, job.exception())


def wait_written(path: str, timeout: float = 120.0) -> None:
    """Block until a PNG started by `save_previews_first` is on disk (at once if it already is)."""
    with _PENDING_LOCK:
        job = _PENDING.get(str(path))
    if job is not None:
        job.result(timeout)


def prune(folder: Path, max_age_seconds: float, max_total_bytes: int, now: float | None = None,
          keep: Collection[str | Path] = (), since: float | None = None) -> int:
    """Delete outputs (PNGs and previews) older than the age limit, then the oldest until the folder fits.

    Files in `keep` (the request just answered) are never deleted: the app serves its images straight from this
    folder, so deleting them would hand the caller dead links. Nor are files written at or after `since` (the
    pruning request's start): they are other requests' answers, made while this one ran, that their callers may
    not have fetched yet. Both still count towards the size limit.
    """
    if not folder.is_dir():
        return 0
    now = time.time() if now is None else now
    protected = {Path(path).resolve() for path in keep}
    removed, kept, total = 0, [], 0
    for path, stat in _outputs_oldest_first(folder):
        if path.resolve() in protected or (since is not None and stat.st_mtime >= since):
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


def _outputs_oldest_first(folder: Path) -> list[tuple[Path, os.stat_result]]:
    # A file may vanish between listing and stat (a concurrent prune): skip it instead of failing the request.
    found = []
    for path in (p for p in folder.iterdir() if p.suffix in OUTPUT_SUFFIXES):
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
