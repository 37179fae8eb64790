import json

import pytest

from conftest import run_node
from eliza import ids

NAMES = [
    "Eliza",
    "hello world",
    "café ☕ naïve",
    "it's (ok)!*~-_.",
    "12345",
    "a/b?c=d&e#f",
    "",
    "b850bc30-45f8-0041-a00a-83df46d8555d",
    "00000000-0000-0000-0000-000000000000",
    "NOT-a-uuid-0000",
]


@pytest.mark.node  # @elizaos/core computes the expected ids
def test_ids_match_elizaos_core_byte_for_byte():
    expected = run_node("core_ids.mjs", json.dumps(NAMES))
    assert [ids.string_to_uuid(n) for n in NAMES] == expected["stringToUuid"]
    agent_id = ids.string_to_uuid("Eliza")
    assert agent_id == expected["agentId"]
    assert [ids.create_unique_uuid(agent_id, n) for n in NAMES] == expected["unique"]
    assert [ids.is_uuid(n) for n in NAMES] == expected["valid"]


def test_create_unique_uuid_maps_the_agent_to_itself():
    agent_id = ids.string_to_uuid("Eliza")
    assert ids.create_unique_uuid(agent_id, agent_id) == agent_id


def test_validate_uuid_rejects_non_strings_and_near_misses():
    assert ids.validate_uuid(None) is None
    assert ids.validate_uuid(123) is None
    assert ids.validate_uuid("b850bc30-45f8-0041-a00a-83df46d8555") is None
    assert ids.validate_uuid("B850BC30-45F8-0041-A00A-83DF46D8555D") is not None
