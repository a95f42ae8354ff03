"""The Gradio UI: layout (layout.py), event wiring (events.py) and handlers by concern (generation, form,
selection, language). `create_demo` puts them together; app.py is the entry point that launches it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from zimage.config import AppSettings, on_zero_gpu
from zimage.engine import Engine
from zimage.runner import Runner

from .editing import Editing
from .enhancement import Enhancement
from .events import wire
from .form import Form
from .generation import Generation
from .language import Language
from .layout import build_page
from .proofing import wire_check_api, wire_proofread
from .selection import Selection
from .services import Services
from .translate import Translator

CSS = """
.zimage-banner-tiny { border: 2px solid #d97706; border-radius: 8px; padding: 4px 12px; background: #fffbeb; }
.zimage-banner-tiny * { color: #92400e !important; }
#zimage-generate { min-height: 48px; }
"""


def make_runner(engine: Engine) -> Runner:
    """Where generation runs: in this process, or in ZeroGPU's workers on a ZeroGPU Space."""
    if on_zero_gpu():
        from .gpu import ZeroGPURunner

        return ZeroGPURunner(engine)
    return engine


def create_demo(runner: Runner, app_settings: AppSettings, output_dir: Path) -> gr.Blocks:
    """The whole app as a gr.Blocks, queued with the serving limits of `app_settings`."""
    services = Services(runner, app_settings, output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    # Serve images straight from the output folder: otherwise Gradio copies each one into its cache, which only
    # ages out, so ZIMAGE_OUTPUT_MAX_MB would not bound the disk.
    gr.set_static_paths([str(output_dir)])
    # Outputs are served from their own folder; Gradio's cache only holds uploaded PNGs, kept for an hour.
    with gr.Blocks(title="Z-Image-Turbo", delete_cache=(600, 3600)) as demo:
        loras = getattr(runner, "loras", None)  # runners without LoRA support (replicas) offer none
        page = build_page(Translator(), [item.name for item in loras.available()] if loras is not None else [])
        generation = Generation(services)
        wire(page, generation, Form(page), Language(page, runner), Selection(page), demo,
             app_settings.concurrency, Enhancement(services), Editing(generation))
        wire_check_api()
        wire_proofread(page)
    demo.queue(max_size=app_settings.queue_size, default_concurrency_limit=app_settings.concurrency)
    return demo


def launch_kwargs(output_dir: Path, mcp: bool) -> dict[str, Any]:
    if mcp:
        from .mcp import install

        install()
    return dict(
        css=CSS, theme=gr.themes.Soft(), mcp_server=mcp, show_error=True,
        # Only the app's own output folder is served beside Gradio's cache: nothing else on disk is reachable.
        allowed_paths=[str(output_dir)],
        # Uploads: PNGs to read settings from, and images and masks to edit (zimage.images.MAX_FILE_BYTES);
        # unbounded uploads would fill the disk.
        max_file_size="64mb",
    )
