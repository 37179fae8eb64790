"""The secrets salt is the deployment's: the first server on a database writes a verifier
of it (never the salt), a server with another salt is refused with a message saying what to
set, a server with the same salt opens the secrets the first one sealed, a database from
before verifiers takes the verifier of a salt that opens its secrets and of no other, and
processes creating the salt file at once agree on one salt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT
from eliza.errors import StartupError
from eliza.security.secrets import SALT_FILE, VERIFIER_KEY, SaltMismatch, SecretBox, check_salt
from eliza.store import Store
from eliza.store.agents import AgentRecord, all_agents, get_meta, save_agent

SECRET = {"API_TOKEN": "sk-salted-7d1e"}
PROCESSES = 8
ROUNDS = 30


def box(tmp_path: Path, name: str, salt: str | None) -> SecretBox:
    opened = SecretBox(tmp_path / name, salt)
    opened.open()
    return opened


async def save_secret(store: Store, sealer: SecretBox) -> None:
    character = sealer.encrypt_character({"name": "Keeper", "settings": {"secrets": SECRET}})
    await store.write(save_agent, AgentRecord("0b0e8c59-1d0f-4a51-9a5b-0a0c6f4a4f01",
                                              character, True, False, 1, 1))


async def opened_secrets(store: Store, opener: SecretBox) -> Any:
    (record,) = await store.read(all_agents)
    return opener.decrypt_character(record.character)["settings"]["secrets"]


async def test_a_server_with_another_salt_is_refused(tmp_path: Path, store: Store) -> None:
    first = box(tmp_path, "host1", "salt-of-the-deployment")
    await check_salt(first, store)
    await save_secret(store, first)
    verifier = await store.read(get_meta, VERIFIER_KEY)
    assert verifier
    assert "salt-of-the-deployment" not in verifier

    with pytest.raises(SaltMismatch) as refused:
        await check_salt(box(tmp_path, "host2", "another-salt"), store)
    message = str(refused.value)
    assert "SECRET_SALT" in message
    assert "the value the other hosts of this deployment use" in message

    # A host without SECRET_SALT makes its own salt file: refused, and told so.
    with pytest.raises(SaltMismatch, match=f"the salt file .*{SALT_FILE}"):
        await check_salt(box(tmp_path, "host3", None), store)

    same = box(tmp_path, "host4", "salt-of-the-deployment")
    await check_salt(same, store)
    assert await opened_secrets(store, same) == SECRET
    assert await store.read(get_meta, VERIFIER_KEY) == verifier


async def test_a_database_from_before_verifiers_takes_the_salt_of_its_secrets(
        tmp_path: Path, store: Store) -> None:
    sealer = box(tmp_path, "old", None)
    await save_secret(store, sealer)  # sealed by an older version: no verifier
    assert await store.read(get_meta, VERIFIER_KEY) is None

    # A salt that opens none of them would make every secret unreadable: refused, and
    # nothing written, so the right salt can still claim the database.
    with pytest.raises(SaltMismatch):
        await check_salt(box(tmp_path, "new", "not-the-old-salt"), store)
    assert await store.read(get_meta, VERIFIER_KEY) is None

    # The data directory's own salt (as a restarted server reads it) opens them.
    restarted = box(tmp_path, "old", None)
    await check_salt(restarted, store)
    assert await store.read(get_meta, VERIFIER_KEY) is not None
    assert await opened_secrets(store, restarted) == SECRET
    with pytest.raises(SaltMismatch):
        await check_salt(box(tmp_path, "new", "not-the-old-salt"), store)


async def test_a_database_without_secrets_takes_the_first_salt(
        tmp_path: Path, store: Store) -> None:
    await check_salt(box(tmp_path, "a", "first"), store)
    await check_salt(box(tmp_path, "b", "first"), store)
    with pytest.raises(SaltMismatch):
        await check_salt(box(tmp_path, "c", "second"), store)


@pytest.mark.sqlite_only  # no database: once is enough
def test_processes_creating_the_salt_at_once_agree(tmp_path: Path) -> None:
    # Each process imports once, then, for every data directory it is sent, creates (or
    # reads) its salt: all of them at once, round after round.
    script = ("import sys; from pathlib import Path;"
              " from eliza.security.secrets import load_or_create_salt;"
              " [print(load_or_create_salt(Path(line.strip()), None), flush=True)"
              "  for line in sys.stdin]")
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
             for _ in range(PROCESSES)]
    try:
        for round_ in range(ROUNDS):
            data_dir = tmp_path / f"round{round_}" / ".eliza"
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write(f"{data_dir}\n")
                proc.stdin.flush()
            salts = set()
            for proc in procs:
                assert proc.stdout is not None
                salts.add(proc.stdout.readline().strip())
            stored = (data_dir / SALT_FILE).read_text()
            assert salts == {stored}, f"round {round_}: {salts}"
            assert len(stored) == 64
            assert (data_dir / SALT_FILE).stat().st_mode & 0o777 == 0o600
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate()  # closes the pipes


@pytest.mark.sqlite_only  # no database: once is enough
def test_an_empty_salt_file_is_a_clear_startup_error(tmp_path: Path) -> None:
    # What a host that crashed while creating the file would leave.
    (tmp_path / SALT_FILE).write_text("")
    with pytest.raises(StartupError, match="is empty: delete it"):
        SecretBox(tmp_path, None).open()
