"""Handlers for making images: Generate, the /generate API, links that run on open, history and Stop."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import replace
from typing import Any, Callable

import gradio as gr

from zimage.errors import CancelledError
from zimage.enhanced_run import generate_enhanced
from zimage.images import fit_size
from zimage.lora import parse_loras
from zimage.outputs import SavedImage, prune, save, save_previews_first
from zimage.proofread import check_saved
from zimage.request import (DEFAULT_SEED, DEFAULT_SHIFT, DEFAULT_SIDE, DEFAULT_STEPS, GenerationRequest, check_bool,
                            random_seed)
from zimage.textcheck import best_index, expected_spans

from . import notices
from .api import request_language
from .services import Services, StepProgress, client_id, session_id

log = logging.getLogger("zimage.app")


def gallery_items(entries: list[dict]) -> list[tuple[str, str]]:
    """The page's gallery shows light previews; downloads and share links use the lossless PNGs."""
    items = [SavedImage.from_dict(entry) for entry in entries]
    return [(item.shown, caption) for item, caption in zip(items, captions(items))]


def captions(saved: list[SavedImage]) -> list[str]:
    """Each image's caption ("seed 42 ✓"); the best-reading one starred once the text check is in."""
    best = best_index([item.text_check for item in saved])
    return [f"★ {item.caption}" if index == best else item.caption for index, item in enumerate(saved)]


def run_info(saved: list[SavedImage]) -> dict[str, Any]:
    """What a run made, for API and MCP callers: seeds, settings and model, never a server path; and each image's
    text verdict (None: not checked) with the best-reading seed, when the prompt quotes text."""
    if not saved:
        return {}
    first = saved[0].request
    settings = {key: value for key, value in first.to_dict().items() if key not in ("seed", "count")}
    best = best_index([item.text_check for item in saved])
    return {"seeds": [item.request.seed for item in saved], **settings, "model": saved[0].model.to_dict(),
            "text_checks": [item.text_check.to_dict() if item.text_check else None for item in saved],
            "best_seed": saved[best].request.seed if best is not None else None}


def needs_check(saved: list[SavedImage]) -> bool:
    return any(expected_spans(item.request.prompt) for item in saved)


def proofread_quietly(saved: list[SavedImage]) -> list[SavedImage]:
    """The images proof-read and best-reading first; if the check itself breaks, the images as they were."""
    try:
        return check_saved(saved)
    except Exception:  # noqa: BLE001 - the images are made; a failed check must not turn into an error
        log.exception("Text check failed")
        return saved


def page_answer(saved: list[SavedImage]) -> tuple:
    entries = [item.to_dict() for item in saved]
    return gallery_items(entries), run_info(saved), entries


def api_answer(saved: list[SavedImage]) -> tuple:
    """What /generate and /edit return: the PNGs (proof-read, best-reading first) with captions, and the info."""
    saved = proofread_quietly(saved)
    return list(zip((item.path for item in saved), captions(saved))), run_info(saved)


class Generation:
    def __init__(self, services: Services) -> None:
        self.services = services

    def pick_seed(self, seed: float | None, randomize: bool) -> tuple:
        return (random_seed() if randomize or seed is None else int(seed)), notices.hide()

    def generate(self, prompt: str, width: float, height: float, seed: float, count: float, steps: float,
                 shift: float, lang: str = "en", enhanced: dict | None = None, loras: str = "",
                 variations: bool = False, request: gr.Request = None,
                 progress: gr.Progress = gr.Progress()) -> tuple:
        """The Generate button (and share links): the gallery, the info and the entries kept for history.

        `enhanced` is the enhancer's last result in this tab; it is recorded when the prompt is its text. With
        `variations` the prompt is an idea and each image of the batch gets its own enhanced prompt.
        The images go out as soon as their previews exist; `proofread` follows as its own event.
        """
        params = dict(prompt=prompt, width=width, height=height, seed=seed, count=count, steps=steps, shift=shift,
                      loras=loras)
        return page_answer(self.make(params, lang, request, progress, enhanced, preview=True,
                                     variations=bool(variations)))

    def proofread(self, entries: list[dict]) -> tuple:
        """After the images are shown: each one's text verdict, best-reading image first, when the prompt quotes
        text. A separate event outside the GPU queue, so the OCR (CPU) never holds up anyone's generation."""
        saved = [SavedImage.from_dict(entry) for entry in entries or []]
        if not needs_check(saved):
            return gr.skip(), gr.skip(), gr.skip()
        return page_answer(proofread_quietly(saved))

    def api(self) -> Callable[..., tuple]:
        """The public /generate endpoint and MCP tool: typed parameters, the gallery and the info."""

        def generate(prompt: str, width: int = DEFAULT_SIDE, height: int = DEFAULT_SIDE, seed: int = DEFAULT_SEED,
                     count: int = 1, steps: int = DEFAULT_STEPS, shift: float = DEFAULT_SHIFT, loras: str = "",
                     variations: bool = False, request: gr.Request = None,
                     progress: gr.Progress = gr.Progress()) -> tuple:
            params = dict(prompt=prompt, width=width, height=height, seed=seed, count=count, steps=steps, shift=shift,
                          loras=loras)
            return api_answer(self.make(params, request_language(request), request, progress, variations=variations))

        return generate

    def make(self, params: dict[str, Any], lang: str, request: gr.Request | None, progress: Any,
             enhanced: dict | None = None, preview: bool = False,
             images: Callable[[], tuple] | None = None, variations: bool = False) -> list[SavedImage]:
        """Validate, rate-limit, run and save; every failure becomes one translated gr.Error.

        `images`, for an edit, returns the (source, mask) to edit; it runs inside the same error handling, so a bad
        upload is one translated message too. LoRAs come as "name:weight, ..." text.
        """
        with notices.user_errors(lang, "generation"):
            edit = images() if images is not None else None
            variations = check_bool("variations", variations)
            params = {**params, "loras": parse_loras(params.get("loras"))}
            if edit is not None and not (params.get("width") and params.get("height")):
                params.update(zip(("width", "height"), fit_size(*edit[0].size)))  # the size follows the image
            return self._run(GenerationRequest.from_params(params), request, progress, enhanced, preview, edit,
                             variations)

    def _run(self, req: GenerationRequest, http: gr.Request | None, progress: Any,
             enhanced: dict | None = None, preview: bool = False, edit: tuple | None = None,
             variations: bool = False) -> list[SavedImage]:
        services, session = self.services, session_id(http)
        services.limiter.check(client_id(http))
        started = time.time()
        cancel = services.cancels.begin(session)
        saved: list[SavedImage] = []
        try:
            if edit is not None:
                results = services.runner.edit(req, *edit, StepProgress(progress), cancel)
            elif variations:  # the prompt is an idea: one enhanced prompt per image, each recorded in its PNG
                results = generate_enhanced(services.runner, req, True, StepProgress(progress), cancel)
            else:
                results = services.runner.generate(req, StepProgress(progress), cancel)
            if enhanced and enhanced.get("enhanced_prompt") == req.prompt:
                # The prompt is the enhancer's text, unedited: the PNGs record the idea and the backend too.
                results = [replace(item, enhanced=enhanced) for item in results]
            prefix = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
            saved = (save_previews_first if preview else save)(results, services.output_dir, prefix)
        finally:
            services.cancels.end(session, cancel)
            app = services.app
            # Answers are served from the output folder: this one's files, and those other requests wrote while
            # it ran, are never pruned here.
            prune(services.output_dir, app.output_max_age_hours * 3600, int(app.output_max_mb * 2**20),
                  keep=[path for item in saved for path in (item.path, item.preview) if path], since=started)
        return saved

    def autorun_generate(self, autorun: bool, *values: Any, request: gr.Request = None,
                         progress: gr.Progress = gr.Progress()) -> tuple:
        """A share link's run, right after the page fills its fields."""
        if not autorun:
            return gr.skip(), gr.skip(), []
        return self.generate(*values, request=request, progress=progress)

    def add_history(self, last_run: list[dict], history: list[dict]) -> tuple:
        if not last_run:
            return gr.skip(), gr.skip()
        history = (list(last_run) + list(history))[: self.services.app.history_limit]
        return history, gallery_items(history)

    def stop(self, lang: str, request: gr.Request) -> dict:
        self.services.cancels.stop(session_id(request))
        return notices.error_notice(CancelledError("Stopped."), lang)
