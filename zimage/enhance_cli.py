"""Command-line pieces: `python -m zimage enhance IDEA [--variations N]` and `generate --enhance [--variations]`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from .config import ENHANCER_BACKENDS, Settings
from .enhance import MAX_VARIATIONS, Enhanced, last


def add_enhance_command(commands: Any, add_engine_flags: Any) -> argparse.ArgumentParser:
    """Add `enhance` to the CLI's subcommands."""
    parser = commands.add_parser("enhance", help="write a detailed prompt from a short idea")
    parser.add_argument("idea")
    parser.add_argument("--seed", type=int, default=0, help="the same idea and seed give the same prompt")
    parser.add_argument("--variations", type=int, default=1,
                        help=f"different prompts, written with seeds seed..seed+N-1 (1-{MAX_VARIATIONS})")
    _add_backend_option(parser)
    add_engine_flags(parser)
    return parser


def add_generate_options(parser: argparse.ArgumentParser) -> None:
    """Add `--enhance` and `--variations` to `generate`: the prompt argument becomes an idea."""
    parser.add_argument("--enhance", action="store_true", help="expand the prompt with the prompt enhancer first")
    parser.add_argument("--variations", action="store_true",
                        help="with --enhance and --count N: a different enhanced prompt for each image")
    _add_backend_option(parser)


def _add_backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--enhancer", choices=ENHANCER_BACKENDS, help="local, api, off or auto (ZIMAGE_ENHANCER)")


def with_enhancer_flag(settings: Settings, args: argparse.Namespace) -> Settings:
    backend = getattr(args, "enhancer", None)
    return replace(settings, enhancer=replace(settings.enhancer, backend=backend).checked()) if backend else settings


def run_enhance(args: argparse.Namespace, engine: Any) -> int:
    """`enhance`: print each prompt, a blank line between variations; repairs are noted on stderr."""
    from .enhance import check_variations

    check_variations(args.variations)
    for index in range(args.variations):
        result = last(engine.enhance(args.idea, args.seed + index))
        print(("\n" if index else "") + result.prompt)
        note_repairs(result)
    return 0


def note_repairs(result: Enhanced) -> None:
    if result.repaired:
        spans = ", ".join(result.repaired)
        print(f"Note: the enhancer dropped quoted text, which was added back verbatim: {spans}", file=sys.stderr)
