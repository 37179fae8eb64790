"""Character secrets of every JSON type are sealed in the database (no byte of their plain
text in eliza.db or its WAL), masked in every answer, and opened for the agent's runtime;
a masked PATCH keeps them, and tokens sealed by earlier versions still open."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eliza.server import AgentServer
from eliza.settings import Settings
from tests.backends import server_database

MASK = "********"

# Each value carries a marker that appears nowhere else, so a scan of the files finds it
# only if the secret is stored in clear.
SECRETS: dict[str, Any] = {
    "TEXT": "text-secret-4f9a1c77",
    "INTEGER": 918273645546372819,
    "FLOAT": 31415.926535897932,
    "OBJECT": {"password": "object-secret-pw-77ab", "port": 54329, "nested": {"k": "deep-9c1"}},
    "ARRAY": ["array-secret-1-c0ffee", 271828182845, {"token": "array-secret-2-beef"}],
    "TRUE": True,
    "FALSE": False,
}
TOP_LEVEL = {"DB": {"user": "top-level-user-5e5e", "password": "top-level-pw-6f6f"}}
MARKERS = ["text-secret-4f9a1c77", "918273645546372819", "31415.926535897932",
           "object-secret-pw-77ab", "54329", "deep-9c1", "array-secret-1-c0ffee",
           "271828182845", "array-secret-2-beef", "top-level-user-5e5e", "top-level-pw-6f6f"]


def stored_bytes(settings: Settings) -> bytes:
    """Everything the database holds: on SQLite its files byte for byte (the WAL too), on
    PostgreSQL every row of every table of the server's schema."""
    if not settings.database_url:
        db = settings.db_path
        files = [p for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"))
                 if p.exists()]
        assert files, "no database file to scan"
        return b"".join(p.read_bytes() for p in files)
    with server_database(settings.data_dir) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema()").fetchall()]
        return b"".join(str(conn.execute(f'SELECT * FROM "{t}"').fetchall()).encode()
                        for t in tables)


def stored_character(settings: Settings, agent_id: str) -> dict[str, Any]:
    with server_database(settings.data_dir) as db:
        row = db.execute("SELECT character FROM agents WHERE id = ?", [agent_id]).fetchone()
    character: dict[str, Any] = json.loads(row[0])
    return character


async def create(client: Any, character: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/agents", json={"characterJson": character})
    body = await response.get_json()
    assert response.status_code == 201, body
    data: dict[str, Any] = body["data"]
    return data


async def test_secrets_of_every_json_type_are_sealed_masked_and_opened(
        client: Any, agent_server: AgentServer, settings: Settings) -> None:
    created = await create(client, {
        "name": "Vault", "settings": {"secrets": {**SECRETS, "NOTHING": None}},
        "secrets": TOP_LEVEL,
    })
    agent_id = created["id"]

    raw = stored_bytes(settings)
    found = [m for m in MARKERS if m.encode() in raw]
    assert found == [], f"secrets stored in clear: {found}"
    # Booleans are too short to scan for: every stored secret must be a sealed token instead.
    stored = stored_character(settings, agent_id)
    for key in SECRETS:
        assert str(stored["settings"]["secrets"][key]).startswith("enc:"), key
    assert stored["settings"]["secrets"]["NOTHING"] is None
    assert str(stored["secrets"]["DB"]).startswith("enc:")

    response = await client.get(f"/api/agents/{agent_id}")
    for view in (created["character"], (await response.get_json())["data"]):
        assert view["settings"]["secrets"] == {**dict.fromkeys(SECRETS, MASK), "NOTHING": None}
        assert view["secrets"] == {"DB": MASK}

    assert (await client.post(f"/api/agents/{agent_id}/start")).status_code == 200
    runtime = agent_server.agents.runtime(agent_id)
    assert runtime is not None
    for key, value in SECRETS.items():
        assert runtime.get_setting(key) == value, key
    assert runtime.get_setting("DB") == TOP_LEVEL["DB"]

    # The web UI sends the masked form back with an edit: every secret stays as it was.
    response = await client.patch(f"/api/agents/{agent_id}", json={
        "bio": ["edited"], "settings": {"secrets": dict.fromkeys(SECRETS, MASK)},
        "secrets": {"DB": MASK},
    })
    assert response.status_code == 200, await response.get_json()
    runtime = agent_server.agents.runtime(agent_id)
    assert runtime is not None
    for key, value in SECRETS.items():
        assert runtime.get_setting(key) == value, key
    assert runtime.get_setting("DB") == TOP_LEVEL["DB"]
    raw = stored_bytes(settings)
    assert [m for m in MARKERS if m.encode() in raw] == []


async def test_tokens_sealed_as_text_still_open(agent_server: AgentServer) -> None:
    box = agent_server.secrets
    # The form every earlier version stored a string secret in.
    legacy = "enc:v1:" + box._fernet.encrypt(b"sk-old-1").decode()
    opened = box.decrypt_character({"name": "Old", "settings": {"secrets": {
        "KEY": legacy, "CLEAR": {"left": "as stored"}}}})
    assert opened["settings"]["secrets"] == {"KEY": "sk-old-1", "CLEAR": {"left": "as stored"}}
    resealed = box.encrypt_character(opened)
    assert box.decrypt_character(resealed) == opened
    assert str(resealed["settings"]["secrets"]["CLEAR"]).startswith("enc:v2:")


async def test_secrets_stored_in_clear_by_an_older_version_are_sealed_at_start(
    tmp_path: Path,
) -> None:
    from conftest import make_settings, open_app

    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    async with open_app(settings) as app:
        created = await create(app.test_client(), {"name": "Legacy", "bio": ["b"]})
    # What an older version left: an object secret stored as plain JSON.
    with server_database(settings.data_dir) as conn:
        character = json.loads(conn.execute("SELECT character FROM agents WHERE id = ?",
                                            [created["id"]]).fetchone()[0])
        character["settings"] = {"secrets": {"DB": {"password": "legacy-clear-pw-4242"}}}
        conn.execute("UPDATE agents SET character = ? WHERE id = ?",
                     [json.dumps(character), created["id"]])
    async with open_app(settings) as app:
        server: AgentServer = app.app.config["ELIZA_SERVER"]
        opened = server.secrets.decrypt_character(server.agents.get(created["id"]).character)
        assert opened["settings"]["secrets"]["DB"] == {"password": "legacy-clear-pw-4242"}
    assert b"legacy-clear-pw-4242" not in stored_bytes(settings)
