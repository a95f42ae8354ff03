"""The model status line and the demo-mode banner, from the runner's status."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from zimage import i18n
from zimage.model_info import ModelStatus


def status_line(status: ModelStatus, lang: str) -> str:
    if status.info is not None:
        facts = status.info.to_dict() | {"speed": status.info.speed_text(lang)}
        if status.info.dtype_reason:
            why = i18n.text(f"dtype_{status.info.dtype_reason}", lang, needed=status.info.float32_needs_gib,
                            available=status.info.available_gib)
            facts["dtype"] = f"{status.info.dtype} ({why})"
        return i18n.text("model_ready", lang, **facts)
    if status.state == "failed":
        key = "model_failed" if status.retried else "model_failed_restart"
        return i18n.text(key, lang, reason=html.escape(status.error))
    if status.stage:
        return i18n.text(f"model_loading_{status.stage}", lang, elapsed=elapsed(status.stage_seconds, lang))
    return i18n.text("model_loading", lang)


def elapsed(seconds: float, lang: str) -> str:
    """Seconds up to a minute and a half ("45 s"), then whole minutes: a stage lasts from seconds to an hour."""
    if seconds < 90:
        return i18n.text("elapsed_seconds", lang, n=int(seconds))
    return i18n.text("elapsed_minutes", lang, n=round(seconds / 60))


def tiny_banner(status: ModelStatus, lang: str) -> dict[str, Any]:
    """The prominent demo-mode notice: shown whenever the tiny model is (or will be) answering."""
    if not status.is_tiny:
        return gr.update(value="", visible=False)
    reason = status.info.fallback_reason if status.info is not None else ""
    return gr.update(value=i18n.text("tiny_warning", lang, reason=reason or "ZIMAGE_MODEL=tiny"), visible=True)
