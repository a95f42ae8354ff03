"""The in-process runner: one pipeline per process, loaded once, lazily and thread-safely, retried after a failure.

`Engine` is a facade over the pieces that do the work: `ModelHolder` loads the model once (`load_model`),
`PromptTools` puts the enhancer and the safety filter on its text encoder, and `ScreenedRuns` runs requests on it.
"""

from __future__ import annotations

import threading
from typing import Callable, Iterator

from PIL import Image

from . import prompt_tools
from .cancel import CancelToken
from .config import Settings
from .enhance import Enhanced
from .errors import ZImageError
from .images import SourceImage
from .llm import ChatModel
from .lora import LoraLibrary
from .model_holder import ModelHolder
from .model_info import ModelStatus
from .model_loader import LoadedModel, load_model, lora_library
from .prompt_tools import PromptTools
from .request import GenerationRequest
from .runner import GeneratedImage, ProgressFn
from .screened import ScreenedRuns


class Engine:
    """One pipeline per process; satisfies `zimage.runner.Runner` for the UI, the API and the CLI alike."""

    def __init__(self, settings: Settings, retry_hint: bool = True) -> None:
        self.settings = settings
        # The pipeline keeps per-call state (scheduler step index, interrupt flag), so calls take turns; the
        # enhancer and the safety filter use its text encoder, so they take the same turns.
        run_lock = threading.Lock()
        self._tools = PromptTools(settings, run_lock)
        self._model = ModelHolder(self._build, expects_tiny=settings.model == "tiny", retry_hint=retry_hint)
        self._runs = ScreenedRuns(settings, run_lock, self._model.load)

    def _build(self, report_stage: Callable[[str], None]) -> LoadedModel:
        self._tools.prepare_safety()
        # `load_model` is looked up here at call time, so tests can stand in for it on this module.
        return self._tools.attach(load_model(self.settings, report_stage))

    @property
    def loaded(self) -> LoadedModel | None:
        """The model once loaded, else None; never starts a load."""
        return self._model.loaded

    @property
    def loras(self) -> LoraLibrary:
        """The LoRAs this server offers (ZIMAGE_LORA_DIR and ZIMAGE_LORAS); listing them loads nothing."""
        return lora_library(self.settings)

    def status(self) -> ModelStatus:
        return self._model.status()

    def start(self) -> None:
        self._model.start()

    def load(self) -> LoadedModel:
        """Return the pipeline, loading it on first use. A failure is reported and retried next time."""
        return self._model.load()

    def prepare_safety(self) -> None:
        """With ZIMAGE_SAFETY=full, load the image checker now (see `PromptTools.prepare_safety`)."""
        self._tools.prepare_safety()

    def generate(self, request: GenerationRequest, progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> list[GeneratedImage]:
        """Load (once), screen the prompt, run one request (see `zimage.generate.run`), screen the images."""
        return self._runs.generate(request, progress, cancel)

    def edit(self, request: GenerationRequest, source: SourceImage, mask: Image.Image | None = None,
             progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> list[GeneratedImage]:
        """Restyle `source` (no mask) or repaint the masked region (see `ScreenedRuns.edit`)."""
        return self._runs.edit(request, source, mask, progress, cancel)

    def generate_many(self, requests: list[GenerationRequest],
                      progress: ProgressFn | None = None) -> list[list[GeneratedImage] | ZImageError]:
        """Requests of one shape in one pipeline call, each with its images or its own error (see `ScreenedRuns`)."""
        return self._runs.generate_many(requests, progress)

    def enhance(self, idea: str, seed: int = 0, cancel: CancelToken | None = None,
                screened: bool = False) -> Iterator[Enhanced]:
        """Stream an enhanced prompt for `idea` (see `Enhancer.stream`); the idea is screened first, unless
        `screened` says `screen_prompt` has done it."""
        yield from prompt_tools.enhance(self.load(), idea, seed, cancel, screened)

    def screen_prompt(self, prompt: str) -> None:
        """The safety filter's verdict on a prompt: BlockedError, or nothing."""
        self.load().safety.check_prompt(prompt)

    def chat(self) -> ChatModel:
        """The loaded text encoder as a chat model, taking turns with image generations."""
        return self._tools.chat(self.load().pipe)

    def uses_local_enhancer(self) -> bool:
        """Whether enhancing writes with the model (and so, on ZeroGPU, needs a GPU)."""
        return prompt_tools.uses_local_enhancer(self.load())

    def screens_with_model(self) -> bool:
        """Whether screening a prompt runs the model (and so, on ZeroGPU, needs a GPU)."""
        return prompt_tools.screens_with_model(self.load())
