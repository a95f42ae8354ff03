"""The model and speed flags that the app and the CLI share, turned into `Settings` in one place."""

from __future__ import annotations

import argparse
from pathlib import Path

from .config import DEVICES, MEMORY_MODES, Settings


def add_engine_flags(parser: argparse.ArgumentParser, device: bool = True) -> None:
    """Flags that override the ZIMAGE_* environment variables of the same name."""
    parser.add_argument("--model", help="auto, tiny, a hub id or a local diffusers folder (ZIMAGE_MODEL)")
    if device:
        parser.add_argument("--device", help=f"{', '.join(DEVICES)} (ZIMAGE_DEVICE)")
    parser.add_argument("--memory", help=f"{', '.join(MEMORY_MODES)}; stream fits 16 GB cards at near full speed, "
                        "offload and sequential smaller ones; auto picks by free VRAM (ZIMAGE_MEMORY)")
    parser.add_argument("--attention", help="attention backend: auto, native, flash, _flash_3, ... (ZIMAGE_ATTENTION)")
    parser.add_argument("--compile", action="store_true", default=None,
                        help="regional torch.compile of the repeated blocks (ZIMAGE_COMPILE)")
    parser.add_argument("--fp8", action="store_true", default=None, help="fp8 weights through torchao (ZIMAGE_FP8)")
    parser.add_argument("--lora-dir", type=Path, help="folder of LoRA .safetensors files (ZIMAGE_LORA_DIR)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The environment's settings with the flags that were given applied on top, checked."""
    values = {name: getattr(args, name, None) for name in ("model", "device", "memory", "attention", "compile", "fp8",
                                                     "lora_dir")}
    if values["memory"]:
        values["memory"] = values["memory"].lower()
    if values["device"]:
        values["device"] = values["device"].lower()
    return Settings.from_env().with_overrides(**values)
