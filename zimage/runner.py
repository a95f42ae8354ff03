"""The seam between the app and where generation runs.

The UI, the API and the CLI talk to a `Runner`. Today two satisfy it: the in-process `Engine` and the
ZeroGPU wrapper around it (ui/gpu.py); a pool of remote replicas can satisfy it too, without touching the UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from PIL import Image

from .cancel import CancelToken
from .model_info import ModelInfo, ModelStatus
from .request import GenerationRequest

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class GeneratedImage:
    """One image and the single-image request that makes it again."""

    image: Image.Image
    request: GenerationRequest
    model: ModelInfo


class Runner(Protocol):
    """Where images are made. Implementations raise `ZImageError` subclasses with user-ready messages."""

    def generate(self, request: GenerationRequest, progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> list[GeneratedImage]:
        """Make `request.count` images with seeds s, s+1, ...; `cancel` stops the run between steps."""
        ...

    def status(self) -> ModelStatus:
        """Whether the model is loading, ready (and what it is) or failed (and why)."""
        ...

    def start(self) -> None:
        """Begin loading in the background, so the first request does not wait for it."""
        ...
