"""ZeroGPURunner's own rules, in process (outside a Space `spaces.GPU` runs the function here): the model loads in
the main process before any GPU call, and every failure inside a GPU function comes back as one translated error,
never spaces' bare "ZeroGPU worker error" or a stack trace."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ui.gpu import ZeroGPURunner
from zimage.config import Settings
from zimage.errors import EnhanceError, GenerationError, ModelLoadError
from zimage.request import GenerationRequest


class StubEngine:
    """Fails to load once, then loads; counts what ran where."""

    def __init__(self, generate_error: Exception | None = None, enhance_error: Exception | None = None) -> None:
        self.settings = Settings.from_env()
        self.loaded = None
        self.loads = 0
        self.generated = 0
        self.generate_error, self.enhance_error = generate_error, enhance_error

    def load(self):
        self.loads += 1
        if self.loads == 1:
            raise ModelLoadError("The model could not be loaded (disk unplugged).", code="model_load",
                                 reason="disk unplugged")
        pipe = SimpleNamespace(set_progress_bar_config=lambda **options: None)
        self.loaded = SimpleNamespace(pipe=pipe)
        return self.loaded

    def generate(self, request, progress, cancel):
        assert self.loaded is not None, "the GPU function ran before the main process had the model"
        self.generated += 1
        if self.generate_error:
            raise self.generate_error
        return ["image"]

    def uses_local_enhancer(self) -> bool:
        return True

    def enhance(self, idea, seed, cancel):
        yield from ()
        raise self.enhance_error


REQUEST = GenerationRequest("a red fox", width=256, height=256, seed=1, count=1, steps=2)


def test_a_failed_boot_load_is_retried_in_the_main_process_before_the_gpu_call():
    engine = StubEngine()
    runner = ZeroGPURunner(engine)
    runner.start()  # the boot load fails and is only logged
    assert engine.loads == 1 and engine.loaded is None
    assert runner.generate(REQUEST) == ["image"]
    assert (engine.loads, engine.generated) == (2, 1)
    runner.generate(REQUEST)
    assert engine.loads == 2, "loaded once; later calls go straight to the GPU function"


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
