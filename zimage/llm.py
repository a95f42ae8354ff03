"""The pipeline's text encoder used as a chat model, for the prompt enhancer and the safety filter.

Z-Image's text encoder folder is a Qwen3ForCausalLM checkpoint, so the model already in memory can write text:
no extra weights. Generation here is a short decode loop rather than `transformers.generate`, because three
things this app needs are not offered there together: a seeded sampler of its own (so the same idea and seed give
the same text without touching torch's global RNG), a check for Stop and for the wall-time limit between tokens,
and text streamed back to the caller while a worker thread, not the caller, holds the model lock.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
import types
from dataclasses import dataclass
from typing import Any, Callable, Iterator

Cancel = Callable[[], bool]
STOP_TOKENS = ("<|im_end|>", "<|endoftext|>")
TOP_K, TOP_P = 20, 0.8  # Qwen3's recommended sampling for non-thinking mode


def load_pipeline(location: str, dtype: Any, **kwargs: Any) -> Any:
    """A ZImagePipeline whose text encoder is loaded as the causal LM it is stored as.

    `ZImagePipeline.from_pretrained` alone would build the class named in model_index.json (a bare Qwen3Model for
    the official weights), which has no language-model head; the head is tied to the embeddings, so the causal LM
    costs no extra memory and gives identical text embeddings.
    """
    from diffusers import ZImagePipeline
    from transformers import AutoModelForCausalLM

    revision = kwargs.get("revision")
    text_encoder = AutoModelForCausalLM.from_pretrained(location, subfolder="text_encoder", dtype=dtype,
                                                        revision=revision)
    skip_head_when_encoding(text_encoder)
    return ZImagePipeline.from_pretrained(location, text_encoder=text_encoder, dtype=dtype, **kwargs)


# Arguments that ask the causal LM for its own outputs (logits, a loss): such a call needs the head.
HEAD_ARGUMENTS = frozenset({"logits_to_keep", "labels"})


def skip_head_when_encoding(text_encoder: Any) -> None:
    """Make the pipeline's prompt encoding run the inner model only, never the language-model head.

    The pipeline asks for hidden states only, but a causal LM also runs its head: logits over the whole vocabulary
    (151,936 tokens for Qwen3) from a head of 0.39 B weights, about a tenth of the encoder's matmuls, that nobody
    reads. Even cut to one logit, calling the head at all costs the "stream" memory mode a copy of its tied
    0.72 GiB weight to the GPU at every prompt. So an encoding call (hidden states asked for, no KV cache, no
    logits) goes to the inner model, whose hidden states are the causal LM's own; the decode loop keeps the head.
    Set on the instance before any memory mode is applied: accelerate's offload hooks and diffusers' group
    offloading hooks wrap the instance's `forward` (whole-model offload still moves the text encoder for the
    call) and restore it when removed. The wrapper keeps the causal LM's signature, which `generate` inspects.
    """
    causal_forward = type(text_encoder).forward

    @functools.wraps(causal_forward)
    def forward(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _encoding(kwargs):
            # No KV cache either: an encoding call never continues.
            return self.model(*args, **{**kwargs, "use_cache": False})
        return causal_forward(self, *args, **kwargs)

    text_encoder.forward = types.MethodType(forward, text_encoder)


def _encoding(kwargs: dict) -> bool:
    """Whether a text encoder call is the pipeline's prompt encoding rather than a step of a decode."""
    return (bool(kwargs.get("output_hidden_states")) and kwargs.get("past_key_values") is None
            and not kwargs.get("use_cache") and not HEAD_ARGUMENTS & kwargs.keys())


@dataclass(frozen=True)
class Sampling:
    """How one call decodes: temperature 0 is greedy; `seconds` bounds the decode once the model is ours."""

    max_new_tokens: int
    seconds: float
    seed: int = 0
    temperature: float = 0.0


@dataclass
class DecodeStats:
    """Filled by a finished call, for logs and benchmarks: new tokens and seconds spent decoding them."""

    tokens: int = 0
    seconds: float = 0.0
    first_token_seconds: float = 0.0


class ChatModel:
    """A causal LM and its tokenizer, shared with the image pipeline under the pipeline's lock."""

    def __init__(self, model: Any, tokenizer: Any, lock: threading.Lock, pipe: Any = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.lock = lock
        self.pipe = pipe
        self.stop_ids = {tokenizer.convert_tokens_to_ids(token) for token in STOP_TOKENS} - {None}

    @classmethod
    def from_pipeline(cls, pipe: Any, lock: threading.Lock) -> "ChatModel":
        """Use a loaded ZImagePipeline's text encoder; `lock` is the one its image generations take."""
        if not hasattr(pipe.text_encoder, "lm_head"):
            raise TypeError("The text encoder has no language-model head; load it with zimage.llm.load_pipeline.")
        return cls(pipe.text_encoder, pipe.tokenizer, lock, pipe)

    def device(self) -> Any:
        # With CPU offload the weights sit on the CPU between calls; the pipeline knows where they run.
        return self.pipe._execution_device if self.pipe is not None else self.model.device

    def prompt_ids(self, system: str, user: str) -> Any:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        encoded = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, enable_thinking=False,
                                                     return_tensors="pt", return_dict=True)
        return encoded["input_ids"]

    def stream(self, system: str, user: str, sampling: Sampling, cancel: Cancel | None = None,
               stats: DecodeStats | None = None) -> Iterator[str]:
        """Yield the answer in pieces as it is written. Stops at the end of the answer, the token or time limit,
        or when `cancel()` turns true; a caller that stops reading also stops the decode."""
        pieces: queue.Queue = queue.Queue()
        abandoned = threading.Event()

        def should_stop() -> bool:
            return abandoned.is_set() or (cancel is not None and cancel())

        def work() -> None:
            from .resident_decode import text_encoder_resident  # imports torch, which this module defers

            try:
                # The lock is held for one bounded decode, never across several.
                with self.lock, text_encoder_resident(self.pipe, sampling.max_new_tokens):
                    self._decode(self.prompt_ids(system, user), sampling, should_stop, pieces.put,
                                 stats or DecodeStats())
            except BaseException as error:  # noqa: BLE001 - handed to the reading thread, which raises it
                pieces.put(error)
            pieces.put(None)

        threading.Thread(target=work, daemon=True, name="zimage-llm").start()
        try:
            while (piece := pieces.get()) is not None:
                if isinstance(piece, BaseException):
                    raise piece
                yield piece
        finally:
            abandoned.set()

    def complete(self, system: str, user: str, sampling: Sampling, cancel: Cancel | None = None,
                 stats: DecodeStats | None = None) -> str:
        return "".join(self.stream(system, user, sampling, cancel, stats))

    def _decode(self, input_ids: Any, sampling: Sampling, should_stop: Cancel, emit: Callable[[str], None],
                stats: DecodeStats) -> None:
        import torch
        from transformers import DynamicCache

        started = time.monotonic()
        deadline = started + sampling.seconds
        generator = torch.Generator("cpu").manual_seed(sampling.seed)
        device = self.device()
        ids, cache, tokens, sent = input_ids.to(device), DynamicCache(config=self.model.config), [], ""
        with torch.inference_mode():
            while len(tokens) < sampling.max_new_tokens and time.monotonic() < deadline and not should_stop():
                out = self.model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
                cache = out.past_key_values
                token = pick_token(out.logits[0, -1].float().cpu(), sampling.temperature, generator)
                if token in self.stop_ids:
                    break
                tokens.append(token)
                stats.tokens, stats.seconds = len(tokens), time.monotonic() - started
                stats.first_token_seconds = stats.first_token_seconds or stats.seconds
                text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                # A byte-level token can end inside a multi-byte character; wait for the rest of it.
                if not text.endswith("\ufffd") and len(text) > len(sent):
                    emit(text[len(sent):])
                    sent = text
                ids = torch.tensor([[token]], device=device)


def pick_token(logits: Any, temperature: float, generator: Any) -> int:
    """Greedy at temperature 0; otherwise top-k then top-p sampling from a seeded CPU generator."""
    import torch

    if temperature <= 0:
        return int(logits.argmax())
    top = torch.topk(logits / temperature, min(TOP_K, logits.numel()))
    probs = torch.softmax(top.values, dim=-1)
    # Keep the smallest head of the sorted list whose mass reaches TOP_P (always at least one token).
    keep = (torch.cumsum(probs, dim=-1) - probs) < TOP_P
    probs = probs * keep
    choice = torch.multinomial(probs / probs.sum(), 1, generator=generator)
    return int(top.indices[choice])
