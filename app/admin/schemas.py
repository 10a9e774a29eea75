"""The admin API's request and response bodies (pydantic: validation errors name the field)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UnitOut(BaseModel):
    id: str
    code: str
    name: str
    kind: str
    parent_id: str | None
    source: str
    mail_domain: str | None
    merged_into_id: str | None
    version: int


class UnitIn(Strict):
    code: str = Field(min_length=1, max_length=120)
    name: str = Field(min_length=1, max_length=300)
    kind: str = "unit"
    parent_id: str | None = None


class UnitPatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=300)
    parent_id: str | None = None


class OfficialOut(BaseModel):
    id: str
    username: str
    display_name: str
    given_name: str
    family_name: str
    middle_name: str
    email: str | None
    phone: str | None
    title: str | None
    unit_id: str | None
    enabled: bool
    source: str
    version: int
    directory_owned: list[str]


class OfficialIn(Strict):
    username: str = Field(min_length=2, max_length=150)
    display_name: str = Field(min_length=1, max_length=300)
    given_name: str = ""
    family_name: str = ""
    middle_name: str = ""
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=40)
    title: str | None = Field(None, max_length=200)
    unit_id: str
    password: str | None = Field(None, min_length=10, max_length=1024)


class OfficialPatch(Strict):
    display_name: str | None = Field(None, min_length=1, max_length=300)
    given_name: str | None = Field(None, max_length=150)
    family_name: str | None = Field(None, max_length=150)
    middle_name: str | None = Field(None, max_length=150)
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=40)
    title: str | None = Field(None, max_length=200)
    unit_id: str | None = None


class OfficialPage(BaseModel):
    items: list[OfficialOut]
    total: int
    page: int
    per_page: int


class AccountOut(BaseModel):
    connector: str
    key: str
    target_id: str | None
    state: str
    updated_at: int


class GroupOut(BaseModel):
    id: str
    name: str
    unit_id: str | None
    source: str


class GroupIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    unit_id: str | None = None


class RoleOut(BaseModel):
    id: str
    official_id: str
    role: str
    unit_id: str
    granted_by: str
    created_at: int


class RoleIn(Strict):
    official_id: str
    role: str
    unit_id: str


class ClientOut(BaseModel):
    client_id: str
    name: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    grant_types: list[str]
    scopes: list[str]
    token_endpoint_auth_method: str
    first_party: bool
    require_mfa: bool
    launch_url: str | None
    connector: str | None
    backchannel_logout_uri: str | None
    scim_unit_id: str | None
    enabled: bool
    version: int
    client_secret: str | None = None


class ClientIn(Strict):
    client_id: str
    name: str = ""
    redirect_uris: list[str] = []
    post_logout_redirect_uris: list[str] = []
    grant_types: list[str] = ["authorization_code", "refresh_token"]
    scopes: list[str] = ["openid", "profile", "email", "phone", "groups", "offline_access"]
    auth_method: str = "client_secret_basic"
    first_party: bool = False
    require_mfa: bool = False
    launch_url: str | None = None
    connector: str | None = None
    backchannel_logout_uri: str | None = None
    scim_unit_id: str | None = None


class ClientPatch(Strict):
    name: str | None = None
    redirect_uris: list[str] | None = None
    post_logout_redirect_uris: list[str] | None = None
    first_party: bool | None = None
    require_mfa: bool | None = None
    launch_url: str | None = None
    connector: str | None = None
    backchannel_logout_uri: str | None = None
    enabled: bool | None = None
    scopes: list[str] | None = None
    scim_unit_id: str | None = None


class ConnectorIn(Strict):
    kind: str
    config: dict[str, Any]
    rules: dict[str, Any] = {}
    mapping: dict[str, str] = {}
    retention_days: int | None = Field(None, ge=0)


class TaskOut(BaseModel):
    id: int
    official_id: str
    connector: str
    status: str
    attempts: int
    outcome: str | None
    last_error: str | None
    updated_at: int | None


class AuditOut(BaseModel):
    seq: int
    at: int
    action: str
    outcome: str
    actor: str
    actor_kind: str
    unit_id: str | None
    target: str | None
    address: str | None
    details: dict[str, Any]
    hash: str


class MeOut(BaseModel):
    official_id: str
    username: str
    roles: list[RoleOut]


class ReorganisationIn(Strict):
    name: str = Field(min_length=1, max_length=300)
    effective_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    operations: list[dict[str, Any]] = Field(min_length=1, max_length=10000)


class ReorganisationDryRun(BaseModel):
    """How far the worker has come through a large plan's dry run (the report comes when it has looked at all)."""

    looked_at: int
    concerned: int


class ReorganisationOut(BaseModel):
    id: str
    name: str
    effective_date: str
    status: str  # previewing (the dry run is under way), planned, applying, done, failed (could not be applied)
    operations: list[dict[str, Any]]
    report: str | None
    dry_run: ReorganisationDryRun | None
    remaining: int


class SamlSpIn(Strict):
    """A SAML SP from its metadata (`metadata_xml`, or `metadata_url` where it publishes it, https)."""

    id: str
    name: str = ""
    metadata_xml: str | None = None
    metadata_url: str | None = None
    attributes: dict[str, str] = {}  # the SAML attribute name -> our attribute (displayName, mail, unitName, …)
    nameid: str | None = None  # persistent (default), transient, email
    sign_response: bool = True
    encrypt_assertions: bool = False
    require_mfa: bool = False
    allowed_units: list[str] = []
    allowed_groups: list[str] = []
    launch_url: str | None = None
    replace: bool = False
