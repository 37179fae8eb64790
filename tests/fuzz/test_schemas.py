"""Property-based: for every route with a JSON body (declared in the OpenAPI document, or
described in tests/fuzz/surface.py while undeclared), bodies generated from its schema never
get an undocumented 5xx, a hang or a refusal without the envelope, nor an error in the log."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Target
from .schemas import EXAMPLES, fuzz_route
from .test_rest import real_values, safe_routes

pytestmark = pytest.mark.fuzz


def test_generated_bodies_for_every_json_route(target: Target, fuzz: Any) -> None:
    routes = [r for r in safe_routes(target)
              if r.takes_body and r.body_schema is not None and "upload-media" not in r.rule]
    assert len(routes) >= 40, len(routes)
    start = fuzz.sent
    for route in routes:
        values = real_values(target, route)
        if route.rule == "/api/agents/{agent_id}":  # renaming or disabling Eliza is legal
            values["agent_id"] = target.world.second_agent
        fuzz_route(fuzz, route, route.fill(values), target.world)
    # Some schemas hold fewer distinct bodies than EXAMPLES; most do not.
    assert fuzz.sent - start >= len(routes) * EXAMPLES // 2, fuzz.sent - start
    fuzz.assert_clean()
    target.check_whole()
