"""On the CPU the dtype fits the computer's memory: float32 where it fits, else bfloat16, and the status says why."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from zimage import host_memory
from zimage.config import HUB_MODEL_ID, Settings
from zimage.engine import Engine
from zimage.host_memory import FAST_BFLOAT16, FLOAT32_TOO_BIG, GIB, HUB_MODEL_PARAMETERS, cpu_dtype, needed_bytes
from zimage.model_info import ModelStatus
from zimage.request import GenerationRequest
from zimage.tiny import TINY_VERSION

ROOT = Path(__file__).resolve().parent.parent
OFFICIAL = HUB_MODEL_PARAMETERS


def unique_parameters(*models: torch.nn.Module) -> int:
    """Parameters counted once each (a causal LM's head is its embedding table); buffers such as RoPE's
    frequencies are rebuilt at load, not stored."""
    return sum({id(p): p.numel() for model in models for p in model.parameters()}.values())


def test_the_count_comes_from_the_weight_files_without_loading_them(tiny_engine):
    pipe = tiny_engine.load().pipe
    folder = tiny_engine.settings.cache_dir / TINY_VERSION
    counted = host_memory.parameter_count(folder, "zimage/tiny-random")
    assert counted == unique_parameters(pipe.transformer, pipe.text_encoder, pipe.vae)


def test_the_official_models_count_is_known_before_it_is_downloaded():
    assert host_memory.parameter_count(None, HUB_MODEL_ID) == OFFICIAL
    assert host_memory.parameter_count("", "someone/other-model") is None


def test_the_official_count_is_the_real_architectures():
    from diffusers import AutoencoderKL, ZImageTransformer2DModel
    from transformers import Qwen3Config, Qwen3ForCausalLM

    configs = {name: json.loads((ROOT / "bench" / "configs" / f"{name}.json").read_text())
               for name in ("transformer", "text_encoder", "vae")}
    with torch.device("meta"):
        models = (ZImageTransformer2DModel(**configs["transformer"]),
                  Qwen3ForCausalLM(Qwen3Config(**configs["text_encoder"])), AutoencoderKL(**configs["vae"]))
    assert unique_parameters(*models) == OFFICIAL


@pytest.mark.parametrize("available_gib, dtype, reason", [(64, "float32", ""), (32, "bfloat16", FLOAT32_TOO_BIG),
                                                          (16, "bfloat16", FLOAT32_TOO_BIG)])
def test_auto_picks_float32_only_where_it_fits(available_gib, dtype, reason):
    choice = cpu_dtype("auto", OFFICIAL, available_gib * GIB)
    assert (choice.dtype, choice.reason) == (dtype, reason)
    if reason:
        assert (choice.float32_needs_gib, choice.available_gib) == (42.2, available_gib)


def test_a_model_that_fits_nowhere_loads_in_bfloat16_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="zimage.host_memory"):
        assert cpu_dtype("auto", OFFICIAL, 16 * GIB).dtype == "bfloat16"
    assert "23.1 GiB of memory in bfloat16 and 16.0 GiB is available" in caplog.text


def test_an_explicit_dtype_is_kept_and_warned_about(caplog):
    with caplog.at_level(logging.WARNING, logger="zimage.host_memory"):
        choice = cpu_dtype("float32", OFFICIAL, 32 * GIB)
    assert choice.dtype == "float32" and choice.reason == ""
    assert "42.2 GiB of memory in float32" in caplog.text


def test_unknown_sizes_keep_float32():
    assert cpu_dtype("auto", None, 8 * GIB).dtype == "float32"
    assert cpu_dtype("auto", OFFICIAL, None).dtype == "float32"


def test_available_memory_is_read_from_this_machine():
    total = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal:")).split()[1]) * 1024
    assert 0 < host_memory.available_bytes() <= total


def test_a_short_machine_runs_the_model_in_bfloat16_and_says_so(monkeypatch):
    from ui.status import status_line

    parameters = host_memory.parameter_count(Path(Settings.from_env().cache_dir) / TINY_VERSION, "tiny") or 0
    room = (needed_bytes(parameters, "bfloat16") + needed_bytes(parameters, "float32")) // 2
    monkeypatch.setattr("zimage.model_loader.available_bytes", lambda: room)
    engine = Engine(Settings.from_env().with_overrides(model="tiny", warmup="off"))
    loaded = engine.load()
    assert loaded.info.dtype == "bfloat16" and loaded.info.dtype_reason == FLOAT32_TOO_BIG
    assert loaded.pipe.transformer.dtype == torch.bfloat16 and loaded.pipe.text_encoder.dtype == torch.bfloat16
    image = engine.generate(GenerationRequest("a red fox", width=256, height=256, seed=1, count=1, steps=2))[0].image
    assert image.size == (256, 256) and np.asarray(image).std() > 0
    needs, room = loaded.info.float32_needs_gib, loaded.info.available_gib
    assert f"bfloat16 (float32 would need {needs} GiB of memory, {room} GiB available)" in \
        status_line(ModelStatus("ready", loaded.info), "en")
    assert f"bfloat16 (float32 需要 {needs} GiB 内存，可用 {room} GiB)" in status_line(ModelStatus("ready", loaded.info), "zh")


def test_a_cpu_with_bfloat16_instructions_gets_bfloat16_even_with_room_for_float32():
    choice = cpu_dtype("auto", OFFICIAL, 256 * GIB, fast_bfloat16=True)
    assert (choice.dtype, choice.reason) == ("bfloat16", FAST_BFLOAT16)
    assert cpu_dtype("float32", OFFICIAL, 256 * GIB, fast_bfloat16=True).dtype == "float32"


def test_the_bfloat16_check_agrees_with_the_cpu_flags():
    flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")).split()
    if "avx512_bf16" in flags:  # needs no permission from the kernel, unlike AMX tiles
        assert host_memory.has_fast_bfloat16()
    elif "amx_tile" not in flags:
        assert not host_memory.has_fast_bfloat16()


def test_a_container_limit_caps_the_memory_the_host_shows(tmp_path):
    limit, usage = tmp_path / "memory.max", tmp_path / "memory.current"
    limit.write_text(f"{32 * GIB}\n")
    usage.write_text(f"{2 * GIB}\n")
    assert host_memory._cgroup_room(((limit, usage),)) == 30 * GIB
    limit.write_text("max\n")
    assert host_memory._cgroup_room(((limit, usage),)) is None
    assert host_memory._cgroup_room(((tmp_path / "none", usage), (limit, usage))) is None


def test_available_memory_is_the_smaller_of_the_host_and_the_container(monkeypatch):
    monkeypatch.setattr(host_memory, "_meminfo_available", lambda: 120 * GIB)
    monkeypatch.setattr(host_memory, "_cgroup_room", lambda: 30 * GIB)
    assert host_memory.available_bytes() == 30 * GIB
    monkeypatch.setattr(host_memory, "_cgroup_room", lambda: None)
    assert host_memory.available_bytes() == 120 * GIB


def test_variant_weight_files_beside_the_default_ones_are_not_counted_twice(tmp_path):
    from safetensors.torch import save_file

    folder = tmp_path / "transformer"
    folder.mkdir()
    save_file({"w": torch.zeros(10, 10)}, str(folder / "diffusion_pytorch_model.safetensors"))
    save_file({"w": torch.zeros(10, 10, dtype=torch.float16)}, str(folder / "diffusion_pytorch_model.fp16.safetensors"))
    assert host_memory.parameter_count(tmp_path, "local") == 100
    (folder / "diffusion_pytorch_model.safetensors").unlink()
    assert host_memory.parameter_count(tmp_path, "local") == 100, "only a variant: that one counts"


@pytest.mark.parametrize("is_tiny, dtype", [(False, "bfloat16"), (True, "float32")])
def test_real_weights_take_bfloat16_on_such_a_cpu_and_the_tiny_model_stays_float32(monkeypatch, is_tiny, dtype):
    from zimage import model_loader
    from zimage.source import ModelSource

    folder = str(Path(Settings.from_env().cache_dir) / TINY_VERSION)
    monkeypatch.setattr(model_loader, "has_fast_bfloat16", lambda: True)
    source = ModelSource(folder, "someone/weights", "local", is_tiny=is_tiny)
    assert model_loader._dtype_choice(source, "cpu", "auto").dtype == dtype
    assert model_loader._dtype_choice(source, "cuda", "auto").dtype == "auto"
