"""With compile on, switching LoRAs (other files, ranks, weights, none) never recompiles the model."""

from __future__ import annotations

import numpy as np

from zimage import speed
from zimage.config import Settings
from zimage.engine import Engine
from zimage.request import GenerationRequest, LoraRef
from zimage.tiny import save_tiny_lora

from .conftest import SHARED_CACHE


def test_hot_swapping_loras_keeps_the_compiled_graphs(tmp_path, monkeypatch):
    save_tiny_lora(tmp_path / "ink.safetensors", seed=1, rank=4)
    save_tiny_lora(tmp_path / "neon.safetensors", seed=2, rank=8)
    graphs: list[int] = []

    def counting_backend(module, example_inputs):  # one call per graph dynamo captures (inductor would compile each)
        graphs.append(1)
        return module.forward

    def compile_blocks(transformer, mode=None):
        transformer.compile_repeated_blocks(fullgraph=True, backend=counting_backend)
        return True

    monkeypatch.setattr(speed, "compile_repeated_blocks", compile_blocks)
    engine = Engine(Settings(model="tiny", cache_dir=SHARED_CACHE, warmup="off", compile=True, lora_dir=tmp_path))

    def image(*loras: LoraRef) -> np.ndarray:
        request = GenerationRequest("a cat", width=256, height=256, steps=2, loras=loras)
        return np.asarray(engine.generate(request)[0].image, dtype=int)

    base = image()
    compiled = len(graphs)
    assert compiled > 0
    ink = image(LoraRef("ink", 1.0))
    assert np.abs(ink - base).max() > 10
    assert np.abs(image(LoraRef("neon", 0.5)) - base).max() > 10
    image(LoraRef("ink", 0.3))
    assert np.array_equal(image(), base)
    assert np.array_equal(image(LoraRef("ink", 1.0)), ink)
    assert len(graphs) == compiled  # no recompilation for any switch
