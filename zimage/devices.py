"""Pick the device and dtype. bfloat16 on GPUs, because Z-Image gives NaN (black images) in float16."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(device: str, requested: str = "auto") -> "torch.dtype":
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    return torch.float32 if device == "cpu" else torch.bfloat16


def free_memory() -> None:
    """Return cached GPU memory after a failure, so the next request starts clean."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
