"""Long text-encoder decodes in the "stream" memory mode, with the text encoder resident for their duration.

"stream" keeps the text encoder in pinned CPU memory and streams its layers through the GPU at each call. A prompt
encode is one call; a decode calls it once per token, so each token would move all 7.5 GiB (Qwen3-4B in bf16):
about 0.35 s a token on PCIe 4 x16, and twice that on x8 cards, so a 300-token enhanced prompt would take minutes
and hit the enhancer's time limit mid-sentence. For such a decode the layers are copied to the GPU once and the
offload hooks pause; the transformer steps aside to the CPU if the GPU lacks room for both (a 16 GB card in bf16
does; with fp8 weights both fit). Afterwards the hooks point the layers at their pinned copies again (no copy back:
the weights did not change) and the transformer returns. That step aside moves 11.5 GiB out and back through
pageable memory: about 10-20 s at the 1.4 GB/s the offload row implies (docs/benchmarks.md), against one to
three minutes of streaming for 300 tokens. The safety filter's short verdict keeps streaming: for a few tokens
the moves would cost more than they save. By arithmetic, not measured on a GPU yet.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Iterator

import torch

from .devices import free_memory
from .memory import GIB, is_streamed, module_bytes

log = logging.getLogger(__name__)

# Below this many new tokens a decode streams: moving 7.5 GiB in and the transformer out and back (seconds) would
# cost more than streaming a short answer (the safety verdict: 10 tokens).
MIN_TOKENS = 32
# Working room a decode needs beside the resident text encoder: its KV cache and activations (a few hundred MiB
# for a 1k-token prompt at Qwen3-4B's width), with margin for the allocator.
DECODE_ROOM_GIB = 1.0
FITS, MOVED = "fits", "transformer moved"


@contextlib.contextmanager
def text_encoder_resident(pipe: Any, max_new_tokens: int) -> Iterator[None]:
    """Within the block, the pipeline's group-offloaded text encoder stays on the GPU; elsewhere, nothing happens."""
    encoder = getattr(pipe, "text_encoder", None)
    if encoder is None or max_new_tokens < MIN_TOKENS or not is_streamed(encoder):
        yield
        return
    groups = _offload_groups(encoder)
    device = groups[0].onload_device
    started = time.perf_counter()
    room: str | None = None
    try:
        room = _room(pipe, device, module_bytes(encoder))
        if room is None:
            yield
            return
        for group in groups:
            group.onload_()
        _synchronize(device)
        for group in groups:  # instance attributes shadow the methods the hooks call
            group.onload_ = group.offload_ = _nothing
        log.info("Text encoder resident for a decode (%.1f s to set up%s).", time.perf_counter() - started,
                 ", the transformer on the CPU meanwhile" if room == MOVED else "")
        yield
    finally:
        if room is not None:
            _restore(pipe, groups, device, transformer_back=room == MOVED)


def _restore(pipe: Any, groups: list[Any], device: torch.device, transformer_back: bool) -> None:
    """Point every layer at its pinned copy again and bring the transformer back, whatever fails on the way: a
    layer left resident would only waste memory, the transformer left on the CPU would fail every request."""
    try:
        for group in groups:
            vars(group).pop("onload_", None)
            vars(group).pop("offload_", None)
        for group in groups:
            group.offload_()
    finally:
        free_memory()
        if transformer_back:
            pipe.transformer.to(device)


def _offload_groups(encoder: torch.nn.Module) -> list[Any]:
    """The text encoder's offload groups (one per leaf layer in "stream"), each once."""
    groups: dict[int, Any] = {}
    for module in encoder.modules():
        registry = getattr(module, "_diffusers_hook", None)
        hook = registry.get_hook("group_offloading") if registry is not None else None
        if hook is not None:
            groups.setdefault(id(hook.group), hook.group)
    return list(groups.values())


def _room(pipe: Any, device: torch.device, encoder_bytes: int) -> str | None:
    """Make room on the GPU for the text encoder and a decode beside it: FITS as it is, MOVED (the transformer to
    the CPU, for the decode), or None where the transformer must stay (fp8 weights: torchao's tensors are not
    moved back and forth here) and the decode streams as before."""
    from .speed import is_fp8

    if torch.device(device).type != "cuda":
        return FITS
    free_memory()  # what PyTorch caches from the last image is free for this too; the driver counts it as used
    if torch.cuda.mem_get_info(device)[0] >= encoder_bytes + DECODE_ROOM_GIB * GIB:
        return FITS
    if is_fp8(pipe.transformer):
        log.info("No room to keep the text encoder resident beside the fp8 transformer; the decode streams.")
        return None
    pipe.transformer.to("cpu")
    free_memory()
    return MOVED


def _synchronize(device: torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _nothing() -> None:
    """Stands in for a paused offload group's onload_ and offload_."""
