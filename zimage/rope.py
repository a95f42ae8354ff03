"""A real-valued rotary embedding for Z-Image, so that torch.compile fuses it instead of calling eager kernels.

diffusers 0.42's Z-Image builds its RoPE table as complex64 (`RopeEmbedder`, torch.polar) and applies it in
`ZSingleStreamAttnProcessor` with view_as_complex, a complex multiply and view_as_real. Dynamo traces that
without a graph break, but inductor cannot generate code for complex tensors: in every compiled graph the
rotation of q and of k runs as eager aten calls (view_as_complex, unsqueeze, mul, view_as_real), which also
splits the fusion of the q/k norm, the rotation and the attention inputs. Here the table holds the same
numbers as (cos, sin) float32 pairs and the rotation is the complex product (a+bi)(c+di) = (ac-bd) + (ad+bc)i
written out, which inductor fuses with what surrounds it.

    use_real_rope(transformer)      # -> "" or why not; the app calls it only when the blocks are compiled
    use_complex_rope(transformer)   # undo (speed.uncompile calls it)

The table and the processors are swapped together: the transformer pads, slices and concatenates the table
without looking at its dtype and hands it to every block, and each processor understands one form only.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from diffusers.models.attention_dispatch import dispatch_attention_fn
from diffusers.models.transformers.transformer_z_image import RopeEmbedder, ZSingleStreamAttnProcessor

from .attention import MaskAwareProcessor, attention_modules

log = logging.getLogger(__name__)


class RealRopeEmbedder:
    """diffusers' RopeEmbedder with a float32 table: ids (N, axes) -> (N, head_dim / 2, 2) holding (cos, sin)."""

    def __init__(self, original: RopeEmbedder) -> None:
        self.original = original  # kept to put back by use_complex_rope
        # The very numbers of the complex table (view_as_real copies no arithmetic), so the rotation matches it.
        complex_tables = RopeEmbedder.precompute_freqs_cis(original.axes_dims, original.axes_lens, original.theta)
        self.tables = [torch.view_as_real(table) for table in complex_tables]

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        if self.tables[0].device != ids.device:
            self.tables = [table.to(ids.device) for table in self.tables]
        return torch.cat([table[ids[:, axis]] for axis, table in enumerate(self.tables)], dim=-2)


def rotate(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Rotate x (batch, seq, heads, head_dim) by freqs (batch, seq, head_dim / 2, 2) as (cos, sin) pairs.

    Computed in float32 like diffusers' complex version; elementwise ops ignore autocast, so its autocast guard
    has nothing to do here.
    """
    a, b = x.float().unflatten(-1, (-1, 2)).unbind(-1)
    cos, sin = freqs.unsqueeze(2).unbind(-1)
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(3).type_as(x)


class RealRopeAttnProcessor(ZSingleStreamAttnProcessor):
    """ZSingleStreamAttnProcessor with `rotate` in place of the complex rotation; the rest is diffusers' code.

    A subclass, so diffusers' set_attention_backend and the attention module's keyword filter treat it as the
    original, and the attention backend and parallel config it carries keep working."""

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, freqs_cis: torch.Tensor | None = None) -> torch.Tensor:
        query, key, value = (layer(hidden_states).unflatten(-1, (attn.heads, -1))
                             for layer in (attn.to_q, attn.to_k, attn.to_v))
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        if freqs_cis is not None:
            query, key = rotate(query, freqs_cis), rotate(key, freqs_cis)
        dtype = query.dtype
        if attention_mask is not None and attention_mask.ndim == 2:
            attention_mask = attention_mask[:, None, None, :]  # (batch, seq) -> broadcast over heads and queries
        hidden_states = dispatch_attention_fn(query, key, value, attn_mask=attention_mask, dropout_p=0.0,
                                              is_causal=False, backend=self._attention_backend,
                                              parallel_config=self._parallel_config)
        output = attn.to_out[0](hidden_states.flatten(2, 3).to(dtype))
        return attn.to_out[1](output) if len(attn.to_out) > 1 else output


def use_real_rope(transformer: Any) -> str:
    """Switch the transformer to the real-valued RoPE; return "" or why it was left complex.

    Skips ahead-of-time compiled blocks (ZeroGPU): they replace the blocks' forward with a graph exported with
    the complex table as an input, so a real table would reach a graph that cannot take it.
    """
    if isinstance(transformer.rope_embedder, RealRopeEmbedder):
        return ""
    if not isinstance(transformer.rope_embedder, RopeEmbedder):
        return f"unknown rotary embedder {type(transformer.rope_embedder).__name__}"
    if any("forward" in vars(block) for block in _repeated_blocks(transformer)):
        return "the blocks' forward is replaced (ahead-of-time compiled blocks take the complex table)"
    modules = attention_modules(transformer)
    foreign = {type(p).__name__ for m in modules for p in _inner(m.processor)
               if type(p) is not ZSingleStreamAttnProcessor and not isinstance(p, RealRopeAttnProcessor)}
    if foreign:
        return f"custom attention processors ({', '.join(sorted(foreign))}) expect the complex table"
    for module in modules:
        _convert(module, RealRopeAttnProcessor)
    transformer.rope_embedder = RealRopeEmbedder(transformer.rope_embedder)
    log.info("Rotary embedding: real-valued (cos/sin) in %d attention layers.", len(modules))
    return ""


def use_complex_rope(transformer: Any) -> None:
    """Undo use_real_rope: diffusers' complex table and processors, with the same attention backend."""
    if not isinstance(transformer.rope_embedder, RealRopeEmbedder):
        return
    for module in attention_modules(transformer):
        _convert(module, ZSingleStreamAttnProcessor)
    transformer.rope_embedder = transformer.rope_embedder.original


def uses_real_rope(transformer: Any) -> bool:
    """Whether use_real_rope is in effect."""
    return isinstance(getattr(transformer, "rope_embedder", None), RealRopeEmbedder)


def _convert(module: Any, cls: type) -> None:
    """Give `module` a processor of class `cls` carrying the old one's state (attention backend, parallel
    config); inside a MaskAwareProcessor, both its processors change and the wrapper stays."""
    def converted(processor: Any) -> Any:
        new = cls.__new__(cls)
        new.__dict__.update(processor.__dict__)
        return new

    processor = module.processor
    if isinstance(processor, MaskAwareProcessor):
        processor.fast, processor.masked = converted(processor.fast), converted(processor.masked)
    else:
        module.processor = converted(processor)


def _inner(processor: Any) -> list[Any]:
    return [processor.fast, processor.masked] if isinstance(processor, MaskAwareProcessor) else [processor]


def _repeated_blocks(transformer: Any) -> list[Any]:
    names = set(getattr(transformer, "_repeated_blocks", ()))
    return [module for module in transformer.modules() if type(module).__name__ in names]
