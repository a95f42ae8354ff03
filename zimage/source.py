"""Decide where the weights come from: a hub id, a local diffusers folder, or the tiny demo model."""

from __future__ import annotations

import logging
import os
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .config import HUB_MODEL_ID, Settings
from .errors import ModelLoadError
from .tiny import TINY_VERSION, ensure_tiny_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSource:
    """What `from_pretrained` is given, and what the UI and metadata report about it."""

    location: str
    model_id: str
    revision: str
    is_tiny: bool = False
    fallback_reason: str = ""


def resolve(settings: Settings) -> ModelSource:
    """Resolve `settings.model`. Only `auto` may fall back to the tiny model; a named model must load."""
    name = settings.model
    if name == "tiny":
        return _tiny(settings, "")
    if name == "auto":
        return _auto(settings)
    if Path(name).expanduser().is_dir():
        folder = Path(name).expanduser().resolve()
        if not (folder / "model_index.json").exists():
            raise ModelLoadError(f"{folder} is not a diffusers model folder (no model_index.json).", code="model_folder")
        return ModelSource(str(folder), folder.name, "local")
    if name.count("/") != 1 or name.startswith((".", "/", "~")):
        raise ModelLoadError(f"Model {name!r} is neither a local folder nor a hub id like {HUB_MODEL_ID}.",
                             code="model_name", name=name)
    cached = _cached_snapshot(name)
    if cached:
        return ModelSource(cached, name, Path(cached).name)
    # Fail in seconds, not after the download's retries, when the weights can come from nowhere.
    if not hub_reachable(settings.hub_timeout):
        raise ModelLoadError(f"{name} is not in the local cache and the hub cannot be reached.",
                             code="model_unreachable", name=name)
    return ModelSource(name, name, "main")


def _tiny(settings: Settings, reason: str) -> ModelSource:
    folder = ensure_tiny_model(settings.cache_dir)
    return ModelSource(str(folder), "zimage/tiny-random", TINY_VERSION, is_tiny=True, fallback_reason=reason)


def _auto(settings: Settings) -> ModelSource:
    cached = _cached_snapshot(HUB_MODEL_ID)
    if cached:
        return ModelSource(cached, HUB_MODEL_ID, Path(cached).name)
    if hub_reachable(settings.hub_timeout):
        return ModelSource(HUB_MODEL_ID, HUB_MODEL_ID, "main")
    reason = f"{HUB_MODEL_ID} is not in the local cache and the hub cannot be reached"
    log.warning("!" * 72)
    log.warning("FALLING BACK TO THE TINY RANDOM-WEIGHTS DEMO MODEL: %s. Images will be noise.", reason)
    log.warning("Set ZIMAGE_MODEL to a local folder or download %s to get real images.", HUB_MODEL_ID)
    log.warning("!" * 72)
    return _tiny(settings, reason)


def local_folder(source: ModelSource) -> str:
    """The folder holding the weights: the location itself, or the hub cache's snapshot after a download."""
    if Path(source.location).is_dir():
        return source.location
    return _cached_snapshot(source.model_id) or ""


def _cached_snapshot(repo_id: str) -> str | None:
    """Path of a complete snapshot in the local Hugging Face cache, without touching the network."""
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(repo_id, local_files_only=True)
    except Exception:  # noqa: BLE001 - any failure here just means "not cached"
        return None
    return folder if (Path(folder) / "model_index.json").exists() else None


def hub_reachable(timeout: float) -> bool:
    """True when the hub answers within `timeout` seconds.

    The probe runs in a daemon thread and is abandoned at the deadline, because DNS lookups ignore socket
    timeouts and can otherwise hang for minutes on a machine with no network.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    result: list[bool] = []

    def probe() -> None:
        try:
            request = urllib.request.Request(f"{endpoint}/api/models/{HUB_MODEL_ID}", method="HEAD")
            with urllib.request.urlopen(request, timeout=timeout) as response:
                result.append(response.status < 500)
        except Exception:  # noqa: BLE001 - unreachable for whatever reason
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])
