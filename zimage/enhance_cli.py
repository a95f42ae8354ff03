"""Command-line pieces: `python -m zimage enhance IDEA [--variations N]` and `generate --enhance`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from .config import ENHANCER_BACKENDS, EnhancerSettings, Settings
from .enhance import MAX_VARIATIONS, Enhanced, Enhancer, build_enhancer
from .errors import EnhanceError
from .llm import ChatModel
from .request import GenerationRequest


def add_enhance_command(commands: Any) -> argparse.ArgumentParser:
    """Add `enhance` to the CLI's subcommands."""
    parser = commands.add_parser("enhance", help="write a detailed prompt from a short idea")
    parser.add_argument("idea")
    parser.add_argument("--seed", type=int, default=0, help="the same idea and seed give the same prompt")
    parser.add_argument("--variations", type=int, default=1, help=f"different prompts, seeds seed..seed+N-1 (1-{MAX_VARIATIONS})")
    parser.add_argument("--model", help="auto, tiny, a hub id or a local diffusers folder (env ZIMAGE_MODEL)")
    _add_backend_option(parser)
    return parser


def _add_backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--enhancer", choices=ENHANCER_BACKENDS, help="backend (env ZIMAGE_ENHANCER, default auto)")


def add_generate_options(parser: argparse.ArgumentParser) -> None:
    """Add `--enhance` and `--variations` to `generate`: the prompt argument becomes an idea."""
    parser.add_argument("--enhance", action="store_true", help="expand the prompt with the prompt enhancer first")
    parser.add_argument("--variations", action="store_true",
                        help="with --enhance and --count N: a different enhanced prompt for each image")
    _add_backend_option(parser)


def enhancer_settings(args: argparse.Namespace) -> EnhancerSettings:
    settings = EnhancerSettings.from_env()
    return replace(settings, backend=args.enhancer).checked() if args.enhancer else settings


def open_enhancer(settings: EnhancerSettings, engine: Any) -> Enhancer:
    """The enhancer for these settings; loads the model only when the local backend needs it."""
    needs_model = settings.resolved(real_weights=True) == "local"
    chat = None
    real_weights = True
    if needs_model:
        loaded = engine.load()
        real_weights = not loaded.source.is_tiny
        chat = ChatModel.from_pipeline(loaded.pipe, engine.run_lock)
    enhancer = build_enhancer(settings, chat, real_weights)
    if enhancer is None:
        raise EnhanceError("The prompt enhancer is off. Set ZIMAGE_ENHANCER=local or api, or pass --enhancer.",
                           code="enhance_off")
    return enhancer


def run_enhance(args: argparse.Namespace, settings: Settings) -> int:
    """`enhance`: print each prompt, a blank line between variations; repairs are noted on stderr."""
    from .engine import Engine

    enhancer = open_enhancer(enhancer_settings(args), Engine(settings))
    results = enhancer.variations(args.idea, args.seed, args.variations)
    for index, result in enumerate(results):
        print(("\n" if index else "") + result.prompt)
        _note_repairs(result)
    return 0


def enhanced_requests(enhancer: Enhancer, request: GenerationRequest, variations: bool
                      ) -> list[tuple[GenerationRequest, Enhanced]]:
    """`generate --enhance`: the batch with its prompt enhanced, or with variations one request per image, image
    i's prompt written with seed+i, so every image carries, and can be made again from, its own prompt."""
    if not variations:
        result = enhancer.enhance(request.prompt, request.seed)
        _note_repairs(result)
        return [(replace(request, prompt=result.prompt), result)]
    results = enhancer.variations(request.prompt, request.seed, request.count)
    for result in results:
        _note_repairs(result)
    return [(replace(request.single(i), prompt=result.prompt), result) for i, result in enumerate(results)]


def _note_repairs(result: Enhanced) -> None:
    if result.repaired:
        spans = ", ".join(result.repaired)
        print(f"Note: the enhancer dropped quoted text, which was added back verbatim: {spans}", file=sys.stderr)
