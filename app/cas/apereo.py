"""Apereo CAS JSON service definitions read into ours, so a province can point its CAS clients at the broker
and keep its service registry: `serviceId`, `name`, `id`, `evaluationOrder`, `logoutUrl`/`logoutType`, the
attribute release policy (all, allowed, mapped), the proxy policy, `accessStrategy.enabled` and a
multifactor policy. What cannot be carried over is refused by name rather than dropped."""

from __future__ import annotations

import re
from typing import Any

from app.attributes import ATTRIBUTES
from app.cas.services import PATTERN, ServiceError, ServiceInfo, attribute_named, check

_KNOWN_RELEASE = ("ReturnAllowedAttributeReleasePolicy", "ReturnMappedAttributeReleasePolicy",
                  "ReturnAllAttributeReleasePolicy", "DenyAllAttributeReleasePolicy")


def _java_list(value: Any) -> list[Any]:
    """Apereo writes collections as ["java.util.ArrayList", [...]]; plain lists are accepted too."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], list):
        return list(value[1])
    return list(value) if isinstance(value, list) else []


def _class(policy: Any) -> str:
    return str(policy.get("@class", "")).rsplit(".", 1)[-1] if isinstance(policy, dict) else ""


def _release(policy: Any) -> tuple[tuple[str, str], ...]:
    kind = _class(policy)
    if not policy or kind == "DenyAllAttributeReleasePolicy":
        return ()
    if kind not in _KNOWN_RELEASE:
        raise ServiceError(f"attributeReleasePolicy: {kind or policy!r} is not supported; use one of "
                           f"{', '.join(_KNOWN_RELEASE)}")
    if kind == "ReturnAllAttributeReleasePolicy":
        return tuple((name, name) for name in ATTRIBUTES)
    allowed = policy.get("allowedAttributes")
    if kind == "ReturnMappedAttributeReleasePolicy":
        pairs = [(str(v), attribute_named(str(k))) for k, v in (allowed or {}).items() if k != "@class"]
        return tuple(pairs)
    return tuple((str(name), attribute_named(str(name))) for name in _java_list(allowed))


def _slug(definition: dict[str, Any]) -> str:
    raw = str(definition.get("id") or definition.get("name") or "")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-").lower()
    return f"cas-{slug}" if slug.isdigit() else slug


def read_apereo(definition: dict[str, Any]) -> ServiceInfo:
    """One Apereo CasRegisteredService as our ServiceInfo, validated like any other."""
    if not isinstance(definition, dict) or not definition.get("serviceId"):
        raise ServiceError("serviceId: a service definition needs a serviceId")
    kind = _class(definition)
    if kind and kind not in ("CasRegisteredService", "RegexRegisteredService"):
        raise ServiceError(f"@class: {kind} is not a CAS service (SAML and OIDC services are registered apart)")
    access = definition.get("accessStrategy") or {}
    proxy = definition.get("proxyPolicy") or {}
    mfa = definition.get("multifactorPolicy") or {}
    service = ServiceInfo(
        id=_slug(definition), name=str(definition.get("name") or definition["serviceId"]), match=PATTERN,
        pattern=str(definition["serviceId"]), release=_release(definition.get("attributeReleasePolicy")),
        allow_proxy=_class(proxy) == "RegexMatchingRegisteredServiceProxyPolicy",
        proxy_pattern=proxy.get("pattern") if isinstance(proxy, dict) else None,
        logout_url=definition.get("logoutUrl") or None,
        single_logout=str(definition.get("logoutType", "BACK_CHANNEL")).upper() != "NONE",
        require_mfa=bool(_java_list(mfa.get("multifactorAuthenticationProviders")) if isinstance(mfa, dict) else []),
        enabled=bool(access.get("enabled", True)) if isinstance(access, dict) else True,
        evaluation_order=int(definition.get("evaluationOrder") or 100),
    )
    return check(service)
