"""Command line: `python -m zimage generate "prompt" --seed 42 --count 4 --size 1024x1024 --out DIR`."""

from __future__ import annotations

import argparse
import logging
import random
import sys
from pathlib import Path

from .config import DEVICES, MEMORY_MODES, Settings
from .errors import ZImageError
from .request import DEFAULT_SHIFT, DEFAULT_STEPS, MAX_SEED, GenerationRequest, parse_size


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m zimage", description="Make images with Z-Image-Turbo.")
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="generate PNGs from a prompt")
    gen.add_argument("prompt")
    gen.add_argument("--seed", type=int, help="first seed (default: random); image i uses seed+i")
    gen.add_argument("--count", type=int, default=1, help="images, with consecutive seeds (1-8)")
    gen.add_argument("--size", default="1024x1024", help="WIDTHxHEIGHT, multiples of 16 in [256, 2048]")
    gen.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="inference steps (Turbo: 9)")
    gen.add_argument("--shift", type=float, default=DEFAULT_SHIFT, help="scheduler time shift (1-10)")
    gen.add_argument("--out", type=Path, default=Path("outputs"), help="output folder")
    gen.add_argument("--model", help="auto, tiny, a hub id or a local diffusers folder (env ZIMAGE_MODEL)")
    gen.add_argument("--device", choices=DEVICES)
    gen.add_argument("--memory", choices=MEMORY_MODES, help="full, offload (16 GB cards), sequential")
    gen.add_argument("--attention", help="attention backend: auto, native, flash, _flash_3, ...")
    gen.add_argument("--compile", action="store_true", default=None, help="regional torch.compile")
    gen.add_argument("--fp8", action="store_true", default=None, help="fp8 weights via torchao")
    info = commands.add_parser("info", help="print the settings stored in a PNG")
    info.add_argument("png", type=Path)
    return parser


def _generate(args: argparse.Namespace) -> int:
    from .engine import Engine
    from .outputs import save_all

    width, height = parse_size(args.size)
    seed = random.randint(0, MAX_SEED - 8) if args.seed is None else args.seed
    request = GenerationRequest(prompt=args.prompt, width=width, height=height, seed=seed, count=args.count,
                                steps=args.steps, shift=args.shift).validated()
    settings = Settings.from_env().with_overrides(
        model=args.model, device=args.device, memory=args.memory, attention=args.attention,
        compile=args.compile, fp8=args.fp8,
    )
    engine = Engine(settings)
    loaded = engine.load()
    if loaded.source.is_tiny:
        print("Note: using the tiny random-weights demo model; its images are noise by design.", file=sys.stderr)
    for path in save_all(engine.generate(request), args.out):
        print(path)
    return 0


def _info(args: argparse.Namespace) -> int:
    from .metadata import read_request

    for key, value in read_request(args.png).to_dict().items():
        print(f"{key}: {value}")
    return 0


class _OneLineFormatter(logging.Formatter):
    """Log lines without tracebacks: a CLI user gets the one-line "Error: ..." and nothing else."""

    def formatException(self, exc_info) -> str:  # noqa: N802 - logging's name
        return ""


def _setup_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging()
    try:
        return _generate(args) if args.command == "generate" else _info(args)
    except ZImageError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
