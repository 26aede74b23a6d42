"""EncryptedTextField: secrets (app secrets, tokens, AES keys) encrypted at rest.

The key comes from FIELD_ENCRYPTION_KEY (a Fernet key: `python -c "from cryptography.fernet
import Fernet; print(Fernet.generate_key().decode())"`), or in development from SECRET_KEY.
Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256); the database never sees plaintext.
"""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models


@lru_cache(maxsize=4)
def _fernet(key: str, secret_key: str) -> Fernet:
    if key:
        return Fernet(key.encode())
    derived = hashlib.sha256(("field-encryption:" + secret_key).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def fernet() -> Fernet:
    return _fernet(settings.FIELD_ENCRYPTION_KEY, settings.SECRET_KEY)


class EncryptedTextField(models.TextField):
    """A text field stored encrypted; reads give back the plaintext."""

    prefix = "enc1:"

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return self.prefix + fernet().encrypt(str(value).encode()).decode()

    def from_db_value(self, value, expression, connection):
        if value in (None, "") or not value.startswith(self.prefix):
            return value
        try:
            return fernet().decrypt(value[len(self.prefix) :].encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "A stored secret cannot be decrypted: FIELD_ENCRYPTION_KEY has changed."
            ) from exc
