"""Connector kinds, discovered through the `sso_broker.connectors` entry-point group, built-in ones included,
so a third party ships a connector as its own package."""

from __future__ import annotations

from importlib.metadata import entry_points

import httpx
from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError

from app.validation import field_errors
from connectors.base import Connector, ConnectorError

GROUP = "sso_broker.connectors"


class ConnectorConfigError(ValueError):
    """A connector configuration that does not validate; the message names the field."""


def kinds() -> dict[str, type[Connector]]:
    found: dict[str, type[Connector]] = {}
    for ep in entry_points(group=GROUP):
        cls = ep.load()
        if isinstance(cls, type) and issubclass(cls, Connector):
            found[ep.name] = cls
    return found


def build(kind: str, config: dict[str, object], http: httpx.Client | None = None) -> Connector:
    """A connector, validated offline (typed configuration, then its own validate()): never connects."""
    available = kinds()
    cls = available.get(kind)
    if cls is None:
        raise ConnectorConfigError(f"kind: unknown connector {kind!r}; installed: {', '.join(sorted(available))}")
    try:
        connector = cls(cls.Config.model_validate(config), http) if http is not None else cls(
            cls.Config.model_validate(config))
        connector.validate()
        return connector
    except ConnectorError as exc:
        raise ConnectorConfigError(str(exc)) from exc
    except ValidationError as exc:
        raise ConnectorConfigError(field_errors(exc)) from exc
    except ImportError as exc:  # a driver the URL names is not installed
        raise ConnectorConfigError(f"{kind}: a library it needs is not installed ({exc.name or exc})") from exc
    except (ValueError, ArgumentError) as exc:  # e.g. a URL SQLAlchemy cannot parse
        raise ConnectorConfigError(f"{kind}: {' '.join(str(exc).split())}") from exc


def secret_fields(kind: str) -> set[str]:
    """The configuration fields of a connector kind that hold secrets (typed SecretStr)."""
    cls = kinds().get(kind)
    if cls is None:
        return set()
    return {name for name, f in cls.Config.model_fields.items() if "SecretStr" in str(f.annotation)}


def masked_config(kind: str, config: dict[str, object]) -> dict[str, object]:
    """The configuration as it may be shown: every secret field as '********'."""
    hidden = secret_fields(kind)
    return {k: ("********" if k in hidden and v else v) for k, v in config.items()}
