"""A directory source's configuration: typed, validated, unknown fields refused (a typo names the field)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SOURCE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class AttributeMap(BaseModel):
    """Which LDAP attribute carries what. The presets below fit OpenLDAP and Active Directory."""

    model_config = ConfigDict(extra="forbid")

    id: str
    username: str
    display_name: str
    given_name: str = "givenName"
    family_name: str = "sn"
    email: str = "mail"
    title: str = "title"
    phone: str = "telephoneNumber"
    employee_number: str = "employeeNumber"
    # The personal identification number (CCCD), where the directory holds one: an upstream identity (VNeID)
    # is linked by it. Stored only as a keyed digest.
    national_id: str | None = None
    changed: str
    person_filter: str
    group_filter: str
    group_member: str = "member"
    unit_filter: str = "(objectClass=organizationalUnit)"
    unit_name: str = "description"


PRESETS: dict[str, AttributeMap] = {
    "openldap": AttributeMap(
        id="entryUUID", username="uid", display_name="cn", changed="modifyTimestamp",
        person_filter="(objectClass=inetOrgPerson)", group_filter="(objectClass=groupOfNames)",
    ),
    "ad": AttributeMap(
        id="objectGUID", username="sAMAccountName", display_name="displayName", changed="uSNChanged",
        person_filter="(&(objectCategory=person)(objectClass=user))", group_filter="(objectClass=group)",
    ),
}


class DirectoryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="short name used in logins (hieund@NAME) and unit codes")
    kind: Literal["openldap", "ad"] = "openldap"
    urls: list[str] = Field(min_length=1, description="ldap:// or ldaps:// servers, tried in order (failover)")
    bind_dn: str
    start_tls: bool = False
    ca_file: str | None = None
    timeout: float = Field(5.0, gt=0, le=60)
    people_base: str
    groups_base: str | None = None
    units_base: str | None = None
    unit_from: Literal["dn", "attribute", "none"] = "dn"
    unit_attribute: str | None = None
    page_size: int = Field(500, ge=10, le=5000)
    attributes: AttributeMap | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not SOURCE_NAME_RE.match(value):
            raise ValueError("lower-case letters, digits, '-' or '_', at most 40, e.g. 'bacgiang'")
        return value

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("ldap://", "ldaps://")):
                raise ValueError(f"{url!r} must start with ldap:// or ldaps://")
        return value

    @property
    def mapping(self) -> AttributeMap:
        return self.attributes or PRESETS[self.kind]
