"""One Settings class for the whole broker: environment variables prefixed SSO_, or a TOML file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "SSO_"


class Settings(BaseSettings):
    """Every tunable of the broker. `SSO_CONFIG_FILE` names an optional TOML file; env vars win over it."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    data_dir: Path = Path(".sso-broker")
    database_url: str = ""
    # Empty means "the address served", filled in by `serve` from --host/--port.
    issuer: str = ""
    # base64url of 32 random bytes; when empty, a key file in data_dir is created on first use.
    master_key: str = ""
    master_key_file: Path | None = None
    # During a master-key rotation: the keys being retired, which still open what they sealed.
    master_key_previous: list[str] = Field(default_factory=list)

    default_locale: str = "vi"
    access_token_ttl: int = Field(600, ge=30, le=86400)
    id_token_ttl: int = Field(600, ge=30, le=86400)
    code_ttl: int = Field(60, ge=10, le=600)
    refresh_token_ttl: int = Field(30 * 86400, ge=300)
    # Access tokens are signed with ES256: an RS256 signature costs as much as the rest of the request.
    access_token_alg: str = "ES256"
    id_token_alg: str = "RS256"
    # A rotated key is published this long before it signs, so caches of the JWKS pick it up first.
    key_publish_ahead: int = Field(3600, ge=0)
    # The worker publishes a new signing key when the newest is this old (0: only by hand).
    signing_key_rotation_days: int = Field(90, ge=0)

    # Codes, refresh tokens, sessions and links are deleted by the worker this long after their end (seconds):
    # until then a replayed code or refresh token still revokes what it issued.
    expired_retention: int = Field(86400, ge=0)
    session_idle_timeout: int = Field(30 * 60, ge=60)
    session_absolute_timeout: int = Field(10 * 3600, ge=300)
    # None: secure cookies exactly when the issuer is https.
    cookie_secure: bool | None = None
    pending_authorization_ttl: int = Field(900, ge=60)

    lockout_account_failures: int = Field(5, ge=1)
    lockout_ip_failures: int = Field(30, ge=1)
    lockout_window: int = Field(900, ge=10)
    lockout_duration: int = Field(900, ge=10)

    client_cache_ttl: float = Field(5.0, ge=0)
    # Threads per process for work that waits on the database, the directory or another server. Each such
    # request is mostly Python between short waits: a few threads keep a core busy; many only fight over the
    # GIL, and a lock holder (the audit chain's head, a code being claimed) waits its turn for it while every
    # other writer waits for the lock (bench/: 40 threads gave 3x the p99 and a third fewer logins than 8).
    threads: int = Field(8, ge=1, le=200)
    # The token endpoint's own pool (codes, refresh tokens, revocation, introspection). Its requests are short and
    # mostly CPU, so with many threads they share the core and all finish late: at 70% of the peak, 3 threads gave
    # two thirds of the p99 of 8 (authorization_code 13.8 and 14.2 ms against 20.2 and 18.7) and no lower a peak
    # (bench/token_cpu.py, run alternately); 2 gave a tenth less at the peak.
    token_threads: int = Field(3, ge=1, le=200)
    # Units change by reorganisation, rarely; a unit renamed shows in new tokens within this many seconds.
    unit_cache_ttl: float = Field(60.0, ge=0)
    backchannel_logout_timeout: float = Field(3.0, gt=0)
    # The first retry of a logout an application did not take; each next one waits twice as long (to an hour).
    logout_retry_seconds: int = Field(5, ge=1, le=3600)
    # CAS: a service ticket lives seconds (Apereo's default is 10); a pgtUrl must be https, except on a loopback
    # address when this is set (tests and a proxy on the same host).
    cas_service_ticket_ttl: int = Field(10, ge=1, le=300)
    cas_allow_http_proxy_callbacks: bool = False
    # Upstream identity providers must be https, except on a loopback address when this is set (tests, and a
    # provider on the same host).
    upstream_allow_http_loopback: bool = False

    # A task that keeps failing transiently is retried for this long before it is dead-lettered.
    provisioning_retry_hours: float = Field(24.0, gt=0)
    # A target paused after this many failures in a row (circuit breaker) rests before the next try.
    provisioning_breaker_failures: int = Field(5, ge=1)
    provisioning_breaker_pause: float = Field(30.0, gt=0)
    trusted_proxies: list[str] = Field(default_factory=list)

    # "json": one JSON object per line with the request id (for a log pipeline); "text" for people.
    log_format: str = Field("text", pattern="^(text|json)$")
    log_level: str = Field("info", pattern="^(debug|info|warning|error)$")
    # Optional OpenTelemetry traces, sent over OTLP/HTTP to this collector URL (needs the `otel` extra).
    otel_endpoint: str = ""

    # Optional: rate-limit counters in Redis instead of the database (e.g. redis://127.0.0.1:6379/0).
    redis_url: str = ""
    # POSTs to the login, second-factor, reset and password pages, per client address per minute.
    rate_limit_auth_per_minute: int = Field(60, ge=1)

    # The name authenticator apps and passkey prompts show.
    service_name: str = "sso-broker"
    # Officials of these units (codes; whole subtrees) always use a second factor.
    mfa_required_units: list[str] = Field(default_factory=list)
    # Officials holding an admin role must have used a second factor to act as admins.
    admin_require_mfa: bool = True
    reset_link_ttl: int = Field(3600, ge=300, le=7 * 86400)
    # Outgoing mail (password reset links, recovery address checks). Empty host: no mail is sent.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "sso-broker@localhost"
    # Text messages (recovery phone): POST {"to", "text"} as JSON with this bearer token. An adapter in front
    # of the operator's own gateway (Viettel, VNPT, ... brand-name SMS) speaks its API. Empty: no SMS.
    sms_gateway_url: str = ""
    sms_gateway_token: str = ""

    @field_validator("access_token_alg", "id_token_alg")
    @classmethod
    def _supported_alg(cls, value: str) -> str:
        if value not in ("RS256", "ES256"):
            raise ValueError("must be RS256 or ES256")
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer_shape(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL, e.g. https://sso.example.gov.vn")
        return value.rstrip("/")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'sso-broker.db'}"

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.issuer.startswith("https://")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
