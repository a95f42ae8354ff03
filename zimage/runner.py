"""The seam between the app and where generation runs.

The UI, the API and the CLI talk to a `Runner`. Today two satisfy it: the in-process `Engine` and the
ZeroGPU wrapper around it (ui/gpu.py); a pool of remote replicas can satisfy it too, without touching the UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

from PIL import Image

from .cancel import CancelToken
from .images import SourceImage
from .lora import LoraLibrary
from .model_info import ModelInfo, ModelStatus
from .request import GenerationRequest

if TYPE_CHECKING:
    from .enhance import Enhanced

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class GeneratedImage:
    """One image and the single-image request that makes it again."""

    image: Image.Image
    request: GenerationRequest
    model: ModelInfo
    # How the prompt was written when the enhancer wrote it: the idea, the backend, the seed (Enhanced.metadata()).
    enhanced: dict[str, Any] | None = None


class Runner(Protocol):
    """Where images are made. Implementations raise `ZImageError` subclasses with user-ready messages."""

    def generate(self, request: GenerationRequest, progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> list[GeneratedImage]:
        """Make `request.count` images with seeds s, s+1, ...; `cancel` stops the run between steps."""
        ...

    def edit(self, request: GenerationRequest, source: SourceImage, mask: Image.Image | None = None,
             progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> list[GeneratedImage]:
        """Restyle `source`, or repaint where `mask` is painted; images come back as `generate`'s do."""
        ...

    @property
    def loras(self) -> LoraLibrary:
        """The LoRAs this runner can apply (listing them loads nothing)."""
        ...

    def enhance(self, idea: str, seed: int = 0, cancel: CancelToken | None = None) -> Iterator["Enhanced"]:
        """Stream an enhanced prompt for `idea`: partial results, then the final one (`done=True`)."""
        ...

    def status(self) -> ModelStatus:
        """Whether the model is loading, ready (and what it is) or failed (and why)."""
        ...

    def start(self) -> None:
        """Begin loading in the background, so the first request does not wait for it."""
        ...
