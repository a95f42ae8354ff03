"""The cached pipeline: loaded once per process, lazily and thread-safely, and retried after a failure."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from .config import Settings
from .devices import free_memory, pick_device, pick_dtype
from .errors import ModelLoadError, ZImageError
from .request import GenerationRequest
from .source import ModelSource, resolve

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]


@dataclass
class LoadedModel:
    """A ready pipeline and the facts about it that the UI, the metadata and the benchmarks report."""

    pipe: Any
    source: ModelSource
    device: str
    dtype: str
    memory_mode: str
    attention: str
    compiled: bool = False
    fp8: bool = False
    load_seconds: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "model_id": self.source.model_id, "revision": self.source.revision, "is_tiny": self.source.is_tiny,
            "fallback_reason": self.source.fallback_reason, "device": self.device, "dtype": self.dtype,
            "memory_mode": self.memory_mode, "attention": self.attention, "compiled": self.compiled,
            "fp8": self.fp8, "load_seconds": round(self.load_seconds, 2),
        }


class Engine:
    """One pipeline per process. `generate` serves the UI, the API and the CLI alike."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._load_lock = threading.Lock()
        # The pipeline keeps per-call state (scheduler step index, interrupt flag), so calls take turns.
        self.run_lock = threading.Lock()
        self._loaded: LoadedModel | None = None
        self.last_error: str = ""

    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    def load(self) -> LoadedModel:
        """Return the pipeline, loading it on first use. A failure is reported and retried next time."""
        if self._loaded is not None:
            return self._loaded
        with self._load_lock:
            if self._loaded is None:
                try:
                    self._loaded = load_model(self.settings)
                    self.last_error = ""
                except ZImageError as error:  # a missing folder, a bad hub id: the reason is already clear
                    self.last_error = str(error).rstrip(".")
                    raise _load_failed(self.last_error) from error
                except Exception as error:  # noqa: BLE001 - turned into a message the user can act on
                    log.exception("Model load failed")
                    self.last_error = f"{type(error).__name__}: {error}"[:300]
                    free_memory()
                    raise _load_failed(self.last_error) from error
        return self._loaded

    def generate(self, request: GenerationRequest, progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None) -> list:
        """Validate, load and run one request; see `zimage.generate.run`."""
        from .generate import run

        checked = request.validated()
        loaded = self.load()
        with self.run_lock:
            return run(loaded, checked, progress=progress, cancel=cancel)


def _load_failed(reason: str) -> ModelLoadError:
    # Nothing is cached on failure, so the message can promise a retry: fixing the folder fixes the app.
    return ModelLoadError(f"The model could not be loaded ({reason}). It will be retried on the next request.",
                          code="model_load", reason=reason)


def load_model(settings: Settings) -> LoadedModel:
    # Heavy imports happen here, so the UI can serve its page before torch and diffusers are loaded.
    import torch
    from diffusers import ZImagePipeline

    from . import speed

    started = time.perf_counter()
    source = resolve(settings)
    device = pick_device(settings.device)
    dtype = pick_dtype(device, settings.dtype)
    log.info("Loading %s (%s) on %s in %s", source.model_id, source.location, device, dtype)
    pipe = ZImagePipeline.from_pretrained(source.location, dtype=dtype)
    if source.is_tiny and device == "cpu" and not os.environ.get("OMP_NUM_THREADS"):
        # Measured (docs/benchmarks.md): on a busy 2-core machine the tiny model's tiny ops run 2-5x slower on two
        # threads; through the app one thread costs nothing. The real model keeps torch's default.
        torch.set_num_threads(1)
    memory_mode = speed.apply_memory_mode(pipe, settings.memory, device)
    attention = speed.set_attention_backend(pipe.transformer, settings.attention)
    fp8 = settings.fp8 and speed.quantize_fp8(pipe.transformer)
    compiled = settings.compile and speed.compile_repeated_blocks(pipe.transformer)
    loaded = LoadedModel(pipe, source, device, str(dtype).removeprefix("torch."), memory_mode, attention,
                         compiled=compiled, fp8=fp8)
    if settings.warmup == "on" or (settings.warmup == "auto" and device == "cuda"):
        # A compiled model recompiles for each new shape, so warm it up at the size people use most.
        side = 1024 if compiled else 256
        loaded.extras["warmup_seconds"] = speed.warm_up(pipe, device, height=side, width=side)
    loaded.load_seconds = time.perf_counter() - started
    log.info("Model ready in %.1f s: %s", loaded.load_seconds, loaded.describe())
    return loaded


@lru_cache(maxsize=1)
def default_engine() -> Engine:
    """The process-wide engine, configured from the environment."""
    return Engine(Settings.from_env())
