"""The app's own ZeroGPU path under spaces' real fork-and-worker code, run by tests/test_zerogpu.py.

It builds what app.py builds on a ZeroGPU Space: the real `Engine` on the tiny model and `ui.gpu.ZeroGPURunner`
around it, loads in the main process, then sends requests through the runner. Failures are injected inside the
worker by a forward hook that reads a mode file (the hook is inherited by the fork). Prints one JSON object with
what happened. Needs SPACES_ZERO_GPU=true and SPACES_ZERO_DEVICE_API_URL set (see devtools/zerogpu_fake.py).
Without CUDA, ZEROGPU_CPU=1 puts spaces' CUDA-only pieces on the CPU (devtools/zerogpu_cpu.py).
"""

import faulthandler
import os
import signal
import sys
import time
from pathlib import Path

# A hang must fail with every thread's stack, not in silence: this many seconds after the start, the main
# process dumps its stacks to stderr and dies of the SIGALRM, and each forked worker does the same two seconds
# later (after the main process, so that no worker's death lets it go on), so the pipes close and the test gets
# every dump. An alarm, because it is one syscall to re-arm in a child (alarms don't
# fork); faulthandler.dump_traceback_later would hang a child, since it first waits for the parent's watchdog
# thread, which the fork did not copy.
HANG_S = int(os.environ.get("STANDIN_HANG_S", "0"))
if HANG_S > 0:
    _deadline = time.monotonic() + HANG_S
    faulthandler.register(signal.SIGALRM, all_threads=True, chain=True)
    signal.alarm(HANG_S)
    os.register_at_fork(after_in_child=lambda: signal.alarm(max(1, int(_deadline - time.monotonic()) + 2)))

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if os.environ.get("ZEROGPU_CPU") == "1":  # no CUDA here: spaces' CUDA-only pieces on the CPU, see the module
    from devtools.zerogpu_cpu import install

    install()
import spaces  # noqa: E402,I001 - must come before anything that initialises CUDA

import json  # noqa: E402
import threading  # noqa: E402

import gradio as gr  # noqa: E402
import torch  # noqa: E402

from ui.gpu import ZeroGPURunner  # noqa: E402
from zimage.cancel import CancelToken  # noqa: E402
from zimage.config import Settings  # noqa: E402
from zimage.engine import Engine  # noqa: E402
from zimage.errors import ZImageError  # noqa: E402
from zimage.request import GenerationRequest  # noqa: E402

MODE = Path(os.environ.get("STANDIN_MODE_FILE", "/tmp/zerogpu-standin-mode"))
IMAGE = os.environ.get("STANDIN_IMAGE_FILE", "")  # where the first image goes, for comparing with a local run
MAIN_PID = os.getpid()
main_calls = [0]


def count_main_passes(module: torch.nn.Module, _args: tuple) -> None:
    """A global hook, set before the model loads, so a warm-up during the load counts too (workers inherit it
    with the fork; they don't count)."""
    if type(module).__name__ == "ZImageTransformer2DModel" and os.getpid() == MAIN_PID:
        main_calls[0] += 1


def inject(*_args) -> None:
    """Runs on every transformer pass (in the worker): raises or slows down as the mode file asks."""
    mode = MODE.read_text().strip() if MODE.exists() else ""
    if mode == "oom":
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    if mode == "raw":
        raise ValueError("a message that must not reach the user")
    if mode == "slow":
        time.sleep(0.5)  # 50 steps take 25 s unless Stop arrives


def attempt(runner: ZeroGPURunner, steps: int, cancel: CancelToken | None = None) -> dict:
    started = time.perf_counter()
    request = GenerationRequest("a cat", width=256, height=256, steps=steps, seed=3)
    try:
        images = runner.generate(request, None, cancel)
        if IMAGE and not os.path.exists(IMAGE):
            images[0].image.save(IMAGE)
        return {"ok": True, "size": list(images[0].image.size), "device": images[0].model.device,
                "seconds": round(time.perf_counter() - started, 2)}
    except ZImageError as error:
        return {"ok": False, "type": type(error).__name__, "code": error.code, "message": error.message,
                "seconds": round(time.perf_counter() - started, 2)}
    except gr.Error as error:  # spaces' own ("ZeroGPU worker error"): what the user would see if ours got lost
        return {"ok": False, "type": "gr.Error", "code": "", "message": f"{error.title}: {error.message}",
                "seconds": round(time.perf_counter() - started, 2)}


def main() -> None:
    MODE.unlink(missing_ok=True)
    torch.nn.modules.module.register_module_forward_pre_hook(count_main_passes)
    # warmup="auto" would warm up on a CUDA device, and the main process sees one (spaces' emulation).
    engine = Engine(Settings(model="tiny", attention="native", warmup="auto",
                             cache_dir=Path(os.environ["ZIMAGE_CACHE_DIR"])))
    runner = ZeroGPURunner(engine)
    runner.start()  # the app loads before serving, so workers fork with the weights
    engine.loaded.pipe.transformer.register_forward_pre_hook(inject)
    if os.environ.get("STANDIN_FORK_DEADLOCK") == "1":
        # For the test of the hang guard: the classic fork deadlock, a lock the main process holds when spaces
        # forks. The worker's copy stays held forever, and its first transformer pass waits on it.
        held = threading.Lock()
        held.acquire()
        engine.loaded.pipe.transformer.register_forward_pre_hook(lambda *_: held.acquire())
    spaces.zero.startup()  # what gr.Blocks.launch runs on a Space: pack the weights, report start-up
    result = {"status": runner.status().state, "speed": runner.status().info.speed,
              "main_calls_after_load": main_calls[0], "cuda_emulated": torch.cuda.is_available()}
    result["first"] = attempt(runner, 2)
    result["second"] = attempt(runner, 2)
    for mode in ("oom", "raw"):
        MODE.write_text(mode)
        result[mode] = attempt(runner, 2)
    MODE.write_text("slow")
    cancel = CancelToken()
    threading.Timer(float(os.environ.get("STANDIN_CANCEL_AFTER_S", "3")), cancel.set).start()
    result["cancelled"] = attempt(runner, 50, cancel)
    cancel.discard()
    MODE.unlink()
    result["after_cancel"] = attempt(runner, 2)
    result["main_calls_end"] = main_calls[0]
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
