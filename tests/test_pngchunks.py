"""Recording a text-check verdict rewrites one text chunk of the saved PNG and copies the rest byte for byte."""

from __future__ import annotations

import json
import struct
import zlib
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, PngImagePlugin

from zimage import pngchunks
from zimage.errors import ValidationError
from zimage.metadata import (JSON_KEY, PARAMETERS_KEY, PNG_COMPRESS_LEVEL, TEXT_CHECK_KEY, read_request,
                             read_text_check, record_text_check)
from zimage.model_info import ModelInfo
from zimage.outputs import png_bytes
from zimage.proofread import open_image
from zimage.request import GenerationRequest
from zimage.runner import GeneratedImage
from zimage.textcheck import judge

PROMPT = '一张红色的春节海报，标题写着"新年快乐"，下方写着"Happy New Year"'
REQUEST = GenerationRequest(PROMPT, width=256, height=256, seed=42, steps=8)
MODEL = ModelInfo("Tongyi-MAI/Z-Image-Turbo", "abc123", model_hash="0123456789")
READABLE = frozenset("abcdefghijklmnopqrstuvwxyz新年快乐")
FOUND = judge(["新年快乐", "Happy New Year"], ["新年快乐", "HAPPY NEW YEAR"], READABLE, "ocr 1")
MISSING = judge(["新年快乐", "Happy New Year"], ["新年快东", "HAPY NEW YEAR"], READABLE, "ocr 2")


@pytest.fixture(params=[PNG_COMPRESS_LEVEL, 9])
def saved(tmp_path, request) -> Path:
    """A PNG as the app writes it (zimage.outputs), and one at another zlib level, as another writer might leave
    it: a re-encode would change its IDAT bytes. Noise, so the pixels fill several IDAT chunks."""
    pixels = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    path = tmp_path / "zimage-42.png"
    path.write_bytes(png_bytes(GeneratedImage(Image.fromarray(pixels), REQUEST, MODEL), level=request.param))
    return path


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def texts(path: Path) -> dict[str, str]:
    with Image.open(path) as image:
        image.load()
        return dict(image.text)


def chunks_except(path: Path, key: bytes) -> list[pngchunks.Chunk]:
    return [chunk for chunk in pngchunks.read_png(path) if chunk.keyword != key]


def test_text_chunks_are_the_ones_pil_writes():
    """Readers must see what they saw when PIL re-encoded the file: tEXt for Latin-1, iTXt (UTF-8) otherwise."""
    for value in ("plain ascii", "café, 1€ is not latin-1", "新年快乐", "café"):
        info = PngImagePlugin.PngInfo()
        info.add_text("k", value)
        buffer = BytesIO()
        Image.new("RGB", (2, 2)).save(buffer, format="PNG", pnginfo=info)
        (written,) = [chunk for chunk in pngchunks.parse(buffer.getvalue()) if chunk.keyword == b"k"]
        assert pngchunks.text_chunk("k", value) == written


def test_recording_keeps_pixels_and_every_other_chunk_byte_for_byte(saved):
    before_pixels, before_texts = pixels(saved), texts(saved)
    before_idat = b"".join(c.data for c in pngchunks.read_png(saved) if c.kind == b"IDAT")
    before_chunks = chunks_except(saved, JSON_KEY.encode())
    assert sum(chunk.kind == b"IDAT" for chunk in before_chunks) > 1
    record_text_check(saved, open_image(saved), MISSING)
    assert np.array_equal(pixels(saved), before_pixels)
    assert b"".join(c.data for c in pngchunks.read_png(saved) if c.kind == b"IDAT") == before_idat
    assert chunks_except(saved, JSON_KEY.encode()) == before_chunks
    after_texts = texts(saved)
    assert after_texts[PARAMETERS_KEY] == before_texts[PARAMETERS_KEY]
    before_json, after_json = json.loads(before_texts[JSON_KEY]), json.loads(after_texts[JSON_KEY])
    assert after_json.pop(TEXT_CHECK_KEY) == MISSING.to_dict() and after_json == before_json


def test_verdict_and_settings_read_back_through_the_app_and_pil(saved):
    record_text_check(saved, open_image(saved), MISSING)
    assert read_text_check(saved) == MISSING and MISSING.missing == ("新年快乐", "Happy New Year")
    assert read_request(saved) == REQUEST
    with Image.open(saved) as image:  # before any decode: the chunk sits before IDAT, where viewers look
        verdict = json.loads(image.info[JSON_KEY])[TEXT_CHECK_KEY]
    assert verdict["missing"][0]["text"] == "新年快乐" and verdict["read"] == ["新年快东", "HAPY NEW YEAR"]


def test_recording_twice_replaces_the_chunk(saved):
    record_text_check(saved, open_image(saved), MISSING)
    record_text_check(saved, open_image(saved), FOUND)
    keys = [chunk.keyword for chunk in pngchunks.read_png(saved) if chunk.keyword is not None]
    assert sorted(keys) == sorted([JSON_KEY.encode(), PARAMETERS_KEY.encode()])
    assert read_text_check(saved) == FOUND and read_request(saved) == REQUEST


def test_rewritten_file_passes_independent_crc_checks(saved, monkeypatch):
    record_text_check(saved, open_image(saved), MISSING)
    data = saved.read_bytes()
    offset, kinds = 8, []
    while offset < len(data):  # a walk of its own, not pngchunks.parse, so the check does not trust the code
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 4:offset + 8 + length]
        assert struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])[0] == zlib.crc32(body)
        kinds.append(kind)
        offset += 12 + length
    assert offset == len(data) and kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)
    with Image.open(saved) as image:
        image.verify()  # PIL checks the CRC of every chunk, text and IDAT alike
    with Image.open(saved) as image:
        image.load()


@pytest.mark.parametrize("damage", ["truncated", "bad crc", "not a png"])
def test_damaged_png_is_the_proofreading_error_and_left_untouched(saved, damage):
    image = open_image(saved)  # decoded while whole; the file is damaged before the verdict is recorded
    data = saved.read_bytes()
    damaged = {"truncated": data[:len(data) // 2], "bad crc": data[:-20] + bytes([data[-20] ^ 1]) + data[-19:],
               "not a png": b"\x89PNG broken"}[damage]
    saved.write_bytes(damaged)
    with pytest.raises(ValidationError) as raised:
        record_text_check(saved, image, MISSING)
    assert raised.value.code == "image_file" and str(raised.value) == f"Cannot read {saved} as an image."
    assert saved.read_bytes() == damaged and [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_failed_write_leaves_the_original_and_no_partial_file(saved, monkeypatch):
    original = saved.read_bytes()

    def full_disk(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pngchunks.os, "replace", full_disk)
    with pytest.raises(OSError):
        record_text_check(saved, open_image(saved), MISSING)
    assert saved.read_bytes() == original and [p.name for p in saved.parent.iterdir()] == [saved.name]
