"""Handlers for making images: Generate, the /generate API, links that run on open, history and Stop."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import gradio as gr

from zimage import i18n
from zimage.errors import CancelledError, ZImageError
from zimage.outputs import SavedImage, prune, save
from zimage.request import GenerationRequest, random_seed

from . import notices
from .services import Services, StepProgress, client_id, session_id

log = logging.getLogger("zimage.app")


def gallery_items(entries: list[dict]) -> list[tuple[str, str]]:
    return [(entry["path"], SavedImage.from_dict(entry).caption) for entry in entries]


class Generation:
    def __init__(self, services: Services) -> None:
        self.services = services

    def pick_seed(self, seed: float | None, randomize: bool) -> tuple:
        return (random_seed() if randomize or seed is None else int(seed)), notices.hide()

    def generate(self, prompt: str, width: float, height: float, seed: float, count: float, steps: float,
                 shift: float, lang: str = "en", request: gr.Request = None,
                 progress: gr.Progress = gr.Progress()) -> tuple:
        """The /generate endpoint and the Generate button: validate, rate-limit, run, save."""
        try:
            req = GenerationRequest(prompt=prompt, width=width, height=height, seed=seed, count=count, steps=steps,
                                    shift=shift)
            saved = self._run(req, request, progress)
        except ZImageError as error:
            raise notices.user_error(error, lang) from None
        except gr.Error:
            raise  # spaces' own messages (GPU quota, aborted task) are already meant for users
        except Exception as error:  # noqa: BLE001 - never show a stack trace to users
            log.exception("Unexpected failure")
            raise notices.user_error(ZImageError(f"Unexpected error ({type(error).__name__}).", code="error"),
                                     lang) from None
        entries = [item.to_dict() for item in saved]
        info = {"seeds": [item.request.seed for item in saved], "width": req.width, "height": req.height,
                "model": saved[0].model.to_dict() if saved else {}}
        return gallery_items(entries), info, entries

    def _run(self, req: GenerationRequest, http: gr.Request | None, progress: Any) -> list[SavedImage]:
        services, session = self.services, session_id(http)
        services.limiter.check(client_id(http))
        cancel = services.cancels.begin(session)
        saved: list[SavedImage] = []
        try:
            results = services.runner.generate(req, StepProgress(progress), cancel)
            saved = save(results, services.output_dir, f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}")
        finally:
            services.cancels.end(session, cancel)
            app = services.app
            # The answer's own files are served from the output folder, so they are never pruned.
            prune(services.output_dir, app.output_max_age_hours * 3600, int(app.output_max_mb * 2**20),
                  keep=[item.path for item in saved])
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
