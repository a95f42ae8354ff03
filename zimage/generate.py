"""One batched pipeline call for a seed batch, with Turbo defaults and clean failure handling."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any, Iterator

import torch

from .cancel import CancelToken, stop_if_asked
from .devices import free_memory
from .errors import CancelledError, GenerationError
from .prompt_cache import prompt_embeds
from .request import GUIDANCE_SCALE, GenerationRequest
from .runner import GeneratedImage, ProgressFn

if TYPE_CHECKING:
    from .model_loader import LoadedModel

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
        stop_if_asked(cancel)
        if progress is not None:
            progress(step + 1, total)
        return tensors

    return on_step_end


def run(loaded: LoadedModel, request: GenerationRequest, progress: ProgressFn | None = None,
        cancel: CancelToken | None = None) -> list[GeneratedImage]:
    """Run a request on a loaded model. Every failure leaves the pipeline usable."""
    images = _call(loaded.pipe, request, [request.prompt], step_callback(progress, cancel, request.steps),
                   num_images_per_prompt=request.count, generator=generators(request))
    return [GeneratedImage(image, request.single(i), loaded.info) for i, image in enumerate(images)]


def shape(request: GenerationRequest) -> tuple:
    """What requests must share to run as one batch: everything but the prompt, the seed and the count.

    LoRAs included: the transformer holds one LoRA state per call, so requests with other LoRAs never share one.
    """
    return request.width, request.height, request.steps, request.shift, request.loras


def run_many(loaded: LoadedModel, requests: list[GenerationRequest],
             progress: ProgressFn | None = None) -> list[list[GeneratedImage]]:
    """Several requests of one `shape` (from different users, say) in one pipeline call.

    Each image keeps its own prompt and its own CPU generator, so it equals its single run within 1/255
    (tests/test_batching.py). A batch has no per-request Stop: a caller who stops just stops waiting.
    """
    first = requests[0]
    if any(shape(request) != shape(first) for request in requests):
        raise ValueError("run_many needs requests of one size, step count and shift")
    prompts = [request.prompt for request in requests for _ in range(request.count)]
    images = _call(loaded.pipe, first, prompts, step_callback(progress, None, first.steps), num_images_per_prompt=1,
                   generator=[generator for request in requests for generator in generators(request)])
    results, start = [], 0
    for request in requests:
        results.append([GeneratedImage(image, request.single(i), loaded.info)
                        for i, image in enumerate(images[start:start + request.count])])
        start += request.count
    return results


def _call(pipe: Any, request: GenerationRequest, prompts: list[str], on_step_end: Any, **inputs: Any) -> list:
    """One pipeline call on `prompts` at `request`'s size, steps and shift; its failures become the app's errors."""
    set_shift(pipe, request.shift)
    count = len(prompts) * inputs["num_images_per_prompt"]
    with failures_reported(pipe, request, count), torch.inference_mode():
        return pipe(prompt_embeds=prompt_embeds(pipe, prompts), width=request.width, height=request.height,
                    num_inference_steps=request.steps, guidance_scale=GUIDANCE_SCALE,
                    callback_on_step_end=on_step_end, **inputs).images


@contextlib.contextmanager
def failures_reported(pipe: Any, request: GenerationRequest, count: int) -> Iterator[None]:
    """Turn a failed pipeline call into one user-facing error, and restore the pipeline for the next request."""
    try:
        yield
    except CancelledError:
        recover(pipe)
        raise
    except torch.OutOfMemoryError as error:
        recover(pipe)
        raise GenerationError(
            f"Out of GPU memory at {request.width}x{request.height} x {count}. "
            "Try a smaller size or fewer images.",
            code="oom", width=request.width, height=request.height, count=count,
        ) from error
    except Exception as error:  # noqa: BLE001 - logged in full, shown to the user as one line
        log.exception("Generation failed")
        recover(pipe)
        raise GenerationError(f"Generation failed ({type(error).__name__}). Please try again.",
                              code="generation", reason=type(error).__name__) from error


def recover(pipe: Any) -> None:
    """Undo what an interrupted call leaves behind: offload hooks holding weights, cached GPU memory."""
    try:
        pipe.maybe_free_model_hooks()
    except Exception:  # noqa: BLE001 - best effort; the next call re-arms the hooks anyway
        log.debug("maybe_free_model_hooks failed", exc_info=True)
    free_memory()
