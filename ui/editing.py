"""Handlers for editing: "Restyle" (no mask) and "Fix a region" (a mask painted in the editor or uploaded),
the public /edit endpoint (and MCP tool), and "Edit this image" from the gallery or history."""

from __future__ import annotations

from typing import Any

import gradio as gr
from PIL import Image

from zimage import i18n
from zimage.errors import ValidationError
from zimage.images import load_mask_image, load_source
from zimage.masks import combine_layers
from zimage.request import DEFAULT_MASK_BLUR, DEFAULT_SEED, DEFAULT_SHIFT, DEFAULT_STEPS, DEFAULT_STRENGTH

from . import notices
from .api import request_language
from .generation import Generation, api_answer, page_answer

EDIT_DOC = ("Edit an image with Z-Image-Turbo. `image`: the source (PNG, JPEG or WebP). `mask`: optional; white "
            "(or painted) pixels are repainted and everything else comes back unchanged, pixel for pixel, beyond "
            "a `mask_blur`-pixel feather. Without a mask the whole image is restyled. `strength`: above 0 to 1. "
            "`width`/`height`: 0 follows the image (rounded to multiples of 16). `loras`: \"name:weight, ...\". "
            "Returns the PNGs and a JSON object with the seeds and the settings (with the image's SHA-256).")


class Editing:
    def __init__(self, generation: Generation) -> None:
        self.generation = generation

    def edit(self, image: str | None, mask: str | None = None, prompt: str = "",
             strength: float = DEFAULT_STRENGTH, width: float | None = None, height: float | None = None,
             seed: float = DEFAULT_SEED, count: float = 1, steps: float = DEFAULT_STEPS,
             shift: float = DEFAULT_SHIFT, loras: str = "", mask_blur: float = DEFAULT_MASK_BLUR,
             request: gr.Request = None, progress: gr.Progress = gr.Progress()) -> tuple:
        """The public /edit endpoint and MCP tool: files in, the same answer as /generate out."""
        params = _params(prompt, strength, width, height, seed, count, steps, shift, loras, mask_blur)

        def files() -> tuple:  # read inside make's error handling: a bad upload is one translated message
            return _source(image), load_mask_image(mask) if mask else None

        return api_answer(self.generation.make(params, request_language(request), request, progress, images=files))

    def edit_in_page(self, editor: dict | None, mask_upload: str | None, keep_size: bool, prompt: str,
                     strength: float, width: float, height: float, seed: float, count: float, steps: float,
                     shift: float, loras: str, mask_blur: float, lang: str = "en", request: gr.Request = None,
                     progress: gr.Progress = gr.Progress()) -> tuple:
        """The Edit button: the editor's background is the source; painted strokes (or an upload) the mask."""
        size = (None, None) if keep_size else (width, height)
        params = _params(prompt, strength, *size, seed, count, steps, shift, loras, mask_blur)
        return page_answer(self.generation.make(params, lang, request, progress, preview=True,
                                                images=lambda: _from_editor(editor, mask_upload)))

    def use_result(self, selected: dict | None, lang: str) -> tuple:
        """Put the selected image into the editor as the new source ("Edit this image")."""
        if not selected:
            return gr.skip(), gr.skip(), notices.show(i18n.text("select_first", lang))
        image = {"background": selected["path"], "layers": [], "composite": selected["path"]}
        return image, gr.update(open=True), notices.hide()


def _params(prompt: str, strength: Any, width: Any, height: Any, seed: Any, count: Any, steps: Any, shift: Any,
            loras: str, mask_blur: Any) -> dict[str, Any]:
    return dict(prompt=prompt, strength=strength, width=width or None, height=height or None, seed=seed, count=count,
                steps=steps, shift=shift, loras=loras, mask_blur=mask_blur)


def _source(path: str | None):
    if not path:
        raise ValidationError("Upload the image to edit.", code="source_missing")
    return load_source(path)


def _from_editor(editor: dict | None, mask_upload: str | None):
    background = (editor or {}).get("background")
    source = _source(background)
    if mask_upload:
        return source, load_mask_image(mask_upload)
    layers = [Image.open(path) for path in (editor or {}).get("layers") or [] if path]
    painted = [layer for layer in layers if layer.convert("RGBA").getextrema()[3][1] > 0]
    # No strokes: a restyle of the whole image. Strokes: a fix of the painted region.
    return source, combine_layers(painted, source.size) if painted else None
