"""The dtype on the CPU: one the model fits in, and the faster one where the CPU has bfloat16 instructions.

float32 was the CPU default (exact, and every CPU has fast float32 kernels), but Z-Image-Turbo's 10.26 B parameters
take 38.2 GiB in float32: more than most laptops have, and Linux's out-of-memory killer ends the app mid-load
without a word. bfloat16, the dtype the weights are stored in and the one GPUs run, halves that to 19.1 GiB. On a
CPU with AVX512-BF16 or AMX it is also about twice as fast (bench.cpu_dtype: one transformer pass at 1024x1024 took
0.53x the float32 time), so there `auto` takes it outright. Elsewhere `auto` takes float32 where it fits in the
memory available and bfloat16 where only that fits. The model status says which and why. An explicit dtype is
kept, with a warning in the log when it will not fit.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .config import GIB, HUB_MODEL_ID, PIPELINE_MODELS

log = logging.getLogger(__name__)

HUB_MODEL_PARAMETERS = 10_261_196_515  # transformer 6.15 B + Qwen3-4B text encoder 4.02 B + VAE 84 M
# Beyond the weights: the process itself (Python, torch, gradio) and a 1024x1024 run's activations in float32,
# the VAE decode's largest (128 channels at full size: 0.5 GiB a tensor).
HEADROOM_GIB = 4.0
BYTES_PER_PARAMETER = {"float32": 4, "bfloat16": 2, "float16": 2}
VARIANT = re.compile(r"\.(fp16|bf16|fp32|fp8)[.-]")


FAST_BFLOAT16, FLOAT32_TOO_BIG = "fast_bfloat16", "float32_too_big"  # why: keys of assets/i18n's "dtype_…" texts


@dataclass(frozen=True)
class DtypeChoice:
    dtype: str
    reason: str = ""  # FAST_BFLOAT16 or FLOAT32_TOO_BIG when the choice is not the usual one, for the status line
    float32_needs_gib: float = 0.0
    available_gib: float = 0.0


def parameter_count(folder: str | Path | None, model_id: str) -> int | None:
    """Parameters of the three models, from the safetensors headers in `folder` (nothing is loaded), or the
    official model's count before it is downloaded; None when neither is known."""
    files = [path for name in PIPELINE_MODELS for path in _weight_files(Path(folder) / name)] if folder else []
    if files:
        return sum(_tensor_elements(path) for path in files)
    return HUB_MODEL_PARAMETERS if model_id == HUB_MODEL_ID else None


def _weight_files(folder: Path) -> list[Path]:
    """The safetensors files diffusers loads by default: a folder may also hold variants ("model.fp16.safetensors",
    "…fp16-00001-of-00002…"), which are the same weights again."""
    files = sorted(folder.glob("*.safetensors"))
    plain = [path for path in files if not VARIANT.search(path.name)]
    return plain or files


def _tensor_elements(path: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as weights:
        return sum(math.prod(weights.get_slice(key).get_shape()) for key in weights.keys())


def available_bytes() -> int | None:
    """Memory the app can still take: Linux's MemAvailable, capped by the container's own limit (a Space, Docker
    or Kubernetes shows the host's memory in /proc/meminfo); elsewhere the machine's physical memory."""
    meminfo = _meminfo_available()
    limit = _cgroup_room()
    if meminfo is None:
        meminfo = _physical_memory()
    return min((room for room in (meminfo, limit) if room is not None), default=None)


def _meminfo_available(path: Path = Path("/proc/meminfo")) -> int | None:
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


CGROUP_FILES = ((Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")),  # cgroup v2
                (Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
                 Path("/sys/fs/cgroup/memory/memory.usage_in_bytes")))  # cgroup v1


def _cgroup_room(files: tuple[tuple[Path, Path], ...] = CGROUP_FILES) -> int | None:
    """The container's memory limit minus what it already uses; None without a limit ("max", or v1's huge
    "unlimited" number)."""
    for limit_file, usage_file in files:
        try:
            limit_text, usage = limit_file.read_text().strip(), int(usage_file.read_text().strip())
        except (OSError, ValueError):
            continue
        if limit_text == "max" or int(limit_text) >= 2**60:
            return None
        return max(int(limit_text) - usage, 0)
    return None


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def needed_bytes(parameters: int, dtype: str) -> int:
    return parameters * BYTES_PER_PARAMETER.get(dtype, 4) + int(HEADROOM_GIB * GIB)


def cpu_dtype(requested: str, parameters: int | None, available: int | None,
              fast_bfloat16: bool = False) -> DtypeChoice:
    """The dtype for a CPU run: `requested`, or for "auto" bfloat16 where the CPU runs it fast, else float32 where
    it fits in `available`, else bfloat16."""
    if requested != "auto":
        _warn_if_short(requested, parameters, available)
        return DtypeChoice(requested)
    if fast_bfloat16:
        _warn_if_short("bfloat16", parameters, available)
        return DtypeChoice("bfloat16", FAST_BFLOAT16)
    if parameters is None or available is None or needed_bytes(parameters, "float32") <= available:
        return DtypeChoice("float32")
    _warn_if_short("bfloat16", parameters, available)
    return DtypeChoice("bfloat16", FLOAT32_TOO_BIG, _gib(needed_bytes(parameters, "float32")), _gib(available))


def has_fast_bfloat16() -> bool:
    """Whether this CPU has bfloat16 matmul instructions (AVX512-BF16 or AMX), as PyTorch's own checks say."""
    import torch

    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(check() for check in checks if check is not None)


def _warn_if_short(dtype: str, parameters: int | None, available: int | None) -> None:
    if parameters is None or available is None:
        return
    needed = needed_bytes(parameters, dtype)
    if needed > available:
        log.warning("The model needs about %.1f GiB of memory in %s and %.1f GiB is available: expect heavy "
                    "swapping, or the system may stop the app while it loads.", _gib(needed), dtype, _gib(available))


def _gib(size: int) -> float:
    return round(size / GIB, 1)
