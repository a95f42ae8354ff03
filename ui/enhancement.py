"""Handlers for the prompt enhancer: the Enhance button and /enhance endpoint, accept and revert."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import gradio as gr

from zimage.errors import ZImageError
from zimage.request import MAX_SEED, check_int

from . import notices
from .api import request_language
from .services import Services, client_id, session_id


class Enhancement:
    def __init__(self, services: Services) -> None:
        self.services = services

    def enhance(self, idea: str, seed: float | None = 0, lang: str = "en",
                request: gr.Request = None) -> Iterator[tuple[str, str, Any]]:
        """Expand a short image idea into a detailed prompt, in the idea's language, keeping quoted text exactly.
        The same idea and seed give the same prompt. Returns the prompt (streamed in the app)."""
        services, session = self.services, session_id(request)
        with notices.user_errors(lang, "the enhancer"):
            services.limiter.check(client_id(request))
            cancel = services.cancels.begin(session)
            try:
                for update in services.runner.enhance(idea, int(seed or 0), cancel):
                    # The idea is kept, so Revert can bring it back; the final result is kept for the PNG's metadata.
                    yield update.prompt, idea, update.metadata() if update.done else None
            finally:
                services.cancels.end(session, cancel)

    def api(self) -> Callable[..., str]:
        """The public /enhance endpoint and MCP tool: the finished prompt as text."""

        def enhance(idea: str, seed: int = 0, request: gr.Request = None) -> str:
            lang = request_language(request)
            try:
                checked_seed = check_int("seed", seed, 0, MAX_SEED)
            except ZImageError as error:
                raise notices.user_error(error, lang) from None
            prompt = ""
            for prompt, _, _ in self.enhance(idea, checked_seed, lang, request):
                pass
            return prompt

        return enhance

    def show_box(self) -> Any:
        return gr.update(visible=True)

    def accept(self, enhanced_text: str) -> tuple[Any, Any]:
        """Use the (possibly edited) enhanced prompt as the prompt."""
        return enhanced_text, gr.update(visible=False)

    def revert(self, idea: str | None) -> tuple[Any, Any, Any]:
        """Put the idea back and forget the enhanced prompt."""
        return (idea if idea else gr.skip()), gr.update(value="", visible=False), None
