"""The one model of a process: loaded once, lazily and thread-safely, and retried after a failure."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from .devices import free_memory
from .errors import ModelLoadError, ZImageError
from .model_info import ModelStatus
from .model_loader import LoadedModel

log = logging.getLogger(__name__)


class ModelHolder:
    """Holds what `build` returns once it has worked; until then, whether it is loading or why it failed."""

    def __init__(self, build: Callable[[Callable[[str], None]], LoadedModel], expects_tiny: bool,
                 retry_hint: bool = True) -> None:
        self._build = build  # given `report_stage`, to say how far it has got
        self._expects_tiny = expects_tiny
        # The app retries a failed load on the next request; a one-shot CLI run does not, so it says nothing of it.
        self.retry_hint = retry_hint
        self._lock = threading.Lock()
        self._loaded: LoadedModel | None = None
        self._last_error = ""
        self._stage: tuple[str, float] = ("", 0.0)  # the stage a load is in, and when it began (monotonic)

    @property
    def loaded(self) -> LoadedModel | None:
        """The model once loaded, else None; never starts a load."""
        return self._loaded

    def status(self) -> ModelStatus:
        """Ready (with the model's facts), failed (with the reason) or still loading."""
        if self._loaded is not None:
            return ModelStatus("ready", self._loaded.info)
        if self._last_error:
            return ModelStatus("failed", error=self._last_error, expects_tiny=self._expects_tiny)
        stage, since = self._stage
        return ModelStatus("loading", expects_tiny=self._expects_tiny, stage=stage,
                           stage_seconds=time.monotonic() - since if stage else 0.0)

    def report_stage(self, stage: str) -> None:
        """Called by the build as it moves on (downloading, loading, speed options), for the status line."""
        self._stage = (stage, time.monotonic())

    def start(self) -> None:
        """Begin loading in a background thread."""
        threading.Thread(target=self._load_quietly, name="zimage-load", daemon=True).start()

    def _load_quietly(self) -> None:
        try:
            self.load()
        except ZImageError as error:  # shown in the status line; the next request retries
            log.error("Background model load failed: %s", error)

    def load(self) -> LoadedModel:
        """Return the model, loading it on first use. A failure is reported and retried next time."""
        if self._loaded is not None:
            return self._loaded
        with self._lock:
            if self._loaded is None:
                self._loaded = self._build_once()
        return self._loaded

    def _build_once(self) -> LoadedModel:
        # A retry shows its own progress, not the last attempt's failure; a new failure puts the reason back.
        self._stage, self._last_error = ("", 0.0), ""
        try:
            loaded = self._build(self.report_stage)
        except ZImageError as error:  # a missing folder, a bad hub id: the reason is already clear
            self._last_error = str(error).rstrip(".")
            raise self._load_failed() from error
        except Exception as error:  # noqa: BLE001 - turned into a message the user can act on
            log.exception("Model load failed")
            self._last_error = f"{type(error).__name__}: {error}"[:300]
            free_memory()
            raise self._load_failed() from error
        return loaded

    def _load_failed(self) -> ModelLoadError:
        reason = self._last_error
        if not self.retry_hint:
            return ModelLoadError(f"The model could not be loaded ({reason}).", code="model_load_once", reason=reason)
        # Nothing is cached on failure, so the message can promise a retry: fixing the folder fixes the app.
        return ModelLoadError(f"The model could not be loaded ({reason}). It will be retried on the next request.",
                              code="model_load", reason=reason)
