"""Character secrets encrypted at rest, with a key derived from the server's salt.

The salt comes from `SECRET_SALT` or is generated once into `<data dir>/secret_salt`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from ..runtime.character import secret_paths

_PREFIX = "enc:v1:"


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
    def __init__(self, salt: str) -> None:
        key = hashlib.pbkdf2_hmac("sha256", salt.encode(), b"eliza-character-secrets", 100_000)
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

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
