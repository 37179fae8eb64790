"""Fixtures of the security tests that read and write a store directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conftest import make_settings
from eliza.store import Store, core_migrations, store_for


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated store of the current backend, closed after the test."""
    found = store_for(make_settings(tmp_path))
    await found.open([core_migrations])
    try:
        yield found
    finally:
        found.close()
