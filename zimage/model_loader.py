"""Loading the pipeline: weights from wherever `zimage.source` finds them, LoRA slots, speed levers, and the facts."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .config import Settings
from .devices import pick_device, pick_dtype
from .enhance import Enhancer
from .host_memory import DtypeChoice, available_bytes, cpu_dtype, has_fast_bfloat16, parameter_count
from .llm import load_pipeline
from .lora import LoraAdapters, LoraLibrary, library_for
from .model_info import ModelInfo
from .modelhash import short_hash
from .safety import SafetyFilter
from .source import ModelSource, hub_reachable, local_folder, resolve

if TYPE_CHECKING:
    from .speed import SpeedReport  # imported for real only when a model loads: it imports torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A ready pipeline, the facts about it, and its LoRA state (switched per request under the run lock)."""

    pipe: Any
    facts: ModelInfo  # as loaded; `info` adds what changed since
    enhancer: Enhancer | None = None
    safety: SafetyFilter = SafetyFilter("off")
    adapters: LoraAdapters | None = None

    @property
    def info(self) -> ModelInfo:
        """The facts, with what changed at requests: compiled blocks undone (zimage.speed), attention layers that
        gave up their fast kernel (zimage.attention)."""
        from .attention import fallback_note as attention_note  # torch is loaded by now: a pipeline exists
        from .speed import fallback_note

        transformer = getattr(self.pipe, "transformer", None)
        info = self.facts.levers_undone(note) if (note := fallback_note(transformer)) else self.facts
        return info.with_note(note) if (note := attention_note(transformer)) else info


def lora_library(settings: Settings) -> LoraLibrary:
    """The LoRAs these settings offer (ZIMAGE_LORA_DIR and ZIMAGE_LORAS); listing them loads nothing."""
    return library_for(settings.lora_dir, settings.lora_hub)


# How far a load has got, for the status line: the weights coming from the hub (the first run of a hub model; the
# download, 33 GB for Z-Image-Turbo, is followed by the load in the same call), read from disk, then placed and
# sped up (memory mode, compile, fp8, warm-up: a minute or more with compile).
DOWNLOAD, LOAD, SPEED = "download", "load", "speed"
STAGES = (DOWNLOAD, LOAD, SPEED)


def load_model(settings: Settings, report_stage: Callable[[str], None] = lambda stage: None) -> LoadedModel:
    """Load the pipeline these settings name, with its LoRA slot and speed levers; slow, so call it once.
    `report_stage` hears each of STAGES as the load reaches it."""
    # Heavy imports happen here, so the UI can serve its page before torch and diffusers are loaded.
    import torch

    from . import speed

    started = time.perf_counter()
    source = resolve(settings)
    device = pick_device(settings.device)
    choice = _dtype_choice(source, device, settings.dtype)
    dtype = pick_dtype(device, choice.dtype)
    log.info("Loading %s (%s) on %s in %s", source.model_id, source.location, device, dtype)
    report_stage(LOAD if Path(source.location).is_dir() else DOWNLOAD)
    # The text encoder loads as the causal LM it is stored as, so the enhancer and safety filter can use it.
    pipe = load_pipeline(source.location, dtype)
    if source.is_tiny and device == "cpu" and not os.environ.get("OMP_NUM_THREADS"):
        # Measured (docs/benchmarks.md): on a busy 2-core machine the tiny model's tiny ops run 2-5x slower on two
        # threads; through the app one thread costs nothing. The real model keeps torch's default.
        torch.set_num_threads(1)
    # With compile on, LoRAs are hot-swapped into one slot that must exist before compiling (and before fp8 and
    # the memory mode, which then treat the slot's layers like the rest), so switching never recompiles.
    library = lora_library(settings)
    fetch_hub = settings.compile and bool(library.hub_ids) and hub_reachable(settings.hub_timeout)
    adapters = LoraAdapters(pipe, library, hotswap=settings.compile, fetch_hub=fetch_hub)
    adapters.prime()
    report_stage(SPEED)
    report = speed.apply(pipe, settings, device)
    info = _model_info(source, device, str(dtype).removeprefix("torch."), choice, report,
                       load_seconds=round(time.perf_counter() - started, 2),
                       model_hash=short_hash(local_folder(source), settings.cache_dir))
    log.info("Model ready in %.1f s: %s", info.load_seconds, info)
    return LoadedModel(pipe, info, adapters=adapters)


def _dtype_choice(source: ModelSource, device: str, requested: str) -> DtypeChoice:
    """On the CPU, a dtype the weights fit in (zimage.host_memory); elsewhere what was asked (auto: bfloat16).

    The tiny demo model stays in float32: its matmuls are too small for bfloat16 instructions to pay off, and its
    images are noise whatever the dtype."""
    if device != "cpu":
        return DtypeChoice(requested)
    return cpu_dtype(requested, parameter_count(local_folder(source), source.model_id), available_bytes(),
                     fast_bfloat16=has_fast_bfloat16() and not source.is_tiny)


def _model_info(source: ModelSource, device: str, dtype: str, choice: DtypeChoice, report: SpeedReport,
                load_seconds: float, model_hash: str) -> ModelInfo:
    return ModelInfo(
        model_id=source.model_id, revision=source.revision, is_tiny=source.is_tiny,
        fallback_reason=source.fallback_reason, device=device, dtype=dtype, dtype_reason=choice.reason,
        float32_needs_gib=choice.float32_needs_gib, available_gib=choice.available_gib,
        memory_mode=report.memory_mode, attention=report.attention, compiled=report.compiled, fp8=report.fp8,
        aoti=report.aoti, real_rope=report.real_rope, speed=report.summary(), speed_notes=report.notes(),
        load_seconds=load_seconds, model_hash=model_hash,
    )
