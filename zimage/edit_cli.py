"""The CLI's edit and LoRA flags: `generate --image IN.png [--mask M.png] --strength 0.6 --lora NAME[:WEIGHT]`,
and `loras`, which lists what is installed."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from .errors import ValidationError
from .request import (DEFAULT_INPAINT_STRENGTH, DEFAULT_LORA_WEIGHT, DEFAULT_MASK_BLUR, DEFAULT_SIDE,
                      DEFAULT_STRENGTH, MAX_LORA_WEIGHT, MAX_LORAS, MAX_MASK_BLUR, MAX_STRENGTH, MIN_LORA_WEIGHT,
                      MIN_MASK_BLUR, MIN_STRENGTH, parse_size)


def add_edit_options(gen: argparse.ArgumentParser) -> None:
    gen.add_argument("--image", type=Path, help="restyle this image (PNG, JPEG or WebP) instead of starting from noise")
    gen.add_argument("--mask", type=Path, help="with --image: repaint only the white (or painted) area of this mask")
    gen.add_argument("--strength", help=f"with --image: how far to move from it, above {MIN_STRENGTH:g} to "
                                        f"{MAX_STRENGTH:g} (default {DEFAULT_STRENGTH}, {DEFAULT_INPAINT_STRENGTH} "
                                        "with --mask)")
    gen.add_argument("--mask-blur", default=DEFAULT_MASK_BLUR,
                     help=f"feather of the mask edge in pixels ({MIN_MASK_BLUR}-{MAX_MASK_BLUR})")
    gen.add_argument("--lora", action="append", default=[], metavar="NAME[:WEIGHT]",
                     help=f"apply an installed LoRA (repeatable, up to {MAX_LORAS}); weight "
                          f"{MIN_LORA_WEIGHT:g} to {MAX_LORA_WEIGHT:g}, default {DEFAULT_LORA_WEIGHT:g}")


def add_loras_command(commands: Any, add_engine_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    loras = commands.add_parser("loras", help="list the installed LoRAs (ZIMAGE_LORA_DIR, ZIMAGE_LORAS)")
    add_engine_flags(loras)


def edit_inputs(args: argparse.Namespace) -> dict[str, Any]:
    """The request fields and images the edit flags ask for; the size follows --image unless --size is given."""
    from .images import fit_size, load_mask_image, load_source
    from .lora import parse_spec

    if (args.mask or args.strength is not None) and not args.image:
        raise ValidationError("--mask and --strength need --image.", code="usage")
    source = load_source(args.image) if args.image else None
    mask = load_mask_image(args.mask) if args.mask else None
    width, height = parse_size(args.size) if args.size else fit_size(*source.size) if source else (DEFAULT_SIDE,) * 2
    strength = args.strength if args.strength is not None else DEFAULT_INPAINT_STRENGTH if mask else DEFAULT_STRENGTH
    fields = dict(width=width, height=height, strength=strength if source else None, mask_blur=args.mask_blur,
                  loras=tuple(parse_spec(spec) for spec in args.lora))
    return {"fields": fields, "source": source, "mask": mask}


def run_loras(library: Any) -> int:
    """Print each installed LoRA: name, first 12 hex of its SHA-256, and where it is."""
    installed = library.available()
    if not installed:
        print("No LoRAs installed. Put .safetensors files in ZIMAGE_LORA_DIR or list hub ids in ZIMAGE_LORAS.")
    for item in installed:
        sha = library.sha12(item) if item.path is not None else "(not downloaded)"
        print(f"{item.name}\t{sha}\t{item.hub_id or item.path}")
    return 0
