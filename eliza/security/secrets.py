"""Character secrets encrypted at rest, with a key derived from the server's salt.

The salt comes from `SECRET_SALT` or is generated once into `<data dir>/secret_salt`. Every
server of a deployment must use the same salt: the database keeps a verifier of it (an HMAC
of a fixed text under the derived key, which tells nothing of the salt), and a server whose
salt does not match refuses to start (`check_salt`) rather than read every secret as empty. A
character keeps its secrets in `settings.secrets` and in top-level `secrets`; a secret may be
any JSON value. A string is sealed as `enc:v1:<token of its UTF-8 bytes>` (the original form,
which servers before JSON secrets can still open); any other value except null as
`enc:v2:<token of its JSON text>`. Null is kept: it says nothing, and masks show it as null.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken

from ..errors import StartupError
from ..store.agents import get_meta, set_meta, stored_characters

if TYPE_CHECKING:
    from ..store import Store, Transaction

_TEXT = "enc:v1:"
_JSON = "enc:v2:"
_SEALED = (_TEXT, _JSON)
_TOKEN_AT = len(_TEXT)  # both prefixes have this length

SALT_FILE = "secret_salt"
# How long a worker waits for the salt file another worker of its host has just created.
SALT_WRITE_WAIT = 2.0
VERIFIER_KEY = "secret_salt_verifier"
VERIFIER_TEXT = b"eliza: the deployment's secrets salt"
VERIFIER_VERSION = "v1:"


def secret_paths(character: dict[str, Any]) -> list[dict[str, Any]]:
    """The secret maps of a character: `settings.secrets` and top-level `secrets`."""
    found = []
    settings = character.get("settings")
    if isinstance(settings, dict) and isinstance(settings.get("secrets"), dict):
        found.append(settings["secrets"])
    if isinstance(character.get("secrets"), dict):
        found.append(character["secrets"])
    return found


def load_or_create_salt(data_dir: Path, configured: str | None) -> str:
    """`configured` (SECRET_SALT), else the data directory's salt file, created with a new
    random salt when missing. Workers starting at once on one data directory agree: the file
    is created exclusively, and a worker that loses the race reads the winner's salt."""
    if configured:
        return configured
    path = data_dir / SALT_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_salt(path)
    with os.fdopen(fd, "w") as file:
        file.write(salt)
        file.flush()
        os.fsync(file.fileno())
    return salt


def _read_salt(path: Path) -> str:
    """The salt in `path`, waiting briefly while the worker that created it writes it."""
    deadline = time.monotonic() + SALT_WRITE_WAIT
    while True:
        salt = path.read_text().strip()
        if salt:
            return salt
        if time.monotonic() >= deadline:
            raise StartupError(
                f"the secrets salt file {path} is empty: delete it to have a new salt"
                " made (secrets sealed with the lost salt cannot be opened), or set"
                " SECRET_SALT")
        time.sleep(0.05)


class SecretBox:
    """Seals and opens characters' secrets. Its key is derived when the server runs
    (`open`): the salt may have to be created in the data directory first."""

    def __init__(self, data_dir: Path, configured_salt: str | None) -> None:
        self.data_dir = data_dir
        self.configured_salt = configured_salt
        self._key: Fernet | None = None
        self._verifier: str | None = None

    def open(self) -> None:
        salt = load_or_create_salt(self.data_dir, self.configured_salt)
        key = hashlib.pbkdf2_hmac("sha256", salt.encode(), b"eliza-character-secrets", 100_000)
        self._key = Fernet(base64.urlsafe_b64encode(key))
        self._verifier = VERIFIER_VERSION + hmac.new(key, VERIFIER_TEXT, "sha256").hexdigest()

    @property
    def salt_source(self) -> str:
        """Where this server's salt comes from, for messages."""
        if self.configured_salt:
            return "SECRET_SALT"
        return f"the salt file {self.data_dir / SALT_FILE}"

    @property
    def verifier(self) -> str:
        """What the database keeps to tell whether a server's salt is the deployment's."""
        if self._verifier is None:
            raise RuntimeError("the server is not running (its secrets are not open)")
        return self._verifier

    @property
    def _fernet(self) -> Fernet:
        if self._key is None:
            raise RuntimeError("the server is not running (its secrets are not open)")
        return self._key

    def encrypt_character(self, character: dict[str, Any]) -> dict[str, Any]:
        sealed = copy.deepcopy(character)
        for secret_map in secret_paths(sealed):
            for key, value in secret_map.items():
                secret_map[key] = self.seal(value)
        return sealed

    def decrypt_character(self, character: dict[str, Any]) -> dict[str, Any]:
        opened = copy.deepcopy(character)
        for secret_map in secret_paths(opened):
            for key, value in secret_map.items():
                secret_map[key] = self.open_value(value)
        return opened

    def seal(self, value: Any) -> Any:
        """One secret value as stored: a sealed token (a value already sealed is kept)."""
        if value is None or (isinstance(value, str) and value.startswith(_SEALED)):
            return value
        if isinstance(value, str):
            return _TEXT + self._fernet.encrypt(value.encode()).decode()
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return _JSON + self._fernet.encrypt(text.encode()).decode()

    def open_value(self, value: Any) -> Any:
        """The value a stored secret stands for; a value stored in clear (before secrets of
        every type were sealed) is returned as it is."""
        if not isinstance(value, str) or not value.startswith(_SEALED):
            return value
        try:
            plain = self._fernet.decrypt(value[_TOKEN_AT:]).decode()
        except InvalidToken:
            # Sealed with another salt: unusable, but never fatal to the agent.
            return None
        return plain if value.startswith(_TEXT) else json.loads(plain)


class SaltMismatch(StartupError):
    """This server's secrets salt is not the one the database's secrets were sealed with."""


async def check_salt(box: SecretBox, store: Store) -> None:
    """Refuse to start (`SaltMismatch`) unless `box`'s salt is the deployment's: the one
    whose verifier the database keeps. The first server to start on a database writes it;
    on a database from before verifiers, only if its salt opens at least one of the secrets
    already sealed there (so a wrong salt is never made the deployment's)."""
    stored = await store.read(get_meta, VERIFIER_KEY)
    if stored is None:
        matches = await store.write(_claim_verifier, box)
    else:
        matches = hmac.compare_digest(stored, box.verifier)
    if matches:
        return
    raise SaltMismatch(
        f"the secrets salt of this server ({box.salt_source}) is not the one this database's"
        " secrets were sealed with, so every agent secret would read as empty: set"
        " SECRET_SALT to the value the other hosts of this deployment use (on the host"
        " that created the database: its SECRET_SALT, or the contents of the"
        f" {SALT_FILE} file of its data directory)")


def _claim_verifier(db: Transaction, box: SecretBox) -> bool:
    """Whether `box`'s salt is the deployment's, writing its verifier when there is none."""
    db.lock(VERIFIER_KEY)  # two servers starting at once: the first one's verifier holds
    stored = get_meta(db, VERIFIER_KEY)
    if stored is not None:
        return hmac.compare_digest(stored, box.verifier)
    sealed = _sealed_values(db)
    if sealed and all(box.open_value(value) is None for value in sealed):
        return False
    set_meta(db, VERIFIER_KEY, box.verifier)
    return True


def _sealed_values(db: Transaction) -> list[str]:
    found: list[str] = []
    for character in stored_characters(db):
        if isinstance(character, dict):
            found += [value for secret_map in secret_paths(character)
                      for value in secret_map.values()
                      if isinstance(value, str) and value.startswith(_SEALED)]
    return found
