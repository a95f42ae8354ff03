"""A tiny random-weights Z-Image model built from the real classes, for tests and offline demos.

It goes through the same save_pretrained / from_pretrained path as the real weights, so loading code is
exercised end to end. Its images are noise by design: it proves the plumbing, not the model.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from .config import default_cache_dir
from .llm import skip_head_when_encoding

log = logging.getLogger(__name__)

TINY_VERSION = "tiny-v2"  # v2: the text encoder is a causal LM, as in the real checkpoint
TINY_SEED = 20251126
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

# Qwen3's template, cut down to what ZImagePipeline uses: one user turn and a generation prompt.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)


# The tiny models' constructor arguments: one definition for this module, bench/gpu.py's smoke mode and tests.
# Sizes follow the real model's constraints (dim / n_heads == sum(axes_dims); a 4-block VAE scales by 8).
CONFIGS = {
    "transformer": dict(
        all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=32, n_layers=2, n_refiner_layers=1,
        n_heads=2, n_kv_heads=2, qk_norm=True, cap_feat_dim=32, rope_theta=256.0, t_scale=1000.0,
        axes_dims=[4, 6, 6], axes_lens=[1536, 512, 512],
    ),
    "text_encoder": dict(
        vocab_size=256 + len(SPECIAL_TOKENS), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=1024,
        tie_word_embeddings=True,
    ),
    "vae": dict(
        in_channels=3, out_channels=3, latent_channels=16,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[8, 16, 16, 16], layers_per_block=1, norm_num_groups=8,
        scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False,
    ),
}


def _byte_symbols() -> list[str]:
    """GPT-2's byte-to-unicode table: 256 printable symbols, so any UTF-8 text (Chinese too) tokenizes."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = printable[:], 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for _, code in sorted(zip(printable, codes))]


def build_tokenizer():
    from transformers import Qwen2Tokenizer

    vocab = {symbol: index for index, symbol in enumerate(_byte_symbols())}
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], unk_token=None, pad_token="<|endoftext|>",
                               eos_token="<|im_end|>", bos_token=None)
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_pipeline():
    """Build the tiny pipeline in memory with fixed random weights."""
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, ZImagePipeline, ZImageTransformer2DModel
    from transformers import Qwen3Config, Qwen3ForCausalLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        transformer = ZImageTransformer2DModel(**CONFIGS["transformer"])
        # These two start as uninitialised memory; left so, the saved model would not be deterministic.
        with torch.no_grad():
            transformer.x_pad_token.normal_(std=0.02)
            transformer.cap_pad_token.normal_(std=0.02)
        tokenizer = build_tokenizer()
        # A causal LM with tied embeddings, like the real Qwen3-4B folder: the pipeline reads its hidden states and
        # the enhancer and safety filter decode with it; prompt encodes skip its head, as zimage.llm loads it.
        text_encoder = Qwen3ForCausalLM(Qwen3Config(
            **CONFIGS["text_encoder"], eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
            pad_token_id=tokenizer.pad_token_id,
        ))
        skip_head_when_encoding(text_encoder)
        vae = AutoencoderKL(**CONFIGS["vae"])
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=False)
    return ZImagePipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                          transformer=transformer)


def ensure_tiny_model(cache_dir: Path | None = None) -> Path:
    """Return the folder of the saved tiny model, building and saving it on first use."""
    folder = (cache_dir or default_cache_dir()) / TINY_VERSION
    if (folder / "model_index.json").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    log.warning("Building the tiny random-weights demo model in %s (its images are noise by design)", folder)
    # Save into a temporary sibling, then rename: a concurrent process never sees a half-written model.
    staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=folder.parent))
    try:
        build_pipeline().save_pretrained(staging)
        if not folder.exists():
            os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def save_tiny_lora(path: Path, seed: int = 1, rank: int = 4, strength: float = 0.5) -> Path:
    """Write a small random LoRA for the tiny model (attention q/k/v), for tests, benchmarks and demos.

    peft starts lora_B at zero (a LoRA that changes nothing), so both matrices get random values here.
    """
    import torch
    from diffusers import ZImagePipeline, ZImageTransformer2DModel
    from peft import LoraConfig, get_peft_model_state_dict

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = ZImageTransformer2DModel.from_pretrained(ensure_tiny_model() / "transformer")
        transformer.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=["to_q", "to_k", "to_v"],
                                           init_lora_weights=False))
        state = get_peft_model_state_dict(transformer)
        state = {key: torch.randn_like(value) * strength for key, value in state.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ZImagePipeline.save_lora_weights(path.parent, transformer_lora_layers=state, weight_name=path.name)
    return path
