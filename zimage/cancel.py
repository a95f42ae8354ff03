"""Stop flags that cross process boundaries.

On ZeroGPU the generation runs in a forked worker, so an in-memory event set by the Stop button in the main
process would never be seen there. A token is a file path: Stop creates the file, the step callback checks
for it. It pickles as a string, survives a fork, and costs one stat() per denoising step.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CancelledError

_FOLDER = Path(tempfile.gettempdir()) / "zimage-cancel"


@dataclass(frozen=True)
class CancelToken:
    """One run's stop flag. `set()` from any process on this machine; `raise_if_set()` where the work runs."""

    path: str = field(default_factory=lambda: str(_FOLDER / uuid.uuid4().hex))

    def set(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        Path(self.path).touch()

    def is_set(self) -> bool:
        return os.path.exists(self.path)

    def raise_if_set(self) -> None:
        if self.is_set():
            raise CancelledError("Stopped.", code="cancelled")

    def discard(self) -> None:
        """Remove the flag file once the run is over, so the folder holds only runs in flight."""
        Path(self.path).unlink(missing_ok=True)


def stop_if_asked(cancel: CancelToken | None) -> None:
    """Raise CancelledError when there is a token and Stop has set it."""
    if cancel is not None:
        cancel.raise_if_set()


class CancelTable:
    """The runs in flight, by browser session, so Stop reaches only that user's own work."""

    def __init__(self) -> None:
        self._tokens: dict[str, CancelToken] = {}

    def begin(self, session: str) -> CancelToken:
        token = self._tokens[session] = CancelToken()
        return token

    def stop(self, session: str) -> bool:
        """Stop the session's run; False when it has none in flight."""
        token = self._tokens.get(session)
        if token is None:
            return False
        token.set()
        return True

    def end(self, session: str, token: CancelToken) -> None:
        if self._tokens.get(session) is token:
            del self._tokens[session]  # keep the table to the runs in flight
        token.discard()
