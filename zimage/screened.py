"""Requests on the loaded model, one at a time: the prompt screened first, the request's LoRAs switched on and the
pipeline run under the run lock, the images screened last. `zimage.generate` and `zimage.edit` do the pipeline calls;
they import torch, so they are imported when a request runs, not when the app starts."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any, Callable

from PIL import Image

from .cancel import CancelToken
from .config import Settings
from .errors import ZImageError
from .images import SourceImage
from .model_loader import LoadedModel, lora_library
from .request import GenerationRequest
from .runner import GeneratedImage, ProgressFn

# One pipeline call on a model whose LoRAs are already switched for the request it is given.
PipelineCall = Callable[[LoadedModel, GenerationRequest], list[GeneratedImage]]


class ScreenedRuns:
    """Generation, editing and batching for one model; `load` returns it, loading it on first use."""

    def __init__(self, settings: Settings, run_lock: threading.Lock, load: Callable[[], LoadedModel]) -> None:
        self.settings = settings
        self._run_lock = run_lock
        self._load = load

    def generate(self, request: GenerationRequest, progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> list[GeneratedImage]:
        """Load (once), screen the prompt, run one request (see `zimage.generate.run`), screen the images."""
        from .generate import run

        return self._screened(request, lambda loaded, switched: run(loaded, switched, progress=progress, cancel=cancel))

    def edit(self, request: GenerationRequest, source: SourceImage, mask: Image.Image | None = None,
             progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> list[GeneratedImage]:
        """Restyle `source` (no mask) or repaint the masked region; see `zimage.edit.run`.

        The request comes back with the source's and mask's SHA-256 and the LoRAs' hashes filled in.
        """
        from .edit import run as run_edit
        from .masks import prepare_mask

        prepared = prepare_mask(mask, source.size, request.mask_blur) if mask is not None else None
        request = replace(request, source_sha256=source.sha256, mask_sha256=prepared.sha256 if prepared else "")

        def call(loaded: LoadedModel, switched: GenerationRequest) -> list[GeneratedImage]:
            images = run_edit(loaded.pipe, switched, source, prepared, progress=progress, cancel=cancel)
            return [GeneratedImage(image, switched.single(i), loaded.info) for i, image in enumerate(images)]

        return self._screened(request, call)

    def _screened(self, request: GenerationRequest, call: PipelineCall) -> list[GeneratedImage]:
        loaded = self._load()
        loaded.safety.check_prompt(request.prompt)  # before any image work
        with self._run_lock:
            images = call(loaded, self._switch_loras(loaded, request))
        loaded.safety.check_images([item.image for item in images])
        return images

    def generate_many(self, requests: list[GenerationRequest],
                      progress: ProgressFn | None = None) -> list[list[GeneratedImage] | ZImageError]:
        """Requests of one shape from different callers in one pipeline call (see `zimage.generate.run_many`).
        Each gets its images or its own error: a prompt the safety filter blocks fails only that request."""
        loaded = self._load()
        outcomes = [_checked(loaded.safety.check_prompt, request.prompt, []) for request in requests]
        allowed = [i for i, outcome in enumerate(outcomes) if not isinstance(outcome, ZImageError)]
        if allowed:
            batches = self._run_batch(loaded, [requests[i] for i in allowed], progress)
            for i, images in zip(allowed, batches):
                outcomes[i] = _checked(loaded.safety.check_images, [item.image for item in images], images)
        return outcomes

    def _run_batch(self, loaded: LoadedModel, requests: list[GenerationRequest],
                   progress: ProgressFn | None) -> list[list[GeneratedImage]]:
        from .generate import run_many

        with self._run_lock:
            # One batch shares one LoRA state: zimage.generate.shape keeps requests with other LoRAs apart.
            batch = [self._switch_loras(loaded, requests[0])]
            batch += [replace(request, loras=batch[0].loras) for request in requests[1:]]
            return run_many(loaded, batch, progress)

    def _switch_loras(self, loaded: LoadedModel, request: GenerationRequest) -> GenerationRequest:
        """Make exactly the request's LoRAs active (none: all off), so no request sees another's. Under the run lock."""
        refs = lora_library(self.settings).resolve(request.loras)
        if loaded.adapters is not None:
            loaded.adapters.activate(refs)
        return replace(request, loras=refs)


def _checked(check: Callable[[Any], None], value: Any, result: Any) -> Any:
    """`result` when `check(value)` passes, else the error it raised."""
    try:
        check(value)
    except ZImageError as error:
        return error
    return result
