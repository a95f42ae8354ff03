"""The engine's edit and LoRA paths end to end: hashes recorded, LoRAs never leak between requests."""

from __future__ import annotations

import hashlib
import io
import threading

import numpy as np
import pytest
from PIL import Image

from zimage.config import Settings
from zimage.engine import Engine
from zimage.errors import ValidationError
from zimage.images import load_source
from zimage.masks import band, prepare_mask
from zimage.request import GenerationRequest, LoraRef
from zimage.tiny import save_tiny_lora
from tests.conftest import SHARED_CACHE

SIZE = (256, 256)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    folder = tmp_path_factory.mktemp("loras")
    save_tiny_lora(folder / "ink.safetensors", seed=1)
    return Engine(Settings(model="tiny", cache_dir=SHARED_CACHE, warmup="off", lora_dir=folder))


def png_bytes(seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def mask_image() -> Image.Image:
    layer = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    layer.paste((255, 255, 255, 255), (64, 64, 128, 128))
    return layer


def pixels(item) -> np.ndarray:
    return np.asarray(item.image, dtype=int)


def test_an_edit_records_the_source_and_mask_hashes_and_the_lora_hash(engine):
    data = png_bytes()
    request = GenerationRequest("a fox", width=256, height=256, steps=3, strength=1.0, mask_blur=3,
                                loras=(LoraRef("ink", 0.7),))
    result = engine.edit(request, load_source(data), mask_image())[0]
    assert result.request.source_sha256 == hashlib.sha256(data).hexdigest()
    assert result.request.mask_sha256 == prepare_mask(mask_image(), SIZE, 3).sha256
    assert result.request.loras[0].sha12 == engine.loras.sha12(engine.loras.find("ink"))
    outside = ~band(prepare_mask(mask_image(), SIZE, 3))
    original = np.asarray(load_source(data).image, dtype=int)
    assert np.abs(pixels(result) - original).max(axis=-1)[outside].max() == 0


def test_requests_with_different_loras_never_see_each_others(engine):
    plain = GenerationRequest("a fox", width=256, height=256, steps=3)
    styled = GenerationRequest("a fox", width=256, height=256, steps=3, loras=(LoraRef("ink", 1.0),))
    expected = {"plain": pixels(engine.generate(plain)[0]), "styled": pixels(engine.generate(styled)[0])}
    assert np.abs(expected["plain"] - expected["styled"]).max() > 0
    seen: list[tuple[str, np.ndarray]] = []

    def user(name: str, request: GenerationRequest) -> None:
        for _ in range(3):
            seen.append((name, pixels(engine.generate(request)[0])))

    threads = [threading.Thread(target=user, args=("plain", plain)), threading.Thread(target=user, args=("styled", styled))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 6
    for name, image in seen:
        assert np.array_equal(image, expected[name]), name


def test_an_unknown_lora_is_named_and_the_next_request_is_unaffected(engine):
    base = pixels(engine.generate(GenerationRequest("a fox", width=256, height=256, steps=3))[0])
    with pytest.raises(ValidationError) as caught:
        engine.generate(GenerationRequest("a fox", width=256, height=256, steps=3, loras=(LoraRef("nope"),)))
    assert caught.value.code == "unknown_lora" and "nope" in str(caught.value) and "ink" in str(caught.value)
    assert np.array_equal(pixels(engine.generate(GenerationRequest("a fox", width=256, height=256, steps=3))[0]), base)
