"""Character secrets encrypted at rest, with a key derived from the server's salt.

The salt comes from `SECRET_SALT` or is generated once into `<data dir>/secret_salt`. A
character keeps its secrets in `settings.secrets` and in top-level `secrets`; a secret may be
any JSON value. A string is sealed as `enc:v1:<token of its UTF-8 bytes>` (the original form,
which servers before JSON secrets can still open); any other value except null as
`enc:v2:<token of its JSON text>`. Null is kept: it says nothing, and masks show it as null.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

_TEXT = "enc:v1:"
_JSON = "enc:v2:"
_SEALED = (_TEXT, _JSON)
_TOKEN_AT = len(_TEXT)  # both prefixes have this length


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
