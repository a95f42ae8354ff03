"""PNG metadata: written as A1111 `parameters` plus JSON, and read back into the same request."""

from __future__ import annotations

import pytest
from PIL import Image, PngImagePlugin

from zimage.errors import ValidationError
from zimage.metadata import format_parameters, parse_parameters, read_request, save_png
from zimage.model_info import ModelInfo
from zimage.request import GenerationRequest

MODEL = ModelInfo("Tongyi-MAI/Z-Image-Turbo", "abc123", model_hash="0123456789")
PROMPTS = [
    "a cat",
    '一张红色的春节海报，标题写着"新年快乐"，下方小字「万事如意」',
    'Mixed 中文 and English, with commas, colons: and "quotes"\nsecond line\n\nSteps: 99, Seed: 1',
]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_png_metadata_round_trips(tmp_path, prompt):
    request = GenerationRequest(prompt, width=1152, height=896, seed=4294967295, steps=12, shift=4.5)
    path = save_png(Image.new("RGB", (8, 8)), request, MODEL, tmp_path / "x.png")
    assert read_request(path) == request
    with Image.open(path) as image:
        parameters = image.info["parameters"]
        assert "Seed: 4294967295" in parameters and "Size: 1152x896" in parameters
        assert "Model: Tongyi-MAI/Z-Image-Turbo" in parameters and "Version: zimage" in parameters
        assert '"torch"' in image.info["zimage"] and '"diffusers"' in image.info["zimage"]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_a1111_parameters_alone_parse_back(prompt):
    request = GenerationRequest(prompt, width=720, height=1280, seed=5, steps=9, shift=3.0)
    assert parse_parameters(format_parameters(request, MODEL)) == request


def test_a1111_text_from_other_tools_parses():
    text = "a lighthouse\nNegative prompt: blurry\nSteps: 8, Sampler: Euler, CFG scale: 1, Seed: 77, Size: 832x1248"
    assert parse_parameters(text) == GenerationRequest("a lighthouse", width=832, height=1248, seed=77, steps=8)


def test_image_without_metadata_is_a_clear_error(tmp_path):
    path = tmp_path / "plain.png"
    Image.new("RGB", (4, 4)).save(path)
    with pytest.raises(ValidationError, match="no generation settings"):
        read_request(path)


def test_not_an_image_is_a_clear_error(tmp_path):
    path = tmp_path / "fake.png"
    path.write_text("not a png")
    with pytest.raises(ValidationError, match="not a readable image"):
        read_request(path)


@pytest.mark.parametrize("payload", ['{"request": 5}', "{broken", '{"request": {"prompt": "x", "width": 1000}}'])
def test_damaged_or_out_of_bounds_metadata_is_rejected(tmp_path, payload):
    info = PngImagePlugin.PngInfo()
    info.add_text("zimage", payload)
    path = tmp_path / "bad.png"
    Image.new("RGB", (4, 4)).save(path, pnginfo=info)
    with pytest.raises(ValidationError):
        read_request(path)
