"""One batched pipeline call for a seed batch, with Turbo defaults and clean failure handling."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import torch

from .cancel import CancelToken
from .devices import free_memory
from .errors import CancelledError, GenerationError
from .request import GUIDANCE_SCALE, GenerationRequest
from .runner import GeneratedImage, ProgressFn

if TYPE_CHECKING:
    from .engine import LoadedModel

log = logging.getLogger(__name__)


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


def step_callback(progress: ProgressFn | None, cancel: CancelToken | None, total: int):
    """diffusers' per-step hook: stop between steps when asked, and report progress."""

    def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict) -> dict:
        if cancel is not None:
            cancel.raise_if_set()
        if progress is not None:
            progress(step + 1, total)
        return tensors

    return on_step_end


def run(loaded: LoadedModel, request: GenerationRequest, progress: ProgressFn | None = None,
        cancel: CancelToken | None = None) -> list[GeneratedImage]:
    """Run a request on a loaded model. Every failure leaves the pipeline usable."""
    pipe = loaded.pipe
    set_shift(pipe, request.shift)
    try:
        with torch.inference_mode():
            output = pipe(
                prompt=request.prompt, width=request.width, height=request.height,
                num_inference_steps=request.steps, guidance_scale=GUIDANCE_SCALE,
                num_images_per_prompt=request.count, generator=generators(request),
                callback_on_step_end=step_callback(progress, cancel, request.steps),
            )
    except CancelledError:
        recover(pipe)
        raise
    except torch.OutOfMemoryError as error:
        recover(pipe)
        raise GenerationError(
            f"Out of GPU memory at {request.width}x{request.height} x {request.count}. "
            "Try a smaller size or fewer images.",
            code="oom", width=request.width, height=request.height, count=request.count,
        ) from error
    except Exception as error:  # noqa: BLE001 - logged in full, shown to the user as one line
        log.exception("Generation failed")
        recover(pipe)
        raise GenerationError(f"Generation failed ({type(error).__name__}). Please try again.",
                              code="generation", reason=type(error).__name__) from error
    return [GeneratedImage(image, request.single(i), loaded.info) for i, image in enumerate(output.images)]


def recover(pipe: Any) -> None:
    """Undo what an interrupted call leaves behind: offload hooks holding weights, cached GPU memory."""
    try:
        pipe.maybe_free_model_hooks()
    except Exception:  # noqa: BLE001 - best effort; the next call re-arms the hooks anyway
        log.debug("maybe_free_model_hooks failed", exc_info=True)
    free_memory()
