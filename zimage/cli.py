"""Command line: `python -m zimage generate "prompt" --seed 42 --count 4 --size 1024x1024 --out DIR`.

Bad input of any kind, in any flag, prints one `Error: ...` line and exits with code 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import NoReturn

from .errors import ValidationError, ZImageError
from .flags import add_engine_flags, settings_from_args
from .request import (DEFAULT_SHIFT, DEFAULT_SIDE, DEFAULT_STEPS, MAX_COUNT, MAX_SEED, MAX_SHIFT, MAX_SIDE,
                      MAX_STEPS, MIN_COUNT, MIN_SHIFT, MIN_SIDE, MIN_STEPS, SIDE_MULTIPLE, TURBO_STEPS,
                      GenerationRequest, parse_size, random_seed)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as our one-line error instead of usage text and exit 2."""

    def error(self, message: str) -> NoReturn:
        raise ValidationError(f"{message[0].upper()}{message[1:]}. See `{self.prog} --help`.", code="usage")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m zimage", description="Make images with Z-Image-Turbo.")
    parser.add_argument("--verbose", action="store_true", help="show library warnings and log lines")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    gen = commands.add_parser("generate", help="generate PNGs from a prompt")
    gen.add_argument("prompt")
    # Numbers are read as text and checked by the request, so every bad value gets the same message as the app.
    gen.add_argument("--seed", help=f"first seed, 0 to {MAX_SEED} (default: random); image i uses seed+i")
    gen.add_argument("--count", default=1, help=f"images, with consecutive seeds ({MIN_COUNT}-{MAX_COUNT})")
    gen.add_argument("--size", default=f"{DEFAULT_SIDE}x{DEFAULT_SIDE}",
                     help=f"WIDTHxHEIGHT, multiples of {SIDE_MULTIPLE} in [{MIN_SIDE}, {MAX_SIDE}]")
    gen.add_argument("--steps", default=DEFAULT_STEPS,
                     help=f"inference steps, {MIN_STEPS}-{MAX_STEPS} (Turbo: {TURBO_STEPS})")
    gen.add_argument("--shift", default=DEFAULT_SHIFT, help=f"scheduler time shift ({MIN_SHIFT:g}-{MAX_SHIFT:g})")
    gen.add_argument("--out", type=Path, default=Path("outputs"), help="output folder")
    gen.add_argument("--check-text", action="store_true",
                     help="proof-read each image against the prompt's quoted text and record the verdict in the PNG")
    add_engine_flags(gen)
    info = commands.add_parser("info", help="print the settings stored in a PNG")
    info.add_argument("png", type=Path)
    check = commands.add_parser(
        "check", help="proof-read images: exit 0 when every expected text is found, 4 when some is missing")
    check.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    check.add_argument("--expect", action="append", default=[], metavar="TEXT",
                       help="text that must appear (repeat for more); default: the quoted text of the prompt "
                            "stored in a PNG made by zimage")
    check.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    return parser


def _generate(args: argparse.Namespace) -> int:
    from .engine import Engine
    from .outputs import save

    width, height = parse_size(args.size)
    seed = random_seed() if args.seed is None else args.seed
    request = GenerationRequest(prompt=args.prompt, width=width, height=height, seed=seed, count=args.count,
                                steps=args.steps, shift=args.shift)
    engine = Engine(settings_from_args(args), retry_hint=False)
    if engine.load().info.is_tiny:
        print("Note: using the tiny random-weights demo model; its images are noise by design.", file=sys.stderr)
    results = engine.generate(request)
    if not args.check_text:
        for item in save(results, args.out):
            print(item.path)
        return 0
    return _generate_checked(results, request, args.out)


def _generate_checked(results: list, request: GenerationRequest, out: Path) -> int:
    """Save with verdicts; print each path with its verdict, then the best-reading image."""
    from .outputs import save
    from .proofread import check_images, summary
    from .textcheck import best_index, expected_spans

    expected = expected_spans(request.prompt)
    if not expected:
        print("Note: the prompt quotes no text, so there is nothing to check.", file=sys.stderr)
    verdicts = check_images([item.image for item in results], expected)
    saved = save(results, out, verdicts=verdicts)
    for item in saved:
        print(f"{item.path}\t{summary(item.text_check)}" if expected else item.path)
    best = best_index(verdicts)
    if best is not None and len(saved) > 1:
        print(f"Best: {saved[best].path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    """Proof-read image files; the exit code says whether anything expected is missing, as `diff` does."""
    from .proofread import check_files, report_lines

    checked = check_files(args.images, args.expect)
    print(json.dumps(checked.to_dict(), ensure_ascii=False, indent=2) if args.json else "\n".join(report_lines(checked)))
    return 4 if checked.any_missing else 0


def _info(args: argparse.Namespace) -> int:
    from .metadata import read_request

    for key, value in read_request(args.png).to_dict().items():
        print(f"{key}: {value}")
    return 0


class _OneLineFormatter(logging.Formatter):
    """Log lines without tracebacks: a CLI user gets the one-line "Error: ..." and nothing else."""

    def formatException(self, exc_info) -> str:  # noqa: N802 - logging's name
        return ""


def _quiet_libraries(verbose: bool) -> None:
    """Keep library notices (diffusers' "experimental feature" warnings and the like) out of the terminal."""
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    if verbose:
        return
    warnings.filterwarnings("ignore")
    for name in ("diffusers", "transformers", "torch", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        _quiet_libraries(args.verbose)
        return {"generate": _generate, "info": _info, "check": _check}[args.command](args)
    except ZImageError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
