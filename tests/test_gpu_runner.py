"""ZeroGPURunner's own rules, in process (outside a Space `spaces.GPU` runs the function here): the model loads in
the main process before any GPU call, and every failure inside a GPU function comes back as one translated error,
never spaces' bare "ZeroGPU worker error" or a stack trace."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import gradio as gr
import pytest
from PIL import Image

from ui.gpu import ZeroGPURunner
from ui.status import status_line
from zimage.cancel import CancelToken
from zimage.config import Settings
from zimage.enhance import Enhanced
from zimage.errors import BlockedError, CancelledError, EnhanceError, GenerationError, ModelLoadError
from zimage.model_info import ModelInfo, ModelStatus
from zimage.request import GenerationRequest
from zimage.runner import GeneratedImage


class StubEngine:
    """Fails to load `failures` times, then loads; counts what ran where."""

    def __init__(self, generate_error: Exception | None = None, enhance_error: Exception | None = None,
                 failures: int = 1, local_enhancer: bool = True, screens: bool = True) -> None:
        self.settings = Settings.from_env()
        self.loaded = None
        self.loads = 0
        self.generated = 0
        self.failures, self.local_enhancer, self.screens = failures, local_enhancer, screens
        self.generate_error, self.enhance_error = generate_error, enhance_error
        self.error = ""
        self.screened: list[str] = []
        self.enhanced: list[tuple[str, bool]] = []

    def load(self):
        self.loads += 1
        if self.loads <= self.failures:
            self.error = "disk unplugged"
            raise ModelLoadError("The model could not be loaded (disk unplugged).", code="model_load",
                                 reason="disk unplugged")
        pipe = SimpleNamespace(set_progress_bar_config=lambda **options: None)
        self.loaded = SimpleNamespace(pipe=pipe)
        return self.loaded

    def status(self) -> ModelStatus:
        if self.loaded is not None:
            return ModelStatus("ready", ModelInfo("main-process facts", "r"))
        return ModelStatus("failed", error=self.error) if self.error else ModelStatus("loading")

    def generate(self, request, progress, cancel):
        assert self.loaded is not None, "the GPU function ran before the main process had the model"
        self.generated += 1
        if self.generate_error:
            raise self.generate_error
        return [GeneratedImage(Image.new("RGB", (8, 8)), request, ModelInfo("worker facts", "r"))]

    def uses_local_enhancer(self) -> bool:
        return self.local_enhancer

    def screens_with_model(self) -> bool:
        return self.screens

    def screen_prompt(self, prompt):
        self.screened.append(prompt)
        if "forbidden" in prompt:
            raise BlockedError("This prompt was blocked by the safety filter. Please rephrase it.",
                               code="blocked_prompt")

    def enhance(self, idea, seed, cancel, screened=False):
        self.enhanced.append((idea, screened))
        if self.enhance_error:
            raise self.enhance_error
        yield Enhanced(idea, idea + ", detailed", "stub", seed)


REQUEST = GenerationRequest("a red fox", width=256, height=256, seed=1, count=1, steps=2)


def test_a_failed_boot_load_is_retried_at_start_in_the_main_thread():
    engine = StubEngine(failures=2)
    runner = ZeroGPURunner(engine)
    runner.start(attempts=3, pause_s=0)  # a Hub timeout, say: retried before serving
    assert engine.loads == 3 and engine.loaded is not None
    assert len(runner.generate(REQUEST)) == 1 and engine.loads == 3, "later calls go straight to the GPU function"


def test_after_a_boot_load_that_kept_failing_requests_say_restart_and_load_nothing():
    """spaces emulates CUDA only in the thread that imported it: a load from a request's thread would read 33 GB
    and fail at the first move to the GPU, at every request."""
    engine = StubEngine(failures=99)
    runner = ZeroGPURunner(engine)
    runner.start(attempts=2, pause_s=0)
    assert engine.loads == 2
    caught: list[BaseException] = []
    thread = threading.Thread(target=lambda: _catch(caught, runner.generate, REQUEST))
    thread.start()
    thread.join()
    assert isinstance(caught[0], ModelLoadError) and caught[0].code == "model_load_at_start"
    assert "disk unplugged" in str(caught[0]) and "restart the Space" in str(caught[0])
    assert engine.loads == 2 and engine.generated == 0
    line = status_line(runner.status(), "en")
    assert "disk unplugged" in line and "restart the Space" in line and "retried" not in line
    assert "重启" in status_line(runner.status(), "zh")


def _catch(caught: list, call, *args) -> None:
    try:
        call(*args)
    except BaseException as error:  # noqa: BLE001 - handed to the test
        caught.append(error)


def test_a_load_that_fails_again_is_the_translated_load_error_and_no_gpu_call():
    engine = StubEngine()
    runner = ZeroGPURunner(engine)
    with pytest.raises(ModelLoadError, match="disk unplugged"):
        runner.generate(REQUEST)
    assert engine.generated == 0


def test_an_unexpected_failure_in_generation_is_one_translated_line():
    engine = StubEngine(generate_error=RuntimeError("CUDA error: an illegal memory access"))
    engine.loads = 1
    runner = ZeroGPURunner(engine)
    with pytest.raises(GenerationError) as caught:
        runner.generate(REQUEST)
    assert caught.value.code == "generation" and "illegal memory" not in str(caught.value)


@pytest.mark.parametrize("failure", [RuntimeError("CUDA out of memory"), MemoryError()])
def test_an_unexpected_failure_in_the_local_enhancer_is_the_enhancers_own_error(failure):
    engine = StubEngine(enhance_error=failure)
    engine.loads = 1
    runner = ZeroGPURunner(engine)
    with pytest.raises(EnhanceError) as caught:
        list(runner.enhance("a fox", 0))
    assert caught.value.code == "enhance_failed" and "out of memory" not in str(caught.value)


@pytest.mark.parametrize("error", [
    CancelledError("Stopped.", code="cancelled"),
    BlockedError("This prompt was blocked by the safety filter. Please rephrase it.", code="blocked_prompt"),
    GenerationError("Out of GPU memory at 256x256 x 1. Try a smaller size or fewer images.", code="oom"),
])
def test_the_requests_own_errors_are_returned_so_spaces_keeps_the_warm_worker(error):
    """spaces keeps a worker for the next call only when the GPU function returns (zero/wrappers.py): Stop, a
    blocked prompt or out of memory must not cost the next user a fresh worker and the weights' move."""
    engine = StubEngine(generate_error=error, failures=0)
    runner = ZeroGPURunner(engine)
    runner.start()
    sent = runner._gpu_generate(REQUEST, None, None)
    assert isinstance(sent, gr.Error), "returned, not raised"
    with pytest.raises(type(error)) as caught:
        runner.generate(REQUEST)
    assert caught.value.code == error.code and str(caught.value) == str(error)


def test_an_unforeseen_failure_is_raised_so_spaces_discards_the_worker():
    engine = StubEngine(generate_error=RuntimeError("CUDA error: an illegal memory access"), failures=0)
    runner = ZeroGPURunner(engine)
    runner.start()
    with pytest.raises(gr.Error):
        runner._gpu_generate(REQUEST, None, None)


def test_stop_before_the_gpu_call_spends_no_gpu_time():
    engine = StubEngine(failures=0)
    runner = ZeroGPURunner(engine)
    runner.start()
    cancel = CancelToken()
    cancel.set()
    with pytest.raises(CancelledError):
        runner.generate(REQUEST, cancel=cancel)
    assert engine.generated == 0


def test_the_status_line_shows_the_facts_the_worker_reported():
    """A worker that had to undo its compiled blocks says so in its images' facts; the status line follows."""
    engine = StubEngine(failures=0)
    runner = ZeroGPURunner(engine)
    runner.start()
    assert runner.status().info.model_id == "main-process facts"
    runner.generate(REQUEST)
    assert runner.status().info.model_id == "worker facts"


def test_an_api_enhancer_screens_the_idea_on_the_gpu_and_writes_without_it():
    """In the main process the weights are spaces' placeholders: screening there would answer from zeros."""
    engine = StubEngine(failures=0, local_enhancer=False)
    runner = ZeroGPURunner(engine)
    runner.start()
    screen_calls: list[str] = []
    gpu_screen = runner._gpu_screen
    runner._gpu_screen = lambda prompt: screen_calls.append(prompt) or gpu_screen(prompt)
    assert [item.prompt for item in runner.enhance("a fox", 0)] == ["a fox, detailed"]
    assert screen_calls == ["a fox"] and engine.enhanced == [("a fox", True)]
    with pytest.raises(BlockedError):
        list(runner.enhance("something forbidden", 0))
    assert engine.enhanced == [("a fox", True)], "a blocked idea never reaches the enhancer"
    engine.screens = False
    list(runner.enhance("a cat", 0))
    assert screen_calls == ["a fox", "something forbidden"] and engine.enhanced[-1] == ("a cat", True)
