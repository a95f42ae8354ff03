"""The speed levers in words, in the UI's language: one line for the model status.

    describe(report, report.notes(), lang="zh")

`SpeedReport.summary()` writes it in English for the log, the API and PNG metadata; the status line writes it in
the reader's language from the same facts, which `ModelInfo` keeps under the same names. Skip notes ("compile
failed at warm-up: …") carry library error text, so they stay as written.
"""

from __future__ import annotations

from typing import Any

from . import i18n

FLAGS = ("compiled", "real_rope", "aoti", "fp8")  # the levers named when on, in this order


def describe(levers: Any, notes: str = "", lang: str = i18n.DEFAULT_LANGUAGE) -> str:
    """What runs, then why any lever was skipped or undone. `levers` has `memory_mode`, `attention` and the FLAGS
    (a SpeedReport or a ModelInfo)."""
    def say(key: str, **params: str) -> str:
        return i18n.text(f"speed_{key}", lang, **params)

    mode = levers.memory_mode
    mode_note = i18n.optional_text(f"speed_memory_note_{mode}", lang)
    memory = say("memory_with_note" if mode_note else "memory", mode=mode, note=mode_note)
    parts = [memory, say("attention", name=levers.attention)] + [say(flag) for flag in FLAGS if getattr(levers, flag)]
    text = say("separator").join(parts)
    return text + (say("notes", notes=notes) if notes else "")
