"""One batched pipeline call for a seed batch, with Turbo defaults and clean failure handling."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable

import torch
from PIL import Image

from .devices import free_memory
from .errors import CancelledError, GenerationError
from .request import GenerationRequest

log = logging.getLogger(__name__)

GUIDANCE_SCALE = 0.0  # Turbo is distilled without CFG; negative prompts do nothing.


@dataclass(frozen=True)
class GeneratedImage:
    """One image and the single-image request that makes it again."""

    image: Image.Image
    request: GenerationRequest
    model: dict[str, Any]


def set_shift(pipe: Any, shift: float) -> None:
    """Swap the scheduler only when the shift changes, so the common case costs nothing."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    if abs(float(pipe.scheduler.config.get("shift", 1.0)) - shift) > 1e-6:
        pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config, shift=shift)


def generators(request: GenerationRequest) -> list[torch.Generator]:
    """One CPU generator per image with seeds s, s+1, ...: image i equals a single run with seed s+i.

    CPU generators make the starting noise identical whatever device runs the model.
    """
    return [torch.Generator("cpu").manual_seed(request.seed + i) for i in range(request.count)]


def _step_callback(progress: Callable[[int, int], None] | None, cancel: threading.Event | None, total: int):
    def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict) -> dict:
        if cancel is not None and cancel.is_set():
            raise CancelledError("Stopped.", code="cancelled")
        if progress is not None:
            progress(step + 1, total)
        return tensors

    return on_step_end


def run(loaded: Any, request: GenerationRequest, progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None) -> list[GeneratedImage]:
    """Run a validated request on a loaded model. Every failure leaves the pipeline usable."""
    pipe = loaded.pipe
    set_shift(pipe, request.shift)
    try:
        with torch.inference_mode():
            output = pipe(
                prompt=request.prompt, width=request.width, height=request.height,
                num_inference_steps=request.steps, guidance_scale=GUIDANCE_SCALE,
                num_images_per_prompt=request.count, generator=generators(request),
                callback_on_step_end=_step_callback(progress, cancel, request.steps),
            )
    except CancelledError:
        _recover(pipe)
        raise
    except torch.OutOfMemoryError as error:
        _recover(pipe)
        raise GenerationError(
            f"Out of GPU memory at {request.width}x{request.height} x {request.count}. "
            "Try a smaller size or fewer images.",
            code="oom", width=request.width, height=request.height, count=request.count,
        ) from error
    except Exception as error:  # noqa: BLE001 - logged in full, shown to the user as one line
        log.exception("Generation failed")
        _recover(pipe)
        raise GenerationError(f"Generation failed ({type(error).__name__}). Please try again.",
                              code="generation", reason=type(error).__name__) from error
    model = loaded.describe()
    return [GeneratedImage(image, request.single(i), model) for i, image in enumerate(output.images)]


def _recover(pipe: Any) -> None:
    """Undo what an interrupted call leaves behind: offload hooks holding weights, cached GPU memory."""
    try:
        pipe.maybe_free_model_hooks()
    except Exception:  # noqa: BLE001 - best effort; the next call re-arms the hooks anyway
        log.debug("maybe_free_model_hooks failed", exc_info=True)
    free_memory()
