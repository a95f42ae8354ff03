"""The public API and MCP tools: typed, described endpoints that take raw values and validate them ourselves.

Endpoints take `Api` inputs (no UI component), so a wrong type reaches our validation and gets its one-line,
field-named message instead of Gradio's preprocessing error; the JSON schema says "integer" where integers are
meant; and each parameter carries a description generated from the limits in zimage/request.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr
from gradio.components.api_component import Api

from zimage import i18n
from zimage.request import (DEFAULT_SEED, DEFAULT_SHIFT, DEFAULT_SIDE, DEFAULT_STEPS, MAX_COUNT, MAX_LORA_WEIGHT,
                            MAX_LORAS, MAX_PROMPT_CHARS, MAX_SEED, MAX_SHIFT, MAX_SIDE, MAX_STEPS, MIN_COUNT,
                            MIN_LORA_WEIGHT, MIN_SHIFT, MIN_SIDE, MIN_STEPS, SIDE_MULTIPLE, TURBO_STEPS)


@dataclass(frozen=True)
class Param:
    name: str
    json_type: str
    description: str
    default: Any = None

    def component(self) -> Api:
        return Api(self.default, {"type": self.json_type, "description": self.description}, self.name)


SIDE = f"a multiple of {SIDE_MULTIPLE} from {MIN_SIDE} to {MAX_SIDE}"
GENERATE_PARAMS = (
    Param("prompt", "string", f"What to draw, 1 to {MAX_PROMPT_CHARS} characters. Put text to render in quotes."),
    Param("width", "integer", f"Image width in pixels, {SIDE}.", DEFAULT_SIDE),
    Param("height", "integer", f"Image height in pixels, {SIDE}.", DEFAULT_SIDE),
    Param("seed", "integer", f"First seed, 0 to {MAX_SEED}; image i uses seed + i.", DEFAULT_SEED),
    Param("count", "integer", f"Number of images, {MIN_COUNT} to {MAX_COUNT}.", 1),
    Param("steps", "integer", f"Denoising steps, {MIN_STEPS} to {MAX_STEPS}; Turbo is tuned for {TURBO_STEPS}.",
          DEFAULT_STEPS),
    Param("shift", "number", f"Scheduler time shift, {MIN_SHIFT:g} to {MAX_SHIFT:g}.", DEFAULT_SHIFT),
    # New parameters go last, optional, so positional callers keep working.
    Param("loras", "string", f"Optional LoRA styles installed on the server, \"name:weight, ...\" (up to {MAX_LORAS}, "
          f"weights {MIN_LORA_WEIGHT:g} to {MAX_LORA_WEIGHT:g}); empty for none.", ""),
    Param("variations", "boolean", "If true, the prompt is a short idea and the enhancer writes a different detailed "
          "prompt for each image (image i with seed + i), so a batch really varies; each PNG records its own prompt.",
          False),
)
ENHANCE_PARAMS = (
    Param("idea", "string", "A short image idea in Chinese, English or both; quoted text is kept exactly."),
    Param("seed", "integer", f"0 to {MAX_SEED}; the same idea and seed give the same prompt.", 0),
)
ENHANCE_SUMMARY = ("Expand a short image idea into a detailed Z-Image prompt in the idea's language, describing "
                   "subject, composition, lighting, style and the placement and type style of quoted text. "
                   "Returns the prompt.")
GENERATE_SUMMARY = ("Generate images with Z-Image-Turbo, which renders Chinese and English text well. "
                    "Returns the PNG images (with their settings in the metadata) and a JSON object with the seeds, "
                    "the settings and the model. When the prompt quotes text (\"...\", “...”, 「...」, 『...』), each "
                    "image is proof-read by OCR: the images come best-reading first, and the JSON holds each "
                    "image's verdict (text_checks: found, missing with what was read instead) and best_seed.")


def docstring(summary: str, params: tuple[Param, ...]) -> str:
    """A Google-style docstring: Gradio reads the MCP tool's and each parameter's description from it."""
    args = "\n".join(f"    {p.name}: {p.description}" for p in params)
    return f"{summary}\n\nArgs:\n{args}\n"


def request_language(request: gr.Request | None) -> str:
    """API and MCP callers get messages in the language their client asks for (Accept-Language)."""
    headers = getattr(request, "headers", None) or {}
    return i18n.normalize_language(headers.get("accept-language", ""))


def register(name: str, fn: Callable[..., Any], params: tuple[Param, ...], outputs: list[Any], summary: str,
             **event: Any) -> None:
    """Expose `fn` as the public endpoint and MCP tool `name`, inside the current gr.Blocks."""
    fn.__name__ = name  # the MCP tool's name
    fn.__doc__ = docstring(summary, params)
    gr.on(triggers=[], fn=fn, inputs=[p.component() for p in params], outputs=outputs, api_name=name,
          api_visibility="public", **event)


def outputs() -> list[Any]:
    """Hidden output components of an image endpoint: named, so clients and the schema read "images" and "info"."""
    return [gr.Gallery(visible=False, label="images", format="png"), gr.JSON(visible=False, label="info")]
