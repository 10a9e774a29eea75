"""The two bindings of the Web Browser SSO profile: HTTP-Redirect (DEFLATE, base64, the signature in the query)
and HTTP-POST (base64, the signature inside the XML)."""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote_plus

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from app.saml.xml import MAX_MESSAGE, SamlError

REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@dataclass(frozen=True)
class RedirectMessage:
    xml: bytes
    relay_state: str
    sig_alg: str
    signature: bytes | None
    signed_part: bytes  # the query as received, up to the signature: what the signature covers


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise SamlError("the message is not base64") from exc


def inflate(data: bytes) -> bytes:
    """Raw DEFLATE, stopped at the size bound: a small message cannot unpack into a huge one."""
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, MAX_MESSAGE)
    except zlib.error as exc:
        raise SamlError("the message is not DEFLATE-compressed") from exc
    if inflater.unconsumed_tail:
        raise SamlError("the message unpacks to more than the size bound")
    return out


def deflate(xml: bytes) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode()


def read_redirect(raw_query: str, field: str) -> RedirectMessage:
    """The message of a Redirect-binding query (SAMLRequest or SAMLResponse), the values kept as sent, because
    the signature covers the URL-encoded bytes (SAML bindings §3.4.4.1)."""
    raw: dict[str, str] = {}
    for pair in raw_query.split("&"):
        name, _, value = pair.partition("=")
        raw.setdefault(name, value)
    if field not in raw:
        raise SamlError(f"{field} is missing")
    signed = f"{field}={raw[field]}"
    if "RelayState" in raw:
        signed += f"&RelayState={raw['RelayState']}"
    if "SigAlg" in raw:
        signed += f"&SigAlg={raw['SigAlg']}"
    signature = _b64(unquote_plus(raw["Signature"])) if "Signature" in raw else None
    return RedirectMessage(inflate(_b64(unquote_plus(raw[field]))), unquote_plus(raw.get("RelayState", "")),
                           unquote_plus(raw.get("SigAlg", "")), signature, signed.encode())


def verify_redirect(message: RedirectMessage, certs: tuple[str, ...]) -> bool:
    if message.signature is None or message.sig_alg != RSA_SHA256:
        return False
    for pem in certs:
        key = x509.load_pem_x509_certificate(pem.encode()).public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            continue
        try:
            key.verify(message.signature, message.signed_part, padding.PKCS1v15(), hashes.SHA256())
            return True
        except InvalidSignature:
            continue
    return False


def read_post(value: str) -> bytes:
    data = _b64(value)
    if len(data) > MAX_MESSAGE:
        raise SamlError("the message is larger than the size bound")
    return data


@lru_cache(maxsize=8)
def private_key(key_pem: str) -> rsa.RSAPrivateKey:
    """The IdP's key, parsed once per process: loading a PEM checks the RSA key, about 45 ms, which per
    response would dominate the cost of a SAML sign-on (measured by bench/protocols.py)."""
    key = load_pem_private_key(key_pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SamlError("the IdP's signing key is not an RSA key")
    return key


def signed_redirect(location: str, field: str, xml: bytes, relay_state: str, key_pem: str) -> str:
    """A Redirect-binding URL carrying xml, signed with our key over the encoded query (bindings §3.4.4.1)."""
    query = f"{field}={quote(deflate(xml), safe='')}"
    if relay_state:
        query += f"&RelayState={quote(relay_state, safe='')}"
    query += f"&SigAlg={quote(RSA_SHA256, safe='')}"
    signature = private_key(key_pem).sign(query.encode(), padding.PKCS1v15(), hashes.SHA256())
    separator = "&" if "?" in location else "?"
    return f"{location}{separator}{query}&Signature={quote(base64.b64encode(signature).decode(), safe='')}"
