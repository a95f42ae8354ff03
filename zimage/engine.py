"""The in-process runner: one cached pipeline, loaded once, lazily and thread-safely, retried after a failure."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Iterator

from PIL import Image

from .cancel import CancelToken
from .config import Settings
from .devices import free_memory, pick_device, pick_dtype
from .enhance import Enhanced, Enhancer, build_enhancer
from .errors import EnhanceError, ModelLoadError, ZImageError
from .images import SourceImage
from .llm import ChatModel, load_pipeline
from .lora import LoraAdapters, LoraLibrary, library_for
from .model_info import ModelInfo, ModelStatus
from .modelhash import short_hash
from .request import GenerationRequest
from .runner import GeneratedImage, ProgressFn
from .safety import ImageChecker, SafetyFilter, build_safety, load_image_checker
from .source import local_folder, resolve

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A ready pipeline, the facts about it, and its LoRA state (switched per request under the run lock)."""

    pipe: Any
    info: ModelInfo
    enhancer: Enhancer | None = None
    safety: SafetyFilter = SafetyFilter("off")
    adapters: LoraAdapters | None = None


class Engine:
    """One pipeline per process; satisfies `zimage.runner.Runner` for the UI, the API and the CLI alike."""

    def __init__(self, settings: Settings, retry_hint: bool = True) -> None:
        self.settings = settings
        # The app retries a failed load on the next request; a one-shot CLI run does not, so it says nothing of it.
        self.retry_hint = retry_hint
        self._load_lock = threading.Lock()
        # The pipeline keeps per-call state (scheduler step index, interrupt flag), so calls take turns.
        self._run_lock = threading.Lock()
        self._loaded: LoadedModel | None = None
        self._last_error = ""
        self._image_checker: ImageChecker | None = None

    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    @property
    def loras(self) -> LoraLibrary:
        """The LoRAs this server offers (ZIMAGE_LORA_DIR and ZIMAGE_LORAS); listing them loads nothing."""
        return library_for(self.settings.lora_dir, self.settings.lora_hub)

    def status(self) -> ModelStatus:
        if self._loaded is not None:
            return ModelStatus("ready", self._loaded.info)
        if self._last_error:
            return ModelStatus("failed", error=self._last_error, expects_tiny=self.settings.model == "tiny")
        return ModelStatus("loading", expects_tiny=self.settings.model == "tiny")

    def start(self) -> None:
        threading.Thread(target=self._load_quietly, name="zimage-load", daemon=True).start()

    def _load_quietly(self) -> None:
        try:
            self.load()
        except ZImageError as error:  # shown in the status line; the next request retries
            log.error("Background model load failed: %s", error)

    def load(self) -> LoadedModel:
        """Return the pipeline, loading it on first use. A failure is reported and retried next time."""
        if self._loaded is not None:
            return self._loaded
        with self._load_lock:
            if self._loaded is None:
                try:
                    self.prepare_safety()
                    self._loaded = self._with_prompt_tools(load_model(self.settings))
                    self._last_error = ""
                except ZImageError as error:  # a missing folder, a bad hub id: the reason is already clear
                    self._last_error = str(error).rstrip(".")
                    raise self._load_failed() from error
                except Exception as error:  # noqa: BLE001 - turned into a message the user can act on
                    log.exception("Model load failed")
                    self._last_error = f"{type(error).__name__}: {error}"[:300]
                    free_memory()
                    raise self._load_failed() from error
        return self._loaded

    def _load_failed(self) -> ModelLoadError:
        reason = self._last_error
        if not self.retry_hint:
            return ModelLoadError(f"The model could not be loaded ({reason}).", code="model_load_once", reason=reason)
        # Nothing is cached on failure, so the message can promise a retry: fixing the folder fixes the app.
        return ModelLoadError(f"The model could not be loaded ({reason}). It will be retried on the next request.",
                              code="model_load", reason=reason)

    def prepare_safety(self) -> None:
        """With ZIMAGE_SAFETY=full, load the image checker now; a missing one stops the start with a clear error
        instead of letting images through unchecked. Nothing to do in the other modes."""
        if self._image_checker is None:
            self._image_checker = load_image_checker(self.settings.safety, hub_timeout=self.settings.hub_timeout)

    def _with_prompt_tools(self, loaded: LoadedModel) -> LoadedModel:
        # The enhancer and the safety filter use the text encoder already in memory, under the generation lock.
        chat = ChatModel.from_pipeline(loaded.pipe, self._run_lock)
        enhancer = build_enhancer(self.settings.enhancer, chat, real_weights=not loaded.info.is_tiny)
        return LoadedModel(loaded.pipe, loaded.info, enhancer,
                           build_safety(self.settings.safety, chat, self._image_checker), loaded.adapters)

    def generate(self, request: GenerationRequest, progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> list[GeneratedImage]:
        """Load (once), screen the prompt, run one request (see `zimage.generate.run`), screen the images."""
        from .generate import run

        loaded = self.load()
        loaded.safety.check_prompt(request.prompt)  # before any image work
        with self._run_lock:
            images = run(loaded, self._switch_loras(loaded, request), progress=progress, cancel=cancel)
        loaded.safety.check_images([item.image for item in images])
        return images

    def edit(self, request: GenerationRequest, source: SourceImage, mask: Image.Image | None = None,
             progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> list[GeneratedImage]:
        """Restyle `source` (no mask) or repaint the masked region; see `zimage.edit.run`.

        The request comes back with the source's and mask's SHA-256 and the LoRAs' hashes filled in.
        """
        from .edit import run as run_edit
        from .masks import prepare_mask

        prepared = prepare_mask(mask, source.size, request.mask_blur) if mask is not None else None
        request = replace(request, source_sha256=source.sha256, mask_sha256=prepared.sha256 if prepared else "")
        loaded = self.load()
        loaded.safety.check_prompt(request.prompt)
        with self._run_lock:
            request = self._switch_loras(loaded, request)
            images = run_edit(loaded.pipe, request, source, prepared, progress=progress, cancel=cancel)
        loaded.safety.check_images(images)
        return [GeneratedImage(image, request.single(i), loaded.info) for i, image in enumerate(images)]

    def _switch_loras(self, loaded: LoadedModel, request: GenerationRequest) -> GenerationRequest:
        """Make exactly the request's LoRAs active (none: all off), so no request sees another's. Under the run lock."""
        refs = self.loras.resolve(request.loras)
        if loaded.adapters is not None:
            loaded.adapters.activate(refs)
        return replace(request, loras=refs)

    def generate_many(self, requests: list[GenerationRequest],
                      progress: ProgressFn | None = None) -> list[list[GeneratedImage] | ZImageError]:
        """Requests of one shape from different callers in one pipeline call (see `zimage.generate.run_many`).
        Each gets its images or its own error: a prompt the safety filter blocks fails only that request."""
        from .generate import run_many

        loaded = self.load()
        outcomes: list[list[GeneratedImage] | ZImageError] = []
        for request in requests:
            outcomes.append(_checked(loaded.safety.check_prompt, request.prompt, []))
        allowed = [i for i, outcome in enumerate(outcomes) if not isinstance(outcome, ZImageError)]
        if allowed:
            with self._run_lock:
                # One batch shares one LoRA state: zimage.generate.shape keeps requests with other LoRAs apart.
                batch = [self._switch_loras(loaded, requests[allowed[0]])]
                batch += [replace(requests[i], loras=batch[0].loras) for i in allowed[1:]]
                batches = run_many(loaded, batch, progress)
            for i, images in zip(allowed, batches):
                outcomes[i] = _checked(loaded.safety.check_images, [item.image for item in images], images)
        return outcomes

    def enhance(self, idea: str, seed: int = 0, cancel: CancelToken | None = None) -> Iterator[Enhanced]:
        """Stream an enhanced prompt for `idea` (see `Enhancer.stream`); the idea is screened first."""
        loaded = self.load()
        if loaded.enhancer is None:
            raise EnhanceError("The prompt enhancer is turned off on this server.", code="enhance_off")
        loaded.safety.check_prompt(idea)
        yield from loaded.enhancer.stream(idea, seed, cancel.is_set if cancel is not None else None)

    def chat(self) -> ChatModel:
        """The loaded text encoder as a chat model, taking turns with image generations."""
        return ChatModel.from_pipeline(self.load().pipe, self._run_lock)

    def uses_local_enhancer(self) -> bool:
        """Whether enhancing needs the model (and so, on ZeroGPU, a GPU)."""
        loaded = self.load()
        return loaded.enhancer is not None and loaded.enhancer.name == "local"


def _checked(check: Any, value: Any, result: Any) -> Any:
    """`result` when `check(value)` passes, else the error it raised."""
    try:
        check(value)
    except ZImageError as error:
        return error
    return result


def load_model(settings: Settings) -> LoadedModel:
    # Heavy imports happen here, so the UI can serve its page before torch and diffusers are loaded.
    import torch

    from . import speed

    started = time.perf_counter()
    source = resolve(settings)
    device = pick_device(settings.device)
    dtype = pick_dtype(device, settings.dtype)
    log.info("Loading %s (%s) on %s in %s", source.model_id, source.location, device, dtype)
    # The text encoder loads as the causal LM it is stored as, so the enhancer and safety filter can use it.
    pipe = load_pipeline(source.location, dtype)
    if source.is_tiny and device == "cpu" and not os.environ.get("OMP_NUM_THREADS"):
        # Measured (docs/benchmarks.md): on a busy 2-core machine the tiny model's tiny ops run 2-5x slower on two
        # threads; through the app one thread costs nothing. The real model keeps torch's default.
        torch.set_num_threads(1)
    # With compile on, LoRAs are hot-swapped into one slot that must exist before compiling (and before fp8 and
    # the memory mode, which then treat the slot's layers like the rest), so switching never recompiles.
    adapters = LoraAdapters(pipe, library_for(settings.lora_dir, settings.lora_hub), hotswap=settings.compile)
    adapters.prime()
    report = speed.apply(pipe, settings, device)
    info = ModelInfo(
        model_id=source.model_id, revision=source.revision, is_tiny=source.is_tiny,
        fallback_reason=source.fallback_reason, device=device, dtype=str(dtype).removeprefix("torch."),
        memory_mode=report.memory_mode, attention=report.attention, compiled=report.compiled, fp8=report.fp8,
        aoti=report.aoti, speed=report.summary(),
        load_seconds=round(time.perf_counter() - started, 2), model_hash=short_hash(local_folder(source), settings.cache_dir),
    )
    log.info("Model ready in %.1f s: %s", info.load_seconds, info)
    return LoadedModel(pipe, info, adapters=adapters)
