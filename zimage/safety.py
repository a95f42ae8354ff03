"""The safety filter for public demos: prompts screened by the text encoder, images by the CompVis checker.

`prompt` asks the loaded text encoder, run as a chat model, whether a prompt is unsafe (a yes/no question, at most
10 new tokens), before any image work. `full` also runs the CompVis Stable Diffusion safety checker on every image.
A blocked request raises BlockedError: no image, never a black placeholder. Logs never hold the prompt text.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Callable

from .assets import load_text
from .config import SafetySettings
from .errors import BlockedError, ModelLoadError
from .llm import ChatModel, Sampling

log = logging.getLogger(__name__)

# True: unsafe, False: safe, None: the answer was neither (the request goes through, and a warning is logged).
Classifier = Callable[[str], "bool | None"]
VERDICT_TOKENS = 10
VERDICT_SECONDS = 15.0
_FIRST_WORD = re.compile(r"[a-z]+|[\u4e00-\u9fff]")


def parse_verdict(answer: str) -> bool | None:
    """Read the classifier's answer: the first word decides ("yes"/"是" unsafe, "no"/"否"/"不" safe)."""
    text = re.sub(r"<think>.*?(?:</think>|$)", "", answer, flags=re.S).strip().lower()
    first = _FIRST_WORD.search(text)
    word = first.group(0) if first else ""
    if word in ("yes", "unsafe", "是"):
        return True
    if word in ("no", "safe", "否", "不"):
        return False
    return None


class LLMPromptClassifier:
    """The text encoder as a yes/no classifier, greedy so a prompt always gets the same verdict."""

    def __init__(self, chat: ChatModel) -> None:
        self.chat = chat

    def answer(self, prompt: str) -> str:
        return self.chat.complete(load_text("prompts/safety.txt"), prompt, Sampling(VERDICT_TOKENS, VERDICT_SECONDS))

    def __call__(self, prompt: str) -> bool | None:
        return parse_verdict(self.answer(prompt))


class ImageChecker:
    """The CompVis safety checker (a CLIP model with concept embeddings), loaded only when `full` is on."""

    def __init__(self, model: Any, processor: Any, device: str = "cpu") -> None:
        self.model = model
        self.processor = processor
        self.device = device

    @classmethod
    def load(cls, location: str, device: str = "cpu", hub_timeout: float = 3.0) -> "ImageChecker":
        """Load from a local folder or the hub cache, or the hub if it answers; else refuse with a clear error."""
        try:
            model, processor = _load_checker(location, hub_timeout)
        except Exception as error:  # noqa: BLE001 - whatever went wrong, `full` must not run unfiltered
            reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:200]
            raise ModelLoadError(
                f"ZIMAGE_SAFETY=full needs the image safety checker {location}, which could not be loaded "
                f"({reason}). Download it, point ZIMAGE_SAFETY_CHECKER to a local copy, or set ZIMAGE_SAFETY=prompt.",
                code="safety_unavailable", location=location, reason=reason,
            ) from error
        return cls(model.to(device).eval(), processor, device)

    def flagged(self, images: list[Any]) -> list[bool]:
        """For each PIL image, whether the checker finds an unsafe concept in it."""
        import numpy as np
        import torch

        inputs = self.processor(images=images, return_tensors="pt").pixel_values.to(self.device, self.model.dtype)
        arrays = [np.asarray(image, dtype=np.float32) / 255.0 for image in images]
        with torch.inference_mode():
            _, has_concept = self.model(clip_input=inputs, images=arrays)
        return [bool(flag) for flag in has_concept]


def _load_checker(location: str, hub_timeout: float) -> tuple[Any, Any]:
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPImageProcessor

    from .source import hub_reachable

    # Try the local copy first; only go to the network when the hub answers, so an offline start fails fast.
    local_only = Path(location).expanduser().is_dir() or not hub_reachable(hub_timeout)
    model = StableDiffusionSafetyChecker.from_pretrained(location, local_files_only=local_only)
    try:
        processor = CLIPImageProcessor.from_pretrained(location, local_files_only=local_only)
    except OSError:
        # The checker's repo may ship no preprocessor; CLIP's defaults are what Stable Diffusion feeds it.
        processor = CLIPImageProcessor()
    return model, processor


class SafetyFilter:
    """Screens prompts and images as the mode says. Raises BlockedError; logs counts, never text."""

    def __init__(self, mode: str, classify: Classifier | None = None, images: ImageChecker | None = None) -> None:
        if mode != "off" and classify is None:
            raise ValueError("The prompt and full modes need a prompt classifier.")
        if mode == "full" and images is None:
            raise ValueError("The full mode needs an image checker.")
        self.mode = mode
        self.classify = classify
        self.images = images

    def check_prompt(self, prompt: str) -> None:
        if self.mode == "off" or self.classify is None:
            return
        verdict = self.classify(prompt)
        if verdict is None:
            log.warning("Safety filter: the classifier's answer was unclear; a %d-character prompt was let through",
                        len(prompt))
        elif verdict:
            log.warning("Safety filter blocked a prompt (%d characters)", len(prompt))
            raise BlockedError("This prompt was blocked by the safety filter. Please rephrase it.",
                               code="blocked_prompt")

    def check_images(self, images: list[Any]) -> None:
        if self.mode != "full" or self.images is None or not images:
            return
        flags = self.images.flagged(images)
        if any(flags):
            log.warning("Safety filter blocked %d of %d images", sum(flags), len(flags))
            raise BlockedError("The safety filter blocked the result, so no image is shown. Try a different prompt.",
                               code="blocked_image", blocked=sum(flags), total=len(flags))


def load_image_checker(settings: SafetySettings, device: str = "cpu", hub_timeout: float = 3.0) -> ImageChecker | None:
    """Call at start: with `full`, load the image checker now, so a missing one stops the app with a clear
    message instead of letting images through unchecked. Other modes load nothing."""
    return ImageChecker.load(settings.checker, device, hub_timeout) if settings.mode == "full" else None


def build_safety(settings: SafetySettings, chat: ChatModel | None, images: ImageChecker | None = None) -> SafetyFilter:
    """The filter for these settings, once the model is loaded; `images` comes from `load_image_checker`."""
    if settings.mode == "off":
        return SafetyFilter("off")
    if chat is None:
        raise ModelLoadError("The safety filter needs the loaded model's text encoder.", code="safety_unavailable",
                             location="text_encoder", reason="no model")
    return SafetyFilter(settings.mode, LLMPromptClassifier(chat), images)
