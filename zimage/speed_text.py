"""The speed levers in words, in the UI's language: one line for the model status.

    describe(memory_mode="stream", attention="native", compiled=True, lang="zh")

`SpeedReport.summary()` writes it in English for the log, the API and PNG metadata; the status line writes it in
the reader's language from the same facts, which `ModelInfo` keeps. Skip notes ("compile failed at warm-up: …")
carry library error text, so they stay as written.
"""

from __future__ import annotations

from . import i18n


def describe(*, memory_mode: str, attention: str, compiled: bool = False, real_rope: bool = False,
             aoti: bool = False, fp8: bool = False, notes: str = "", lang: str = i18n.DEFAULT_LANGUAGE) -> str:
    """What runs, then why any lever was skipped or undone."""
    def say(key: str, **params: str) -> str:
        return i18n.text(f"speed_{key}", lang, **params)

    mode_note = i18n.optional_text(f"speed_memory_note_{memory_mode}", lang)
    memory = say("memory_with_note" if mode_note else "memory", mode=memory_mode, note=mode_note)
    flags = (("compiled", compiled), ("real_rope", real_rope), ("aoti", aoti), ("fp8", fp8))
    parts = [memory, say("attention", name=attention)] + [say(key) for key, on in flags if on]
    text = say("separator").join(parts)
    return text + (say("notes", notes=notes) if notes else "")
