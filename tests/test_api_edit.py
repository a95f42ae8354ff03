"""The public /edit endpoint and /generate's trailing LoRA parameter through gradio_client, on a launched app."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from zimage.masks import band, prepare_mask
from zimage.metadata import read_request
from zimage.tiny import save_tiny_lora

from devtools.apphost import running_app

gradio_client = pytest.importorskip("gradio_client")
handle_file = gradio_client.handle_file
SIZE = (320, 256)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api-edit")
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)).save(
        folder / "in.png")
    mask = Image.new("L", SIZE, 0)
    mask.paste(255, (100, 60, 200, 160))
    mask.save(folder / "mask.png")
    Image.new("CMYK", SIZE).save(folder / "cmyk.jpg")
    save_tiny_lora(folder / "loras" / "ink.safetensors")
    return folder


@pytest.fixture(scope="module")
def client(folder):
    with running_app(folder, ZIMAGE_LORA_DIR=str(folder / "loras")) as url:
        yield gradio_client.Client(url, verbose=False)


def test_fix_a_region_through_the_api_keeps_every_pixel_outside_the_band(client, folder):
    gallery, info = client.predict(handle_file(str(folder / "in.png")), handle_file(str(folder / "mask.png")),
                                   "a red door", 1.0, 0, 0, 7, 2, 3, 3.0, "ink:0.5", 4, api_name="/edit")
    assert info["seeds"] == [7, 8]
    assert info["source_sha256"] == hashlib.sha256((folder / "in.png").read_bytes()).hexdigest()
    assert info["loras"][0]["name"] == "ink" and len(info["loras"][0]["sha12"]) == 12
    original = np.asarray(Image.open(folder / "in.png"), dtype=int)
    outside = ~band(prepare_mask(Image.open(folder / "mask.png"), SIZE, 4))
    for item in gallery:
        with Image.open(item["image"]) as image:
            assert image.size == SIZE
            assert np.abs(np.asarray(image.convert("RGB"), dtype=int) - original).max(axis=-1)[outside].max() == 0
        request = read_request(item["image"])
        assert request.strength == 1.0 and request.mask_sha256 and request.loras[0].weight == 0.5


def test_restyle_without_a_mask_follows_the_image_size(client, folder):
    gallery, info = client.predict(handle_file(str(folder / "in.png")), None, "watercolour", 0.6, 0, 0, 1, 1, 3,
                                   3.0, "", 4, api_name="/edit")
    assert (info["width"], info["height"]) == SIZE and info["mask_sha256"] == ""


@pytest.mark.parametrize("name,strength,loras,message", [
    ("cmyk.jpg", 0.6, "", "CMYK"),
    # Sliders are range-checked by Gradio itself before the handler runs, with its own clear message.
    ("in.png", 1.5, "", "greater than maximum value 1.0"),
    ("in.png", 0.6, "nope:1", "Unknown LoRA .*nope.*Installed: ink"),
])
def test_bad_edits_are_one_clear_error_and_the_app_keeps_serving(client, folder, name, strength, loras, message):
    with pytest.raises(gradio_client.exceptions.AppError, match=message) as caught:
        client.predict(handle_file(str(folder / name)), None, "x", strength, 0, 0, 1, 1, 2, 3.0, loras, 4,
                       api_name="/edit")
    assert "Traceback" not in str(caught.value)


def test_generate_keeps_its_positional_parameters_and_takes_loras_last(client):
    plain, _ = client.predict("lantern", 256, 256, 3, 1, 2, 3.0, api_name="/generate")
    styled, info = client.predict("lantern", 256, 256, 3, 1, 2, 3.0, "ink:1", api_name="/generate")
    assert info["loras"][0]["name"] == "ink"
    assert not np.array_equal(np.asarray(Image.open(plain[0]["image"])), np.asarray(Image.open(styled[0]["image"])))
