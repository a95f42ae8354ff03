"""Where the models live (memory modes), with "auto" thresholds derived from the loaded components' sizes.

The thresholds are not fixed numbers: they are the bytes of the weights actually loaded, in their dtype (bf16
Z-Image: transformer 11.5 GiB, text encoder 7.5 GiB, VAE 0.2 GiB; float32 doubles all of it; fp8 halves the
transformer's big linears), plus room for activations and the VAE decode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .config import MEMORY_MODES, on_zero_gpu
from .errors import unknown_choice

log = logging.getLogger(__name__)

AUTO = "auto"
GIB = 1024**3
# Working memory beyond the weights at 1024x1024: activations of the transformer and the VAE decode, and what
# the CUDA context and allocator keep. "full" decodes untiled; the offload modes tile the VAE (see place()).
FULL_HEADROOM_GIB = 3.0
OFFLOAD_HEADROOM_GIB = 2.0
MODELS = ("transformer", "text_encoder", "vae")


@dataclass(frozen=True)
class Footprint:
    """Bytes of each model's weights as they will sit on the GPU."""

    sizes: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.sizes.values())

    @property
    def largest(self) -> int:
        return max(self.sizes.values(), default=0)

    def full_needs(self) -> float:
        """GiB of free VRAM for "full": every model resident, plus headroom."""
        return self.total / GIB + FULL_HEADROOM_GIB

    def offload_needs(self) -> float:
        """GiB of free VRAM for "offload": one model at a time (the largest decides), plus headroom."""
        return self.largest / GIB + OFFLOAD_HEADROOM_GIB


def module_bytes(module: torch.nn.Module, shrink: Callable[[str, torch.nn.Module], float] | None = None) -> int:
    """Bytes of a module's parameters and buffers; `shrink(name, submodule)` scales a submodule's own weights."""
    total, seen = 0, set()
    for name, sub in module.named_modules():
        factor = shrink(name, sub) if shrink else 1.0
        own = [t for t in (*sub.parameters(recurse=False), *sub.buffers(recurse=False)) if id(t) not in seen]
        seen.update(id(t) for t in own)  # tied weights (a causal LM's embeddings and head) count once
        total += int(factor * sum(t.numel() * t.element_size() for t in own))
    return total


def footprint(pipe: Any, fp8_filter: Callable[[torch.nn.Module, str], bool] | None = None) -> Footprint:
    """The pipeline's weight bytes per model; with `fp8_filter`, the linears it selects count one byte a weight."""

    def fp8_shrink(name: str, sub: torch.nn.Module) -> float:
        if fp8_filter is None or not fp8_filter(sub, name):
            return 1.0
        return 1.0 / sub.weight.element_size()

    sizes = {}
    for name in MODELS:
        model = getattr(pipe, name, None)
        if isinstance(model, torch.nn.Module):
            sizes[name] = module_bytes(model, fp8_shrink if name == "transformer" else None)
    return Footprint(sizes)


def choose_memory_mode(device: str | torch.device, needs: Footprint) -> str:
    """The "auto" choice: by free VRAM against `needs` on CUDA; "full" on ZeroGPU and where CPU and GPU share
    memory (CPU, MPS)."""
    target = torch.device(device)
    if on_zero_gpu():
        return "full"  # the main process only emulates CUDA; spaces moves every weight into the worker's GPU
    if target.type != "cuda" or not torch.cuda.is_available():
        return "full"
    free_gib = torch.cuda.mem_get_info(target)[0] / GIB
    if free_gib >= needs.full_needs():
        mode = "full"
    elif free_gib >= needs.offload_needs():
        mode = "offload"
    else:
        mode = "sequential"
    log.info("%.1f GiB of VRAM free; full needs %.1f, offload %.1f: memory mode %s.", free_gib,
             needs.full_needs(), needs.offload_needs(), mode)
    return mode


def resolve_memory_mode(mode: str, device: str | torch.device, needs: Footprint) -> str:
    """Check `mode` and turn "auto" (and any offload mode on the CPU) into the mode that will be used."""
    wanted = str(mode).strip().lower()
    if wanted not in MEMORY_MODES:
        raise unknown_choice("memory mode", mode, MEMORY_MODES, code="unknown_memory_mode")
    chosen = choose_memory_mode(device, needs) if wanted == AUTO else wanted
    if chosen != "full" and torch.device(device).type == "cpu":
        log.warning("Memory mode %r needs a GPU; on the CPU the models stay in memory ('full').", chosen)
        chosen = "full"
    return chosen


def place(pipe: Any, mode: str, device: str | torch.device) -> None:
    """Put the pipeline in a resolved memory mode. Offload modes also tile the VAE decode, which otherwise runs
    out of memory at large sizes (a known failure with model offload)."""
    target = torch.device(device)
    if mode == "full":
        pipe.to(target)
    elif mode == "offload":
        pipe.enable_model_cpu_offload(device=target)
    else:
        pipe.enable_sequential_cpu_offload(device=target)
    if mode != "full":
        pipe.vae.enable_tiling()
    log.info("Memory mode: %s on %s.", mode, target)


def apply_memory_mode(pipe: Any, mode: str, device: str | torch.device) -> str:
    """Resolve and apply a memory mode from the pipeline's own sizes; return the mode used."""
    chosen = resolve_memory_mode(mode, device, footprint(pipe))
    place(pipe, chosen, device)
    return chosen
