"""A tiny stand-in app on spaces' real ZeroGPU path, run by tests/test_zerogpu.py in a subprocess.

It loads the tiny model, applies zimage.speed as the app does, and serves one @spaces.GPU function written the
way the app's must be (issue 9, points 2-4):
  - domain errors and out-of-memory become gr.Error with the user's message, because spaces replaces any
    other exception from the worker with "ZeroGPU worker error" and the class name;
  - Stop is a file-backed token: the forked worker cannot see the main process's memory, but it sees files;
  - no warm-up in the main process, whose CUDA is only an emulation.
Prints one JSON object with what happened. Needs SPACES_ZERO_GPU=true and SPACES_ZERO_DEVICE_API_URL set.
"""

import spaces  # noqa: I001 - must come before anything that initialises CUDA

import html
import json
import os
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import gradio as gr
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from zimage import speed  # noqa: E402
from zimage.config import Settings  # noqa: E402
from zimage.errors import CancelledError, ZImageError  # noqa: E402
from zimage.tiny import build_pipeline  # noqa: E402

SIZE = 256
pipe = build_pipeline()
pipe.set_progress_bar_config(disable=True)
main_calls = [0]
pipe.transformer.register_forward_hook(lambda *_: main_calls.__setitem__(0, main_calls[0] + 1))
report = speed.apply(pipe, Settings(attention="native", warmup="auto"), "cuda")


def _message(error: Exception) -> gr.Error:
    return gr.Error(html.escape(str(error)), print_exception=False)


@spaces.GPU(duration=60)
def generate(prompt: str, steps: int, cancel_path: str, mode: str):
    """Runs in the forked worker. `mode` injects the failures the app must report: "oom", "raw"."""
    def on_step(_pipe, step, _t, tensors):
        if os.path.exists(cancel_path):
            raise CancelledError(f"Stopped at step {step + 1} of {steps}.", code="cancelled")
        return tensors

    try:
        if mode == "raw":
            raise ValueError("a message that only a gr.Error would carry")
        if mode == "oom":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        with torch.inference_mode():
            out = pipe(prompt=prompt, height=SIZE, width=SIZE, num_inference_steps=steps, guidance_scale=0.0,
                       output_type="np", callback_on_step_end=on_step)
        return out.images, torch.cuda.get_device_name()
    except ZImageError as error:
        raise _message(error) from None
    except torch.OutOfMemoryError:
        raise _message(ZImageError(f"Out of GPU memory at {SIZE}x{SIZE} <x 1>. Try a smaller size.")) from None


def attempt(*args):
    started = time.perf_counter()
    try:
        images, device = generate(*args)
        return {"ok": True, "shape": list(images.shape), "device": device,
                "seconds": round(time.perf_counter() - started, 2)}
    except gr.Error as error:
        return {"ok": False, "message": str(error.message), "seconds": round(time.perf_counter() - started, 2)}


def main() -> None:
    cancel = Path(os.environ.get("STANDIN_CANCEL_FILE", "/tmp/zerogpu-standin-cancel"))
    cancel.unlink(missing_ok=True)
    spaces.zero.startup()  # what gr.Blocks.launch runs on a Space: pack the weights, report start-up
    result = {"report": asdict(report), "main_calls_after_load": main_calls[0],
              "cuda_emulated": torch.cuda.is_available()}
    result["first"] = attempt("a cat", 2, str(cancel), "ok")
    result["second"] = attempt("a cat", 2, str(cancel), "ok")
    result["oom"] = attempt("a cat", 2, str(cancel), "oom")
    result["raw"] = attempt("a cat", 2, str(cancel), "raw")
    threading.Timer(float(os.environ.get("STANDIN_CANCEL_AFTER_S", "4")), cancel.touch).start()
    result["cancelled"] = attempt("a cat", 5000, str(cancel), "ok")
    cancel.unlink(missing_ok=True)
    result["after_cancel"] = attempt("a cat", 2, str(cancel), "ok")
    result["main_calls_end"] = main_calls[0]
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
