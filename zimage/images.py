"""Safe loading of user images (edit sources and masks) and the size an edit runs at.

Decisions, documented in the README:
- Decompression bombs: the header's width x height is checked against MAX_SOURCE_PIXELS before any pixel is
  decoded, and files over MAX_FILE_BYTES are not read at all.
- Only PNG, JPEG, WebP, BMP and GIF are decoded; anything else (TIFF, PSD, SVG, a text file) is "not an image".
- Animated images are refused rather than silently cut to their first frame: which frame to fix is the user's call.
- 16-bit (and 32-bit) images, CMYK images and sources with transparent pixels are refused with a message that
  says what to export instead. A naive CMYK->RGB conversion shifts colours and a transparent area has no
  colour to keep, so guessing would hand back something the designer did not ask for. Fully opaque RGBA files
  (screenshots often are) are accepted. Masks may use any bit depth or transparency: they are read as shapes.
- EXIF orientation is applied, so a phone photo is edited the way it is shown.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ValidationError
from .request import MAX_SIDE, MIN_SIDE, SIDE_MULTIPLE

MAX_SOURCE_PIXELS = 4096 * 4096  # 16.8 MP: a poster or a phone photo; 4x what the model itself works at
MAX_FILE_BYTES = 64 * 2**20
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
_HIGH_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
MAX_ASPECT = MAX_SIDE / MIN_SIDE
SOURCE, MASK = "source image", "mask"  # what messages call the two inputs

ImageInput = Union[str, Path, bytes]


@dataclass(frozen=True)
class SourceImage:
    """A decoded RGB image and the SHA-256 of the bytes it came from (what `sha256sum FILE` prints)."""

    image: Image.Image
    sha256: str

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def read_bytes(data: ImageInput, what: str) -> bytes:
    """The raw file bytes, refusing files too large to be a sensible upload before reading them."""
    if isinstance(data, (bytes, bytearray)):
        raw = bytes(data)
    else:
        path = Path(data)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise _too_large_file(what, path.stat().st_size)
            raw = path.read_bytes()
        except OSError:
            raise _not_an_image(what) from None
    if len(raw) > MAX_FILE_BYTES:
        raise _too_large_file(what, len(raw))
    return raw


def load_source(data: ImageInput) -> SourceImage:
    """Decode an edit source into RGB, or raise one ValidationError saying what is wrong and what to do."""
    raw = read_bytes(data, SOURCE)
    image = _open_checked(raw, SOURCE)
    _refuse_unusual_modes(image)
    image = _decoded(image, SOURCE)
    rgb = _opaque_rgb(image)
    return SourceImage(rgb, hashlib.sha256(raw).hexdigest())


def load_mask_image(data: ImageInput) -> Image.Image:
    """Decode a mask file into a greyscale-with-alpha image; any bit depth or transparency is fine for a shape."""
    image = _decoded(_open_checked(read_bytes(data, MASK), MASK), MASK)
    if image.mode in _HIGH_DEPTH_MODES:
        # 16-bit greyscale masks: keep the shape, scale to 8 bits (PIL's convert("L") clips instead of scaling).
        image = image.point(lambda value: value / 256).convert("L")
    return image.convert("LA") if image.mode in ("1", "L", "P", "I", "F") else image.convert("RGBA")


def _open_checked(raw: bytes, what: str) -> Image.Image:
    """Open lazily (header only) and check format, pixel count and frames before anything is decoded."""
    try:
        image = Image.open(io.BytesIO(raw), formats=FORMATS)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise _not_an_image(what) from None
    except Image.DecompressionBombError:  # PIL's own limit, 10x ours: the size is not even known here
        limit = f"{MAX_SOURCE_PIXELS / 1e6:.1f}"
        raise ValidationError(f"The {what} is far larger than the limit of {limit} megapixels.",
                              code="image_huge", limit=limit) from None
    width, height = image.size
    if width < 1 or height < 1 or width * height > MAX_SOURCE_PIXELS:
        raise _too_many_pixels(what, width, height)
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        raise ValidationError(f"The {what} is animated ({frames} frames). Export the frame you want as a PNG.",
                              code="image_animated", what=what, frames=frames)
    return image


def _refuse_unusual_modes(image: Image.Image) -> None:
    """Refuse before decoding what a plain RGB conversion would get wrong (see the module docstring)."""
    # 16-bit RGB PNGs open as mode "RGB" (PIL would quietly drop the low bytes); the raw mode in the tile says so.
    rawmode = str(image.tile[0].args) if image.tile else ""
    if image.mode in _HIGH_DEPTH_MODES or ";16" in rawmode:
        raise ValidationError("The source image has 16 or more bits per channel. Export it as an 8-bit PNG or JPEG.",
                              code="image_16bit")
    if image.mode == "CMYK":
        raise ValidationError("The source image is CMYK. Convert it to RGB (sRGB) and upload it again.", code="image_cmyk")


def _decoded(image: Image.Image, what: str) -> Image.Image:
    """Decode the pixels and apply EXIF orientation; a truncated or damaged file is "not a readable image"."""
    try:
        image.load()
        return ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise _not_an_image(what) from None


def _opaque_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        low, _ = image.getchannel("A").getextrema()
        if low < 255:
            raise ValidationError("The source image has transparent areas. Flatten it onto a background and upload it again.",
                                  code="image_transparent")
    return image.convert("RGB")


def fit_size(width: int, height: int) -> tuple[int, int]:
    """The size an edit runs at: the image's own, scaled into the side limits and rounded to multiples of 16.

    The aspect ratio is kept (scaling down past MAX_SIDE or up past MIN_SIDE); an image too narrow to fit both
    limits at its own ratio is refused rather than distorted.
    """
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise ValidationError(
            f"The source image is {width}x{height}; its sides may differ by at most {MAX_ASPECT:g}x. Crop it first.",
            code="image_aspect", width=width, height=height, limit=f"{MAX_ASPECT:g}")
    scale = min(1.0, MAX_SIDE / max(width, height))
    scale = max(scale, MIN_SIDE / min(width, height))
    return _round_side(width * scale), _round_side(height * scale)


def _round_side(value: float) -> int:
    side = int(math.floor(value / SIDE_MULTIPLE + 0.5)) * SIDE_MULTIPLE
    return min(MAX_SIDE, max(MIN_SIDE, side))


def resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` at `size`, untouched (the same object) when it already is, so no resampling blurs it."""
    return image if image.size == tuple(size) else image.resize(size, Image.Resampling.LANCZOS)


def _not_an_image(what: str) -> ValidationError:
    return ValidationError(f"The {what} could not be read. Use a PNG, JPEG or WebP file.",
                           code="image_unreadable", what=what)


def _too_many_pixels(what: str, width: int, height: int) -> ValidationError:
    limit = f"{MAX_SOURCE_PIXELS / 1e6:.1f}"
    return ValidationError(
        f"The {what} is {width}x{height}; the limit is {limit} megapixels. Scale it down and upload it again.",
        code="image_too_large", what=what, width=width, height=height, limit=limit)


def _too_large_file(what: str, size: int) -> ValidationError:
    limit = MAX_FILE_BYTES // 2**20
    return ValidationError(f"The {what} file is {size / 2**20:.0f} MB; the limit is {limit} MB.",
                           code="image_file_large", what=what, size=f"{size / 2**20:.0f}", limit=limit)
