"""Fixed-window rate limits per client IP, with the standard RateLimit-* headers
(as express-rate-limit sends them with `standardHeaders: true`)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ..errors import RateLimited
from ..settings import RateLimit

# Forget idle clients once this many are tracked, so the table stays bounded.
PRUNE_AT = 10_000


@dataclass
class _Window:
    started: float
    count: int


class RateLimiter:
    def __init__(self, name: str, rule: RateLimit, code: str, message: str) -> None:
        self.name = name
        self.rule = rule
        self.code = code
        self.message = message
        self._clients: dict[str, _Window] = {}

    def hit(self, client: str) -> dict[str, str]:
        """Count one request; return the headers to send, or raise RateLimited."""
        now = time.monotonic()
        window = self._clients.get(client)
        if window is None or now - window.started >= self.rule.window:
            if len(self._clients) >= PRUNE_AT:
                self._prune(now)
            window = self._clients[client] = _Window(now, 0)
        window.count += 1
        reset = max(0, math.ceil(window.started + self.rule.window - now))
        headers = {
            "RateLimit-Policy": f"{self.rule.limit};w={int(self.rule.window)}",
            "RateLimit-Limit": str(self.rule.limit),
            "RateLimit-Remaining": str(max(0, self.rule.limit - window.count)),
            "RateLimit-Reset": str(reset),
        }
        if window.count > self.rule.limit:
            raise RateLimited(self.message, code=self.code,
                              headers={**headers, "Retry-After": str(reset)})
        return headers

    def _prune(self, now: float) -> None:
        self._clients = {
            c: w for c, w in self._clients.items() if now - w.started < self.rule.window
        }
