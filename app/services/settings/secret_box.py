"""Secrets at rest: a setting such as a provider's API key is stored encrypted, with a key derived from
the instance's secret (`SECRET_KEY`), so that a copy of the database alone (a backup, a stolen file)
gives nothing away.

Fernet (`cryptography`) seals each value with AES-128-CBC and an HMAC-SHA256 tag: a changed or truncated
value is refused, never decrypted into garbage. Its key comes from HKDF-SHA256 over the instance secret
with a purpose of its own, so the same secret signing session cookies never doubles as this key.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PURPOSE = b"llm-router settings secrets v1"


class SecretUnreadable(Exception):
    """A stored secret that this instance's key cannot open: sealed under another `SECRET_KEY`, or altered."""


class SecretBox:
    def __init__(self, instance_secret: str) -> None:
        if not instance_secret:
            raise ValueError("the instance secret is empty: there is no key to seal secrets with")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
            instance_secret.encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, secret: str) -> str:
        """The secret encrypted, as text for a database column (a fresh random IV each time)."""
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise SecretUnreadable("a stored secret cannot be decrypted with this instance's SECRET_KEY "
                                   "(it was changed, or the value was altered): enter the secret again") from exc
