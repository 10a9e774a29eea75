"""Active Directory behaviour on the mapping layer, from recorded AD entries (no AD runs here)."""

from __future__ import annotations

import uuid

from app.directory.ldap import ad_password
from app.directory.mapping import map_group, map_person, normalize_dn, requested_attributes
from app.directory.sources import parse_config

CONFIG = parse_config({"name": "bacninh-ad", "kind": "ad", "urls": ["ldaps://dc1.bacninh.gov.vn"],
                       "bind_dn": "CN=svc-sso,OU=Service,DC=bacninh,DC=gov,DC=vn",
                       "people_base": "OU=Units,DC=bacninh,DC=gov,DC=vn"})
GUID = uuid.UUID("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
DN = "CN=Nguyễn Đình Hiếu,OU=So TTTT,OU=Units,DC=bacninh,DC=gov,DC=vn"


def recorded(uac: int = 512, lockout: int = 0, **extra: list[bytes]) -> dict[str, list[bytes]]:
    """As ldap3 returns it (raw_attributes) for a user on Windows Server 2019."""
    entry = {
        "objectGUID": [GUID.bytes_le],
        "sAMAccountName": [b"HieuND"],
        "userPrincipalName": [b"hieund@bacninh.gov.vn"],
        "displayName": ["Nguyễn Đình Hiếu".encode()],
        "givenName": ["Hiếu".encode()],
        "sn": ["Nguyễn".encode()],
        "mail": [b"HieuND@BacNinh.gov.vn"],
        "title": ["Chuyên viên".encode()],
        "telephoneNumber": [b"+84912000001"],
        "userAccountControl": [str(uac).encode()],
        "lockoutTime": [str(lockout).encode()],
        "uSNChanged": [b"1048577"],
    }
    entry.update(extra)
    return entry


def test_object_guid_is_read_as_the_uuid_ad_tools_show() -> None:
    record = map_person(DN, recorded(), CONFIG)
    assert record is not None
    assert record.external_id == "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    assert record.username == "hieund" and record.email == "hieund@bacninh.gov.vn"
    assert record.middle_name == "Đình" and record.changed == "1048577"
    assert record.unit_key == normalize_dn("OU=So TTTT,OU=Units,DC=bacninh,DC=gov,DC=vn")


def test_user_account_control_and_lockout() -> None:
    assert map_person(DN, recorded(uac=512), CONFIG).enabled  # type: ignore[union-attr]
    assert not map_person(DN, recorded(uac=514), CONFIG).enabled  # type: ignore[union-attr]  # ACCOUNTDISABLE
    assert not map_person(DN, recorded(uac=66050), CONFIG).enabled  # type: ignore[union-attr]  # + DONT_EXPIRE
    assert not map_person(DN, recorded(lockout=133_000_000_000_000_000), CONFIG).enabled  # type: ignore[union-attr]
    assert map_person(DN, recorded(uac=66048), CONFIG).enabled  # type: ignore[union-attr]  # DONT_EXPIRE only


def test_entry_without_guid_or_account_name_is_skipped() -> None:
    entry = recorded()
    del entry["objectGUID"]
    assert map_person(DN, entry, CONFIG) is None
    entry = recorded()
    del entry["sAMAccountName"]
    assert map_person(DN, entry, CONFIG) is None


def test_ad_group_members() -> None:
    group = map_group("CN=cb-so-tttt,OU=Groups,DC=bacninh,DC=gov,DC=vn",
                      {"objectGUID": [uuid.uuid4().bytes_le], "cn": [b"cb-so-tttt"], "member": [DN.encode()]}, CONFIG)
    assert group is not None and normalize_dn(DN) in group.member_keys


def test_ad_asks_for_its_own_attributes() -> None:
    attrs = requested_attributes(CONFIG)
    assert {"objectGUID", "sAMAccountName", "userAccountControl", "lockoutTime", "uSNChanged"} <= set(attrs)
    assert "pwdAccountLockedTime" not in attrs


def test_unicode_pwd_encoding() -> None:
    assert ad_password("Mật-khẩu@1") == '"Mật-khẩu@1"'.encode("utf-16-le")
    assert ad_password("x")[:2] == b'"\x00'


def test_nfd_names_from_the_directory_are_stored_nfc() -> None:
    import unicodedata

    nfd = unicodedata.normalize("NFD", "Nguyễn Đình Hiếu").encode()
    record = map_person(DN, recorded(displayName=[nfd]), CONFIG)
    assert record is not None and record.display_name == unicodedata.normalize("NFC", "Nguyễn Đình Hiếu")


def test_dn_normalization_shortcut_agrees_with_the_ldap3_parser() -> None:
    """Plain DNs skip ldap3's parser; every DN must still compare exactly as the parser would have it."""
    from ldap3.utils.dn import parse_dn

    def parsed(dn: str) -> str:
        try:
            return ",".join(f"{a.lower()}={v}" for a, v, _ in parse_dn(dn, escape=True)).lower()
        except Exception:  # noqa: BLE001 - what normalize_dn does with a DN the parser refuses
            return dn.lower()

    dns = [DN, "uid=hieund,ou=Phòng Tổng hợp,ou=Xã Tân Yên,ou=units,dc=bacgiang,dc=gov,dc=vn",
           "uid=Hieu,ou=Phong A ,dc=x", "UID = hieu , OU=Sở,DC=vn", "cn=a b  c,dc=x", "cn=a\\,b,dc=x",
           "cn=x+uid=y,dc=z", "cn=a=b,dc=x", " cn=a,dc=x", "cn=,dc=x", "cn=#0401,dc=x", 'cn="q",dc=x', "dc=x,", ""]
    for dn in dns:
        assert normalize_dn(dn) == parsed(dn), dn
    assert normalize_dn("CN=Nguyễn Văn A,OU=Sở Tài chính,DC=bacgiang") == "cn=nguyễn văn a,ou=sở tài chính,dc=bacgiang"
