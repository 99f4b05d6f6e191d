"""Encryption of connection credentials: the shared key-list handling of ``security.crypto``.

Kept as the name the connectors import; the keys, the rotation rule and the production check are
documented (and live) in ``security/crypto.py``.
"""

from security.crypto import (
    DecryptionError,
    configured_keys,
    decrypt,
    encrypt,
    encrypted_with_first_key,
    reencrypt,
)

__all__ = [
    "DecryptionError",
    "configured_keys",
    "decrypt",
    "encrypt",
    "encrypted_with_first_key",
    "reencrypt",
]
