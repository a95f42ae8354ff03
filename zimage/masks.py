"""Inpainting masks: from a drawn layer or an uploaded file to the region the model repaints, and the composite
that puts the result back so everything outside the mask (beyond a feather band) is the original, pixel for pixel.

White (or painted) pixels mark what to repaint. The feather band is `blur` pixels wide on each side of the mask
edge (A1111's "Mask blur"); outside it, the composite's alpha is exactly 0, so those pixels are copied.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from PIL import Image, ImageFilter

from .errors import ValidationError
from .request import DEFAULT_MASK_BLUR, MAX_MASK_BLUR, MIN_MASK_BLUR, check_int

# The model works on 16-pixel patches (VAE x8, patch 2); repaint a patch more than the feather needs, so the
# band is blended from freshly generated pixels rather than from a VAE round trip of the original.
MODEL_MARGIN = 16


@dataclass(frozen=True)
class Mask:
    """A binary mask at the source image's size (mode "L", 0 or 255) and its feather width in pixels."""

    shape: Image.Image
    blur: int

    @property
    def sha256(self) -> str:
        """SHA-256 of "WxH" and the 0/255 mask bytes: the same for a drawn and an uploaded copy of one shape."""
        width, height = self.shape.size
        return hashlib.sha256(f"{width}x{height}\n".encode() + self.shape.tobytes()).hexdigest()


def combine_layers(layers: Iterable[Image.Image], size: tuple[int, int]) -> Image.Image:
    """Merge brush layers (transparent except where painted) for a source of `size` into one greyscale+alpha image."""
    alphas = []
    for layer in layers:
        _check_size(layer, size)
        alphas.append(np.asarray(layer.convert("RGBA").getchannel("A")))
    if not alphas:
        raise _empty()
    merged = Image.fromarray(np.maximum.reduce(alphas), mode="L")
    return Image.merge("LA", (merged, merged))


def prepare_mask(image: Image.Image, size: tuple[int, int], blur: int = DEFAULT_MASK_BLUR) -> Mask:
    """Turn a mask image into a binary Mask for a source of `size`, or raise one clear error.

    An image with transparency is a painted layer: painted (alpha >= 128) pixels are the mask. An opaque image is
    a black-and-white mask: light (luminance >= 128) pixels are the mask.
    """
    _check_size(image, size)
    blur = check_int("mask_blur", blur, MIN_MASK_BLUR, MAX_MASK_BLUR)
    values = _mask_values(image)
    binary = values >= 128
    if not binary.any():
        raise _empty()
    return Mask(Image.fromarray(binary.astype(np.uint8) * 255, mode="L"), blur)


def _check_size(image: Image.Image, size: tuple[int, int]) -> None:
    if tuple(image.size) != tuple(size):
        raise ValidationError(
            f"The mask is {image.size[0]}x{image.size[1]} but the image is {size[0]}x{size[1]}; they must match.",
            code="mask_size", mask=f"{image.size[0]}x{image.size[1]}", image=f"{size[0]}x{size[1]}")


def _mask_values(image: Image.Image) -> np.ndarray:
    if image.mode in ("LA", "RGBA", "PA") or (image.mode == "P" and "transparency" in image.info):
        alpha = np.asarray(image.convert("RGBA").getchannel("A"))
        if alpha.min() < 255:
            return alpha
    return np.asarray(image.convert("L"))


def _empty() -> ValidationError:
    return ValidationError("The mask is empty. Paint over the area to change.", code="mask_empty")


def dilate(binary: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within `radius` (Chebyshev distance) of a True pixel, in O(pixels) via an integral image."""
    if radius <= 0:
        return binary.copy()
    padded = np.pad(binary.astype(np.int32), radius + 1)
    integral = padded.cumsum(0).cumsum(1)
    size = 2 * radius + 1
    height, width = binary.shape
    window = (integral[size:size + height, size:size + width] - integral[:height, size:size + width]
              - integral[size:size + height, :width] + integral[:height, :width])
    return window > 0


def band(mask: Mask) -> np.ndarray:
    """Where the composite may differ from the original: the mask and `blur` pixels around it."""
    return dilate(np.asarray(mask.shape) > 0, mask.blur)


def model_mask(mask: Mask, size: tuple[int, int]) -> Image.Image:
    """The region the model repaints, at the working size: the feather band plus a margin, never smaller."""
    grown = dilate(np.asarray(mask.shape) > 0, mask.blur + MODEL_MARGIN)
    image = Image.fromarray(grown.astype(np.uint8) * 255, mode="L")
    if image.size != tuple(size):
        # Bilinear then "anything above 0": resizing can only grow the region, never drop a masked pixel.
        image = image.resize(size, Image.Resampling.BILINEAR).point(lambda value: 255 if value else 0)
    return image


def feather(mask: Mask) -> np.ndarray:
    """The composite's alpha in [0, 1]: a Gaussian edge (sigma blur/3), exactly 0 outside the band."""
    if mask.blur <= 0:
        return np.asarray(mask.shape, dtype=np.float32) / 255.0
    blurred = np.asarray(mask.shape.filter(ImageFilter.GaussianBlur(mask.blur / 3)), dtype=np.float32) / 255.0
    return np.where(band(mask), blurred, 0.0).astype(np.float32)


def composite(original: Image.Image, generated: Image.Image, mask: Mask) -> Image.Image:
    """Put the generated pixels into the original through the feathered mask, at the original's size.

    Where alpha is 0 the arithmetic is `original + 0`, so those pixels come back bit for bit.
    """
    if generated.size != original.size:
        generated = generated.resize(original.size, Image.Resampling.LANCZOS)
    alpha = feather(mask)[..., None]
    base = np.asarray(original.convert("RGB"), dtype=np.float32)
    new = np.asarray(generated.convert("RGB"), dtype=np.float32)
    mixed = np.rint(base + (new - base) * alpha)
    return Image.fromarray(np.clip(mixed, 0, 255).astype(np.uint8), mode="RGB")
