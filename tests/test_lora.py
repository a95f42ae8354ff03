"""LoRA styles on the tiny model: discovery, hashes, switching without leaks, and clear errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from zimage import lora
from zimage.config import Settings
from zimage.engine import Engine
from zimage.errors import ValidationError
from zimage.generate import run
from zimage.request import GenerationRequest, LoraRef
from zimage.tiny import save_tiny_lora

REQUEST = GenerationRequest("a paper lantern", width=256, height=256, steps=3)


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("loras")
    save_tiny_lora(folder / "ink.safetensors", seed=1)
    save_tiny_lora(folder / "styles" / "neon.safetensors", seed=2, rank=8)
    (folder / "broken.safetensors").write_bytes(b"\x00" * 64)
    return folder


def fresh_model():
    """A model of its own: LoRAs change the transformer, which the session's shared engine must not see."""
    from tests.conftest import SHARED_CACHE

    return Engine(Settings(model="tiny", cache_dir=SHARED_CACHE, warmup="off")).load()


@pytest.fixture(scope="module")
def model():
    return fresh_model()


def image(model) -> np.ndarray:
    return np.asarray(run(model, REQUEST)[0].image, dtype=int)


def test_the_folder_is_listed_by_name_with_short_hashes(lora_dir):
    library = lora.LoraLibrary(lora_dir, hub_ids=["someone/ink-style"])
    assert [item.name for item in library.available()] == ["broken", "ink", "someone/ink-style", "styles/neon"]
    ink = library.find("ink")
    assert library.sha12(ink) == hashlib.sha256((lora_dir / "ink.safetensors").read_bytes()).hexdigest()[:12]


def test_unknown_names_are_an_error_naming_them_and_listing_what_exists(lora_dir):
    with pytest.raises(ValidationError) as caught:
        lora.LoraLibrary(lora_dir).resolve([LoraRef("../../etc/passwd", 1.0)])
    assert caught.value.code == "unknown_lora"
    assert "../../etc/passwd" in str(caught.value) and "styles/neon" in str(caught.value)


@pytest.mark.parametrize("spec,expected", [("ink", LoraRef("ink", 1.0)), ("ink:0.6", LoraRef("ink", 0.6)),
                                           ("styles/neon:-1", LoraRef("styles/neon", -1.0)), ("a:b", LoraRef("a:b", 1.0))])
def test_cli_specs_parse_into_name_and_weight(spec, expected):
    assert lora.parse_spec(spec) == expected


def test_weights_outside_the_range_are_refused():
    with pytest.raises(ValidationError) as caught:
        lora.parse_spec("ink:3")
    assert caught.value.code == "out_of_range"


def test_a_hash_from_a_png_or_link_must_match_the_servers_file(lora_dir):
    library = lora.LoraLibrary(lora_dir)
    good = library.resolve([LoraRef("ink", 0.5)])[0]
    assert library.resolve([good]) == (good,)
    with pytest.raises(ValidationError) as caught:
        library.resolve([LoraRef("ink", 0.5, "0" * 12)])
    assert caught.value.code == "lora_changed" and "ink" in str(caught.value)


def test_a_lora_changes_the_image_and_switching_never_leaks(model, lora_dir):
    library = lora.LoraLibrary(lora_dir)
    adapters = lora.LoraAdapters(model.pipe, library)
    base = image(model)
    adapters.activate(library.resolve([LoraRef("ink", 1.0)]))
    ink = image(model)
    assert np.abs(ink - base).max() > 10
    adapters.activate(library.resolve([LoraRef("ink", 1.0), LoraRef("styles/neon", 0.5)]))
    both = image(model)
    assert np.abs(both - ink).max() > 0
    adapters.activate(library.resolve([LoraRef("ink", 0.0)]))
    assert np.array_equal(image(model), base)  # weight 0 is the base model exactly
    adapters.activate([])
    assert np.array_equal(image(model), base)  # no LoRA: nothing left over from the last request
    adapters.activate(library.resolve([LoraRef("ink", 1.0)]))
    assert np.array_equal(image(model), ink)  # back again without a reload, same pixels


def test_a_corrupt_file_is_a_clear_error_and_the_next_request_is_clean(model, lora_dir):
    library = lora.LoraLibrary(lora_dir)
    adapters = lora.LoraAdapters(model.pipe, library)
    adapters.activate([])
    base = image(model)
    adapters.activate(library.resolve([LoraRef("ink", 1.0)]))
    with pytest.raises(ValidationError) as caught:
        adapters.activate(library.resolve([LoraRef("broken", 1.0)]))
    assert caught.value.code == "lora_corrupt" and "broken" in str(caught.value)
    assert np.array_equal(image(model), base)


def test_a_lora_for_another_model_is_refused(model, tmp_path):
    from safetensors.torch import save_file
    import torch

    save_file({"unet.down.lora_A.weight": torch.ones(4, 8), "unet.down.lora_B.weight": torch.ones(8, 4)},
              str(tmp_path / "sdxl.safetensors"))
    library = lora.LoraLibrary(tmp_path)
    with pytest.raises(ValidationError) as caught:
        lora.LoraAdapters(model.pipe, library).activate(library.resolve([LoraRef("sdxl", 1.0)]))
    assert caught.value.code == "lora_corrupt"


def test_hotswap_mode_gives_the_same_images_and_the_base_back(lora_dir):
    """The compiled-model path (one slot, weights baked in) matches the set_adapters path on the same LoRA."""
    plain, swapped = fresh_model(), fresh_model()
    library = lora.LoraLibrary(lora_dir)
    reference = lora.LoraAdapters(plain.pipe, library)
    hot = lora.LoraAdapters(swapped.pipe, library, hotswap=True)
    base = image(swapped)
    for choice in ([LoraRef("ink", 1.0)], [LoraRef("styles/neon", 0.5)], [LoraRef("ink", 0.7)]):
        reference.activate(library.resolve(choice))
        hot.activate(library.resolve(choice))
        assert np.abs(image(swapped) - image(plain)).max() <= 1, choice
    hot.activate([])
    assert np.array_equal(image(swapped), base)
    with pytest.raises(ValidationError) as caught:
        hot.activate(library.resolve([LoraRef("ink", 1.0), LoraRef("styles/neon", 1.0)]))
    assert caught.value.code == "lora_compiled_one"


@pytest.mark.parametrize("hotswap", [False, True])
def test_loras_in_stream_mode_leave_the_text_encoders_offload_hooks_alone(lora_dir, hotswap):
    """Given the pipeline, diffusers rebuilds every component's group offloading around a LoRA load, which would
    drop the prefetch order traced at start and, on a GPU, let a later decode chain the 0.72 GiB head into every
    prompt encode. The LoRA goes into the transformer, which has no hooks in "stream"."""
    from zimage import memory

    model = fresh_model()
    memory.place(model.pipe, "stream", "cpu")
    hooks = {name: module._diffusers_hook.get_hook("group_offloading")
             for name, module in model.pipe.text_encoder.named_modules() if hasattr(module, "_diffusers_hook")}
    assert hooks
    library = lora.LoraLibrary(lora_dir)
    adapters = lora.LoraAdapters(model.pipe, library, hotswap=hotswap)
    adapters.prime()
    base = image(model)
    adapters.activate(library.resolve([LoraRef("ink", 1.0)]))
    assert np.abs(image(model) - base).max() > 10
    adapters.activate([])
    assert np.array_equal(image(model), base)
    for name, module in model.pipe.text_encoder.named_modules():
        if name in hooks:
            assert module._diffusers_hook.get_hook("group_offloading") is hooks[name], name


def test_hotswap_skips_the_swap_when_the_slot_already_holds_that_lora(lora_dir, monkeypatch):
    """With compile on, every request names its LoRA; the same one at the same weight must not be read and copied
    into the transformer again."""
    model = fresh_model()
    library = lora.LoraLibrary(lora_dir)
    adapters = lora.LoraAdapters(model.pipe, library, hotswap=True)
    adapters.prime()
    swaps: list[str] = []
    original = model.pipe.load_lora_into_transformer
    monkeypatch.setattr(model.pipe, "load_lora_into_transformer",
                        lambda state, **kw: swaps.append(kw["adapter_name"]) or original(state, **kw))
    base = image(model)
    assert adapters._slot_filled, "prime() skipped the broken file and filled the slot from the next one"
    adapters.activate([])  # the slot holds zeros since prime(): nothing to do
    assert swaps == []
    ink = library.resolve([LoraRef("ink", 1.0)])
    adapters.activate(ink)
    first = image(model)
    adapters.activate(ink)
    assert len(swaps) == 1 and np.array_equal(image(model), first)
    adapters.activate(library.resolve([LoraRef("ink", 0.5)]))  # another weight: swapped
    assert len(swaps) == 2
    adapters.activate([])
    adapters.activate([])
    assert len(swaps) == 3 and np.array_equal(image(model), base)
    with pytest.raises(ValidationError) as caught:  # no swap needed at weight 0, but a broken file still says so
        adapters.activate(library.resolve([LoraRef("broken", 0.0)]))
    assert caught.value.code == "lora_corrupt" and len(swaps) == 3


def test_with_compile_hub_loras_size_and_fill_the_slot_at_load(tmp_path, monkeypatch):
    """With only hub LoRAs offered, the slot is filled (and sized) at load, not at a user's first LoRA request,
    where filling it would recompile every block; a hub LoRA of a rank above the default still fits."""
    import huggingface_hub

    save_tiny_lora(tmp_path / "hub" / "pytorch_lora_weights.safetensors", seed=3, rank=72)
    fetched: list[str] = []

    def fake_download(repo, filename):
        fetched.append(f"{repo}/{filename}")
        return str(tmp_path / "hub" / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    library = lora.LoraLibrary(None, hub_ids=["someone/ink-style"])
    assert lora.max_rank(library) == 64 and fetched == []  # without permission to fetch, hub LoRAs do not count
    assert lora.max_rank(library, fetch_hub=True) == 72
    model = fresh_model()
    offline = lora.LoraAdapters(model.pipe, library, hotswap=True)  # the hub did not answer the loader's probe
    offline.prime()
    assert not offline._slot_filled and fetched == ["someone/ink-style/pytorch_lora_weights.safetensors"]
    model = fresh_model()
    adapters = lora.LoraAdapters(model.pipe, library, hotswap=True, fetch_hub=True)
    adapters.prime()
    assert adapters._slot_filled
    assert len(fetched) == 1, "each hub file is asked for once, not again at every request"
    base = image(model)
    adapters.activate(library.resolve([LoraRef("someone/ink-style", 1.0)]))
    assert np.abs(image(model) - base).max() > 10
