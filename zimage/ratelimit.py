"""Optional per-client rate limits for public demos: a sliding window per IP or Hugging Face user."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from .errors import BusyError, ValidationError


class RateLimiter:
    """Allow at most `limit` runs per `window` seconds per client. limit 0 turns limiting off."""

    def __init__(self, limit: int, window: float, max_clients: int = 10_000) -> None:
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, spec: str) -> "RateLimiter":
        """Parse "N/SECONDS" (e.g. "10/60"); "" or "0" turns limiting off."""
        spec = (spec or "0").strip()
        if spec in ("0", "off"):
            return cls(0, 1.0)
        count, _, window = spec.partition("/")
        try:
            limiter = cls(int(count), float(window or 60))
        except ValueError:
            raise ValidationError(f"Rate limit must look like 10/60, got {spec!r}.", code="bad_setting") from None
        if limiter.limit < 0 or not limiter.window > 0:
            raise ValidationError(f"Rate limit must look like 10/60, got {spec!r}.", code="bad_setting")
        return limiter

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def check(self, client: str, now: float | None = None) -> None:
        """Record one run for `client`, or raise BusyError saying when to try again."""
        if not self.enabled:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                retry = math.ceil(self.window - (now - hits[0]))
                raise BusyError(
                    f"Too many requests: at most {self.limit} runs per {self.window:g} seconds. Try again in {retry} s.",
                    code="rate_limited", limit=self.limit, window=f"{self.window:g}", retry=retry,
                )
            hits.append(now)
            self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        # Bounded memory: a flood of one-off clients must not grow the table forever.
        if len(self._hits) > self.max_clients:
            for client in [c for c, h in self._hits.items() if not h or now - h[-1] >= self.window]:
                del self._hits[client]
