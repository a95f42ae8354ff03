"""zimage.rope on the CPU: the real-valued RoPE gives diffusers' complex results, keeps complex numbers out of the
compiled blocks, coexists with the attention wrapper, and is applied by speed.apply only with compile."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zimage import attention, rope, speed
from zimage.config import Settings
from zimage.tiny import CONFIGS, build_pipeline

# Captions of 7 and 45 tokens pad to 32 and 64 (Z-Image pads to multiples of 32), so a batch of both is masked.
CAPTION_LENGTHS = {1: (7,), 2: (7, 45)}


@pytest.fixture
def transformer():
    from diffusers import ZImageTransformer2DModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return ZImageTransformer2DModel(**CONFIGS["transformer"]).eval()


def _forward(transformer, batch: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    latents = [torch.randn(16, 1, 8, 8, generator=generator).to(dtype) for _ in range(batch)]
    captions = [torch.randn(n, CONFIGS["transformer"]["cap_feat_dim"], generator=generator).to(dtype)
                for n in CAPTION_LENGTHS[batch]]
    with torch.inference_mode():
        out = transformer(latents, torch.full((batch,), 0.5, dtype=dtype), captions).sample
    return torch.stack(out).float()


def _masks_seen(transformer) -> list[bool]:
    seen: list[bool] = []
    transformer.layers[0].attention.register_forward_pre_hook(
        lambda _m, _a, kwargs: seen.append(kwargs.get("attention_mask") is not None), with_kwargs=True)
    return seen


# --- Same numbers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, atol", [(torch.float32, 1e-6), (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize("batch", [1, 2])
def test_real_rope_gives_the_complex_results(transformer, batch, dtype, atol):
    transformer.to(dtype)
    masks = _masks_seen(transformer)
    expected = _forward(transformer, batch, dtype)
    assert rope.use_real_rope(transformer) == ""
    actual = _forward(transformer, batch, dtype)
    assert masks == [batch > 1, batch > 1]  # the batch of two prompts really went through the masked path
    assert rope.uses_real_rope(transformer)
    torch.testing.assert_close(actual, expected, atol=atol, rtol=0)


def test_undo_restores_diffusers_rope(transformer):
    original = transformer.rope_embedder
    expected = _forward(transformer, 2)
    rope.use_real_rope(transformer)
    rope.use_complex_rope(transformer)
    assert transformer.rope_embedder is original
    assert {type(m.processor).__name__ for m in attention.attention_modules(transformer)} == {
        "ZSingleStreamAttnProcessor"}
    torch.testing.assert_close(_forward(transformer, 2), expected, atol=0, rtol=0)


def test_pipeline_image_is_unchanged():
    pipe = build_pipeline()
    pipe.set_progress_bar_config(disable=True)

    def image() -> np.ndarray:
        with torch.inference_mode():
            return pipe(prompt="a cat", height=64, width=64, num_inference_steps=2, guidance_scale=0.0,
                        generator=torch.Generator("cpu").manual_seed(0), output_type="np").images

    expected = image()
    rope.use_real_rope(pipe.transformer)
    np.testing.assert_allclose(image(), expected, atol=1e-6, rtol=0)


# --- The compiled graph ------------------------------------------------------------------------------------


def _complex_ops_in_block_graph(transformer) -> tuple[int, list[str]]:
    """Compile one block as speed.compile_repeated_blocks does (fullgraph) with a recording backend; return
    the graph count and the graph's complex ops and complex-valued tensors."""
    graphs: list[torch.fx.GraphModule] = []

    def record(graph, _inputs):
        graphs.append(graph)
        return graph.forward

    torch._dynamo.reset()
    transformer.compile_repeated_blocks(fullgraph=True, backend=record)
    try:
        _forward(transformer, 2)
    finally:
        for module in transformer.modules():  # speed.uncompile would also undo the RoPE under test
            module._compiled_call_impl = None
        torch._dynamo.reset()
    found = []
    for graph in graphs:
        for node in graph.graph.nodes:
            value = node.meta.get("example_value")
            if "complex" in str(node.target) or (isinstance(value, torch.Tensor) and value.is_complex()):
                found.append(f"{node.op} {node.name}")
    return len(graphs), found


def test_compiled_blocks_hold_no_complex_numbers(transformer):
    count, found = _complex_ops_in_block_graph(transformer)
    assert count > 0 and found, "diffusers' RoPE no longer puts complex ops in the graph; revisit zimage.rope"
    rope.use_real_rope(transformer)
    count, found = _complex_ops_in_block_graph(transformer)
    assert count > 0 and found == []


def test_inductor_generates_the_rotation_itself(transformer):
    """With the complex RoPE, inductor's code calls aten.view_as_complex / mul / view_as_real eagerly in every
    block; with the real one it fuses the rotation into its own kernels, with no complex fallback."""
    from torch._inductor.utils import run_and_get_code

    rope.use_real_rope(transformer)
    block = transformer.layers[0]
    seq, dim = 23, CONFIGS["transformer"]["dim"]
    freqs = transformer.rope_embedder(torch.zeros(seq, 3, dtype=torch.long)).unsqueeze(0)
    torch._dynamo.reset()
    compiled = torch.compile(block, fullgraph=True)
    with torch.inference_mode():
        _, code = run_and_get_code(compiled, torch.randn(1, seq, dim), None, freqs, torch.randn(1, dim))
    torch._dynamo.reset()
    assert "complex" not in "\n".join(code)


# --- Attention backends, speed.apply and ahead-of-time blocks --------------------------------------------------


def test_keeps_the_attention_backend_and_the_mask_wrapper(transformer):
    transformer.set_attention_backend("_native_math")
    attention.wrap_processors(transformer, attention.NATIVE_BACKEND)
    expected = _forward(transformer, 2)
    rope.use_real_rope(transformer)
    for module in attention.attention_modules(transformer):
        wrapper = module.processor
        assert isinstance(wrapper, attention.MaskAwareProcessor)
        assert isinstance(wrapper.fast, rope.RealRopeAttnProcessor)
        assert wrapper.fast._attention_backend.value == "_native_math"
        assert wrapper.masked._attention_backend.value == attention.NATIVE_BACKEND
    torch.testing.assert_close(_forward(transformer, 2), expected, atol=1e-6, rtol=0)
    attention.unwrap_processors(transformer)  # as set_attention_backend does before switching
    assert attention.set_attention_backend(transformer, "native") == "native"
    torch.testing.assert_close(_forward(transformer, 2), expected, atol=1e-6, rtol=0)


def test_apply_uses_real_rope_only_with_compile(monkeypatch):
    pipe = build_pipeline()
    monkeypatch.setattr(speed, "compile_repeated_blocks", lambda transformer, mode=None: True)
    report = speed.apply(pipe, Settings(compile=True, warmup="off"), "cpu")
    assert report.real_rope and rope.uses_real_rope(pipe.transformer)
    assert "real-valued RoPE" in report.summary()
    speed.uncompile(pipe.transformer)
    assert not rope.uses_real_rope(pipe.transformer)
    report = speed.apply(pipe, Settings(compile=False, warmup="off"), "cpu")
    assert not report.real_rope and not rope.uses_real_rope(pipe.transformer)


def test_ahead_of_time_blocks_keep_the_complex_table(transformer):
    # spaces.aoti_blocks_load sets each block's forward to a graph exported with the complex table as input.
    for block in transformer.layers:
        block.forward = block.forward
    assert "ahead-of-time" in rope.use_real_rope(transformer)
    assert not rope.uses_real_rope(transformer)
