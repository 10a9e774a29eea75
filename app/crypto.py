"""Secrets at rest (envelope encryption under the master key) and the fast digests of random tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_FORMAT = "v1"


class MasterKeyError(Exception):
    """The master key is missing, malformed or not the one the data was sealed with."""


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> str:
    """SHA-256 of a random token: what we store, so a database leak yields no usable token.

    The tokens are long and random, so a fast digest is enough; argon2 here would cap the token endpoint.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def digest_matches(token: str, stored_digest: str | None) -> bool:
    if not stored_digest:
        return False
    return hmac.compare_digest(token_digest(token), stored_digest)


def generate_master_key() -> str:
    return b64u(os.urandom(32))


class SecretBox:
    """Envelope encryption: each value gets its own data key, which is wrapped by the master key.

    Rotating the master key then only re-wraps data keys (`sso-broker secrets rotate-master`, issue 7).
    """

    def __init__(self, master_key: str, previous: list[str] | tuple[str, ...] = ()) -> None:
        key = _decode_key(master_key)
        self._kek = AESGCM(key)
        self.key_id = hashlib.sha256(key).hexdigest()[:8]
        # Earlier master keys still open what they sealed, until `secrets rotate-master` re-sealed it all.
        self._openers = {self.key_id: self._kek}
        # Keys of the keyed digests that find a row by a personal value (a national id number) without
        # storing it: a plain hash of 12 digits is reversed by trying them all.
        self._lookup_keys = [(self.key_id, hashlib.sha256(b"lookup:" + key).digest())]
        for old in previous:
            raw = _decode_key(old)
            self._openers.setdefault(hashlib.sha256(raw).hexdigest()[:8], AESGCM(raw))
            self._lookup_keys.append((hashlib.sha256(raw).hexdigest()[:8], hashlib.sha256(b"lookup:" + raw).digest()))

    def lookup_digest(self, value: str) -> str:
        """The keyed digest a row is stored with (under the current master key)."""
        return self.lookup_digests(value)[0]

    def lookup_digests(self, value: str) -> list[str]:
        """The digests a row may still carry: under the current key and under earlier ones, until the
        source that wrote it writes it again."""
        data = value.strip().encode()
        return [f"{key_id}.{hmac.new(key, data, hashlib.sha256).hexdigest()}" for key_id, key in self._lookup_keys]

    @staticmethod
    def key_id_of(sealed: str) -> str:
        parts = sealed.split(".")
        return parts[1] if len(parts) == 6 else ""

    def seal(self, plaintext: bytes) -> str:
        dek = AESGCM.generate_key(bit_length=256)
        dek_nonce, nonce = os.urandom(12), os.urandom(12)
        wrapped = self._kek.encrypt(dek_nonce, dek, self.key_id.encode())
        body = AESGCM(dek).encrypt(nonce, plaintext, None)
        parts = [_FORMAT, self.key_id, b64u(dek_nonce), b64u(wrapped), b64u(nonce), b64u(body)]
        return ".".join(parts)

    def open(self, sealed: str) -> bytes:
        try:
            fmt, key_id, dek_nonce, wrapped, nonce, body = sealed.split(".")
        except ValueError as exc:
            raise MasterKeyError("sealed value is malformed") from exc
        kek = self._openers.get(key_id)
        if fmt != _FORMAT or kek is None:
            raise MasterKeyError(f"value was sealed under master key {key_id}, not {self.key_id}")
        try:
            dek = kek.decrypt(unb64u(dek_nonce), unb64u(wrapped), key_id.encode())
            return AESGCM(dek).decrypt(unb64u(nonce), unb64u(body), None)
        except Exception as exc:
            raise MasterKeyError("cannot decrypt: wrong master key or tampered value") from exc


def _decode_key(master_key: str) -> bytes:
    try:
        key = unb64u(master_key.strip())
    except (ValueError, TypeError) as exc:
        raise MasterKeyError("the master key is not base64url") from exc
    if len(key) != 32:
        raise MasterKeyError("the master key must be 32 bytes, base64url-encoded")
    return key


def previous_key_files(key_file: Path) -> list[str]:
    """Keys a rotation left beside the key file: the one being introduced (.next) and the retired (.previous)."""
    keys = []
    for path in (key_file.with_name(key_file.name + ".next"), key_file.with_name(key_file.name + ".previous")):
        if path.exists():
            keys += [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return keys


def load_master_key(configured: str, key_file: Path) -> str:
    """The configured key, else the key file, created (mode 0600) on first use for the embedded default."""
    if configured:
        return configured
    if key_file.exists():
        return key_file.read_text().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = generate_master_key()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key
