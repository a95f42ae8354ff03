"""The transformer's attention kernel: named backends, "auto", and a mask-aware fallback for flash kernels.

Flash kernels (FlashAttention 2/3, their hub builds, sage) raise on an attention mask. Z-Image builds a mask only
when the sequences of a batch differ in length (prompts of different token counts in one batch); the app's
batches repeat one prompt, so the fast kernel serves them, and a masked call takes PyTorch SDPA instead of
failing. The choice between the two is a static `mask is None` branch, so torch.compile guards on it cleanly.
"""

from __future__ import annotations

import copy
import logging
import weakref
from typing import Any, Callable

import torch

from .errors import exception_summary, unknown_choice

log = logging.getLogger(__name__)

NATIVE_BACKEND = "native"
AUTO = "auto"
# Backends that run without CUDA; diffusers checks their packages itself. Every other backend is a CUDA kernel.
_PORTABLE_BACKENDS = frozenset({"native", "_native_math", "flex", "_native_npu", "_native_xla"})
# Backends that accept an attention mask; every other one is wrapped so masked calls take NATIVE_BACKEND.
_MASK_BACKENDS = frozenset({"native", "_native_math", "_native_efficient", "_native_npu", "_native_xla", "flex",
                            "xformers"})
_FALLBACK = "_zimage_attention_fallback"  # on the transformer: why a fast kernel was given up at a request


def attention_backend_names() -> list[str]:
    """All names diffusers accepts, plus "auto"."""
    from diffusers.models.attention_dispatch import AttentionBackendName

    return [AUTO] + sorted(member.value for member in AttentionBackendName)


def auto_candidates() -> list[str]:
    """Kernels worth trying on this GPU, fastest first.

    FA3 is built for Hopper (sm90) only: a source build, then the hub kernel through the `kernels` package.
    FlashAttention 2 needs Ampere or later. cuDNN attention (`_native_cudnn`) is not tried: on the lent H200 it
    was slower than PyTorch's own SDPA (1.42 s against 1.35 s a 1024x1024 image, docs/benchmarks.md), which
    "auto" then falls back to. It stays available by name.
    """
    if not torch.cuda.is_available():
        return []
    major, _ = torch.cuda.get_device_capability()
    hopper = ["_flash_3", "_flash_3_hub"] if major == 9 else []
    ampere = ["flash"] if major >= 8 else []
    return hopper + ampere


def set_attention_backend(transformer: Any, name: str) -> str:
    """Switch the transformer's attention kernel and return the backend actually in use.

    "auto" tries `auto_candidates()` in order and keeps the first that works, else "native". A named backend
    whose requirements fail falls back to "native" with a warning. An unknown name raises ValidationError
    listing the valid ones.
    """
    wanted = str(name).strip().lower()
    valid = attention_backend_names()
    if wanted not in valid:
        raise unknown_choice("attention backend", name, valid, code="unknown_attention_backend")
    candidates = auto_candidates() if wanted == AUTO else [wanted]
    for candidate in candidates:
        problem = _try_backend(transformer, candidate)
        if problem is None:
            log.info("Attention backend: %s%s.", candidate, " (auto)" if wanted == AUTO else "")
            return candidate
        level = logging.INFO if wanted == AUTO else logging.WARNING
        log.log(level, "Attention backend %r is unavailable (%s); using %r instead.", candidate, problem,
                NATIVE_BACKEND)
    _try_backend(transformer, NATIVE_BACKEND)
    return NATIVE_BACKEND


def _try_backend(transformer: Any, name: str) -> str | None:
    """Set `name`; return None on success, else why it failed. diffusers raises when a package is missing."""
    if name not in _PORTABLE_BACKENDS and not torch.cuda.is_available():
        return "it needs a CUDA GPU"
    unwrap_processors(transformer)
    try:
        transformer.set_attention_backend(name)
    except Exception as exc:  # noqa: BLE001 - missing package, no hub access, old GPU: all mean "not here"
        text = str(exc).strip()
        return text.splitlines()[0][:200] if text else type(exc).__name__
    if name not in _MASK_BACKENDS:
        wrap_processors(transformer, NATIVE_BACKEND)
    return None


class MaskAwareProcessor:
    """Runs the fast processor when there is no attention mask and the mask-capable copy when there is one."""

    def __init__(self, fast: Any, masked_backend: str, on_fallback: Callable[[str], None] | None = None) -> None:
        from diffusers.models.attention_dispatch import AttentionBackendName

        self.fast = fast
        self.masked = copy.copy(fast)
        self.masked._attention_backend = AttentionBackendName(masked_backend)
        self.on_fallback = on_fallback

    # diffusers' Attention passes only the keywords this signature names, so it mirrors Z-Image's processor.
    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, freqs_cis: torch.Tensor | None = None) -> torch.Tensor:
        inputs = dict(encoder_hidden_states=encoder_hidden_states, attention_mask=attention_mask, freqs_cis=freqs_cis)
        if attention_mask is not None:
            return self.masked(attn, hidden_states, **inputs)
        if torch.compiler.is_compiling():  # a compiled graph fails at warm-up, where speed.apply falls back
            return self.fast(attn, hidden_states, **inputs)
        try:
            return self.fast(attn, hidden_states, **inputs)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - a kernel diffusers accepted but this GPU cannot run (no warm-up
            # on ZeroGPU to find out first): this layer takes the mask-capable kernel from now on
            fast, masked = getattr(self.fast, "_attention_backend", "?"), self.masked._attention_backend
            log.exception("Attention kernel %s failed; this layer uses %s from now on", fast, masked)
            self.fast = self.masked
            if self.on_fallback is not None:
                self.on_fallback(f"attention kernel {getattr(fast, 'value', fast)} failed when first run, using "
                                 f"{getattr(masked, 'value', masked)}: {exception_summary(exc)}")
            return self.masked(attn, hidden_states, **inputs)


def wrap_processors(transformer: Any, masked_backend: str) -> int:
    """Wrap every attention processor in MaskAwareProcessor; returns how many were wrapped. A layer whose fast
    kernel fails records why on the transformer, for `fallback_note`."""
    owner = weakref.ref(transformer)  # the processors live inside the transformer: no cycle through them

    def record(note: str) -> None:
        if (module := owner()) is not None:
            setattr(module, _FALLBACK, note)

    count = 0
    for module in attention_modules(transformer):
        if not isinstance(module.processor, MaskAwareProcessor):
            module.processor = MaskAwareProcessor(module.processor, masked_backend, record)
            count += 1
    return count


def fallback_note(transformer: Any) -> str:
    """Why attention layers left their fast kernel at a request (the status line and the images' metadata), or ""."""
    return str(getattr(transformer, _FALLBACK, ""))


def unwrap_processors(transformer: Any) -> None:
    """Undo wrap_processors, so diffusers' set_attention_backend reaches the real processors again."""
    vars(transformer).pop(_FALLBACK, None)
    for module in attention_modules(transformer):
        if isinstance(module.processor, MaskAwareProcessor):
            module.processor = module.processor.fast


def attention_modules(transformer: Any) -> list[Any]:
    """The transformer's attention layers: the modules that hold a processor."""
    return [module for module in transformer.modules() if hasattr(module, "processor")
            and hasattr(module, "set_processor")]
