"""The eliza app with a small API rate limit, for tests that hammer real server processes
until they refuse: `TEST_API_RATE_LIMIT` is `<limit>/<window seconds>` (the settings read
no variable for the limits' sizes). Rate limits are on whatever ELIZA_RATE_LIMIT says."""

from __future__ import annotations

import os

from eliza.app import create_app
from eliza.settings import RateLimit, Settings

_limit, _window = os.environ["TEST_API_RATE_LIMIT"].split("/")

app = create_app(Settings.from_env().with_overrides(
    rate_limits_enabled=True, api_rate_limit=RateLimit(int(_limit), float(_window))))
