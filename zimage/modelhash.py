"""A short SHA-256 of the model's weights, as A1111 and Civitai use to match models ("Model hash").

A diffusers folder holds several files, so the hash covers the transformer's weight files (what makes one
Z-Image checkpoint differ from another), read in name order. Hashing 12-24 GB takes seconds, so the result
is cached on disk, keyed by each file's path, size and modification time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

HASH_CHARS = 10  # A1111's "AutoV2" short hash
_CHUNK = 8 * 2**20
_WEIGHT_SUFFIXES = (".safetensors", ".bin")


def weight_files(folder: Path) -> list[Path]:
    """The transformer's weight files, in a stable order."""
    transformer = folder / "transformer"
    return sorted(p for p in transformer.glob("*") if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES))


def short_hash(location: str, cache_dir: Path) -> str:
    """The short hash of the model at `location` (a local folder), or "" when its files are not on disk."""
    folder = Path(location)
    files = weight_files(folder) if folder.is_dir() else []
    if not files:
        return ""
    key = "|".join(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    cache_file = cache_dir / "model-hashes.json"
    cached = _read_cache(cache_file)
    if key in cached:
        return cached[key]
    digest = hashlib.sha256()
    for path in files:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    value = digest.hexdigest()[:HASH_CHARS]
    _write_cache(cache_file, {**cached, key: value})
    return value


def _read_cache(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, data: dict[str, str]) -> None:
    # Written to a temporary file and renamed, so two processes hashing at once never leave a torn file.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(f".{os.getpid()}.tmp")
        staging.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(staging, path)
    except OSError:
        log.warning("Could not cache the model hash in %s", path)
