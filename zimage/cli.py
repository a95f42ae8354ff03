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
from typing import TYPE_CHECKING, NoReturn

from .edit_cli import add_edit_options, add_loras_command, edit_inputs, run_loras
from .enhance_cli import add_enhance_command, add_generate_options, run_enhance, with_enhancer_flag
from .errors import ValidationError, ZImageError
from .flags import add_engine_flags, settings_from_args
from .request import (DEFAULT_SHIFT, DEFAULT_SIDE, DEFAULT_STEPS, MAX_COUNT, MAX_SEED, MAX_SHIFT, MAX_SIDE,
                      MAX_STEPS, MIN_COUNT, MIN_SHIFT, MIN_SIDE, MIN_STEPS, SIDE_MULTIPLE, TURBO_STEPS,
                      GenerationRequest, random_seed)

if TYPE_CHECKING:
    from .engine import Engine


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
    gen.add_argument("--size", help=f"WIDTHxHEIGHT, multiples of {SIDE_MULTIPLE} in [{MIN_SIDE}, {MAX_SIDE}] "
                                     f"(default: {DEFAULT_SIDE}x{DEFAULT_SIDE}, or the --image's own size)")
    gen.add_argument("--steps", default=DEFAULT_STEPS,
                     help=f"inference steps, {MIN_STEPS}-{MAX_STEPS} (Turbo: {TURBO_STEPS})")
    gen.add_argument("--shift", default=DEFAULT_SHIFT, help=f"scheduler time shift ({MIN_SHIFT:g}-{MAX_SHIFT:g})")
    gen.add_argument("--out", type=Path, default=Path("outputs"), help="output folder")
    gen.add_argument("--check-text", action="store_true",
                     help="proof-read each image against its prompt's quoted text; the verdict goes into the PNG")
    add_edit_options(gen)
    add_engine_flags(gen)
    add_generate_options(gen)
    add_enhance_command(commands, add_engine_flags)
    add_loras_command(commands, add_engine_flags)
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
    from .outputs import save

    edit = edit_inputs(args)
    seed = random_seed() if args.seed is None else args.seed
    request = GenerationRequest(prompt=args.prompt, seed=seed, count=args.count, steps=args.steps, shift=args.shift,
                                **edit["fields"])
    engine = _engine(args, request)
    if edit["source"] is not None:
        images = engine.edit(request, edit["source"], edit["mask"])
    elif args.enhance:
        from .enhanced_run import generate_enhanced

        images = generate_enhanced(engine, request, variations=args.variations)
    else:
        images = engine.generate(request)
    saved = save(images, args.out)
    if args.check_text:
        return _print_checked(saved)
    for item in saved:
        print(item.path)
    return 0


def _print_checked(saved: list) -> int:
    """Proof-read the saved PNGs; print each path, a tab and its verdict (best-reading first), then the best."""
    from .proofread import check_saved, summary
    from .textcheck import best_index

    checked = check_saved(saved)
    if all(item.text_check is None for item in checked):
        print("Note: the prompt quotes no text, so there is nothing to check.", file=sys.stderr)
    for item in checked:
        print(f"{item.path}\t{summary(item.text_check)}" if item.text_check else item.path)
    best = best_index([item.text_check for item in checked])
    if best is not None and len(checked) > 1:
        print(f"Best: {checked[best].path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    """Proof-read image files; the exit code says whether anything expected is missing, as `diff` does."""
    from .proofread import check_files, report_lines

    checked = check_files(args.images, args.expect)
    print(json.dumps(checked.to_dict(), ensure_ascii=False, indent=2) if args.json else "\n".join(report_lines(checked)))
    return 4 if checked.any_missing else 0


def _engine(args: argparse.Namespace, request: GenerationRequest | None = None) -> "Engine":
    from .engine import Engine

    engine = Engine(with_enhancer_flag(settings_from_args(args), args), retry_hint=False)
    if request is not None:
        engine.loras.resolve(request.loras)  # an unknown LoRA fails before the model loads
    if engine.load().info.is_tiny:
        print("Note: using the tiny random-weights demo model; its images are noise by design.", file=sys.stderr)
    return engine


def _info(args: argparse.Namespace) -> int:
    from .metadata import read_request

    for key, value in read_request(args.png).to_dict().items():
        print(f"{key}: {value}")
    return 0


class _OneLineFormatter(logging.Formatter):
    """Log lines without tracebacks: a CLI user gets the one-line "Error: ..." and nothing else."""

    def formatException(self, exc_info) -> str:  # noqa: N802 - logging's name
        return ""


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


def _quiet_libraries() -> None:
    """Keep library notices (diffusers' "experimental feature" warning and the like) out of the terminal.

    torch and diffusers set their loggers' levels when they are imported, so this imports them first.
    """
    import diffusers.utils.logging
    import torch  # noqa: F401
    import transformers.utils.logging

    warnings.filterwarnings("ignore")
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    for name in ("torch", "torchao", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        _setup_logging(args.verbose)
        if args.command in ("generate", "enhance") and not args.verbose:
            _quiet_libraries()
        if args.command == "enhance":
            return run_enhance(args, _engine(args))
        if args.command == "loras":
            from .engine import Engine

            return run_loras(Engine(settings_from_args(args), retry_hint=False).loras)
        return {"generate": _generate, "info": _info, "check": _check}[args.command](args)
    except ZImageError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
