"""Edits and LoRAs in PNG metadata: A1111's keys and LoRA convention, and the JSON chunk's image hashes."""

from __future__ import annotations

import json

from PIL import Image

from zimage.metadata import JSON_KEY, PARAMETERS_KEY, format_parameters, parse_parameters, read_request, save_png
from zimage.model_info import ModelInfo
from zimage.request import GenerationRequest, LoraRef

MODEL = ModelInfo("Tongyi-MAI/Z-Image-Turbo", "abc123", model_hash="0123456789")
LORAS = (LoraRef("ink", 0.8, "0123456789ab"), LoraRef("styles/neon", -1, "abcdef012345"))
FIX = GenerationRequest('a poster that says "SALE"', width=512, height=768, seed=5, strength=0.75, mask_blur=6,
                        source_sha256="a" * 64, mask_sha256="b" * 64, loras=LORAS)


def test_the_parameters_text_uses_a1111_keys_and_lora_tags():
    text = format_parameters(FIX, MODEL)
    prompt, settings = text.split("\n")
    assert prompt == 'a poster that says "SALE" <lora:ink:0.8> <lora:styles/neon:-1>'
    assert "Denoising strength: 0.75" in settings and "Mask blur: 6" in settings
    assert 'Lora hashes: "ink: 0123456789ab, styles/neon: abcdef012345"' in settings


def test_a1111_text_parses_back_to_the_same_edit_without_the_image_hashes():
    parsed = parse_parameters(format_parameters(FIX, MODEL))
    assert parsed.prompt == FIX.prompt and parsed.loras == LORAS
    assert (parsed.strength, parsed.mask_blur) == (0.75, 6)
    assert parsed.source_sha256 == ""  # A1111 has no key for it; the JSON chunk carries it


def test_a1111_lora_tags_without_hashes_parse_as_unresolved():
    parsed = parse_parameters("a cat <lora:ink:0.5>\nSteps: 8, Seed: 1, Size: 512x512")
    assert parsed.prompt == "a cat" and parsed.loras == (LoraRef("ink", 0.5),)


def test_the_png_round_trips_every_edit_field_and_stores_hashes_not_images(tmp_path):
    path = save_png(Image.new("RGB", (512, 768)), FIX, MODEL, tmp_path / "fix.png")
    assert read_request(path) == FIX
    with Image.open(path) as image:
        payload = json.loads(image.info[JSON_KEY])
        assert payload["request"]["source_sha256"] == "a" * 64 and payload["request"]["mask_sha256"] == "b" * 64
        assert payload["request"]["loras"][0] == {"name": "ink", "weight": 0.8, "sha12": "0123456789ab"}
        assert len(image.info[JSON_KEY]) < 2000 and len(image.info[PARAMETERS_KEY]) < 2000


def test_text_to_image_metadata_has_no_edit_keys():
    text = format_parameters(GenerationRequest("a cat"), MODEL)
    assert "Denoising" not in text and "Mask blur" not in text and "Lora" not in text


def test_share_links_carry_loras_and_edit_settings_but_say_the_image_is_needed():
    from urllib.parse import parse_qs

    from zimage.sharelink import build_query, needs_source_image, parse_query

    query = build_query(FIX)
    back = parse_query(parse_qs(query))
    assert back.loras == LORAS and (back.strength, back.mask_blur) == (0.75, 6)
    assert back.source_sha256 == "" and needs_source_image(back)
    plain = parse_query(parse_qs(build_query(GenerationRequest("a cat", loras=(LoraRef("ink", 0.5),)))))
    assert plain.loras == (LoraRef("ink", 0.5),) and not needs_source_image(plain)
    assert "strength" not in build_query(GenerationRequest("a cat"))
