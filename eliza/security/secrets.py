"""Character secrets encrypted at rest, with a key derived from the server's salt.

The salt comes from `SECRET_SALT` or is generated once into `<data dir>/secret_salt`. A
character keeps its secrets in `settings.secrets` and in top-level `secrets`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

_PREFIX = "enc:v1:"


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
    if configured:
        return configured
    path = data_dir / "secret_salt"
    if path.is_file():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_hex(32)
    path.write_text(salt)
    path.chmod(0o600)
    return salt


class SecretBox:
    """Seals and opens characters' secrets. Its key is derived when the server runs
    (`open`): the salt may have to be created in the data directory first."""

    def __init__(self, data_dir: Path, configured_salt: str | None) -> None:
        self.data_dir = data_dir
        self.configured_salt = configured_salt
        self._key: Fernet | None = None

    def open(self) -> None:
        salt = load_or_create_salt(self.data_dir, self.configured_salt)
        key = hashlib.pbkdf2_hmac("sha256", salt.encode(), b"eliza-character-secrets", 100_000)
        self._key = Fernet(base64.urlsafe_b64encode(key))

    @property
    def _fernet(self) -> Fernet:
        if self._key is None:
            raise RuntimeError("the server is not running (its secrets are not open)")
        return self._key

    def encrypt_character(self, character: dict[str, Any]) -> dict[str, Any]:
        sealed = copy.deepcopy(character)
        for secret_map in secret_paths(sealed):
            for key, value in secret_map.items():
                if isinstance(value, str) and not value.startswith(_PREFIX):
                    token = self._fernet.encrypt(value.encode()).decode()
                    secret_map[key] = _PREFIX + token
        return sealed

    def decrypt_character(self, character: dict[str, Any]) -> dict[str, Any]:
        opened = copy.deepcopy(character)
        for secret_map in secret_paths(opened):
            for key, value in secret_map.items():
                if isinstance(value, str) and value.startswith(_PREFIX):
                    try:
                        secret_map[key] = self._fernet.decrypt(value[len(_PREFIX):]).decode()
                    except InvalidToken:
                        # Sealed with another salt: unusable, but never fatal to the agent.
                        secret_map[key] = None
        return opened
