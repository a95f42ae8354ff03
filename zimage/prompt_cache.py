"""Prompt embeddings kept for prompts that come back.

Trying other seeds, "more like this", a batch of several images and an edit of a generated image all reuse one
prompt, and the text encoder (Qwen3-4B) turns a prompt into the same embeddings every time. Its pass measured
0.04-0.07 s on an H200 with everything resident and 1.3 s in the `offload` mode, where the 8 GB encoder crosses
PCIe for every prompt (docs/benchmarks.md); a prompt seen recently skips it.

Each prompt is encoded alone and at its own length. diffusers pads every prompt to 512 tokens; with the padding on
the right and a causal encoder no prompt token ever attends to it, so a 60-token prompt gets the same embeddings for
an eighth of the work (`token_count`). Alone, a prompt's embeddings do not depend on which prompts it came with:
a seed reproduces the same image whatever ran before. The cache belongs to the text encoder
object, so the edit pipelines built with `from_pipe` share it and a reloaded model starts empty. LoRAs do not enter
the key: diffusers loads Z-Image LoRAs into the transformer only.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any, Sequence

MAX_PROMPTS = 16  # about 2.6 MB each in bf16 at the pipeline's 512-token limit, so at most ~42 MB of VRAM
MAX_TOKENS = 512  # ZImagePipeline's limit: longer prompts are cut there, as diffusers does


class PromptEmbeddings:
    """The embeddings of the last `size` prompts, most recent last; `encoded` counts text encoder passes."""

    def __init__(self, size: int = MAX_PROMPTS) -> None:
        self.size = size
        self.encoded = 0
        self._kept: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, pipe: Any, prompts: Sequence[str]) -> list[Any]:
        """One embedding tensor per prompt, in order; prompts not kept are encoded by `pipe`, one at a time."""
        with self._lock:
            for prompt in dict.fromkeys(prompts):
                if prompt in self._kept:
                    self._kept.move_to_end(prompt)
                else:
                    self._kept[prompt] = self._encode(pipe, prompt)
            found = [self._kept[prompt] for prompt in prompts]
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
            return found

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

    def _encode(self, pipe: Any, prompt: str) -> Any:
        self.encoded += 1
        return encode(pipe, prompt)


def encode(pipe: Any, prompt: str) -> Any:
    """`prompt`'s embeddings (tokens x hidden) from `pipe`'s text encoder, run at the prompt's own length."""
    embeds, _ = pipe.encode_prompt(prompt, device=pipe._execution_device, do_classifier_free_guidance=False,
                                   max_sequence_length=token_count(pipe.tokenizer, prompt))
    return embeds[0]


def token_count(tokenizer: Any, prompt: str) -> int:
    """How many tokens the pipeline's chat-templated prompt has (at most MAX_TOKENS).

    Left padding would shift the prompt's rotary positions, so such a tokenizer keeps the full padded length.
    """
    if tokenizer.padding_side != "right":
        return MAX_TOKENS
    text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True, enable_thinking=True)
    return min(len(tokenizer(text).input_ids), MAX_TOKENS)


_caches: "weakref.WeakKeyDictionary[Any, PromptEmbeddings]" = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(pipe: Any) -> PromptEmbeddings:
    """The cache of `pipe`'s text encoder (shared by every pipeline built over it)."""
    with _caches_lock:
        return _caches.setdefault(pipe.text_encoder, PromptEmbeddings())


def prompt_embeds(pipe: Any, prompts: Sequence[str]) -> list[Any]:
    """What to pass as the pipeline's `prompt_embeds` for `prompts` (guidance off, as Turbo runs)."""
    return cache_for(pipe).get(pipe, prompts)
