"""Speed and memory levers for the Z-Image pipeline, one small function each, switched on by the caller.

Every lever checks what this machine and its installed packages allow first. When a lever cannot apply
(no CUDA, no torchao, ZeroGPU, an attention package missing) it logs one clear line and reports what it
did instead, so an optional speed-up never stops the app from starting.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from .config import MEMORY_MODES, on_zero_gpu
from .errors import ValidationError, unknown_choice

log = logging.getLogger(__name__)

NATIVE_BACKEND = "native"
AUTO = "auto"
# Backends that run without CUDA; diffusers checks their packages itself. Every other backend is a CUDA kernel.
_PORTABLE_BACKENDS = frozenset({"native", "_native_math", "flex", "_native_npu", "_native_xla"})

COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
_CUDA_GRAPH_MODES = frozenset({"reduce-overhead", "max-autotune"})
ZERO_GPU_ENV = "SPACES_ZERO_GPU"

FP8_MIN_CAPABILITY = (8, 9)  # Ada and Hopper are the first GPUs with fp8 tensor cores.
# Small, precision-sensitive layers at the edges of the model; diffusers also keeps the first two in full
# precision for layerwise casting. fp8 would save little there and cost quality.
_FP8_SKIP_PREFIXES = ("t_embedder", "cap_embedder", "all_x_embedder", "all_final_layer")

GIB = 1024**3
FULL_MIN_FREE_GIB = 24  # bf16 weights are about 20.5 GiB (transformer 12.3, text encoder 8, VAE 0.2).
OFFLOAD_MIN_FREE_GIB = 10  # model offload peaks near the transformer's 12.3 GiB; below 10 only streaming fits.


# --- Attention backend -------------------------------------------------------------------------------------


def attention_backend_names() -> list[str]:
    """All names diffusers accepts, plus "auto"."""
    from diffusers.models.attention_dispatch import AttentionBackendName

    return [AUTO] + sorted(member.value for member in AttentionBackendName)


def set_attention_backend(transformer: Any, name: str) -> str:
    """Switch the transformer's attention kernel and return the backend actually in use.

    "auto" picks the fastest kernel this hardware has (FA3 on Hopper, FlashAttention 2 on Ampere or later,
    else PyTorch SDPA). A named backend whose requirements fail falls back to "native" with a warning.
    An unknown name raises ValidationError listing the valid ones.
    """
    wanted = str(name).strip().lower()
    valid = attention_backend_names()
    if wanted not in valid:
        raise unknown_choice("attention backend", name, valid, code="unknown_attention_backend")
    if wanted == AUTO:
        return _set_best_backend(transformer)
    problem = _try_backend(transformer, wanted)
    if problem is None:
        return wanted
    log.warning("Attention backend %r is unavailable (%s); using %r instead.", wanted, problem, NATIVE_BACKEND)
    transformer.set_attention_backend(NATIVE_BACKEND)
    return NATIVE_BACKEND


def _auto_candidates() -> list[str]:
    """Flash kernels worth trying on this GPU, fastest first; FA3 is built for Hopper (sm90) only."""
    if not torch.cuda.is_available():
        return []
    major, _ = torch.cuda.get_device_capability()
    return (["_flash_3"] if major == 9 else []) + (["flash"] if major >= 8 else [])


def _set_best_backend(transformer: Any) -> str:
    for candidate in _auto_candidates():
        problem = _try_backend(transformer, candidate)
        if problem is None:
            log.info("Attention backend: %s (auto).", candidate)
            return candidate
        log.info("Attention backend %r skipped by auto: %s", candidate, problem)
    transformer.set_attention_backend(NATIVE_BACKEND)
    log.info("Attention backend: %s (auto).", NATIVE_BACKEND)
    return NATIVE_BACKEND


def _try_backend(transformer: Any, name: str) -> str | None:
    """Set `name`; return None on success, else why it failed. diffusers raises when a package is missing."""
    if name not in _PORTABLE_BACKENDS and not torch.cuda.is_available():
        return "it needs a CUDA GPU"
    try:
        transformer.set_attention_backend(name)
    except (RuntimeError, ImportError, ValueError, OSError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


# --- torch.compile -----------------------------------------------------------------------------------------



def compile_repeated_blocks(transformer: Any, mode: str | None = None) -> bool:
    """Regionally compile the transformer's repeated blocks with torch.compile(fullgraph=True).

    Compiling the one block class that repeats 34 times gives nearly the full-model speed-up at a fraction
    of the compile time. `mode` is passed to torch.compile ("reduce-overhead" adds CUDA graphs). Compilation
    is lazy: the first generation pays for it, so call `warm_up` afterwards. Returns False, with a log line,
    where torch.compile cannot work.
    """
    if mode not in COMPILE_MODES:
        raise ValidationError(
            f"Unknown compile mode {mode!r}. Valid: {', '.join(str(m) for m in COMPILE_MODES)}.",
            code="unknown_compile_mode",
            value=str(mode),
        )
    problem = compile_unavailable_reason()
    if problem:
        log.warning("torch.compile skipped: %s.", problem)
        return False
    if mode in _CUDA_GRAPH_MODES and not torch.cuda.is_available():
        log.info("Compile mode %r needs CUDA graphs; compiling with the default mode instead.", mode)
        mode = None
    try:
        transformer.compile_repeated_blocks(fullgraph=True, mode=mode)
    except (RuntimeError, ValueError) as exc:
        log.warning("torch.compile skipped: %s", exc)
        return False
    log.info("Compiled the repeated transformer blocks (mode=%s).", mode or "default")
    return True


def compile_unavailable_reason() -> str | None:
    """Why torch.compile cannot run here, or None when it can."""
    if on_zero_gpu():
        return f"ZeroGPU ({ZERO_GPU_ENV} is set) does not support it"
    if not torch._dynamo.is_dynamo_supported():
        return "TorchDynamo does not support this Python build"
    if torch.cuda.is_available():
        from torch.utils._triton import has_triton

        if not has_triton():
            return "Triton, which inductor needs on CUDA, is not installed"
    return None


# --- fp8 weights -------------------------------------------------------------------------------------------


def quantize_fp8(transformer: Any) -> bool:
    """Quantize the transformer's linear layers to fp8 (dynamic activations, fp8 weights) with torchao.

    Halves the transformer's weight memory and, with torch.compile, speeds up the matmuls. Needs a CUDA GPU
    of compute capability 8.9 or more and the `torchao` package; otherwise returns False with a log line.
    The change is in place and cannot be undone.
    """
    problem = fp8_unavailable_reason()
    if problem:
        log.warning("fp8 quantization skipped: %s.", problem)
        return False
    try:
        from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, quantize_

        quantize_(transformer, Float8DynamicActivationFloat8WeightConfig(), filter_fn=_fp8_filter)
    except Exception as exc:  # old torchao lacks the config; errors vary by version. Never stop the app.
        log.warning("fp8 quantization failed: %s", exc)
        return False
    log.info("Quantized the transformer's linear layers to fp8 with torchao.")
    return True


def fp8_unavailable_reason() -> str | None:
    """Why fp8 quantization cannot run here, or None when it can."""
    if not torch.cuda.is_available():
        return "it needs a CUDA GPU"
    capability = torch.cuda.get_device_capability()
    if capability < FP8_MIN_CAPABILITY:
        return f"the GPU's compute capability {capability[0]}.{capability[1]} is below 8.9"
    try:
        import torchao  # noqa: F401
    except ImportError:
        return "torchao is not installed (pip install torchao)"
    return None


def _fp8_filter(module: torch.nn.Module, fqn: str) -> bool:
    """Quantize only the big linears inside the blocks; fp8 kernels need dimensions divisible by 16."""
    if not isinstance(module, torch.nn.Linear) or fqn.startswith(_FP8_SKIP_PREFIXES):
        return False
    return module.in_features % 16 == 0 and module.out_features % 16 == 0


# --- Memory placement --------------------------------------------------------------------------------------


def apply_memory_mode(pipe: Any, mode: str, device: str | torch.device) -> str:
    """Place the pipeline on `device` in one of MEMORY_MODES; return the mode actually used.

    "full" keeps every model on the device; "offload" moves whole models there one at a time; "sequential"
    streams layer by layer (about 2 GiB, slow); "auto" picks by free VRAM. Offloading needs an accelerator,
    so on the CPU every mode is "full". Offload modes also tile the VAE decode, which otherwise runs out of
    memory at large sizes (a known failure with model offload).
    """
    wanted = str(mode).strip().lower()
    if wanted not in MEMORY_MODES:
        raise unknown_choice("memory mode", mode, MEMORY_MODES, code="unknown_memory_mode")
    target = torch.device(device)
    chosen = choose_memory_mode(target) if wanted == AUTO else wanted
    if chosen != "full" and target.type == "cpu":
        log.warning("Memory mode %r needs a GPU; on the CPU the models stay in memory ('full').", chosen)
        chosen = "full"
    if chosen == "full":
        pipe.to(target)
    elif chosen == "offload":
        pipe.enable_model_cpu_offload(device=target)
    else:
        pipe.enable_sequential_cpu_offload(device=target)
    if chosen != "full":
        pipe.vae.enable_tiling()
    log.info("Memory mode: %s on %s.", chosen, target)
    return chosen


def choose_memory_mode(device: str | torch.device) -> str:
    """The "auto" choice: by free VRAM on CUDA, "full" everywhere else (CPU and MPS share system memory)."""
    target = torch.device(device)
    if target.type != "cuda" or not torch.cuda.is_available():
        return "full"
    free_bytes, _ = torch.cuda.mem_get_info(target)
    free_gib = free_bytes / GIB
    mode = "full" if free_gib >= FULL_MIN_FREE_GIB else "offload" if free_gib >= OFFLOAD_MIN_FREE_GIB else "sequential"
    log.info("%.1f GiB of VRAM free: memory mode %s.", free_gib, mode)
    return mode


# --- Warm-up -----------------------------------------------------------------------------------------------


def warm_up(pipe: Any, device: str | torch.device, *, height: int = 256, width: int = 256, steps: int = 2,
            count: int = 1) -> float:
    """Run one throwaway generation so compilation and cuDNN autotuning happen now, not for the first user.

    Use the size and count users will ask for when the transformer is compiled: a new shape recompiles.
    Returns the seconds it took.
    """
    target = torch.device(device)
    started = time.perf_counter()
    pipe(
        prompt="warm-up",
        height=height,
        width=width,
        num_inference_steps=steps,
        guidance_scale=0.0,
        num_images_per_prompt=count,
        generator=torch.Generator("cpu").manual_seed(0),
        output_type="pil",
    )
    if target.type == "cuda":
        torch.cuda.synchronize(target)
    seconds = time.perf_counter() - started
    log.info("Warm-up (%dx%d, %d steps, %d image(s)) took %.2f s.", width, height, steps, count, seconds)
    return seconds
