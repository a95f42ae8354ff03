"""Pick the device and dtype. bfloat16 on GPUs, because Z-Image gives NaN (black images) in float16."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .config import on_zero_gpu

if TYPE_CHECKING:
    import torch

ALLOCATOR_ENV = "PYTORCH_CUDA_ALLOC_CONF"


def prefer_expandable_segments() -> None:
    """Ask PyTorch's CUDA allocator for expandable segments unless the user set their own allocator options.

    The H200's full mode reserved 2.8 GiB more than it had allocated (docs/benchmarks.md): fixed-size segments
    that requests of changing sizes fragment. Expandable segments grow in place, which the 16 GB "stream" mode's
    15 GiB reserved target needs most (PyTorch's and diffusers' advice for memory-bound runs). Read when CUDA first
    allocates, so call it before that. Not on ZeroGPU, whose workers get their weights from spaces' own packing.
    """
    if not on_zero_gpu() and allocator_settings() == "":
        os.environ[ALLOCATOR_ENV] = "expandable_segments:True"


def allocator_settings() -> str:
    """The CUDA allocator options in force: PYTORCH_ALLOC_CONF (the newer name, which wins), else the older one."""
    return os.environ.get("PYTORCH_ALLOC_CONF") or os.environ.get(ALLOCATOR_ENV, "")


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
