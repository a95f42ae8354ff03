"""Turn generated images into what the app shows and keeps: saved files, captions, settings text."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .metadata import format_parameters
from .outputs import save_all
from .request import GenerationRequest

if TYPE_CHECKING:
    from .generate import GeneratedImage


@dataclass(frozen=True)
class SavedImage:
    """One image on disk with its single-image request; this is what history and share links use."""

    path: str
    request: GenerationRequest
    model: dict[str, Any]

    @property
    def caption(self) -> str:
        return f"seed {self.request.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "request": self.request.to_dict(), "model": self.model}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SavedImage":
        return cls(str(data["path"]), GenerationRequest(**data["request"]), dict(data.get("model", {})))

    def parameters_text(self) -> str:
        return format_parameters(self.request, self.model)


def save_results(results: list[GeneratedImage], folder: Path, prefix: str) -> list[SavedImage]:
    paths = save_all(results, folder, prefix)
    return [SavedImage(str(path), item.request, item.model) for path, item in zip(paths, results)]


def estimate_gpu_seconds(request: GenerationRequest) -> int:
    """A generous upper bound for ZeroGPU's `duration`: shorter requests get queue priority there."""
    megapixels = request.width * request.height / 2**20
    return int(min(300, math.ceil(15 + 0.6 * megapixels * request.steps * request.count)))
