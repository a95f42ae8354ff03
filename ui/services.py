"""What the handlers share: where generation runs, serving limits, the rate limiter, outputs and Stop."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from zimage.cancel import CancelTable
from zimage.config import AppSettings
from zimage.ratelimit import RateLimiter
from zimage.runner import Runner


@dataclass
class Services:
    runner: Runner
    app: AppSettings
    output_dir: Path
    limiter: RateLimiter = field(init=False)
    cancels: CancelTable = field(default_factory=CancelTable)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter.parse(self.app.rate_limit)


def client_id(request: gr.Request | None) -> str:
    """Rate limits apply per Hugging Face user where known, else per IP address."""
    if request is None:
        return "local"
    user = getattr(request, "username", None)
    return f"user:{user}" if user else f"ip:{getattr(request.client, 'host', 'unknown')}"


def session_id(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


@dataclass(frozen=True)
class StepProgress:
    """Reports denoising steps to Gradio's progress bar. A plain picklable value, so it can travel to a
    ZeroGPU worker, which forwards the updates back to the browser."""

    progress: gr.Progress

    def __call__(self, step: int, total: int) -> None:
        self.progress((step, total), desc="Denoising", unit="steps")
