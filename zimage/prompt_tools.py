"""The text-encoder services: the prompt enhancer and the safety filter, both run on the loaded pipeline's text
encoder, so they take turns with image generations under the same lock."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any, Iterator

from .cancel import CancelToken
from .config import Settings
from .enhance import Enhanced, build_enhancer
from .errors import EnhanceError
from .llm import ChatModel
from .model_loader import LoadedModel
from .safety import ImageChecker, build_safety, load_image_checker


class PromptTools:
    """Builds the enhancer and the safety filter for a loaded model; the image checker is loaded ahead of it."""

    def __init__(self, settings: Settings, run_lock: threading.Lock) -> None:
        self.settings = settings
        self._run_lock = run_lock
        self._image_checker: ImageChecker | None = None

    def prepare_safety(self) -> None:
        """With ZIMAGE_SAFETY=full, load the image checker now; a missing one stops the start with a clear error
        instead of letting images through unchecked. Nothing to do in the other modes."""
        if self._image_checker is None:
            self._image_checker = load_image_checker(self.settings.safety, hub_timeout=self.settings.hub_timeout)

    def chat(self, pipe: Any) -> ChatModel:
        """The pipeline's text encoder as a chat model, taking turns with image generations."""
        return ChatModel.from_pipeline(pipe, self._run_lock)

    def attach(self, loaded: LoadedModel) -> LoadedModel:
        """`loaded` with the enhancer and the safety filter these settings ask for."""
        chat = self.chat(loaded.pipe)
        enhancer = build_enhancer(self.settings.enhancer, chat, real_weights=not loaded.info.is_tiny)
        return replace(loaded, enhancer=enhancer, safety=build_safety(self.settings.safety, chat, self._image_checker))


def enhance(loaded: LoadedModel, idea: str, seed: int = 0, cancel: CancelToken | None = None,
            screened: bool = False) -> Iterator[Enhanced]:
    """Stream an enhanced prompt for `idea` (see `Enhancer.stream`); the idea is screened first, unless the caller
    has done that already (`screened`)."""
    if loaded.enhancer is None:
        raise EnhanceError("The prompt enhancer is turned off on this server.", code="enhance_off")
    if not screened:
        loaded.safety.check_prompt(idea)
    yield from loaded.enhancer.stream(idea, seed, cancel.is_set if cancel is not None else None)


def uses_local_enhancer(loaded: LoadedModel) -> bool:
    """Whether enhancing writes with the model itself (and so, on ZeroGPU, needs a GPU)."""
    return loaded.enhancer is not None and loaded.enhancer.name == "local"


def screens_with_model(loaded: LoadedModel) -> bool:
    """Whether the safety filter asks the model about prompts (and so, on ZeroGPU, needs a GPU to screen one)."""
    return loaded.safety.classify is not None
