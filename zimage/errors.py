"""Domain errors, defined once. The UI and the CLI show their messages as they are."""

from __future__ import annotations

from typing import Any


class ZImageError(Exception):
    """Base class of every error a user may see.

    `code` names the message template in assets/i18n, so the UI can show it in the user's language;
    `params` fill that template. `str(error)` is the English message.
    """

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.params = params


class ValidationError(ZImageError):
    """A request, preset, share link or metadata block that breaks a documented bound."""

    code = "invalid"


def exception_summary(error: BaseException, limit: int = 200) -> str:
    """"TypeName: message" on one line, the message cut at `limit` characters: for status notes and metadata."""
    return f"{type(error).__name__}: {' '.join(str(error).split())[:limit]}"


def unknown_choice(what: str, value: Any, allowed: Any, code: str) -> ValidationError:
    """The one shape of "unknown X, choose one of ..." errors: sizes, presets, languages, settings."""
    shown = repr(value)[:40] if not isinstance(value, str) else repr(value[:40])
    options = ", ".join(str(option) for option in allowed)
    return ValidationError(f"Unknown {what} {shown}. Choose one of: {options}.", code=code, what=what, value=shown,
                           allowed=options)


def unreadable_image(path: Any) -> ValidationError:
    """A file that is not a whole image: one message for proof-reading it and for recording its verdict."""
    return ValidationError(f"Cannot read {path} as an image.", code="image_file", path=str(path))


class ModelLoadError(ZImageError):
    """The model could not be loaded; the next request tries again."""

    code = "model_load"


class GenerationError(ZImageError):
    """Generation failed (out of memory, say); the app stays usable."""

    code = "generation"


class CancelledError(ZImageError):
    """The user stopped the run."""

    code = "cancelled"


class BusyError(ZImageError):
    """The queue is full or the caller is over its rate limit."""

    code = "busy"


class EnhanceError(ZImageError):
    """The prompt enhancer could not produce a prompt; the user's idea is left as it was."""

    code = "enhance_failed"


class BlockedError(ZImageError):
    """The safety filter refused a prompt or an image; no image is returned."""

    code = "blocked_prompt"
