"""An upstream provider's configuration: typed, validated, unknown fields refused, with the VNeID profile's
defaults. The national VNeID specification is not public: every claim name and level below is configurable."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.validation import field_errors

PROVIDER_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
OurLevel = Literal["pwd", "mfa", "phr"]
# Signature algorithms an ID token may be pinned to: asymmetric only, so `none` and HMAC (signed with the
# client secret, which a mix-up attacker may know) are never accepted.
SigningAlg = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class ProviderConfigError(ValueError):
    """A configuration that cannot be saved, in words that name the field."""


class ClaimMap(BaseModel):
    """Which upstream claim carries what."""

    model_config = ConfigDict(extra="forbid")

    subject: str = "sub"
    national_id: str | None = None
    name: str = "name"
    birthdate: str = "birthdate"
    email: str = "email"


class ProviderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="short name, used in URLs and in idp_hint")
    profile: Literal["oidc", "vneid"] = "oidc"
    display_name: str = Field(min_length=1, max_length=100, description="the login button, in Vietnamese")
    display_name_en: str | None = Field(None, max_length=100)
    logo_url: str | None = None
    issuer: str
    # Endpoints come from discovery (issuer + /.well-known/openid-configuration) unless given here.
    discovery: bool = True
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    jwks_uri: str | None = None
    end_session_endpoint: str | None = None
    client_id: str = Field(min_length=1, max_length=200)
    client_auth: Literal["client_secret_basic", "client_secret_post", "private_key_jwt"] = "client_secret_basic"
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile"])
    id_token_alg: SigningAlg = "RS256"
    acr_values: str | None = None
    claims: ClaimMap = Field(default_factory=ClaimMap)
    # What the upstream's acr (or an amr value, as "amr:otp") is worth here; unknown values count as a password.
    levels: dict[str, OurLevel] = Field(default_factory=dict)
    link_by_national_id: bool = True
    allow_password_link: bool = True
    max_clock_skew: int = Field(120, ge=0, le=600)
    timeout: float = Field(5.0, gt=0, le=30)

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("profile") == "vneid":
            data = {"scopes": ["openid", "profile"], "acr_values": "LoA2",
                    "levels": {"LoA1": "pwd", "LoA2": "pwd"}, **data}
            data["claims"] = {"national_id": "personal_identification_number", **(data.get("claims") or {})}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not PROVIDER_NAME_RE.match(value):
            raise ValueError("lower-case letters, digits, '-' or '_', at most 40, e.g. 'vneid'")
        return value

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        if "openid" not in value:
            raise ValueError("must include openid")
        return value

    def endpoint_urls(self) -> dict[str, str | None]:
        return {"issuer": self.issuer, "authorization_endpoint": self.authorization_endpoint,
                "token_endpoint": self.token_endpoint, "jwks_uri": self.jwks_uri,
                "end_session_endpoint": self.end_session_endpoint, "logo_url": self.logo_url}

    def label(self, locale: str) -> str:
        return (self.display_name_en or self.display_name) if locale == "en" else self.display_name


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_config(data: dict[str, Any], allow_http_loopback: bool = False) -> ProviderConfig:
    try:
        config = ProviderConfig.model_validate(data)
    except ValidationError as exc:
        raise ProviderConfigError(field_errors(exc)) from exc
    if config.logo_url and not config.logo_url.startswith(("/static/", "data:image/")):
        # The login page's policy loads images from the broker only: a logo is a file of ours or a data: URI.
        raise ProviderConfigError("logo_url: a /static/ path or a data:image/ URI")
    for field, url in config.endpoint_urls().items():
        if url is None or field == "logo_url":
            continue
        parts = urlsplit(url)
        plain_http_allowed = allow_http_loopback and parts.scheme == "http" and is_loopback(url)
        if parts.scheme != "https" and not plain_http_allowed or not parts.netloc:
            raise ProviderConfigError(f"{field}: {url!r} must be an https:// URL")
    if not config.discovery and not (config.authorization_endpoint and config.token_endpoint and config.jwks_uri):
        raise ProviderConfigError("without discovery, authorization_endpoint, token_endpoint and jwks_uri are needed")
    return config
