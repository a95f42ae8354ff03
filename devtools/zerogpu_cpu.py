"""Run spaces' real ZeroGPU fork-and-worker path on a machine without CUDA, for tests.

With SPACES_ZERO_GPU=true, spaces (0.51.3) runs every `@spaces.GPU` call in a forked worker. Almost all of that
is plain Python and runs anywhere: the decorator and its wrappers (spaces/zero/wrappers.py), the device API
client, the fork, the argument and result queues, the error path that keeps only `gr.Error`, worker reuse and
the release. Three pieces need CUDA, and `install()` replaces exactly those, before `spaces` is imported:

1. Import: spaces/zero/torch/static.py reads `torch.version.cuda`, which a CPU-only torch leaves as None, to
   pick the layout of its fake memory statistics. `install()` shows it a CUDA version while spaces imports,
   then puts None back, so nothing else in the process believes torch was built with CUDA. And
   spaces/zero/torch/patching.py saves `torch._C._cuda_init` (to restore it in the worker), which a CPU-only
   torch lacks: `install()` adds one that fails as a CPU-only torch fails on any CUDA call. Last, spaces'
   import-time check that CUDA was not initialised before it (spaces/zero/__init__.py) sends
   `torch.cuda._is_in_bad_fork` to a forked process, and a CPU-only torch defines it as a lambda, which
   cannot be pickled: during the import it is a module-level function giving the same answer (False).
2. Worker start-up: `spaces.zero.torch.init` points CUDA_VISIBLE_DEVICES at the granted GPU and creates a
   CUDA tensor. The stand-in sets the variable and creates nothing.
3. Weights into the worker: `spaces.zero.torch.move` copies the weights the main process packed to the GPU
   (pinned buffers, `.cuda()`). The stand-in reads the very same pack files (written for real by
   `spaces.zero.torch.pack` at start-up) back into CPU tensors and gives each fake tensor that data, the way
   the original gives it the CUDA copy. The model then runs on the CPU in the worker.

Everything else is spaces' own code, including its CUDA emulation in the main process (torch.cuda.is_available()
is True there, `.to("cuda")` keeps tensors on the CPU behind fakes), so the app takes the same branches as on
a Space. What this cannot show: anything about real CUDA (device memory, CUDA after fork, kernel speed).

    from devtools.zerogpu_cpu import install
    install()          # before `import spaces`; needs SPACES_ZERO_GPU=true and SPACES_ZERO_DEVICE_API_URL
"""

from __future__ import annotations

import os
from typing import Any, Callable

import torch

FAKE_CUDA_VERSION = "12.8"  # any "12." or "13." picks spaces' CUDA 12+ memory-statistics layout


def install() -> None:
    """Import spaces in ZeroGPU mode on a CPU-only machine and swap in the CPU stand-ins for init and move."""
    if not hasattr(torch._C, "_cuda_init"):
        torch._C._cuda_init = _no_cuda_init
    real_version, real_bad_fork = torch.version.cuda, torch.cuda._is_in_bad_fork
    if real_version is None:
        torch.version.cuda = FAKE_CUDA_VERSION
        torch.cuda._is_in_bad_fork = _not_in_bad_fork
    try:
        import spaces  # noqa: F401 - the import is what patches torch for ZeroGPU
        import spaces.zero.torch as zero_torch
    finally:
        torch.version.cuda, torch.cuda._is_in_bad_fork = real_version, real_bad_fork
    if not hasattr(zero_torch, "pack"):
        raise RuntimeError("spaces is not in ZeroGPU mode: set SPACES_ZERO_GPU=true before install()")
    # wrappers.py calls these as `torch.init(...)` / `torch.move(...)` on this module, so replacing the
    # module attributes is enough; spaces' own functions stay untouched for anything else.
    zero_torch.init = init_on_cpu
    zero_torch.move = move_to_cpu


def _not_in_bad_fork() -> bool:
    return False  # no CUDA, so no CUDA state a fork could break


def _no_cuda_init() -> None:
    raise AssertionError("Torch not compiled with CUDA enabled")  # torch.cuda's own words on a CPU-only build


def init_on_cpu(nvidia_uuid: str) -> None:
    """spaces.zero.torch.init without the CUDA tensor: the worker still sees the GPU it was granted."""
    os.environ["CUDA_VISIBLE_DEVICES"] = nvidia_uuid


def move_to_cpu(callback: Callable[[int], Any] | None = None) -> None:
    """spaces.zero.torch.move with the CPU as the target: each fake gets its original (unpacked) or its data
    read back from the pack file (packed), in the layout spaces.zero.torch.packing.pack_tensors wrote."""
    from spaces.zero.torch import patching

    report = callback if callback is not None else (lambda _bytes: None)
    for fake, original in list(patching.cuda_aliases.items()):
        if original is not None:
            fake.data = torch.Tensor(original)  # unwrap a subclass, as the original does before .cuda()
            report(fake.numel() * fake.element_size())
    for pack in patching.tensor_packs:
        _read_pack(pack, report)


def _read_pack(pack: Any, report: Callable[[int], Any]) -> None:
    # pack_tensors writes the batches' tensors, then the big ones, each padded to a page: read them in that order.
    entries = [entry for batch in pack.batches for entry in batch] + list(pack.big_tensors)
    offset = 0
    with open(pack.path(), "rb") as file:
        for meta, size, aligned_size in entries:
            data = torch.empty(size, dtype=torch.uint8)
            file.seek(offset)
            if size and file.readinto(memoryview(data.numpy())) != size:
                raise EOFError(f"pack file {pack.path()} ends before byte {offset + size}")
            tensor = torch.tensor([], dtype=meta.dtype).set_(data.untyped_storage(), 0, meta.shape, meta.stride())
            for fake in pack.fakes[meta]:
                fake.data = tensor
            report(size)
            offset += aligned_size
