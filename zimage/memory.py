"""Where the models live (memory modes), with "auto" thresholds derived from the loaded components' sizes.

The modes, fastest first: "full" (everything on the GPU), "stream" (transformer and VAE on the GPU; the text
encoder stays in pinned CPU memory and streams through the GPU layer by layer at each prompt, with diffusers' group
offloading overlapping the copies with compute), "offload" (diffusers' model CPU offload: whole models move at
each request) and "sequential" (one layer at a time; slowest, smallest).

The thresholds are not fixed numbers: they are the bytes of the weights actually loaded, in their dtype (bf16
Z-Image: transformer 11.5 GiB, text encoder 7.5 GiB, VAE 0.2 GiB; float32 doubles all of it; fp8 halves the
transformer's big linears), plus room for activations and the VAE decode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .config import AUTO_MEMORY, GIB, MEMORY_MODES, PIPELINE_MODELS, on_zero_gpu
from .errors import unknown_choice

log = logging.getLogger(__name__)

# Working memory beyond the weights at 1024x1024: activations of the transformer and the VAE decode, and what
# the CUDA context and allocator keep. "full" decodes untiled; the offload modes tile the VAE (see place()).
FULL_HEADROOM_GIB = 3.0
OFFLOAD_HEADROOM_GIB = 2.0


@dataclass(frozen=True)
class Footprint:
    """Bytes of each model's weights as they will sit on the GPU."""

    sizes: dict[str, int]
    # The largest piece of the text encoder that "stream" puts on the GPU at once: one layer (a Linear, the
    # embedding table, a norm). For Qwen3-4B that is the 0.72 GiB embedding table (tied to the LM head).
    streamed_group: int = 0

    @property
    def total(self) -> int:
        return sum(self.sizes.values())

    @property
    def largest(self) -> int:
        return max(self.sizes.values(), default=0)

    def full_needs(self) -> float:
        """GiB of free VRAM for "full": every model resident, plus headroom."""
        return self.total / GIB + FULL_HEADROOM_GIB

    def stream_needs(self) -> float:
        """GiB of free VRAM for "stream": transformer and VAE resident, two streamed pieces of the text encoder
        (the one running and the next one, prefetched while it runs), plus the offload modes' headroom."""
        resident = self.sizes.get("transformer", 0) + self.sizes.get("vae", 0)
        return (resident + 2 * self.streamed_group) / GIB + OFFLOAD_HEADROOM_GIB

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
    for name in PIPELINE_MODELS:
        model = getattr(pipe, name, None)
        if isinstance(model, torch.nn.Module):
            sizes[name] = module_bytes(model, fp8_shrink if name == "transformer" else None)
    text_encoder = getattr(pipe, "text_encoder", None)
    streamed = largest_own_bytes(text_encoder) if isinstance(text_encoder, torch.nn.Module) else 0
    return Footprint(sizes, streamed)


def largest_own_bytes(module: torch.nn.Module) -> int:
    """The largest parameters-and-buffers of any one submodule (not counting its children): the unit that
    leaf-level group offloading moves at once."""
    def own(sub: torch.nn.Module) -> int:
        tensors = (*sub.parameters(recurse=False), *sub.buffers(recurse=False))
        return sum(t.numel() * t.element_size() for t in tensors)

    return max((own(sub) for sub in module.modules()), default=0)


def choose_memory_mode(device: str | torch.device, needs: Footprint) -> str:
    """The "auto" choice: by free VRAM against `needs` on CUDA; "full" on ZeroGPU and where CPU and GPU share
    memory (CPU, MPS)."""
    target = torch.device(device)
    if on_zero_gpu():
        return "full"  # the main process only emulates CUDA; spaces moves every weight into the worker's GPU
    if target.type != "cuda" or not torch.cuda.is_available():
        return "full"
    free_gib = torch.cuda.mem_get_info(target)[0] / GIB
    # Fastest first; "offload" still matters where the transformer fits alone but not beside the VAE and the
    # streamed text encoder layers (a narrow band), and "sequential" where even the transformer does not fit.
    steps = (("full", needs.full_needs()), ("stream", needs.stream_needs()), ("offload", needs.offload_needs()))
    mode = next((name for name, gib in steps if free_gib >= gib), "sequential")
    log.info("%.1f GiB of VRAM free; full needs %.1f, stream %.1f, offload %.1f: memory mode %s.", free_gib,
             *(gib for _, gib in steps), mode)
    return mode


def resolve_memory_mode(mode: str, device: str | torch.device, needs: Footprint) -> str:
    """Check `mode` and turn "auto" (and any offload mode on the CPU) into the mode that will be used."""
    wanted = str(mode).strip().lower()
    if wanted not in MEMORY_MODES:
        raise unknown_choice("memory mode", mode, MEMORY_MODES, code="unknown_memory_mode")
    chosen = choose_memory_mode(device, needs) if wanted == AUTO_MEMORY else wanted
    if chosen != "full" and on_zero_gpu():
        # The main process only emulates CUDA: no streams, no pinned memory; spaces moves weights to the worker.
        log.warning("Memory mode %r does not apply on ZeroGPU; the models stay resident ('full').", chosen)
        chosen = "full"
    elif chosen != "full" and torch.device(device).type == "cpu":
        log.warning("Memory mode %r needs a GPU; on the CPU the models stay in memory ('full').", chosen)
        chosen = "full"
    return chosen


def place(pipe: Any, mode: str, device: str | torch.device) -> None:
    """Put the pipeline in a resolved memory mode. Every mode decodes a batch one image at a time (VAE slicing):
    the decode's working memory, about 1.9 GiB per 1024x1024 image in bf16, would otherwise grow with the image
    count and fail only after the whole denoise. Offload modes also tile the VAE decode, which otherwise runs out
    of memory at large sizes (a known failure with model offload)."""
    target = torch.device(device)
    if mode == "full":
        pipe.to(target)
    elif mode == "stream":
        stream_text_encoder(pipe, target)
    elif mode == "offload":
        pipe.enable_model_cpu_offload(device=target)
    else:
        pipe.enable_sequential_cpu_offload(device=target)
    pipe.vae.enable_slicing()
    if mode != "full":
        pipe.vae.enable_tiling()
    log.info("Memory mode: %s on %s.", mode, target)


def apply_memory_mode(pipe: Any, mode: str, device: str | torch.device) -> str:
    """Resolve and apply a memory mode from the pipeline's own sizes; return the mode used."""
    chosen = resolve_memory_mode(mode, device, footprint(pipe))
    place(pipe, chosen, device)
    return chosen


def stream_text_encoder(pipe: Any, device: torch.device) -> None:
    """The "stream" mode: transformer and VAE on `device`, the text encoder group-offloaded to the CPU.

    diffusers' `enable_group_offload` with `exclude_modules` does exactly this split. Leaf level, not block level:
    block level groups the decoder layers but puts the rest (the 0.72 GiB embedding table, norms) in one group
    that is copied synchronously from pageable memory at every call, and that group's offload after the decoder
    also moves the embedding weight tied to the causal LM's head, which then runs with its weight on the CPU
    (the enhancer and safety filter call the head). Leaf level gives every Linear and Embedding its own group,
    the head included, each copied from its own pinned copy on a side stream while the previous layer computes.
    Pinned up front (`low_cpu_mem_usage=False`): pinning per request would cost what the stream saves. Streams
    need CUDA; elsewhere (tests on the CPU, MPS) the same hooks copy synchronously.

    With streams, diffusers fixes the prefetch chain from the first call's layer order, so one prompt is encoded
    right away: prompt encodes skip the head (zimage.llm.skip_head_when_encoding), and a decode traced first
    would chain the head after the final norm, making every later encode prefetch the head's 0.72 GiB and leave
    it on the GPU. diffusers then warns that lm_head did not run; the head onloads itself when a decode calls it.
    """
    streams = device.type == "cuda"
    pipe.text_encoder.to("cpu")  # pinned copies are made from CPU weights; a GPU copy would linger beside them
    pipe.enable_group_offload(onload_device=device, offload_device=torch.device("cpu"), offload_type="leaf_level",
                              use_stream=streams, record_stream=streams, low_cpu_mem_usage=False,
                              exclude_modules=[name for name in PIPELINE_MODELS if name != "text_encoder"])
    if streams:
        with torch.inference_mode():
            pipe.encode_prompt("", device=device, do_classifier_free_guidance=False)
        # diffusers drops its layer trackers only from the layers that ran; the head's would then record every
        # later decode step into a list nothing reads, growing for the life of the process.
        _remove_hooks(pipe.text_encoder, ("layer_execution_tracker",))


def _remove_hooks(module: torch.nn.Module, names: tuple[str, ...]) -> None:
    """Remove diffusers hooks of these names from `module` and every submodule."""
    from diffusers.hooks import HookRegistry

    registry = HookRegistry.check_if_exists_or_initialize(module)
    for name in names:
        registry.remove_hook(name, recurse=True)


def is_streamed(module: torch.nn.Module) -> bool:
    """Whether `module` carries group offloading hooks (the "stream" mode's text encoder)."""
    from diffusers.hooks.group_offloading import _is_group_offload_enabled

    return _is_group_offload_enabled(module)


def unstream(module: torch.nn.Module) -> None:
    """Remove group offloading hooks from `module` (benchmarks switch modes on one pipeline); its weights stay on
    the CPU, in the pinned copies."""
    _remove_hooks(module, ("group_offloading", "layer_execution_tracker", "lazy_prefetch_group_offloading"))
