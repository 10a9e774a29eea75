"""Encrypted assertions (XML Encryption 1.1): the signed assertion sealed with AES-256-GCM under a fresh key,
the key sealed with RSA-OAEP for the SP's encryption certificate, so only that SP reads what the assertion
says (a browser, a proxy or a log in between sees ciphertext)."""

from __future__ import annotations

import base64
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from app.saml.xml import DS, SamlError, q

XENC = "http://www.w3.org/2001/04/xmlenc#"
AES256_GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
RSA_OAEP = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"


def _x(name: str) -> str:
    return f"{{{XENC}}}{name}"


def encrypt_assertion(assertion: etree._Element, cert_pem: str) -> etree._Element:
    """An EncryptedAssertion holding `assertion` (already signed), for the holder of `cert_pem`'s key."""
    public = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise SamlError("the SP's encryption certificate is not an RSA key")
    key, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12)
    sealed = nonce + AESGCM(key).encrypt(nonce, etree.tostring(assertion), None)
    # rsa-oaep-mgf1p is OAEP with SHA-1, the one key transport every SP stack decrypts; collisions do not matter
    # to OAEP, whose security rests on the hash as a random oracle.
    sha1 = hashes.SHA1()  # noqa: S303
    wrapped = public.encrypt(key, padding.OAEP(mgf=padding.MGF1(sha1), algorithm=sha1, label=None))
    outer = etree.Element(q("saml", "EncryptedAssertion"))
    data = etree.SubElement(outer, _x("EncryptedData"), nsmap={"xenc": XENC, "ds": DS},
                            Type=f"{XENC}Element")
    etree.SubElement(data, _x("EncryptionMethod"), Algorithm=AES256_GCM)
    encrypted_key = etree.SubElement(etree.SubElement(data, q("ds", "KeyInfo")), _x("EncryptedKey"))
    method = etree.SubElement(encrypted_key, _x("EncryptionMethod"), Algorithm=RSA_OAEP)
    etree.SubElement(method, q("ds", "DigestMethod"), Algorithm=SHA1)
    etree.SubElement(etree.SubElement(encrypted_key, _x("CipherData")), _x("CipherValue")).text = \
        base64.b64encode(wrapped).decode()
    etree.SubElement(etree.SubElement(data, _x("CipherData")), _x("CipherValue")).text = \
        base64.b64encode(sealed).decode()
    return outer
