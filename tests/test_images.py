"""Edit sources and masks: bad files get one clear, translated message; good ones decode as users expect."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from zimage import i18n
from zimage.errors import ValidationError
from zimage.images import MAX_SOURCE_PIXELS, fit_size, load_mask_image, load_source


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width: int, height: int, depth: int, rows: bytes) -> bytes:
    """A hand-built RGB PNG: lets a test claim any size in the header (a bomb) or a 16-bit depth."""
    header = struct.pack(">IIBBBBB", width, height, depth, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))


def refused(data: bytes, code: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        load_source(data)
    assert caught.value.code == code
    zh = i18n.error_message(caught.value, "zh")
    assert zh and zh != caught.value.message  # a Chinese template exists and is used
    return caught.value


def test_a_plain_image_decodes_to_rgb_with_the_sha256_of_its_bytes():
    data = encode(Image.new("RGB", (40, 30), (200, 10, 10)))
    source = load_source(data)
    assert source.image.mode == "RGB" and source.size == (40, 30)
    assert source.image.getpixel((5, 5)) == (200, 10, 10)
    assert source.sha256 == hashlib.sha256(data).hexdigest()


def test_a_file_path_works_like_bytes(tmp_path):
    path = tmp_path / "in.jpg"
    path.write_bytes(encode(Image.new("RGB", (64, 48), "white"), "JPEG"))
    assert load_source(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    source = load_source(encode(Image.new("RGB", (60, 20), "white"), "JPEG", exif=exif))
    assert source.size == (20, 60)


def test_a_fully_opaque_rgba_file_is_accepted():
    assert load_source(encode(Image.new("RGBA", (20, 20), (1, 2, 3, 255)))).image.getpixel((0, 0)) == (1, 2, 3)


@pytest.mark.parametrize("data", [b"not an image at all", b"", encode(Image.new("RGB", (20, 20)), "TIFF"),
                                  encode(Image.new("RGB", (200, 200)), "JPEG")[:300]],
                         ids=["text", "empty", "tiff", "truncated"])
def test_non_images_are_refused(data):
    assert "could not be read" in str(refused(data, "image_unreadable"))


def test_a_decompression_bomb_is_refused_from_its_header_without_decoding():
    # 5000x5000 claimed with a few bytes of pixel data: decoding would eat 75 MB; the header check refuses first.
    error = refused(raw_png(5000, 5000, 8, b"\x00" * 100), "image_too_large")
    assert "5000x5000" in str(error) and "16.8 megapixels" in str(error)
    # Far beyond, PIL's own bomb check fires while reading the header; that is refused the same way.
    assert "16.8 megapixels" in str(refused(raw_png(40000, 40000, 8, b""), "image_huge"))


def test_just_over_the_pixel_limit_is_refused():
    side = int(MAX_SOURCE_PIXELS ** 0.5) + 1
    refused(raw_png(side, side, 8, b""), "image_too_large")


def test_animated_images_are_refused():
    frames = [Image.new("RGB", (20, 20), colour) for colour in ("red", "blue", "green")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert "3 frames" in str(refused(data, "image_animated"))


def test_16_bit_images_are_refused():
    rows = b"".join(b"\x00" + bytes(range(96)) for _ in range(16))  # 16 px of 3 x 16 bits per row
    refused(raw_png(16, 16, 16, rows), "image_16bit")
    refused(encode(Image.fromarray(np.zeros((20, 20), dtype=np.uint16))), "image_16bit")


def test_cmyk_images_are_refused():
    refused(encode(Image.new("CMYK", (20, 20)), "JPEG"), "image_cmyk")


def test_transparent_images_are_refused():
    refused(encode(Image.new("RGBA", (20, 20), (1, 2, 3, 0))), "image_transparent")
    refused(encode(Image.new("P", (20, 20), 0), transparency=0), "image_transparent")


def test_masks_accept_transparency_and_16_bit():
    assert load_mask_image(encode(Image.new("RGBA", (8, 8), (0, 0, 0, 0)))).size == (8, 8)
    grey16 = load_mask_image(encode(Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))))
    assert grey16.getpixel((0, 0))[0] == 255


@pytest.mark.parametrize("size,expected", [((1024, 1024), (1024, 1024)), ((1920, 1080), (1920, 1088)),
                                           ((4000, 3000), (2048, 1536)), ((100, 80), (320, 256)),
                                           ((1000, 667), (1008, 672))])
def test_the_working_size_follows_the_image_in_multiples_of_16(size, expected):
    assert fit_size(*size) == expected


def test_an_image_too_narrow_for_the_limits_is_refused_not_distorted():
    with pytest.raises(ValidationError) as caught:
        fit_size(3000, 300)
    assert caught.value.code == "image_aspect"
