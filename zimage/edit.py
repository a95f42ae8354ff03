"""Image to image ("Restyle") and inpainting ("Fix a region") on the loaded pipeline's own components.

The edit pipelines come from `from_pipe`, so they share the text encoder, transformer and VAE with the
text-to-image pipeline: no second copy of the weights, and a LoRA loaded into the transformer applies to all.
Seeds, progress and Stop work as in `zimage.generate`; an inpainting result is composited onto the original
(`zimage.masks.composite`), so the pixels outside the mask and its feather band are the source's own.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable

import torch
from PIL import Image

from .cancel import CancelToken
from .errors import ValidationError
from .generate import failures_reported, generators, set_shift, step_callback
from .images import SourceImage, fit_size, resized
from .masks import Mask, composite, model_mask
from .prompt_cache import prompt_embeds
from .request import GUIDANCE_SCALE, GenerationRequest, check_side

IMG2IMG, INPAINT = "img2img", "inpaint"

_pipes: "weakref.WeakKeyDictionary[Any, dict[str, Any]]" = weakref.WeakKeyDictionary()
_pipes_lock = threading.Lock()


def edit_pipeline(pipe: Any, kind: str) -> Any:
    """The img2img or inpaint pipeline over `pipe`'s components, built once per loaded pipeline."""
    from diffusers import ZImageImg2ImgPipeline, ZImageInpaintPipeline

    classes = {IMG2IMG: ZImageImg2ImgPipeline, INPAINT: ZImageInpaintPipeline}
    with _pipes_lock:
        built = _pipes.setdefault(pipe, {})
        if kind not in built:
            # from_pipe casts the shared modules to its `dtype` argument (float32 by default), in place: pass the
            # loaded dtype, or a bf16 model would be silently doubled in memory for text-to-image as well.
            built[kind] = classes[kind].from_pipe(pipe, dtype=pipe.dtype)
            built[kind].set_progress_bar_config(**getattr(pipe, "_progress_bar_config", {}))
        return built[kind]


def effective_steps(steps: int, strength: float) -> int:
    """How many denoising steps an edit runs: diffusers skips the first (1 - strength) share of the schedule."""
    start = int(max(steps - min(steps * strength, steps), 0))
    return steps - start


def edit_size(source: SourceImage, size: tuple[int, int] | None = None) -> tuple[int, int]:
    """The working size: the one given (checked), else the source's own rounded into the limits."""
    if size is None:
        return fit_size(*source.size)
    return check_side("width", size[0]), check_side("height", size[1])


def run(pipe: Any, request: GenerationRequest, source: SourceImage, mask: Mask | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancel: CancelToken | None = None) -> list[Image.Image]:
    """Restyle `source` (no mask) or repaint the masked region, for every seed of `request`.

    Image i equals a single run with seed s+i. Restyled images have the request's size; inpainted ones the
    source's, composited onto it. Every failure leaves the pipeline usable.
    """
    if request.strength is None:
        raise ValidationError("An edit needs a strength between 0 and 1.", code="edit_strength_missing")
    size, strength = (request.width, request.height), request.strength
    target = edit_pipeline(pipe, INPAINT if mask is not None else IMG2IMG)
    inputs = {"image": resized(source.image, size), "strength": strength, "width": size[0], "height": size[1],
              "num_inference_steps": request.steps, "guidance_scale": GUIDANCE_SCALE}
    if mask is not None:
        inputs["mask_image"] = model_mask(mask, size)
    each = effective_steps(request.steps, strength)
    set_shift(target, request.shift)
    images = []
    with failures_reported(pipe, request, request.count), torch.inference_mode():
        # One call per seed: diffusers' edit pipelines draw the VAE sample from the first image's generator, so in
        # a batched call image i > 0 would not be the single run with seed s+i. The prompt is encoded once.
        embeds = prompt_embeds(target, [request.prompt])
        for index, generator in enumerate(generators(request)):
            callback = step_callback(_shifted(progress, index * each), cancel, each * request.count)
            output = target(prompt_embeds=embeds, generator=generator, callback_on_step_end=callback, **inputs)
            images.append(output.images[0])
    if mask is None:
        return images
    return [composite(source.image, image, mask) for image in images]


def _shifted(progress: Callable[[int, int], None] | None, done: int) -> Callable[[int, int], None] | None:
    """Progress across the whole batch: steps of earlier images count as done."""
    if progress is None:
        return None
    return lambda step, total: progress(done + step, total)
