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
from typing import Iterator

import spaces  # noqa: F401 - app.py imports it before torch; imported here for the decorator

import gradio as gr
from PIL import Image

from zimage.cancel import CancelToken
from zimage.engine import Engine
from zimage.enhance import Enhanced
from zimage.errors import (BlockedError, BusyError, CancelledError, EnhanceError, GenerationError, ModelLoadError,
                           ValidationError, ZImageError)
from zimage.images import SourceImage
from zimage.lora import LoraLibrary
from zimage.model_info import ModelStatus
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

        def duration(request: GenerationRequest, progress: ProgressFn | None, cancel: CancelToken | None,
                     source: SourceImage | None = None, mask: Image.Image | None = None) -> int:
            return estimate_gpu_seconds(request)

        @spaces.GPU(duration=duration)
        def gpu_generate(request: GenerationRequest, progress: ProgressFn | None, cancel: CancelToken | None,
                         source: SourceImage | None = None, mask: Image.Image | None = None) -> list[GeneratedImage]:
            # One GPU function for both, so text-to-image and edits share ZeroGPU's queue and error handling.
            try:
                if source is not None:
                    return engine.edit(request, source, mask, progress, cancel)
                return engine.generate(request, progress, cancel)
            except Exception as error:  # noqa: BLE001 - every failure crosses back as our own gr.Error
                raise worker_error(error, GenerationError(f"Generation failed ({type(error).__name__}). Please "
                                                          "try again.", code="generation",
                                                          reason=type(error).__name__)) from None

        self._gpu_generate = gpu_generate

        # The local enhancer needs the GPU too, but only for one bounded call: its own short GPU function keeps
        # ZeroGPU's queue priority high and never holds a GPU for a whole batch.
        @spaces.GPU(duration=int(engine.settings.enhancer.timeout) + 15)
        def gpu_enhance(idea: str, seed: int, cancel: CancelToken | None) -> Iterator[Enhanced]:
            try:
                yield from engine.enhance(idea, seed, cancel)
            except Exception as error:  # noqa: BLE001 - out of memory while decoding, say: one translated line
                raise worker_error(error, EnhanceError("The prompt enhancer could not write a prompt; your idea "
                                                       "was left as it is.", code="enhance_failed")) from None

        self._gpu_enhance = gpu_enhance

    @property
    def loras(self) -> LoraLibrary:
        return self.engine.loras

    def generate(self, request: GenerationRequest, progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> list[GeneratedImage]:
        return self._call(request, progress, cancel)

    def edit(self, request: GenerationRequest, source: SourceImage, mask: Image.Image | None = None,
             progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> list[GeneratedImage]:
        return self._call(request, progress, cancel, source, mask)

    def _call(self, *args: object) -> list[GeneratedImage]:
        self._load_here()
        with errors_from_worker():
            return self._gpu_generate(*args)

    def enhance(self, idea: str, seed: int = 0, cancel: CancelToken | None = None) -> Iterator[Enhanced]:
        if not self.engine.uses_local_enhancer():
            yield from self.engine.enhance(idea, seed, cancel)  # an API call needs no GPU
            return
        self._load_here()
        with errors_from_worker():
            yield from self._gpu_enhance(idea, seed, cancel)

    def status(self) -> ModelStatus:
        return self.engine.status()

    def start(self) -> None:
        # The weights must be in the main process before workers fork from it, so load now, not in the background.
        _quiet_progress_bars()
        try:
            self._load_here()
        except ZImageError as error:
            log.error("Model load failed: %s", error)

    def _load_here(self) -> None:
        """Load in the main process, where spaces packs the weights for its workers. After a failed load at boot,
        the retry happens here, before a GPU call: inside one, a 33 GB load would outlast the GPU time asked for,
        and fail again at every request. A failure is the translated ModelLoadError."""
        if self.engine.loaded is None:
            self.engine.load().pipe.set_progress_bar_config(disable=True)


def _quiet_progress_bars() -> None:
    """No tqdm bars in the process workers fork from: tqdm keeps a multiprocessing lock that a fork copies
    (spaces removes it in the worker, but nothing here needs the bars: the page shows its own progress)."""
    import diffusers.utils.logging
    import transformers.utils.logging

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
