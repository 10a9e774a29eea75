"""SQLAlchemy implementation of the SAML identity provider's storage, and its signing key."""

from __future__ import annotations

import datetime as dt
import secrets
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.crypto import SecretBox
from app.db import insert_once, locked_row, now
from app.installation import InstallationSetting
from app.oidc.models import Subject
from app.saml.metadata import SpInfo, read_sp_metadata
from app.saml.server import SigningMaterial
from app.store.models import SamlParticipant, SamlPersistentId, SamlSeenRequest, SamlServiceProvider
from app.store.oidc_store import SqlOIDCStorage

SIGNING_SETTING = "saml_signing_key"


@lru_cache(maxsize=256)
def _parsed(sp_id: str, metadata_xml: str) -> SpInfo:
    """An SP's metadata, parsed once per process per version of it: one SAML sign-on reads the SP three times."""
    return read_sp_metadata(metadata_xml.encode(), sp_id)


def sp_info(row: SamlServiceProvider) -> SpInfo:
    parsed = _parsed(row.id, row.metadata_xml)
    return SpInfo(**{**parsed.__dict__, "name": row.name, "release": tuple((str(a), str(b)) for a, b in row.release),
                     "nameid_format": row.nameid_format or parsed.nameid_format, "sign_response": row.sign_response,
                     "encrypt_assertions": row.encrypt_assertions,
                     "require_mfa": row.require_mfa, "allowed_units": tuple(row.allowed_units or ()),
                     "allowed_groups": tuple(row.allowed_groups or ()), "enabled": row.enabled})


class SqlSamlStorage:
    def __init__(self, session: Session, subjects: SqlOIDCStorage) -> None:
        self.session, self.subjects = session, subjects

    def sp_by_entity(self, entity_id: str) -> SpInfo | None:
        row = self.session.scalars(select(SamlServiceProvider).where(
            SamlServiceProvider.entity_id == entity_id)).one_or_none()
        return sp_info(row) if row is not None else None

    def sp(self, sp_id: str) -> SpInfo | None:
        row = self.session.get(SamlServiceProvider, sp_id)
        return sp_info(row) if row is not None else None

    def first_use_of_request(self, issuer: str, request_id: str, expires_at: int) -> bool:
        if secrets.randbelow(50) == 0:
            self.session.execute(delete(SamlSeenRequest).where(SamlSeenRequest.expires_at < now()))
        try:
            with self.session.begin_nested():
                self.session.execute(insert(SamlSeenRequest).values(issuer=issuer[:1000], request_id=request_id,
                                                                    expires_at=expires_at))
        except IntegrityError:
            return False
        return True

    def persistent_id(self, sp_id: str, official_id: str) -> str:
        insert_once(self.session, SamlPersistentId, {"sp_id": sp_id, "official_id": official_id,
                                                     "value": secrets.token_hex(20)})
        value = self.session.scalar(select(SamlPersistentId.value).where(SamlPersistentId.sp_id == sp_id,
                                                                           SamlPersistentId.official_id == official_id))
        return str(value)

    def get_subject(self, official_id: str) -> Subject | None:
        return self.subjects.get_subject(official_id)

    def record_participant(self, sid: str, sp_id: str, nameid: str, nameid_format: str) -> None:
        insert_once(self.session, SamlParticipant, {"sid": sid, "sp_id": sp_id, "name_id": nameid,
                                                    "name_id_format": nameid_format, "created_at": now()},
                    update_fields=("name_id", "name_id_format"))

    def participants(self, sid: str) -> list[tuple[str, str, str]]:
        rows = self.session.execute(select(SamlParticipant.sp_id, SamlParticipant.name_id,
                                           SamlParticipant.name_id_format).where(SamlParticipant.sid == sid))
        return [(a, b, c) for a, b, c in rows]


def signing_material(session: Session, box: SecretBox, common_name: str) -> SigningMaterial:
    """The IdP's key and self-signed certificate, made once for the installation (SPs pin the certificate
    from our metadata, so it must not change with the OIDC key rotation); the key is sealed at rest."""
    row = session.get(InstallationSetting, SIGNING_SETTING)
    if row is not None and row.value:  # the usual case: read, no lock, no write
        return SigningMaterial(box.open(row.value["key"]).decode(), row.value["cert"])
    row = locked_row(session, InstallationSetting, SIGNING_SETTING,
                     lambda: InstallationSetting(name=SIGNING_SETTING, value={}, updated_at=now()))
    if not row.value:  # made once, by whichever process gets the lock first
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(start)
                .not_valid_after(start + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        row.value = {"key": box.seal(pem), "cert": cert.public_bytes(serialization.Encoding.PEM).decode()}
        row.updated_at = now()
    return SigningMaterial(box.open(row.value["key"]).decode(), row.value["cert"])
