"""The per-process wiring: settings, database, keys, caches and services. Holds no state a second
process would need; the caches only spare queries.

Each service's module is imported when the service is first built: a CLI command that needs the database and
no protocol starts without loading OIDC, CAS, SAML and the sign-on flows (#16: start-up)."""

from __future__ import annotations

import hashlib
import hmac
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from app.crypto import SecretBox, load_master_key, previous_key_files
from app.db import Database

if TYPE_CHECKING:
    from app.account.password import PasswordChange
    from app.account.recovery import AccountRecovery
    from app.auth.authenticator import Authenticator
    from app.auth.throttle import LoginThrottler
    from app.cas.server import CasServer
    from app.directory.sources import DirectorySources
    from app.mfa.factors import FactorService
    from app.mfa.policy import MfaPolicy
    from app.oidc.server import OIDCProvider
    from app.oidc.tokens import TokenPolicy
    from app.saml.server import SamlIdentityProvider
    from app.settings import Settings
    from app.signon.authorization import AuthorizationFlow
    from app.signon.cas_login import CasLoginFlow
    from app.signon.gateway import Gateway
    from app.signon.logout import LogoutService
    from app.signon.logout_delivery import LogoutSender
    from app.signon.resume import ParkedRequests
    from app.signon.saml_login import SamlLoginFlow
    from app.signon.second_factor import SecondFactorLogin
    from app.signon.service import SignOn
    from app.signon.upstream_login import UpstreamSignOn
    from app.store.cas_store import ServiceCache
    from app.store.gateway_store import GatewayAppCache
    from app.store.keys import KeyStore
    from app.store.oidc_store import ClientCache, UnitCache
    from app.store.sessions import SessionService
    from app.upstream.providers import UpstreamProviders


class NotMigrated(RuntimeError):
    """The database schema is behind the code."""


class Broker:
    def __init__(self, settings: Settings, issuer: str | None = None) -> None:
        self.settings = settings
        self.issuer = (issuer or settings.issuer or "http://127.0.0.1:8000").rstrip("/")
        self.db = Database(settings.effective_database_url)
        key_file = settings.master_key_file or settings.data_dir / "master.key"
        previous = [*settings.master_key_previous, *([] if settings.master_key else previous_key_files(key_file))]
        self.box = SecretBox(load_master_key(settings.master_key, key_file), previous)
        self.csrf_key = hashlib.sha256(b"csrf:" + self.box.key_id.encode() + settings.master_key.encode()
                                       + key_file.as_posix().encode()).digest()

    # The parts every service is built from, each made (and its module imported) when first used.
    @cached_property
    def policy(self) -> TokenPolicy:
        from app.oidc.tokens import TokenPolicy

        s = self.settings
        return TokenPolicy(issuer=self.issuer, access_token_ttl=s.access_token_ttl, id_token_ttl=s.id_token_ttl,
                           code_ttl=s.code_ttl, refresh_token_ttl=s.refresh_token_ttl,
                           access_token_alg=s.access_token_alg, id_token_alg=s.id_token_alg,
                           session_refresh_ttl=s.session_absolute_timeout)

    @cached_property
    def keys(self) -> KeyStore:
        from app.store.keys import KeyStore

        return KeyStore(self.db, self.box, max_token_ttl=max(self.settings.access_token_ttl,
                                                              self.settings.id_token_ttl))

    @cached_property
    def clients(self) -> ClientCache:
        from app.store.oidc_store import ClientCache

        return ClientCache(self.settings.client_cache_ttl)

    @cached_property
    def units(self) -> UnitCache:
        from app.store.oidc_store import UnitCache

        return UnitCache(self.settings.unit_cache_ttl)

    @cached_property
    def cas_services(self) -> ServiceCache:
        from app.store.cas_store import ServiceCache

        return ServiceCache(self.settings.client_cache_ttl)

    @cached_property
    def gateway_apps(self) -> GatewayAppCache:
        from app.store.gateway_store import GatewayAppCache

        return GatewayAppCache(self.settings.client_cache_ttl)

    @cached_property
    def sessions(self) -> SessionService:
        from app.store.sessions import SessionPolicy, SessionService

        return SessionService(SessionPolicy(self.settings.session_idle_timeout, self.settings.session_absolute_timeout))

    @cached_property
    def throttle(self) -> LoginThrottler:
        from app.auth.throttle import LoginThrottler, ThrottlePolicy

        s = self.settings
        return LoginThrottler(ThrottlePolicy(s.lockout_account_failures, s.lockout_ip_failures, s.lockout_window,
                                             s.lockout_duration))

    @cached_property
    def factors(self) -> FactorService:
        from app.mfa.factors import FactorService

        return FactorService(self.box, self.issuer, self.settings.service_name)

    @cached_property
    def mfa_policy(self) -> MfaPolicy:
        from app.mfa.policy import MfaPolicy

        return MfaPolicy(self.settings.mfa_required_units, self.settings.client_cache_ttl)

    @cached_property
    def directories(self) -> DirectorySources:
        from app.directory.sources import DirectorySources

        return DirectorySources(self.box, self.settings.client_cache_ttl)

    # The services, built once per process from the parts above: each constructor says what its service uses,
    # and only the composition roots (web, cli, worker) see the broker.
    @cached_property
    def authenticator(self) -> Authenticator:
        """Passwords: local officials first, then each directory."""
        from app.auth.authenticator import ChainAuthenticator, LocalAuthenticator
        from app.directory.authenticator import DirectoryAuthenticator

        return ChainAuthenticator(LocalAuthenticator(self.directories.names), DirectoryAuthenticator(self.directories),
                                  equalize_timing=lambda session: not self.directories.names(session))

    @cached_property
    def authorization(self) -> AuthorizationFlow:
        from app.signon.authorization import AuthorizationFlow

        return AuthorizationFlow(self.provider, self.issuer, self.factors, self.mfa_policy,
                                 self.settings.pending_authorization_ttl)

    @cached_property
    def sign_on(self) -> SignOn:
        from app.signon.service import SignOn

        return SignOn(self.authenticator, self.throttle, self.factors, self.sessions, self.directories,
                      self.mfa_policy, self.parked_requests)

    @cached_property
    def second_factor(self) -> SecondFactorLogin:
        from app.signon.second_factor import SecondFactorLogin

        return SecondFactorLogin(self.factors, self.throttle, self.sessions, self.parked_requests)

    @cached_property
    def parked_requests(self) -> ParkedRequests:
        """A parked request resumes with its protocol's flow."""
        from app.signon.resume import ParkedRequests

        return ParkedRequests({"oidc": self.authorization, "cas": self.cas_login, "gateway": self.gateway,
                               "saml": self.saml_login})

    @cached_property
    def upstream_providers(self) -> UpstreamProviders:
        from app.upstream.providers import UpstreamProviders

        return UpstreamProviders(self.box, self.issuer, self.settings.upstream_allow_http_loopback,
                                 self.settings.client_cache_ttl)

    @cached_property
    def upstream_sign_on(self) -> UpstreamSignOn:
        from app.signon.upstream_login import UpstreamSignOn

        return UpstreamSignOn(self.upstream_providers, self.sessions, self.sign_on, self.parked_requests, self.box,
                              self.csrf_key)

    @cached_property
    def saml_login(self) -> SamlLoginFlow:
        from app.signon.saml_login import SamlLoginFlow

        return SamlLoginFlow(self.saml_idp, self.mfa_policy, self.factors, self.settings.pending_authorization_ttl)

    def saml_idp(self, session: Session) -> SamlIdentityProvider:
        from app.db import now
        from app.saml.server import SamlIdentityProvider
        from app.store.oidc_store import SqlOIDCStorage
        from app.store.saml_store import SqlSamlStorage, signing_material

        storage = SqlSamlStorage(session, SqlOIDCStorage(session, self.clients, self.units))
        return SamlIdentityProvider(storage, f"{self.issuer}/saml/metadata", f"{self.issuer}/saml/sso",
                                    f"{self.issuer}/saml/slo", lambda: signing_material(session, self.box, self.issuer),
                                    now)

    @cached_property
    def gateway(self) -> Gateway:
        from app.signon.gateway import Gateway
        from app.store.oidc_store import SqlOIDCStorage

        return Gateway(self.gateway_apps, self.sessions,
                       lambda s, official_id: SqlOIDCStorage(s, self.clients, self.units).get_subject(official_id),
                       self.mfa_policy, self.issuer, self.settings.pending_authorization_ttl)

    @cached_property
    def cas_login(self) -> CasLoginFlow:
        from app.signon.cas_login import CasLoginFlow

        return CasLoginFlow(self.cas_server, self.mfa_policy, self.settings.pending_authorization_ttl)

    def cas_server(self, session: Session) -> CasServer:
        from app.cas.proxy_callback import deliver_proxy_granting_ticket
        from app.cas.server import CasPolicy, CasServer
        from app.db import now
        from app.store.cas_store import SqlCasStorage
        from app.store.oidc_store import SqlOIDCStorage

        storage = SqlCasStorage(session, self.cas_services, SqlOIDCStorage(session, self.clients, self.units))
        policy = CasPolicy(self.settings.cas_service_ticket_ttl,
                           allow_http_callbacks_to_loopback=self.settings.cas_allow_http_proxy_callbacks)
        return CasServer(storage, policy, deliver_proxy_granting_ticket, now)

    @cached_property
    def logout(self) -> LogoutService:
        from app.signon.logout import LogoutService

        return LogoutService(self.sessions, self.clients, self.keys, self.issuer, self.logout_sender)

    @cached_property
    def logout_sender(self) -> LogoutSender:
        from app.signon.logout_delivery import LogoutSender

        return LogoutSender(self.db, self.provider, self.settings.backchannel_logout_timeout,
                            self.settings.logout_retry_seconds)

    @cached_property
    def password_change(self) -> PasswordChange:
        from app.account.password import PasswordChange

        return PasswordChange(self.throttle, self.directories)

    @cached_property
    def recovery(self) -> AccountRecovery:
        from app.account.recovery import AccountRecovery

        return AccountRecovery(self.settings, self.issuer, self.throttle, self.directories, self.factors)

    def check_migrated(self) -> None:
        from app.migrate import current_revision, head_revision

        current = current_revision(self.db.engine)
        head = head_revision()
        if current != head:
            raise NotMigrated(
                f"the database at {self.db.engine.url.render_as_string(hide_password=True)} is at schema "
                f"revision {current or 'none'}, the code needs {head}: run `sso-broker migrate`"
            )

    def provider(self, session: Session) -> OIDCProvider:
        from app.oidc.server import OIDCProvider
        from app.store.oidc_store import SqlOIDCStorage

        return OIDCProvider(SqlOIDCStorage(session, self.clients, self.units), self.keys.ring(), self.policy)

    def csrf_token(self, browser_id: str) -> str:
        return hmac.new(self.csrf_key, browser_id.encode(), hashlib.sha256).hexdigest()

    def csrf_valid(self, browser_id: str | None, token: str | None) -> bool:
        if not browser_id or not token:
            return False
        return hmac.compare_digest(self.csrf_token(browser_id).encode(), token.encode())
