"""What is known about the loaded model: shown in the UI, written into PNGs, returned by the API."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, Mapping

from .speed_text import describe


@dataclass(frozen=True)
class ModelInfo:
    """Facts about one loaded pipeline. Frozen, so it can travel with every image it made."""

    model_id: str
    revision: str
    is_tiny: bool = False
    fallback_reason: str = ""
    device: str = "cpu"
    dtype: str = "float32"
    # Why the dtype is not the device's usual one (zimage.host_memory): "" or a reason with its figures.
    dtype_reason: str = ""
    float32_needs_gib: float = 0.0
    available_gib: float = 0.0
    memory_mode: str = "full"
    attention: str = "native"
    compiled: bool = False
    fp8: bool = False
    aoti: bool = False  # ZeroGPU's ahead-of-time compiled blocks
    real_rope: bool = False  # zimage.rope's real-valued rotary embedding, in the compiled blocks
    speed: str = ""  # what the speed levers did, and why any was skipped (English; speed_text() translates)
    speed_notes: str = ""  # the "why skipped" part of `speed`, kept apart so the rest can be translated
    load_seconds: float = 0.0
    model_hash: str = ""  # short SHA-256 of the weights, as A1111 and Civitai use to match models
    replica: str = ""  # which Ray Serve replica made the image (host, process); empty when run in this process

    def speed_text(self, lang: str) -> str:
        """`speed` in the reader's language."""
        return describe(self, self.speed_notes, lang)

    def levers_undone(self, note: str) -> "ModelInfo":
        """These facts after compiled blocks (torch.compile's or ZeroGPU's) were undone at a request, `note` saying
        why."""
        return replace(self, compiled=False, real_rope=False, aoti=False).with_note(note)

    def with_note(self, note: str) -> "ModelInfo":
        """These facts with one more note on what changed at a request (a kernel given up, say)."""
        noted = replace(self, speed_notes="; ".join(text for text in (self.speed_notes, note) if text))
        return replace(noted, speed=noted.speed_text("en"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelInfo":
        """Rebuild from a PNG's JSON chunk or a history entry; keys from older or newer versions are ignored."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        return cls(**{"model_id": "", "revision": "", **values})


@dataclass(frozen=True)
class ModelStatus:
    """Where loading stands, for the status line and the demo-mode banner."""

    state: Literal["loading", "ready", "failed"]
    info: ModelInfo | None = None
    error: str = ""
    expects_tiny: bool = False  # before loading finishes: whether the settings ask for the tiny model
    stage: str = ""  # while loading: one of zimage.model_loader.STAGES, once the load has got that far
    stage_seconds: float = 0.0  # how long the current stage has lasted
    retried: bool = True  # whether a failed load is retried at the next request (not on ZeroGPU: start-up only)

    @property
    def is_tiny(self) -> bool:
        return self.info.is_tiny if self.info is not None else self.expects_tiny
