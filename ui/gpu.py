"""Running generation on ZeroGPU: the `@spaces.GPU` function and a runner around it.

On a ZeroGPU Space the decorated function runs in a forked worker. Two things follow. Any exception other
than `gr.Error` comes back as a bare "ZeroGPU worker error", so the worker sends our error (code, message,
parameters) inside a `gr.Error` and the main process rebuilds it, to be translated like any other. And Stop
must reach the worker, which the file-backed `CancelToken` does.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from dataclasses import replace
from typing import Iterator

import spaces  # noqa: F401 - app.py imports it before torch; imported here for the decorator

import gradio as gr
from PIL import Image

from zimage.cancel import CancelToken, stop_if_asked
from zimage.engine import Engine
from zimage.enhance import Enhanced
from zimage.errors import (BlockedError, BusyError, CancelledError, EnhanceError, GenerationError, ModelLoadError,
                           ValidationError, ZImageError)
from zimage.images import SourceImage
from zimage.lora import LoraLibrary
from zimage.model_info import ModelInfo, ModelStatus
from zimage.request import GenerationRequest
from zimage.runner import GeneratedImage, ProgressFn

log = logging.getLogger(__name__)

_ERROR_TYPES = {cls.__name__: cls for cls in (ZImageError, ValidationError, ModelLoadError, GenerationError,
                                                 CancelledError, BusyError, EnhanceError, BlockedError)}
_MARK = "zimage-error:"


def estimate_gpu_seconds(request: GenerationRequest) -> int:
    """A generous upper bound for ZeroGPU's `duration`: shorter requests get queue priority there."""
    megapixels = request.width * request.height / 2**20
    return int(min(300, math.ceil(15 + 0.6 * megapixels * request.steps * request.count)))


def encode_error(error: ZImageError) -> gr.Error:
    payload = {"type": type(error).__name__, "message": error.message, "code": error.code, "params": error.params}
    return gr.Error(_MARK + json.dumps(payload, default=str), print_exception=False)


def worker_error(error: Exception, otherwise: ZImageError) -> gr.Error:
    """What a GPU function raises for `error`: our own error as it is, anything else as `otherwise` (logged in
    full here). spaces would turn any other exception into a bare "ZeroGPU worker error"."""
    if isinstance(error, ZImageError):
        return encode_error(error)
    log.error("Failed in the GPU worker", exc_info=error)
    return encode_error(otherwise)


def keeps_worker(error: Exception) -> bool:
    """Whether `error` belongs to the request rather than the worker (Stop, a blocked prompt, a bad LoRA name, out
    of memory): spaces keeps a worker for the next call only when its function returns (spaces 0.51.3,
    zero/wrappers.py), so these are returned, not raised. A raise would cost the next request a fresh worker, the
    weights' move to the GPU and the worker's prompt cache. Anything unforeseen is raised, and the worker goes."""
    return isinstance(error, ZImageError) and not (isinstance(error, GenerationError) and error.code == "generation")


def send_back(error: Exception, otherwise: ZImageError) -> gr.Error:
    """What a GPU function does with `error` (see `worker_error`): returns it to be handed back as its result
    when the worker may stay (`keeps_worker`); raises it otherwise."""
    sent = worker_error(error, otherwise)
    if not keeps_worker(error):
        raise sent from None
    return sent


def enhance_failed() -> EnhanceError:
    return EnhanceError("The prompt enhancer could not write a prompt; your idea was left as it is.",
                        code="enhance_failed")


def raise_if_sent(result: object) -> None:
    """Raise the error a GPU function returned in place of its result (see `keeps_worker`)."""
    if isinstance(result, gr.Error):
        raise result


def decode_error(error: gr.Error) -> ZImageError | None:
    """The domain error a worker sent, or None for a gr.Error of spaces' own (quota, aborted task)."""
    text = str(getattr(error, "message", "") or "")
    if not text.startswith(_MARK):
        return None
    payload = json.loads(text[len(_MARK):])
    cls = _ERROR_TYPES.get(payload["type"], ZImageError)
    return cls(payload["message"], code=payload["code"], **payload["params"])


@contextlib.contextmanager
def errors_from_worker() -> Iterator[None]:
    """Raise the error a GPU worker sent as the app's own, to be translated; spaces' own gr.Error (quota, an
    aborted task) as it is."""
    try:
        yield
    except gr.Error as error:
        domain = decode_error(error)
        if domain is None:
            raise
        raise domain from None


class ZeroGPURunner:
    """Satisfies `zimage.runner.Runner` by sending each request to the `@spaces.GPU` function."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._worker_info: ModelInfo | None = None

        def duration(request: GenerationRequest, progress: ProgressFn | None, cancel: CancelToken | None,
                     source: SourceImage | None = None, mask: Image.Image | None = None) -> int:
            return estimate_gpu_seconds(request)

        @spaces.GPU(duration=duration)
        def gpu_generate(request: GenerationRequest, progress: ProgressFn | None, cancel: CancelToken | None,
                         source: SourceImage | None = None, mask: Image.Image | None = None) -> list[GeneratedImage]:
            # One GPU function for both, so text-to-image and edits share ZeroGPU's queue and error handling.
            try:
                stop_if_asked(cancel)  # Stop pressed while the request waited for a GPU
                if source is not None:
                    return engine.edit(request, source, mask, progress, cancel)
                return engine.generate(request, progress, cancel)
            except Exception as error:  # noqa: BLE001 - every failure crosses back as our own gr.Error
                return send_back(error, GenerationError(f"Generation failed ({type(error).__name__}). Please try "
                                                        "again.", code="generation", reason=type(error).__name__))

        self._gpu_generate = gpu_generate

        # The local enhancer needs the GPU too, but only for one bounded call: its own short GPU function keeps
        # ZeroGPU's queue priority high and never holds a GPU for a whole batch.
        @spaces.GPU(duration=int(engine.settings.enhancer.timeout) + 15)
        def gpu_enhance(idea: str, seed: int, cancel: CancelToken | None) -> Iterator[Enhanced | gr.Error]:
            try:
                stop_if_asked(cancel)
                yield from engine.enhance(idea, seed, cancel)
            except Exception as error:  # noqa: BLE001 - out of memory while decoding, say: one translated line
                yield send_back(error, enhance_failed())

        self._gpu_enhance = gpu_enhance

        # An enhancer behind an API needs no GPU, but the safety filter screens the idea with the model first: a
        # short GPU call of its own (in the main process the weights are only spaces' placeholders).
        @spaces.GPU(duration=30)
        def gpu_screen(prompt: str) -> gr.Error | None:
            try:
                engine.screen_prompt(prompt)
            except Exception as error:  # noqa: BLE001 - a block is an answer, anything else one translated line
                return send_back(error, enhance_failed())
            return None

        self._gpu_screen = gpu_screen

    @property
    def loras(self) -> LoraLibrary:
        return self.engine.loras

    def generate(self, request: GenerationRequest, progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> list[GeneratedImage]:
        return self._call(request, progress, cancel)

    def edit(self, request: GenerationRequest, source: SourceImage, mask: Image.Image | None = None,
             progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> list[GeneratedImage]:
        return self._call(request, progress, cancel, source, mask)

    def _call(self, request: GenerationRequest, progress: ProgressFn | None, cancel: CancelToken | None,
              *edit: object) -> list[GeneratedImage]:
        self._load_here()
        stop_if_asked(cancel)  # Stop pressed before the GPU call: spend no quota on it
        with errors_from_worker():
            result = self._gpu_generate(request, progress, cancel, *edit)
            raise_if_sent(result)
        if result:
            # The worker's facts: compiled blocks it had to undo show in the status line from now on.
            self._worker_info = result[0].model
        return result

    def enhance(self, idea: str, seed: int = 0, cancel: CancelToken | None = None) -> Iterator[Enhanced]:
        self._load_here()
        if not self.engine.uses_local_enhancer():
            if self.engine.screens_with_model():
                with errors_from_worker():
                    raise_if_sent(self._gpu_screen(idea))
            yield from self.engine.enhance(idea, seed, cancel, screened=True)  # an API call needs no GPU
            return
        with errors_from_worker():
            for item in self._gpu_enhance(idea, seed, cancel):
                raise_if_sent(item)
                yield item

    def status(self) -> ModelStatus:
        status = self.engine.status()
        if status.state == "failed":
            return replace(status, retried=False)
        if status.info is not None and self._worker_info is not None:
            return replace(status, info=self._worker_info)
        return status

    def start(self, attempts: int = 3, pause_s: float = 10.0) -> None:
        """Load now, in the main thread, before serving: workers fork from this process and spaces packs the
        weights it holds at start-up, so this is the only load that can work (see `_load_here`). A failure (the Hub
        timing out, say) is retried a few times; after the last, the Space serves a status line that says what
        failed and that it needs a restart."""
        _quiet_progress_bars()
        for attempt in range(1, attempts + 1):
            try:
                self._load_here()
                return
            except ZImageError as error:
                log.error("Model load failed (attempt %d of %d): %s", attempt, attempts, error)
            if attempt < attempts:
                time.sleep(pause_s)

    def _load_here(self) -> None:
        """Load in the main process, where spaces packs the weights for its workers, never inside a GPU call (a
        33 GB load would outlast the GPU time asked for). Only from the main thread: spaces emulates CUDA there
        alone (its torch modes are thread-local), so a load from a request's thread fails at the first move to
        the GPU, after reading 33 GB, at every request. A failure is the translated ModelLoadError."""
        if self.engine.loaded is not None:
            return
        if threading.current_thread() is not threading.main_thread():
            reason = self.engine.status().error or "it had not loaded"
            raise ModelLoadError(f"The model did not load when the Space started ({reason}). On ZeroGPU it loads "
                                 "only at start-up: restart the Space.", code="model_load_at_start",
                                 reason=reason)
        self.engine.load().pipe.set_progress_bar_config(disable=True)


def _quiet_progress_bars() -> None:
    """No tqdm bars in the process workers fork from: tqdm keeps a multiprocessing lock that a fork copies
    (spaces removes it in the worker, but nothing here needs the bars: the page shows its own progress)."""
    import diffusers.utils.logging
    import transformers.utils.logging

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
